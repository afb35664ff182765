"""napari-lightning-pose: Lightning Pose (semi-supervised pose estimation, context models,
ensembling + EKS) inside napari, with a headless core and command line."""

__version__ = "0.1.0"
