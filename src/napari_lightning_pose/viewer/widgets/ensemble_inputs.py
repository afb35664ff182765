"""What the QC docks need about a smoothed (or prediction) layer, found from what is open.

Steer smoothing, the trace panel and the outlier queue all start from a smoothed CSV: its
members, its project (skeleton, views, image size, keypoints) and its video. Predict + smooth
puts the members in the layer's metadata; a CSV opened by itself (File > Open, drag and
drop) has only its path, and ``ensemble.files.find_ensemble_files`` finds the rest beside
it. An open video layer of the same name wins over a video found on disk. No Qt here: the
viewer is only read (its layers' metadata), so this is tested with plain pytest as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from napari_lightning_pose.ensemble.files import (
    find_ensemble_files,
    header_keypoints,
    keypoint_mismatch,
)


@dataclass
class EnsembleInputs:
    """A smoothed CSV with everything found about it (see :func:`ensemble_inputs`)."""

    csv: Path
    smoothed: Path | None = None
    members: list[Path] = field(default_factory=list)
    project: Path | None = None
    video: Path | None = None
    keypoints: list[str] = field(default_factory=list)
    skeleton: list[list[str]] = field(default_factory=list)
    views: list[list[int]] | None = None
    image_size: tuple[int, int] | None = None
    warning: str | None = None

    def needs(self) -> str:
        """What is missing to steer this ensemble, as a sentence; empty when nothing is."""
        missing = []
        if self.smoothed is None:
            missing.append(f"the smoothed CSV (<video>.eks.csv) in {self.csv.parent}")
        if not self.members:
            missing.append(
                f"the members' prediction CSVs (predictions/<video>/member*.csv) beside "
                f"{self.csv.name}"
            )
        return "Needs " + " and ".join(missing) + "." if missing else ""


def smoothed_layers(viewer: Any) -> list[Any]:
    """The viewer's Points layers of smoothed predictions (metadata kind ``smoothed``)."""
    return [
        layer
        for layer in getattr(viewer, "layers", [])
        if layer.__class__.__name__ == "Points"
        and (layer.metadata or {}).get("kind") == "smoothed"
        and (layer.metadata or {}).get("csv_path")
    ]


def open_video_path(viewer: Any, stem: str) -> Path | None:
    """The file of an open video layer named ``stem`` (its ``video_path`` metadata), or None."""
    for layer in getattr(viewer, "layers", []):
        path = (getattr(layer, "metadata", None) or {}).get("video_path")
        if path and Path(path).stem == stem:
            return Path(path)
    return None


def ensemble_inputs(csv: str | Path, viewer: Any = None, members: Any = ()) -> EnsembleInputs:
    """Find the members, project, video, skeleton and views that go with ``csv``.

    Parameters
    ----------
    csv
        A smoothed CSV (or one member's CSV).
    viewer
        The napari viewer (or None): an open video layer of the same name is preferred.
    members
        Member CSVs already known (a layer's ``member_csvs`` metadata); found beside
        ``csv`` when empty.
    """
    from napari_lightning_pose.errors import ConfigError
    from napari_lightning_pose.labeling.project import Project

    found = find_ensemble_files(csv)
    inputs = EnsembleInputs(
        csv=Path(csv),
        smoothed=found.smoothed,
        members=[Path(m) for m in members] or found.members,
        project=found.project,
        video=open_video_path(viewer, found.video_stem) or found.video,
        keypoints=header_keypoints(csv),
    )
    if found.project is None:
        return inputs
    try:
        project = Project.open(found.project)
    except ConfigError as err:
        inputs.warning = f"The project beside {Path(csv).name} does not open: {err}"
        return inputs
    if inputs.video is None:
        inputs.video = next((v for v in project.video_paths() if v.stem == found.video_stem), None)
    inputs.warning = keypoint_mismatch(
        project.keypoint_names, inputs.keypoints, csv, found.project
    )
    if inputs.warning is None:
        inputs.skeleton = [list(edge) for edge in project.skeleton]
        views = project.config["data"].get("mirrored_column_matches")
        inputs.views = views if views and len(views) >= 2 else None
        dims = project.config["data"].get("image_orig_dims") or {}
        if dims.get("width") and dims.get("height"):
            inputs.image_size = (int(dims["width"]), int(dims["height"]))
    return inputs
