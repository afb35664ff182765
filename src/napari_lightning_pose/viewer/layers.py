"""Labels <-> napari layer data, as pure functions (no Qt, no napari import).

The labeled frames of a project become one image stack (axis 0 = row of the labels CSV) and a
Points layer whose data is an ``(N, 3)`` array of ``frame, y, x`` with a ``features`` table
(``keypoint``, ``frame``, ``image``). A label's pixel coordinates are the same in the CSV and
in napari (centre of the top-left pixel at 0, 0), so x and y are only swapped, never shifted.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.io.image_paths import images_root
from napari_lightning_pose.io.images import load_frame_stack
from napari_lightning_pose.io.label_checks import check_labels_in_bounds
from napari_lightning_pose.io.labels import DEFAULT_SCORER, empty_labels, read_labels
from napari_lightning_pose.viewer.layer_styles import KeypointsStyle, SkeletonStyle

if TYPE_CHECKING:
    from napari_lightning_pose.labeling.state import LabelState

POINT_FEATURES = ("keypoint", "frame", "image")
#: Points-layer metadata key of the labels as last read from or written to the CSV, an array
#: (images, keypoints, 2) of x, y aligned with ``metadata["images"]`` and
#: ``metadata["keypoint_names"]``: the base of the three-way merge when the layer is saved.
LABELS_BASE = "labels_base"

LayerData = tuple[Any, dict[str, Any], str]


# ------------------------------------------------------------------------ labels <-> points
def labels_to_points(
    df: pd.DataFrame, keypoint_names: Sequence[str] | None = None
) -> tuple[np.ndarray, pd.DataFrame]:
    """Turn a labels DataFrame into Points layer data plus its features.

    Parameters
    ----------
    df
        Labels (scorer, bodyparts, coords x/y); row ``i`` is slice ``i`` of the frame stack.
    keypoint_names
        Keypoint order for the ``keypoint`` categories; defaults to the CSV's order.

    Returns
    -------
    data : numpy.ndarray
        Shape (N, 3): ``frame, y, x`` of every labeled keypoint (NaN labels give no point),
        ordered by frame, then keypoint.
    features : pandas.DataFrame
        N rows: ``keypoint`` (categorical in keypoint order), ``frame`` (int, row of ``df``)
        and ``image`` (the row's image path).
    """
    names = list(keypoint_names) if keypoint_names is not None else pose_csv.keypoint_names(df)
    flat = df.droplevel("scorer", axis=1)
    cols = [(n, c) for n in names for c in ("x", "y")]
    xy = flat.loc[:, cols].to_numpy(dtype=float).reshape(len(df), len(names), 2)
    frame, kp = np.nonzero(np.isfinite(xy).all(axis=2))
    data = np.column_stack([frame, xy[frame, kp, 1], xy[frame, kp, 0]]).astype(float)
    features = pd.DataFrame(
        {
            "keypoint": pd.Categorical(np.asarray(names, dtype=object)[kp], categories=names),
            "frame": frame.astype(int),
            "image": np.asarray(df.index, dtype=object)[frame],
        }
    )
    return data.reshape(-1, 3), features


def points_from_state(state: LabelState) -> tuple[np.ndarray, pd.DataFrame]:
    """A labeling session's placed keypoints as Points data (N, 3) of (frame, y, x) and
    their features (as :func:`labels_to_points`)."""
    table = pose_csv.make_pose_frame(state.xy, state.keypoints, index=state.images)
    return labels_to_points(table, state.keypoints)


def keypoint_indices(keypoint: pd.Series, keypoints: Sequence[str]) -> np.ndarray:
    """Index in ``keypoints`` of each point's ``keypoint`` feature, -1 where unknown."""
    index = {name: i for i, name in enumerate(keypoints)}
    if isinstance(keypoint.dtype, pd.CategoricalDtype):  # fast path: map the categories
        lut = np.array([index.get(str(c), -1) for c in keypoint.cat.categories] + [-1])
        return lut[keypoint.cat.codes.to_numpy()]  # code -1 (missing) picks the last entry
    return np.array([index.get(str(n), -1) for n in keypoint], dtype=int)


def placed_points(
    data: np.ndarray, features: pd.DataFrame, keypoints: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame index, keypoint index (:func:`keypoint_indices`) and (x, y) of every point of
    a labels layer: what ``LabelState.set_placed`` takes."""
    if not len(data):
        return np.zeros(0, int), np.zeros(0, int), np.zeros((0, 2))
    frames = np.rint(data[:, 0]).astype(int)
    return frames, keypoint_indices(features["keypoint"], keypoints), data[:, [2, 1]]


def replaced_points(
    frames: np.ndarray, kps: np.ndarray, new: Sequence[int], n_frames: int
) -> tuple[list[int], list[int]]:
    """After points ``new`` were added to a labels layer (point ``i`` on frame ``frames[i]``
    of keypoint ``kps[i]``): the older points they replace (same frame and keypoint) and
    the new ones outside the ``n_frames`` frames."""
    outside = [i for i in new if not 0 <= frames[i] < n_frames]
    stale = []
    for i in new:
        same = np.flatnonzero((frames == frames[i]) & (kps == kps[i]))
        stale.extend(int(j) for j in same if j != i and j not in new)
    return stale, outside


def points_to_labels(
    data: np.ndarray,
    features: pd.DataFrame | Mapping[str, Sequence],
    images: Sequence[str],
    keypoint_names: Sequence[str],
    scorer: str = DEFAULT_SCORER,
    path: str | Path | None = None,
) -> pd.DataFrame:
    """Turn Points layer data back into a labels DataFrame with one row per image.

    Parameters
    ----------
    data
        Shape (N, 3): ``frame, y, x`` (extra leading axes are not allowed).
    features
        N rows with a ``keypoint`` column naming each point's keypoint.
    images
        Image path of every frame of the stack; every image gets a row, all-NaN when it
        has no point, so frames picked for labeling stay in the file.
    keypoint_names
        The project's keypoints, in column order.
    scorer
        Scorer name written in the first header row.
    path
        The file being written, named in errors.

    Raises
    ------
    LabelsError
        A point has an unknown keypoint or a frame outside the stack, or one frame has two
        points of the same keypoint.
    """
    data = np.asarray(data, dtype=float).reshape(-1, 3) if len(data) else np.empty((0, 3))
    names = list(keypoint_names)
    keypoints = np.asarray(pd.Series(features["keypoint"], dtype=object), dtype=object)
    if len(keypoints) != len(data):
        raise ValueError(f"{len(data)} points but {len(keypoints)} feature rows")
    unknown = sorted({str(k) for k in keypoints} - set(names))
    if unknown:
        raise LabelsError(
            path,
            f"points have keypoints {unknown} that are not in the project ({names}).",
            "Set each point's keypoint to one of the project's keypoints, or delete it.",
        )
    values = np.full((len(images), len(names), 2), np.nan)
    if len(data):
        frame = np.rint(data[:, 0]).astype(int)
        outside = (frame < 0) | (frame >= len(images))
        if outside.any():
            raise LabelsError(
                path,
                f"a point lies on frame {frame[outside][0]}, but there are {len(images)} frames.",
                "Delete points that are not on a labeled frame.",
            )
        kp = np.array([names.index(k) for k in keypoints], dtype=int)
        pairs = pd.Series(list(zip(frame, kp, strict=True)))
        dup = pairs[pairs.duplicated()]
        if len(dup):
            f, k = dup.iloc[0]
            raise LabelsError(
                path,
                f"frame {images[f]!r} has more than one {names[k]!r} point.",
                "Delete the extra point so each keypoint is placed once per frame.",
            )
        finite = np.isfinite(data[:, 1:]).all(axis=1)
        values[frame[finite], kp[finite], 0] = data[finite, 2]
        values[frame[finite], kp[finite], 1] = data[finite, 1]
    out = empty_labels(names, list(images), scorer=scorer)
    out.iloc[:, :] = values.reshape(len(images), -1)
    return out


def labels_base(
    df: pd.DataFrame, images: Sequence[str], keypoint_names: Sequence[str]
) -> np.ndarray:
    """The labels of ``images`` as an (images, keypoints, 2) array of x, y; NaN without a row.

    Stored in a Points layer's metadata (``LABELS_BASE``) so a later save can tell what the
    user changed in the layer from what another writer changed in the file meanwhile.
    """
    rows = df.reindex(pd.Index([str(im) for im in images], dtype=str))
    xy = pose_csv.coords_array(rows)
    order = [pose_csv.keypoint_names(df).index(k) for k in keypoint_names]
    return xy[:, order, :]


def skeleton_lines(
    data: np.ndarray, features: pd.DataFrame, skeleton: Sequence[Sequence[str]]
) -> np.ndarray:
    """Line segments between the keypoints of each skeleton edge, frame by frame.

    Returns an array of shape (M, 2, 3): for every frame where both ends of an edge are
    labeled, the two points ``frame, y, x`` (a napari Shapes ``line``).
    """
    if len(data) == 0 or not skeleton:
        return np.empty((0, 2, 3))
    pts = pd.DataFrame(
        {
            "frame": np.rint(np.asarray(data)[:, 0]).astype(int),
            "keypoint": np.asarray(pd.Series(features["keypoint"], dtype=object)),
            "i": np.arange(len(data)),
        }
    )
    index = pts.drop_duplicates(["frame", "keypoint"]).set_index(["frame", "keypoint"])["i"]
    lines = []
    for frame in sorted(pts["frame"].unique()):
        for a, b in skeleton:
            ia, ib = index.get((frame, a)), index.get((frame, b))
            if ia is not None and ib is not None:
                lines.append(np.asarray(data)[[ia, ib]])
    return np.asarray(lines, dtype=float).reshape(-1, 2, 3)


def xy_skeleton_vectors(
    xy: np.ndarray,
    keypoint_names: Sequence[str],
    skeleton: Sequence[Sequence[str]],
    frames: np.ndarray | None = None,
) -> np.ndarray:
    """Vectors layer data of the skeleton on every frame, from a (frames, keypoints, 2) array.

    ``xy`` holds x, y per frame and keypoint (NaN: not placed or not predicted); ``frames``
    the frame number of each row (default 0, 1, ...). Returns shape (M, 2, 3): for every
    frame and edge with both ends present, the start ``frame, y, x`` and the step
    ``0, dy, dx`` to the other end. napari shows the current frame's, so stepping through
    frames never rebuilds the skeleton.
    """
    index = {name: i for i, name in enumerate(keypoint_names)}
    edges = [(index[a], index[b]) for a, b in skeleton if a in index and b in index]
    if not edges or not len(xy):
        return np.empty((0, 2, 3))
    a, b = np.array(edges).T
    start, end = xy[:, a], xy[:, b]  # (frames, edges, 2)
    row, e = np.nonzero(np.isfinite(start).all(axis=2) & np.isfinite(end).all(axis=2))
    frame = row if frames is None else np.asarray(frames)[row]
    step = end[row, e] - start[row, e]
    pos = np.column_stack([frame, start[row, e, 1], start[row, e, 0]])
    zeros = np.zeros(len(row))
    return np.stack([pos, np.column_stack([zeros, step[:, 1], step[:, 0]])], 1).astype(float)


# ---------------------------------------------------------------------- layer-data tuples
def labels_layer_data(
    csv_path: str | Path,
    keypoint_names: Sequence[str] | None = None,
    skeleton: Sequence[Sequence[str]] = (),
    root: str | Path | None = None,
) -> list[LayerData]:
    """Layer-data tuples for a labels CSV: frame stack, keypoints, and skeleton if given.

    Parameters
    ----------
    csv_path
        The labels CSV.
    keypoint_names
        The project's keypoints (the CSV must have the same); defaults to the CSV's own.
    skeleton
        Pairs of keypoint names to join with lines; no skeleton layer when empty.
    root
        Folder the image paths are relative to; defaults to the CSV's folder, or the folder
        above it where the images are (a DeepLabCut CSV in ``labeled-data/<video>/``).

    Labels outside their image give a ``UserWarning`` (shown by napari) rather than an error,
    so the file can be opened and those points moved; saving refuses them.

    Returns
    -------
    list of (data, kwargs, layer_type)
        ``"image"`` (a ``FrameStack``), ``"points"`` (``labels_to_points``; metadata holds
        ``csv_path``, ``root``, ``images``, ``keypoint_names`` and ``scorer`` so the writer
        can save it back), then ``"shapes"`` lines for the skeleton.
    """
    csv_path = Path(csv_path)
    df = read_labels(csv_path, keypoint_names)
    names = pose_csv.keypoint_names(df)
    images = [str(im) for im in df.index]
    root = Path(root) if root is not None else images_root(csv_path, images)  # DLC: 2 up
    stack = load_frame_stack(images, root)
    try:
        check_labels_in_bounds(df, dict(zip(images, stack.sizes, strict=True)), csv_path)
    except LabelsError as err:  # open anyway, so the user can see and move those points
        warnings.warn(str(err), UserWarning, stacklevel=2)
    data, features = labels_to_points(df, names)
    image_kwargs: dict[str, Any] = {
        "name": f"{csv_path.stem} frames",
        "rgb": stack.rgb,
        "multiscale": False,
        "contrast_limits": (0, int(np.iinfo(stack.dtype).max)),
        "axis_labels": ("frame", "y", "x"),
    }
    metadata = {
        "csv_path": str(csv_path),
        "root": str(root),
        "images": images,
        "keypoint_names": names,
        "scorer": pose_csv.scorer_name(df),
        "skeleton": [list(edge) for edge in skeleton],
        LABELS_BASE: labels_base(df, images, names),
    }
    points_kwargs = KeypointsStyle(name=csv_path.stem, keypoint_names=names).as_kwargs()
    points_kwargs.update(features=features, metadata=metadata, ndim=3)
    layers: list[LayerData] = [(stack, image_kwargs, "image"), (data, points_kwargs, "points")]
    if skeleton:
        lines = skeleton_lines(data, features, skeleton)
        shapes_kwargs = SkeletonStyle(name=f"{csv_path.stem} skeleton").as_kwargs()
        layers.append((list(lines), {**shapes_kwargs, "ndim": 3}, "shapes"))
    return layers


def video_layer_data(path: str | Path) -> LayerData:
    """The Image layer-data tuple ``(VideoReader, kwargs, "image")`` for one video file."""
    from napari_lightning_pose.io.video import VideoReader

    reader = VideoReader(path, prefetch=True)  # decodes around the slider in the background
    metadata = {
        "fps": reader.fps,
        "n_frames": reader.n_frames,
        "video_path": str(reader.path.resolve()),
    }
    kwargs = {
        "name": reader.path.stem,
        "rgb": True,
        "multiscale": False,
        "contrast_limits": (0, 255),
        "axis_labels": ("frame", "y", "x"),
        "metadata": metadata,
    }
    return reader, kwargs, "image"
