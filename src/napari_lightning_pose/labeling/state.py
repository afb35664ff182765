"""Pure labeling state: which keypoint is placed, not visible or still to do on each frame.

The labeling widget keeps one ``LabelState`` beside its napari Points layer. The layer holds the
placed points (what the user drags); the state adds what a Points layer cannot hold: keypoints
marked "not visible" (NaN in the CSV) and the difference between "not visible" and "not yet
labeled". Navigation (next keypoint to click, next frame with missing labels) and the counts
shown to the user are computed here, without Qt, so they are tested with plain pytest.

The CSV has one kind of empty cell (NaN) for both "not visible" and "not labeled yet", so on
loading a row with at least one placed keypoint counts as decided: its empty cells are "not
visible". An all-empty row (a frame picked for labeling, not labeled yet) and a frame without
a row are unlabeled. On saving, the CSV's rows are kept in their order (all-empty ones too)
and a row is appended for every other frame with at least one decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.data.context import CONTEXT_RADIUS
from napari_lightning_pose.io.image_paths import IMAGE_SUFFIXES, LABELED_DATA_DIR, parse_image_path
from napari_lightning_pose.io.labels import DEFAULT_SCORER
from napari_lightning_pose.io.pose_csv import make_pose_frame, scorer_name
from napari_lightning_pose.labeling.merge import SAME_PX


class KeypointStatus(str, Enum):
    """What is known about one keypoint on one frame."""

    UNLABELED = "unlabeled"
    LABELED = "labeled"
    NOT_VISIBLE = "not visible"


@dataclass(frozen=True)
class LabelingProgress:
    """Progress numbers shown to the user."""

    frames_done: int  # frames where every keypoint is placed or marked not visible
    frames_total: int
    keypoints_done: int  # decided keypoints on the current frame
    keypoints_total: int

    def text(self) -> str:
        """One line for the widget, e.g. ``labeled frames 3/22, keypoints 12/17``."""
        return (
            f"labeled frames {self.frames_done}/{self.frames_total}, "
            f"keypoints {self.keypoints_done}/{self.keypoints_total}"
        )


@dataclass
class LabelState:
    """Keypoint positions and "not visible" marks for every frame of a labeling project.

    Attributes
    ----------
    images : list of str
        Image paths relative to the project's data folder, as in the CSV index
        (e.g. ``labeled-data/session1/img0042.png``); frame ``f`` of the stack is ``images[f]``.
    keypoints : list of str
        Keypoint names in the config's order.
    xy : np.ndarray
        Positions, shape (frames, keypoints, 2) as x, y in pixels; NaN where no point is placed.
    not_visible : np.ndarray
        Shape (frames, keypoints), bool: the user said the keypoint cannot be seen there.
    other_rows : pd.DataFrame
        CSV rows whose image is not in ``images`` (e.g. its PNG was moved away). They are
        written back unchanged so that saving never drops labels.
    csv_rows : list of str
        The loaded CSV's index in file order; saving keeps these rows in this order.
    scorer : str
        Scorer name for the CSV header (kept from the file that was loaded).
    """

    images: list[str]
    keypoints: list[str]
    xy: np.ndarray
    not_visible: np.ndarray
    other_rows: pd.DataFrame | None = None
    csv_rows: list[str] = field(default_factory=list)
    scorer: str = DEFAULT_SCORER

    @classmethod
    def empty(cls, images: Sequence[str], keypoints: Sequence[str]) -> LabelState:
        """A state with nothing labeled yet."""
        n_frames, n_kp = len(images), len(keypoints)
        return cls(
            images=[normalize_image_path(str(i)) for i in images],
            keypoints=list(keypoints),
            xy=np.full((n_frames, n_kp, 2), np.nan),
            not_visible=np.zeros((n_frames, n_kp), dtype=bool),
        )

    @classmethod
    def from_labels(
        cls, labels: pd.DataFrame, images: Sequence[str], keypoints: Sequence[str]
    ) -> LabelState:
        """Build the state from a labels DataFrame (pose CSV layout, index = image path).

        ``labels`` must hold ``keypoints`` with x and y (checked by the caller, which knows
        the file name for the error message). Rows for images not in ``images`` are kept aside
        in ``other_rows``.
        """
        state = cls.empty(images, keypoints)
        if labels.columns.nlevels == 3 and len(labels.columns):
            state.scorer = scorer_name(labels)
        columns = [(k, c) for k in keypoints for c in ("x", "y")]
        values = labels.droplevel(0, axis=1).loc[:, columns].to_numpy(dtype=float)
        values = values.reshape(len(labels), len(keypoints), 2)  # (rows, K, 2)
        state.csv_rows = [normalize_image_path(str(i)) for i in labels.index]
        where = {img: f for f, img in enumerate(state.images)}
        rows = np.array([where.get(i, -1) for i in state.csv_rows], dtype=int)
        known = rows >= 0
        missing = np.isnan(values).any(axis=-1)  # (rows, K)
        started = ~missing.all(axis=1)  # rows with at least one placed keypoint
        state.xy[rows[known]] = values[known]
        state.not_visible[rows[known]] = missing[known] & started[known, None]
        state.other_rows = make_pose_frame(
            values[~known],
            keypoints,
            index=[state.csv_rows[i] for i in np.flatnonzero(~known)],
            scorer=state.scorer,
        )
        return state

    # ------------------------------------------------------------------ queries
    @property
    def n_frames(self) -> int:
        """Number of frames (images) in the project."""
        return len(self.images)

    def placed(self) -> np.ndarray:
        """Shape (frames, keypoints), bool: a point is placed there."""
        return ~np.isnan(self.xy).any(axis=-1)

    def decided(self) -> np.ndarray:
        """Shape (frames, keypoints), bool: placed or marked not visible."""
        return self.placed() | self.not_visible

    def status(self, frame: int, keypoint: int) -> KeypointStatus:
        """Status of one keypoint on one frame."""
        if self.placed()[frame, keypoint]:
            return KeypointStatus.LABELED
        if self.not_visible[frame, keypoint]:
            return KeypointStatus.NOT_VISIBLE
        return KeypointStatus.UNLABELED

    def next_unlabeled_keypoint(self, frame: int, after: int) -> int | None:
        """The first keypoint after ``after`` (wrapping around) still undecided on ``frame``.

        Returns None when every keypoint of the frame is decided.
        """
        n_kp = len(self.keypoints)
        todo = ~self.decided()[frame]
        for step in range(1, n_kp + 1):
            k = (after + step) % n_kp
            if todo[k]:
                return k
        return None

    def next_incomplete_frame(self, frame: int, step: int = 1) -> int | None:
        """The next frame after ``frame`` in direction ``step`` (+1/-1, wrapping) that still
        has undecided keypoints; ``frame`` itself only if it is the only one. None if all done.
        """
        incomplete = ~self.decided().all(axis=1)
        for i in range(1, self.n_frames + 1):
            f = (frame + step * i) % self.n_frames
            if incomplete[f]:
                return f
        return None

    def counts(self, frame: int) -> LabelingProgress:
        """Frames fully labeled (of all) and keypoints decided on ``frame`` (of all)."""
        decided = self.decided()
        return LabelingProgress(
            frames_done=int(decided.all(axis=1).sum()) if len(self.keypoints) else 0,
            frames_total=self.n_frames,
            keypoints_done=int(decided[frame].sum()) if self.n_frames else 0,
            keypoints_total=len(self.keypoints),
        )

    # ------------------------------------------------------------------ edits
    def set_placed(self, frames: np.ndarray, keypoints: np.ndarray, xy: np.ndarray) -> None:
        """Replace every placed position with the given points (e.g. a Points layer's).

        Parameters
        ----------
        frames, keypoints : np.ndarray
            Shape (points,), int: frame and keypoint index of each point. Points outside the
            project (a frame or keypoint index out of range) are ignored.
        xy : np.ndarray
            Shape (points, 2): x, y of each point. When two points share a frame and a
            keypoint the last one wins.

        A keypoint that gets a position stops being "not visible".
        """
        frames = np.asarray(frames, dtype=int)
        keypoints = np.asarray(keypoints, dtype=int)
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        ok = (frames >= 0) & (frames < self.n_frames)
        ok &= (keypoints >= 0) & (keypoints < len(self.keypoints))
        self.xy[:] = np.nan
        self.xy[frames[ok], keypoints[ok]] = xy[ok]
        self.not_visible &= ~self.placed()

    def mark_not_visible(self, frame: int, keypoint: int) -> None:
        """Mark a keypoint "not visible" on a frame (drops its position, written as NaN)."""
        self.xy[frame, keypoint] = np.nan
        self.not_visible[frame, keypoint] = True

    def clear(self, frame: int, keypoint: int) -> None:
        """Forget a keypoint on a frame: back to unlabeled."""
        self.xy[frame, keypoint] = np.nan
        self.not_visible[frame, keypoint] = False

    def adopt(self, labels: pd.DataFrame, atol: float = SAME_PX) -> bool:
        """Take ``labels`` (what was just saved: the merge with the file) as the state.

        Positions another writer changed come in; cells empty before and after keep their
        in-memory mark ("not visible" or still to do), so a save never turns a frame's
        unlabeled keypoints into "not visible". Returns True when a placed position moved by
        more than ``atol`` pixels (the Points layer must then be redrawn).
        """
        new = LabelState.from_labels(labels, self.images, self.keypoints)
        empty = np.isnan(new.xy).any(axis=-1) & np.isnan(self.xy).any(axis=-1)
        new.not_visible = np.where(empty, self.not_visible, new.not_visible)
        old_empty = np.isnan(self.xy).any(axis=-1)
        new_empty = np.isnan(new.xy).any(axis=-1)
        close = (np.abs(new.xy - self.xy) <= atol).all(axis=-1)
        moved = bool(((old_empty != new_empty) | (~old_empty & ~new_empty & ~close)).any())
        self.xy, self.not_visible = new.xy, new.not_visible
        self.other_rows, self.csv_rows, self.scorer = new.other_rows, new.csv_rows, new.scorer
        return moved

    # ------------------------------------------------------------------ output
    def to_labels(self) -> pd.DataFrame:
        """The labels as a pose DataFrame, columns in keypoint order, NaN where no position.

        Rows: the loaded CSV's rows in their order (rows of images not shown included,
        unchanged), then every other frame with at least one decision, in frame order.
        """
        csv = set(self.csv_rows)
        keep = [f for f, img in enumerate(self.images) if img in csv]
        new = [f for f in np.flatnonzero(self.decided().any(axis=1)) if self.images[f] not in csv]
        frames = keep + [int(f) for f in new]
        df = make_pose_frame(
            self.xy[frames],
            self.keypoints,
            index=[self.images[f] for f in frames],
            scorer=self.scorer,
        )
        if self.other_rows is not None and len(self.other_rows):
            other = self.other_rows.copy()
            other.columns = df.columns  # same keypoints, same order (built in from_labels)
            df = pd.concat([df, other])
        order = [*self.csv_rows, *(self.images[f] for f in new)]
        return df.loc[order]


def normalize_image_path(path: str) -> str:
    """An image path as it appears in a CSV index: forward slashes, no leading ``./``."""
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def find_label_images(data_dir: str | Path) -> list[str]:
    """Image paths under ``<data_dir>/labeled-data`` relative to ``data_dir``, sorted.

    Both layouts are found: ``labeled-data/<video>/*.png`` (one folder per video) and
    Lightning Pose's flat ``labeled-data/*.png``. Paths use forward slashes, as in a labels CSV
    index. Hidden files (e.g. a half-written ``.img.png.tmp``) are skipped; an absent folder
    gives an empty list.
    """
    data_dir = Path(data_dir)
    root = data_dir / LABELED_DATA_DIR
    if not root.is_dir():
        return []
    found = [
        p
        for p in [*root.glob("*"), *root.glob("*/*")]
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    ]
    return sorted(p.relative_to(data_dir).as_posix() for p in found)


def frames_to_label(
    images: Sequence[str], csv_rows: Sequence[str] = (), context: int = CONTEXT_RADIUS
) -> list[str]:
    """The images to show for labeling: the CSV's rows plus the other images, except the
    context neighbours of a row.

    Frame selection writes each picked frame as a CSV row (to be labeled) and its ``context``
    neighbours on each side as images only, for the context model. An image without a row
    that lies within ``context`` frames of a row of the same video (by the number in its file
    name) is such a neighbour and is left out; any other image is shown, so frames copied into
    ``labeled-data/`` by hand can be labeled too.

    Parameters
    ----------
    images : sequence of str
        Images found on disk (``find_label_images``), paths as in the CSV index.
    csv_rows : sequence of str
        The labels CSV's index (rows whose image exists on disk).
    context : int
        Neighbours on each side that are not frames to label.

    Returns
    -------
    list of str
        Sorted by video folder, then frame number, then path.
    """
    rows = {normalize_image_path(str(r)) for r in csv_rows}
    near: set[tuple[str | None, int]] = set()
    for row in rows:
        video, frame = parse_image_path(row)
        if frame is not None:
            near.update((video, frame + d) for d in range(-context, context + 1))
    shown = set(rows)
    for image in map(normalize_image_path, images):
        video, frame = parse_image_path(image)
        if image not in rows and (frame is None or (video, frame) not in near):
            shown.add(image)

    def order(path: str) -> tuple[str, int, str]:
        video, frame = parse_image_path(path)
        return (video or "", -1 if frame is None else frame, path)

    return sorted(shown, key=order)
