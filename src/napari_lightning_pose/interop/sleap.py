"""SLEAP files through ``sleap-io``: labels become a project, predictions ensemble members.

A SLEAP ``.slp`` holds a skeleton, videos (referenced, or frames embedded in the file) and
labeled frames with user and predicted instances. Lightning Pose labels one animal per frame,
so a file with several instances in a frame needs a choice of track (``track=``); without
one the import stops with a message instead of mixing animals. SLEAP sometimes stores a
point with NaN coordinates as "visible": a point is labeled here only when it is visible and
both coordinates are numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from napari_lightning_pose.errors import LabelsError, import_optional
from napari_lightning_pose.io.atomic import atomic_write
from napari_lightning_pose.io.image_paths import image_path
from napari_lightning_pose.io.pose_csv import PREDICTION_COORDS, make_pose_frame, write_pose_csv
from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.labeling.project_setup import init_project

SLEAP_SCORER = "sleap"


@dataclass
class SleapImport:
    """What :func:`import_sleap_labels` did: the new config, frames written and notes."""

    config: Path
    n_frames: int = 0
    images: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_sleap(path: str | Path) -> Any:
    """Open a ``.slp`` with sleap-io; LabelsError naming the file when it cannot."""
    sio = import_optional("sleap_io", "Reading a SLEAP file")
    path = Path(path)
    if not path.is_file():
        raise LabelsError(path, "SLEAP file not found.", "Check the path.")
    try:
        return sio.load_slp(str(path))
    except Exception as err:  # sleap-io/h5py raise many kinds for a bad file
        raise LabelsError(path, f"cannot be read as a SLEAP .slp file: {err}") from err


def point_array(instance: Any) -> np.ndarray:
    """An instance's points as (nodes, 2) x, y; NaN where invisible or not a number."""
    points = instance.points
    xy = np.array(points["xy"], dtype=float).reshape(-1, 2)
    missing = ~np.asarray(points["visible"], dtype=bool) | np.isnan(xy).any(axis=1)
    xy[missing] = np.nan
    return xy


def _pick(instances: Sequence[Any], track: str | None, path: Path, frame: int) -> Any | None:
    """The one instance of a frame to use (by ``track`` when given), else a clear error."""
    if track is not None:
        chosen = [i for i in instances if i.track is not None and i.track.name == track]
        return chosen[0] if chosen else None
    if len(instances) > 1:
        tracks = sorted({i.track.name for i in instances if i.track is not None})
        which = f" Tracks in the file: {', '.join(tracks)}." if tracks else ""
        raise LabelsError(
            path,
            f"frame {frame} has {len(instances)} animals; Lightning Pose follows one animal "
            "per video.",
            f"Choose the animal to import with --track NAME.{which}",
        )
    return instances[0] if instances else None


def _video_name(video: Any, fallback: str) -> str:
    """The original video's file stem (also for frames embedded in the .slp)."""
    source = getattr(video, "source_video", None) or video
    name = Path(str(source.filename)).stem if isinstance(source.filename, str) else ""
    return name or fallback


# -------------------------------------------------------------------------------- labels
def import_sleap_labels(
    slp_path: str | Path, project: str | Path, track: str | None = None
) -> SleapImport:
    """Create a project from SLEAP labels: skeleton node order, frames as PNGs, NaN missing.

    Parameters
    ----------
    slp_path
        The ``.slp`` file; its labeled frames must be readable (embedded, or a video file
        that exists).
    project
        The new project folder.
    track
        The track (animal) to import when frames hold several instances.

    Returns
    -------
    SleapImport
        The new config and the images written.
    """
    slp_path = Path(slp_path)
    labels = load_sleap(slp_path)
    if getattr(labels, "sessions", None):
        raise LabelsError(
            slp_path,
            "holds a multi-camera SLEAP session; the SLEAP import makes a single-camera project.",
            "Import one camera's labels (a single-view .slp), or start a multi-camera project "
            "with init --views.",
        )
    if not labels.skeletons:
        raise LabelsError(slp_path, "has no skeleton.")
    skeleton = labels.skeletons[0]
    names = [str(n) for n in skeleton.node_names]
    edges = [[str(a), str(b)] for a, b in skeleton.edge_names]
    rows: dict[str, np.ndarray] = {}
    frames_to_write: list[tuple[str, Any]] = []
    for lf in labels.labeled_frames:
        instance = _pick(lf.user_instances, track, slp_path, lf.frame_idx)
        if instance is None:
            continue
        video = _video_name(lf.video, slp_path.stem)
        image = image_path(video, int(lf.frame_idx))
        if image in rows:
            raise LabelsError(slp_path, f"frame {lf.frame_idx} of {video} is labeled twice.")
        rows[image] = point_array(instance)
        frames_to_write.append((image, lf))
    if not rows:
        raise LabelsError(
            slp_path,
            "has no user-labeled frames" + (f" of track {track!r}." if track else "."),
            "Import predictions with `import-predictions` instead.",
        )
    config = init_project(project, keypoint_names=names, skeleton=edges)
    proj = Project.open(config)
    for image, lf in frames_to_write:
        try:
            pixels = np.asarray(lf.image)
        except Exception as err:  # video backends raise many kinds
            raise LabelsError(
                slp_path,
                f"cannot read the image of frame {lf.frame_idx} ({err}).",
                "Export the .slp with embedded frames, or put its video where it points.",
            ) from err
        if pixels.ndim == 3 and pixels.shape[-1] == 1:
            pixels = pixels[..., 0]
        target = proj.data_dir / image
        atomic_write(target, lambda tmp, p=pixels: Image.fromarray(p).save(tmp, "PNG"))
    values = np.stack(list(rows.values()))
    df = make_pose_frame(values, names, index=list(rows), scorer=SLEAP_SCORER)
    proj.write_labels(df)
    return SleapImport(config=config, n_frames=len(df), images=list(rows))


# --------------------------------------------------------------------------- predictions
def sleap_predictions(
    slp_path: str | Path, track: str | None = None, video: int = 0
) -> pd.DataFrame:
    """SLEAP predictions of one video as a Lightning Pose prediction table.

    One row per video frame (index = frame number; NaN where nothing was predicted), coords
    ``x, y, likelihood`` with SLEAP's per-point score as likelihood. The table loads as an
    ensemble member for ``smooth``.
    """
    slp_path = Path(slp_path)
    labels = load_sleap(slp_path)
    if not labels.videos:
        raise LabelsError(slp_path, "has no videos.")
    if not 0 <= video < len(labels.videos):
        raise LabelsError(slp_path, f"has {len(labels.videos)} videos; video {video} is not one.")
    vid = labels.videos[video]
    names = [str(n) for n in labels.skeletons[0].node_names]
    found: dict[int, np.ndarray] = {}
    for lf in labels.find(vid):
        instance = _pick(lf.predicted_instances, track, slp_path, lf.frame_idx)
        if instance is None:
            continue
        xy = point_array(instance)
        score = np.asarray(instance.points["score"], dtype=float).reshape(-1)
        score = np.where(np.isnan(xy[:, 0]), np.nan, score)
        found[int(lf.frame_idx)] = np.concatenate([xy, score[:, None]], axis=1)
    if not found:
        raise LabelsError(
            slp_path,
            "has no predicted instances" + (f" of track {track!r}." if track else "."),
            "Run SLEAP's inference first, or pick another --track.",
        )
    try:
        n_frames = int(vid.shape[0])
    except Exception:  # the video file is not here: up to the last predicted frame
        n_frames = max(found) + 1
    values = np.full((max(n_frames, max(found) + 1), len(names), 3), np.nan)
    for frame, arr in found.items():
        values[frame] = arr
    return make_pose_frame(values, names, PREDICTION_COORDS, scorer=SLEAP_SCORER)


def import_sleap_predictions(
    slp_path: str | Path, out_csv: str | Path, track: str | None = None, video: int = 0
) -> Path:
    """Write :func:`sleap_predictions` as a Lightning Pose prediction CSV (atomically)."""
    return write_pose_csv(sleap_predictions(slp_path, track, video), out_csv)
