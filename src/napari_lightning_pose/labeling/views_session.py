"""Labels of a multi-camera project, one view beside the other: aligned frames, one
``LabelSession`` per view's CSV, and labels offered across views through the calibration.

A view's labeled frames live in ``labeled-data/<session>_<view>/<image>`` (``io.views``: the
view's name in the folder's name), its labels in its own CSV (``data.csv_file``). The same
``<session>`` and ``<image>`` in every view is one synchronised frame, so the views' frame
lists are aligned on that key (:func:`align_view_images`): frame ``f`` of every view's stack
is the same moment, and one time slider walks all of them. Each view's labels are a
:class:`.session.LabelSession` of that view's single-camera project, so a save is the same
locked three-way merge into that view's CSV as the labeling dock's.

With a calibration (``io.views.calibration_file``), a keypoint labeled in two or more views
is triangulated and projected into every view (:func:`cross_view_offer`): the other views
are offered the projection (for the dock to pre-fill, unconfirmed, as "Label these" does),
and each labeled view gets its reprojection error in px (from the other views, leaving its
own label out), so a label that does not fit the others stands out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io.calibration import Camera
from napari_lightning_pose.io.images import FrameStack
from napari_lightning_pose.labeling.session import LabelSession, OpenedProject, SaveOutcome

#: A synchronised frame: the session and the image's file name.
FrameKey = tuple[str, str]


def image_key(image: str, views: Sequence[str]) -> tuple[str, FrameKey] | None:
    """The view and frame key of ``labeled-data/<session>_<view>/<image>``, or None for an
    image whose folder names no view (or several)."""
    from napari_lightning_pose.io.views import session_name, view_in_name

    parts = image.split("/")
    if len(parts) < 3:
        return None
    view = view_in_name(parts[-2], views)
    return None if view is None else (view, (session_name(parts[-2], view), parts[-1]))


def align_view_images(
    images: Sequence[str], views: Sequence[str]
) -> tuple[list[FrameKey], dict[str, list[str]], list[str]]:
    """The frames every view has, in order, each view's image for each, and the images left
    out because some view lacks their frame (to tell the user)."""
    found: dict[str, dict[FrameKey, str]] = {v: {} for v in views}
    for image in images:
        key = image_key(image, views)
        if key is not None:
            found[key[0]][key[1]] = image
    common = sorted(set.intersection(*(set(f) for f in found.values())))
    per_view = {v: [found[v][k] for k in common] for v in views}
    kept = {i for imgs in per_view.values() for i in imgs}
    left_out = sorted(i for f in found.values() for i in f.values() if i not in kept)
    return common, per_view, left_out


@dataclass
class ViewSessions:
    """One labeling session per view on aligned frames.

    Attributes
    ----------
    views : tuple of str
    frames : list of FrameKey
        Frame ``f`` of every view's stack.
    sessions : dict of view to LabelSession
        Each view's labels and CSV (merge-on-save, locked).
    stacks : dict of view to FrameStack
        Each view's frames, lazily read, in ``frames`` order.
    left_out : list of str
        Images not shown: their frame is missing in another view.
    """

    views: tuple[str, ...]
    frames: list[FrameKey]
    sessions: dict[str, LabelSession]
    stacks: dict[str, FrameStack]
    left_out: list[str]

    def labels_at(self, frame: int) -> np.ndarray:
        """(V, K, 2) each view's labels on ``frame`` (NaN: not placed)."""
        return np.stack([self.sessions[v].state.xy[frame] for v in self.views])

    def save(self, wait: float = 0.0) -> dict[str, SaveOutcome]:
        """Save each view with unsaved edits into its own CSV (``LabelSession.save``)."""
        return {v: s.save(wait) for v, s in self.sessions.items() if s.dirty}


def read_view_sessions(config_path: str | Path) -> ViewSessions:
    """Open every view of a multi-camera project for labeling (no Qt: a worker runs it).

    Raises
    ------
    LightningPoseInputError
        Not a multi-camera project, or a view's CSV that cannot be read (named).
    """
    from napari_lightning_pose.io.config import load_config
    from napari_lightning_pose.io.labels import read_labels
    from napari_lightning_pose.io.views import view_config
    from napari_lightning_pose.labeling.state import find_label_images, frames_to_label

    config = load_config(config_path)
    views = tuple(config["data"].get("view_names") or ())
    if len(views) < 2:
        raise LabelsError(
            config_path,
            "is not a multi-camera project (no data.view_names).",
            "Label it with the Label keypoints dock.",
        )
    data_dir = Path(config["data"]["data_dir"])
    keypoints = list(config["data"]["keypoint_names"])
    images = find_label_images(data_dir)
    rows: list[str] = []
    labels = {}
    for view in views:
        path = data_dir / view_config(config, view)["data"]["csv_file"]
        labels[view] = read_labels(path, keypoints) if path.exists() else None
        if labels[view] is not None:
            rows += [str(i) for i in labels[view].index if (data_dir / str(i)).is_file()]
    frames, per_view, left_out = align_view_images(frames_to_label(images, rows), views)
    cfg_file = Path(config_path)
    cfg_file = cfg_file / "config.yaml" if cfg_file.is_dir() else cfg_file
    sessions, stacks = {}, {}
    for view in views:
        vcfg = view_config(config, view)
        stacks[view] = FrameStack([data_dir / p for p in per_view[view]])
        opened = OpenedProject(
            cfg_file,
            vcfg,
            keypoints,
            data_dir,
            data_dir / vcfg["data"]["csv_file"],
            labels[view],
            per_view[view],
            stacks[view],
        )
        sessions[view] = LabelSession(opened)
    return ViewSessions(views, frames, sessions, stacks, left_out)


@dataclass(frozen=True)
class CrossViewOffer:
    """What the other views say about one frame's labels.

    Attributes
    ----------
    proposed : ndarray, shape (V, K, 2)
        The projection of the triangulated keypoint into views that have no label for it
        (NaN elsewhere, and where fewer than two views are labeled).
    error : ndarray, shape (V, K)
        How far each view's label is, in px, from the keypoint triangulated from the *other*
        views (from all views, itself included, when fewer than two others are labeled);
        NaN where unlabeled or not triangulated. Leaving the view out keeps one bad label
        from spreading its error over the good ones: with all views, least squares shares
        it (10 px off in one of three views reads about 4, 3.4 and 3.4 px).
    suspect : ndarray, shape (V, K)
        The label to check: the view furthest from the others, when that is at least the
        flag threshold (a bad label also pulls the others' triangulations, so they miss too,
        but less). With two views nothing tells which is wrong: both are suspect.
    """

    proposed: np.ndarray
    error: np.ndarray
    suspect: np.ndarray


#: Reprojection error (px) from which a label is flagged.
FLAG_PX = 5.0
#: Errors this close (px) to the largest count as the largest (two views miss equally).
SAME_ERROR_PX = 0.5


def cross_view_offer(
    cameras: Sequence[Camera], xy: np.ndarray, flag_px: float = FLAG_PX
) -> CrossViewOffer:
    """Triangulate each keypoint labeled in two or more views and project it into all.

    ``cameras`` are the views' calibrated cameras, in the order of ``xy`` (V, K, 2).
    """
    from napari_lightning_pose.ensemble.projection import project, triangulate

    xy = np.asarray(xy, dtype=float)
    if len(cameras) != len(xy):
        raise ValueError(f"{len(cameras)} cameras for {len(xy)} views.")
    points = triangulate(cameras, xy)  # (K, 3), NaN where fewer than two views are labeled
    projected = np.stack([project(cam, points) for cam in cameras])  # (V, K, 2)
    labeled = np.isfinite(xy).all(axis=-1)
    proposed = np.where(labeled[..., None], np.nan, projected)
    error = np.where(labeled, np.linalg.norm(xy - projected, axis=-1), np.nan)
    for v, cam in enumerate(cameras):
        others = [u for u in range(len(cameras)) if u != v]
        enough = labeled[others].sum(axis=0) >= 2
        if len(others) < 2 or not enough.any():
            continue
        rig = [cameras[u] for u in others]
        miss = np.linalg.norm(xy[v] - project(cam, triangulate(rig, xy[others])), axis=-1)
        error[v] = np.where(labeled[v] & enough, miss, error[v])
    filled = np.nan_to_num(error, nan=-1.0)
    worst = filled.max(axis=0, initial=-1.0)
    suspect = (filled >= flag_px) & (filled >= worst - SAME_ERROR_PX)
    return CrossViewOffer(proposed, error, suspect)


def session_cameras(
    config: Mapping, views: Sequence[str], sessions: Sequence[str]
) -> dict[str, list[Camera]]:
    """Each session's calibrated cameras in the order of ``views``; sessions without a
    calibration are left out (no offers there)."""
    from napari_lightning_pose.io.calibration import load_calibration
    from napari_lightning_pose.io.views import calibration_file

    out = {}
    for session in dict.fromkeys(sessions):
        path = calibration_file(config, session)
        if path is not None:
            out[session] = load_calibration(path, names=views)
    return out


def offer_for_frame(
    vs: ViewSessions, frame: int, cameras: Mapping[str, Sequence[Camera]]
) -> CrossViewOffer | None:
    """:func:`cross_view_offer` of one frame's labels, or None without its calibration."""
    rig = cameras.get(vs.frames[frame][0])
    return None if rig is None else cross_view_offer(rig, vs.labels_at(frame))
