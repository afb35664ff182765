"""Split a mirrored project (two views in one frame) into a two-camera project.

The mirror-mouse data film one mouse from the top and, in a mirror, from below, in one frame:
the top view above ``split_row``, the bottom view below it. Cropping each frame at that row
gives two synchronised "cameras", a real multi-camera session (Lightning Pose's own tests
build its ``mirror-mouse-example_split`` this way). The keypoints of ``mirrored_column_matches``
pair up by name without their view suffix (``paw1LH_top`` / ``paw1LH_bot`` -> ``paw1LH``);
keypoints that exist in one view only (mirror-mouse's obstacle points ``obs_top``,
``obsHigh_bot``, ``obsLow_bot``) are left out, as a camera project has the same keypoints in
every view.

The new project is built in a temporary folder beside ``out_dir`` and moved there only when
complete, so bad input or a failure writes nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import av
import numpy as np
import pandas as pd
from PIL import Image

from napari_lightning_pose.errors import ConfigError, LabelsError
from napari_lightning_pose.io import labels as labels_io
from napari_lightning_pose.io.atomic import atomic_path
from napari_lightning_pose.io.config import save_config
from napari_lightning_pose.io.image_paths import IMAGE_SUFFIXES, LABELED_DATA_DIR, parse_image_path
from napari_lightning_pose.io.pose_csv import make_pose_frame
from napari_lightning_pose.io.video import VideoReader
from napari_lightning_pose.io.views import check_view_keys
from napari_lightning_pose.labeling.project import CONFIG_NAME, Project

#: Row of the mirror-mouse frames (396 x 406) where the top view ends and the mirror begins.
MIRROR_MOUSE_SPLIT_ROW = 168

_SUFFIX = re.compile(r"^(.+?)[_\-. ]([A-Za-z0-9]+)$")


@dataclass
class MirrorSplit:
    """What :func:`split_mirrored_project` wrote.

    Attributes
    ----------
    config : pathlib.Path
        The new project's ``config.yaml``.
    views : tuple of str
        The view (camera) names, in ``data.view_names`` order.
    keypoint_names : list of str
        The keypoints shared by the views (suffixes stripped).
    dropped : list of str
        Source keypoints without a partner in the other view, left out.
    csv_files : list of pathlib.Path
        One labels CSV per view.
    videos : dict
        ``{session: {view: path}}`` of the cropped videos.
    n_frames : int
        Labeled rows in each view's CSV.
    notes : list of str
        Things the user should know (labels outside their view's crop ...).
    """

    config: Path
    views: tuple[str, ...]
    keypoint_names: list[str]
    dropped: list[str] = field(default_factory=list)
    csv_files: list[Path] = field(default_factory=list)
    videos: dict[str, dict[str, Path]] = field(default_factory=dict)
    n_frames: int = 0
    notes: list[str] = field(default_factory=list)


def paired_keypoints(
    names: Sequence[str], matches: Sequence[Sequence[int]], path: Path | None = None
) -> list[str]:
    """The shared names of ``mirrored_column_matches``' pairs: each name without its suffix.

    Raises ``ConfigError`` when a pair's names differ by more than their view suffix.
    """
    shared = []
    for a, b in zip(matches[0], matches[1], strict=True):
        stems = [_stem(names[a]), _stem(names[b])]
        if stems[0] != stems[1] or not stems[0]:
            raise ConfigError(
                path,
                f"mirrored keypoints {names[a]!r} and {names[b]!r} do not share a name "
                "apart from a view suffix (e.g. paw_top / paw_bot).",
                "Rename them in the labels and data.keypoint_names so they pair by name.",
            )
        shared.append(stems[0])
    if len(set(shared)) != len(shared):
        raise ConfigError(path, f"mirrored keypoints pair to duplicate names {shared}.")
    return shared


def _stem(name: str) -> str:
    match = _SUFFIX.match(name)
    return match.group(1) if match else ""


def split_mirrored_project(
    src: str | Path,
    out_dir: str | Path,
    split_row: int = MIRROR_MOUSE_SPLIT_ROW,
    views: Sequence[str] = ("top", "bottom"),
    max_video_frames: int | None = None,
) -> MirrorSplit:
    """Write a two-camera project to ``out_dir`` from the mirrored project ``src``.

    Parameters
    ----------
    src
        The mirrored project's folder or ``config.yaml`` (``data.mirrored_column_matches``
        with two lists: the first view's keypoints above ``split_row``, the second's below).
    out_dir
        New folder (must not exist, or be empty): ``config.yaml`` with ``view_names`` and one
        ``CollectedData_<view>.csv`` per view, ``labeled-data/<session>_<view>/`` crops of
        every frame image, ``videos/<session>_<view>.mp4`` crops of every video.
    split_row
        First image row of the second view.
    views
        The two view names (first: above ``split_row``).
    max_video_frames
        Keep only the first this many frames of each video (quick tests); None keeps all.
    """
    project = Project.open(src)
    cfg = project.config
    data = cfg["data"]
    path = project.config_path
    out_dir = Path(out_dir)
    views = tuple(views)
    matches = data.get("mirrored_column_matches")
    if data.get("view_names"):
        raise ConfigError(path, "is already a multi-camera project (data.view_names is set).")
    if not matches or len(matches) != 2:
        raise ConfigError(
            path,
            "has no data.mirrored_column_matches with two views, so the views cannot be split.",
            "Give the keypoint indices of each view (e.g. [[0, 1, 2], [3, 4, 5]]).",
        )
    if len(views) != 2:
        raise ConfigError(None, f"a mirrored frame splits into two views, not {list(views)}.")
    check_view_keys({"view_names": list(views), "csv_file": [f"{v}.csv" for v in views]})
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ConfigError(out_dir, "exists and is not empty.", "Choose a new folder.")
    names = project.keypoint_names
    shared = paired_keypoints(names, matches, path)
    dropped = [n for i, n in enumerate(names) if i not in set(matches[0]) | set(matches[1])]
    df = project.read_labels()
    images = _frame_images(project, df)
    sizes = {im: _size(project.data_dir / im) for im in images}
    heights = {h for h, _ in sizes.values()}
    if not 0 < split_row < min(heights):
        raise ConfigError(
            None,
            f"split row {split_row} is not inside the frames (heights {sorted(heights)}).",
            "Give the row where the second view begins.",
        )
    videos = project.video_paths()
    notes = (
        [f"left out keypoints without a partner in the other view: {dropped}"] if dropped else []
    )

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        result = _write(
            project, df, images, tmp, split_row, views, shared, matches, videos, max_video_frames
        )
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    result.dropped = dropped
    result.notes = notes + result.notes
    result.config = out_dir / CONFIG_NAME
    result.csv_files = [out_dir / p.name for p in result.csv_files]
    result.videos = {
        s: {v: out_dir / "videos" / p.name for v, p in by_view.items()}
        for s, by_view in result.videos.items()
    }
    return result


def _frame_images(project: Project, df: pd.DataFrame) -> list[str]:
    """Every frame image to crop: the CSV's rows plus the other images in their folders."""
    found = set(df.index)
    for folder in {PurePosixPath(im).parent for im in df.index}:
        for p in (project.data_dir / folder).glob("img*"):
            if p.suffix.lower() in IMAGE_SUFFIXES:
                found.add(str(folder / p.name))
    missing = [im for im in df.index if not (project.data_dir / im).is_file()]
    if missing:
        raise LabelsError(
            project.csv_path,
            f"{len(missing)} labeled image(s) are missing, e.g. {missing[:3]}.",
            "Restore them under labeled-data/, or delete their rows.",
        )
    return sorted(found)


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        return img.height, img.width


def _session_of(image: str, flat_session: str) -> str:
    video, _ = parse_image_path(image)
    return video or flat_session


def _view_image(image: str, session: str, view: str) -> str:
    return str(PurePosixPath(LABELED_DATA_DIR, f"{session}_{view}", Path(image).name))


def _write(
    project: Project,
    df: pd.DataFrame,
    images: list[str],
    out: Path,
    split_row: int,
    views: tuple[str, ...],
    shared: list[str],
    matches: Sequence[Sequence[int]],
    videos: list[Path],
    max_video_frames: int | None,
) -> MirrorSplit:
    """Write the split project into the empty folder ``out``."""
    flat_session = re.sub(r"[^A-Za-z0-9]+", "-", project.data_dir.name).strip("-") or "session"
    names = project.keypoint_names
    values = labels_io.coords_array(labels_io.match_keypoints(df, names, project.csv_path))
    notes: list[str] = []
    csv_files: list[Path] = []
    for k, view in enumerate(views):
        for image in images:
            session = _session_of(image, flat_session)
            with Image.open(project.data_dir / image) as img:
                crop = _crop(np.asarray(img), split_row, k)
            target = out / _view_image(image, session, view)
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(crop).save(target)
        xy = values[:, list(matches[k]), :].copy()
        if k == 1:
            xy[..., 1] -= split_row
        height = split_row if k == 0 else None
        outside = (xy[..., 1] < 0) | (height is not None and xy[..., 1] >= split_row)
        outside &= ~np.isnan(xy[..., 1])
        if outside.any():
            notes.append(f"{int(outside.sum())} {view} label(s) outside the {view} crop dropped")
            xy[outside] = np.nan
        index = [_view_image(im, _session_of(im, flat_session), view) for im in df.index]
        scorer = labels_io.scorer_name(df) if len(df.columns) else labels_io.DEFAULT_SCORER
        table = make_pose_frame(xy, shared, index=pd.Index(index, dtype=str), scorer=scorer)
        csv_files.append(labels_io.write_labels(table, out / f"CollectedData_{view}.csv", 0))
    written: dict[str, dict[str, Path]] = {}
    for video in videos:
        for k, view in enumerate(views):
            target = out / "videos" / f"{video.stem}_{view}.mp4"
            _crop_video(video, target, split_row, k, max_video_frames)
            written.setdefault(video.stem, {})[view] = target
    cfg = _split_config(project.config, views, shared, csv_files, project.keypoint_names)
    save_config(cfg, out / CONFIG_NAME)
    return MirrorSplit(
        config=out / CONFIG_NAME,
        views=views,
        keypoint_names=shared,
        csv_files=csv_files,
        videos=written,
        n_frames=len(df),
        notes=notes,
    )


def _crop(frame: np.ndarray, split_row: int, view: int) -> np.ndarray:
    """The rows of ``view`` (0: above ``split_row``, 1: from it down)."""
    return np.ascontiguousarray(frame[:split_row] if view == 0 else frame[split_row:])


def _crop_video(video: Path, out: Path, split_row: int, view: int, max_frames: int | None) -> None:
    """Write ``view``'s rows of every frame of ``video`` to ``out`` (H.264, near-lossless)."""
    with VideoReader(video) as reader, atomic_path(out) as tmp:
        n = reader.n_frames if max_frames is None else min(max_frames, reader.n_frames)
        height, width = reader.shape[1:3]
        rows = split_row if view == 0 else height - split_row
        fps = reader.fps if np.isfinite(reader.fps) and reader.fps > 0 else 30.0
        with av.open(os.fspath(tmp), "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=round(fps))
            stream.height, stream.width = rows, width
            stream.pix_fmt = "yuv420p" if rows % 2 == 0 and width % 2 == 0 else "yuv444p"
            stream.options = {"crf": "12"}
            for _, frame in reader.iter_frames(0, n):
                crop = _crop(frame, split_row, view)
                packet_frame = av.VideoFrame.from_ndarray(crop, format="rgb24")
                for packet in stream.encode(packet_frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)


def _split_config(
    cfg: Mapping[str, Any],
    views: tuple[str, ...],
    shared: list[str],
    csv_files: list[Path],
    source_names: list[str],
) -> dict[str, Any]:
    """The source config with the views' keys: view_names, csv_file list, shared keypoints."""
    out = {section: dict(values) for section, values in cfg.items() if isinstance(values, dict)}
    data = out["data"]
    stem = {n: _stem(n) for n in source_names}
    skeleton: list[list[str]] = []
    for a, b in data.get("skeleton") or []:
        edge = [stem.get(a), stem.get(b)]
        if all(e in shared for e in edge) and edge not in skeleton and edge[::-1] not in skeleton:
            skeleton.append(edge)
    singleview = data.get("columns_for_singleview_pca")
    if singleview is not None:
        kept = {stem[source_names[i]] for i in singleview}
        singleview = [i for i, n in enumerate(shared) if n in kept]
    flips = [
        [stem.get(a), stem.get(b)]
        for a, b in data.get("flip_pairs") or []
        if stem.get(a) in shared and stem.get(b) in shared
    ]
    data.update(
        data_dir=".",
        video_dir="videos",
        view_names=list(views),
        csv_file=[p.name for p in csv_files],
        image_orig_dims={"height": None, "width": None},  # the views differ in height
        keypoint_names=list(shared),
        num_keypoints=len(shared),
        skeleton=skeleton,
        columns_for_singleview_pca=singleview,
        mirrored_column_matches=None,
        flip_pairs=[list(dict.fromkeys(f)) for f in flips if len(set(f)) == 2],
    )
    data.pop("camera_params_file", None)
    return out
