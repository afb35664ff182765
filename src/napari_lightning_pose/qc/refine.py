"""Refine: send frames back to labeling, pre-filled with the smoothed positions, unconfirmed.

How pre-filled labels are stored (so training never mistakes them for a person's):

- ``CollectedData.csv`` stays a valid Lightning Pose / DeepLabCut labels file holding only
  labels a person placed or confirmed. A refined frame gets a new row there with every cell
  empty (NaN), exactly like a frame picked by ``select-frames``; training skips all-NaN rows
  and NaN cells, so an unconfirmed point is never trained on.
- The pre-filled positions go to a sidecar next to it, ``CollectedData.prefill.csv`` (same
  three-header pose-CSV layout, same keypoints, one row per refined image). A cell there
  that is NaN in ``CollectedData.csv`` is an *unconfirmed* point: the labeling dock draws
  it with its own symbol and colour.
- Confirming a point (accepting it, or moving it to where it belongs) writes its position
  into ``CollectedData.csv`` and removes it from the sidecar. Deleting the sidecar drops
  every unconfirmed point and loses no person-placed label.

Rows are only ever appended: the new rows are added to the end of the file's text, so every
existing row stays byte-identical; a frame that already has a row is skipped with a message,
never overwritten. Every write is atomic and re-reads the file from disk just before, so a
save from another dock in between is kept.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.data.context import CONTEXT_RADIUS
from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io import labels as labels_io
from napari_lightning_pose.io.atomic import atomic_write, rotate_backups
from napari_lightning_pose.io.image_paths import image_path
from napari_lightning_pose.io.lock import hold_lock
from napari_lightning_pose.io.pose_csv import coords_array, keypoint_names, write_pose_csv
from napari_lightning_pose.labeling.frames import (
    FrameProgress,
    iter_export_frames,
    project_frame_digits,
)
from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.progress import blocking

PREFILL_SUFFIX = ".prefill.csv"
#: How long a refine / suggestion waits for a labeling dock that is saving (seconds).
LOCK_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class RefineResult:
    """What ``refine_frames`` did.

    Attributes
    ----------
    added : list of str
        Image paths (CSV index) of the new, pre-filled rows.
    skipped : list of str
        Images that already had a row (labeled or picked before): left unchanged.
    messages : list of str
        One line per skipped frame, for the user.
    """

    added: list[str]
    skipped: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def prefill_path(project: Project) -> Path:
    """The sidecar of pre-filled, unconfirmed positions: ``CollectedData.prefill.csv``."""
    csv = project.csv_path
    return csv.with_name(csv.stem + PREFILL_SUFFIX)


def read_prefill(project: Project) -> pd.DataFrame:
    """Pre-filled positions (the sidecar), project keypoint order; no rows when absent."""
    path = prefill_path(project)
    if not path.exists():
        return labels_io.empty_labels(project.keypoint_names)
    return labels_io.read_labels(path, project.keypoint_names)


def unconfirmed(project: Project) -> pd.DataFrame:
    """Pre-filled points not yet confirmed: the sidecar where ``CollectedData.csv`` is NaN.

    Returns a labels-shaped DataFrame (rows = images of the sidecar) with NaN elsewhere.
    """
    pre = read_prefill(project)
    if not len(pre):
        return pre
    labels = project.read_labels()
    placed = labels.reindex(pre.index)
    return pre.where(placed.isna().to_numpy(), np.nan)


def _row_text(image: str, values: np.ndarray) -> str:
    cells = ["" if not np.isfinite(v) else repr(float(v)) for v in values.ravel()]
    return ",".join([image, *cells]) + "\n"


def append_label_rows(
    project: Project, rows: Mapping[str, np.ndarray | None], backups: int = 3
) -> list[str]:
    """Append rows to the project's ``CollectedData.csv`` without touching existing bytes.

    Parameters
    ----------
    project : Project
    rows : mapping of image path to ndarray (K, 2) or None
        Values in project keypoint order; None (or NaN) for empty cells.
    backups : int
        Rotated copies of the previous file kept.

    Returns
    -------
    list of str
        The images appended (those already in the file are left out, unchanged).
    """
    with hold_lock(project.csv_path, "adding frames", timeout=LOCK_WAIT_SECONDS):
        return _append_rows(project, rows, backups)


def _append_rows(
    project: Project, rows: Mapping[str, np.ndarray | None], backups: int
) -> list[str]:
    path = project.csv_path
    names = project.keypoint_names
    if not path.exists():
        df = labels_io.empty_labels(names)
        labels_io.write_labels(df, path, backups=0)
    current = labels_io.read_labels(path)  # checks the file before we add to it
    order = keypoint_names(current)
    if set(order) != set(names):
        raise LabelsError(path, f"holds keypoints {order}, the project {names}.")
    new = [im for im in dict.fromkeys(rows) if im not in current.index]
    if not new:
        return []
    text = path.read_bytes()
    if text and not text.endswith(b"\n"):
        text += b"\n"
    lines = []
    for im in new:
        xy = rows[im]
        values = np.full((len(names), 2), np.nan) if xy is None else np.asarray(xy, float)
        values = values[[names.index(k) for k in order]]  # the file's column order
        lines.append(_row_text(im, values))
    rotate_backups(path, keep=backups)
    atomic_write(path, lambda tmp: tmp.write_bytes(text + "".join(lines).encode("utf-8")))
    return new


def _write_prefill(project: Project, new: pd.DataFrame) -> Path:
    """Merge ``new`` rows into the sidecar on disk (re-read now) and save it atomically."""
    current = read_prefill(project)
    merged = labels_io.merge_labels(current, new, prefill_path(project))
    return write_pose_csv(merged, prefill_path(project))


def iter_refine_frames(
    project: Project | str | Path,
    video: str | Path,
    frames: Sequence[int],
    smoothed: pd.DataFrame,
    context: int = CONTEXT_RADIUS,
) -> Generator[FrameProgress, None, RefineResult]:
    """Take ``frames`` of ``video`` into labeling, pre-filled with smoothed positions.

    Yields ``FrameProgress`` as it writes the frames;
    what Returns lists is the generator's return value.

    Writes ``labeled-data/<video>/img<frame>.png`` with ``context`` neighbours on each side
    (the context model's), appends an empty row per frame to ``CollectedData.csv`` and puts
    the smoothed positions in the pre-fill sidecar (module docstring). Frames that already
    have a row are skipped (``RefineResult.messages`` says so); nothing existing changes.

    Parameters
    ----------
    project : Project or path
    video : path
        The video the frames come from.
    frames : sequence of int
        Frame indices (rows of ``smoothed``).
    smoothed : pandas.DataFrame
        Smoothed predictions of ``video`` (x, y per keypoint; index = frame).
    context : int
        Neighbour frames written on each side.
    """
    proj = project if isinstance(project, Project) else Project.open(project)
    stem = Path(video).stem
    names = proj.keypoint_names
    have = set(proj.read_labels().index)
    digits = project_frame_digits(proj, video, list(have))
    xy = coords_array(smoothed.loc[:, smoothed.columns.get_level_values(2).isin(["x", "y"])])
    smoothed_names = keypoint_names(smoothed)
    missing = [k for k in names if k not in smoothed_names]
    if missing:
        raise LabelsError(None, f"the smoothed predictions lack keypoints {missing}.")
    xy = xy[:, [smoothed_names.index(k) for k in names]]
    position = {int(f): i for i, f in enumerate(smoothed.index)}

    todo, skipped, messages = [], [], []
    for f in dict.fromkeys(int(f) for f in frames):
        im = image_path(stem, f, digits)
        if im in have:
            skipped.append(im)
            messages.append(f"{im} already has a row in {proj.csv_path.name}: skipped, unchanged.")
        elif f not in position:
            raise LabelsError(None, f"frame {f} is not in the smoothed predictions of {stem}.")
        else:
            todo.append(f)
    added: list[str] = []
    if todo:
        # PNGs, pre-fill and rows under the labels lock: a labeling dock does not list the
        # frames (or save) in between
        with hold_lock(proj.csv_path, "refine", timeout=LOCK_WAIT_SECONDS):
            yield from iter_export_frames(video, todo, proj.data_dir, context, digits)
            images = [image_path(stem, f, digits) for f in todo]
            pre = labels_io.empty_labels(names, images)
            pre.loc[:, :] = xy[[position[f] for f in todo]].reshape(len(todo), -1)
            _write_prefill(proj, pre)
            added = append_label_rows(proj, dict.fromkeys(images))
    return RefineResult(added, skipped, messages)


refine_frames = blocking(iter_refine_frames)


def confirm_points(
    project: Project | str | Path,
    image: str,
    positions: Mapping[str, Sequence[float]] | None = None,
    keypoints: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Confirm pre-filled points of ``image``: write them as person-placed labels.

    Parameters
    ----------
    project : Project or path
    image : str
        The row (image path).
    positions : mapping of keypoint to (x, y), optional
        Where the user put (moved) points; confirmed at these positions.
    keypoints : sequence of str, optional
        Pre-filled points accepted as they are (default: all of the row's unconfirmed ones
        when ``positions`` is None, else none).

    Returns
    -------
    pandas.DataFrame
        The labels as saved. A keypoint a person already labeled is never overwritten by a
        pre-filled value (only ``positions`` may move it).
    """
    proj = project if isinstance(project, Project) else Project.open(project)
    with hold_lock(proj.csv_path, "confirming labels", timeout=LOCK_WAIT_SECONDS):
        return _confirm(proj, image, positions, keypoints)


def _confirm(
    proj: Project,
    image: str,
    positions: Mapping[str, Sequence[float]] | None,
    keypoints: Sequence[str] | None,
) -> pd.DataFrame:
    labels = proj.read_labels()
    if image not in labels.index:
        raise LabelsError(proj.csv_path, f"has no row {image!r} to confirm points in.")
    names = proj.keypoint_names
    row = labels_io.frame_labels(labels, image)
    pre = read_prefill(proj)
    pre_row = (
        labels_io.frame_labels(pre, image) if image in pre.index else np.full_like(row, np.nan)
    )
    accept = list(keypoints) if keypoints is not None else ([] if positions else names)
    for k in accept:
        i = names.index(k)
        if np.isnan(row[i]).all() and np.isfinite(pre_row[i]).all():
            row[i] = pre_row[i]
    for k, xy in (positions or {}).items():
        row[names.index(k)] = np.asarray(xy, dtype=float)
    confirmed = np.isfinite(row).all(axis=1)
    new = labels_io.set_frame_labels(labels_io.empty_labels(names), image, row)
    merged = labels_io.update_labels_file(proj.csv_path, new, names)
    if image in pre.index:
        pre_row[confirmed] = np.nan
        if np.isnan(pre_row).all():
            pre = labels_io.drop_frames(pre, [image])
        else:
            pre = labels_io.set_frame_labels(pre, image, pre_row)
        write_pose_csv(pre, prefill_path(proj))
    return merged


def save_corrections(
    project: Project | str | Path,
    video: str | Path,
    corrections: Sequence,
    smoothed: pd.DataFrame | None = None,
    context: int = CONTEXT_RADIUS,
) -> RefineResult:
    """Save corrections (dragged smoothed points) as confirmed, person-placed labels.

    A frame without a row gets one (its PNG and context neighbours are written); its other
    keypoints are pre-filled from ``smoothed`` (unconfirmed) when given. In a frame that
    has a row, a corrected keypoint is set only where the labels are empty: a label a
    person placed is never overwritten (reported in ``messages``).

    Parameters
    ----------
    project : Project or path
    video : path
    corrections : sequence of Correction
        ``frame``, ``keypoint``, ``x``, ``y`` each (``ensemble.steer.Correction``).
    smoothed : pandas.DataFrame, optional
        Smoothed predictions of the video, to pre-fill the other keypoints of new frames.
    context : int
        Neighbour frames written on each side for new frames.
    """
    proj = project if isinstance(project, Project) else Project.open(project)
    stem = Path(video).stem
    by_frame: dict[int, dict[str, tuple[float, float]]] = {}
    for c in corrections:
        by_frame.setdefault(int(c.frame), {})[c.keypoint] = (float(c.x), float(c.y))
    have = set(proj.read_labels().index)
    digits = project_frame_digits(proj, video, list(have))
    new_frames = [f for f in by_frame if image_path(stem, f, digits) not in have]
    added: list[str] = []
    if new_frames:
        if smoothed is not None:
            added = refine_frames(proj, video, new_frames, smoothed, context).added
        else:
            for _ in iter_export_frames(video, new_frames, proj.data_dir, context, digits):
                pass
            added = append_label_rows(
                proj, {image_path(stem, f, digits): None for f in new_frames}
            )
    messages, skipped = [], []
    for f, points in by_frame.items():
        im = image_path(stem, f, digits)
        row = labels_io.frame_labels(proj.read_labels(), im)
        names = proj.keypoint_names
        free = {k: xy for k, xy in points.items() if np.isnan(row[names.index(k)]).all()}
        for k in points:
            if k not in free:
                skipped.append(f"{im}:{k}")
                messages.append(f"{im}: {k} is already labeled; the correction was not saved.")
        if free:
            confirm_points(proj, im, positions=free)
    return RefineResult(added, skipped, messages)


def unconfirmed_points(
    project: Project | str | Path, images: Sequence[str]
) -> tuple[np.ndarray, pd.DataFrame]:
    """Unconfirmed pre-filled points as napari Points data over a stack of ``images``.

    Returns
    -------
    data : ndarray, shape (N, 3)
        ``frame, y, x`` with ``frame`` the position of the image in ``images``.
    features : pandas.DataFrame
        ``keypoint`` and ``image`` of each point.
    """
    proj = project if isinstance(project, Project) else Project.open(project)
    pending = unconfirmed(proj)
    rows, feats = [], []
    position = {im: i for i, im in enumerate(images)}
    names = proj.keypoint_names
    for im in pending.index:
        if im not in position:
            continue
        xy = labels_io.frame_labels(pending, im)
        for k, (x, y) in enumerate(xy):
            if np.isfinite(x) and np.isfinite(y):
                rows.append((position[im], y, x))
                feats.append((names[k], im))
    data = np.asarray(rows, dtype=float).reshape(-1, 3)
    return data, pd.DataFrame(feats, columns=["keypoint", "image"])
