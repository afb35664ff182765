"""napari-lightning-pose: Lightning Pose (semi-supervised pose estimation, context models,
ensembling + EKS) inside napari, with a headless core and command line."""

from pathlib import Path

__version__ = "0.1.0"

#: The sample project bundled with the package (mirror-mouse, 50 labeled frames and a clip):
#: the demo copies it, napari's File > Open Sample shows it.
SAMPLE_DIR = Path(__file__).parent / "resources" / "mirror-mouse"
