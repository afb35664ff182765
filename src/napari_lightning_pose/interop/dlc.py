"""DeepLabCut projects: import one as a project, export a project's labels back.

A DeepLabCut project is a folder with ``config.yaml`` (``bodyparts``, ``skeleton``,
``scorer``, ``video_sets``), ``labeled-data/<video>/CollectedData_<scorer>.csv`` and ``.h5``
(the same table; the ``.h5`` is DeepLabCut's own copy) beside the labeled PNGs, and
``videos/``. Image paths in those tables are relative to the project folder
(``labeled-data/<video>/img0042.png``), in DeepLabCut >= 2.2 split over three index levels.
"""

from __future__ import annotations

import datetime
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import yaml

from napari_lightning_pose.errors import ConfigError, LabelsError, import_optional
from napari_lightning_pose.io import labels as labels_io
from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.io.atomic import atomic_path, atomic_write_text
from napari_lightning_pose.io.image_paths import IMAGE_SUFFIXES, LABELED_DATA_DIR
from napari_lightning_pose.io.video import VIDEO_SUFFIXES
from napari_lightning_pose.io.yaml_reading import read_yaml_mapping
from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.labeling.project_setup import init_project

H5_KEY = "df_with_missing"  # the key DeepLabCut reads and writes


@dataclass
class DlcImport:
    """What :func:`import_dlc_project` did.

    Attributes
    ----------
    config : pathlib.Path
        The new project's ``config.yaml``.
    label_files : list of pathlib.Path
        The DeepLabCut tables read (one per ``labeled-data/<video>/`` folder).
    n_frames : int
        Rows in the new labels CSV.
    videos : list of pathlib.Path
        Videos added to the project.
    notes : list of str
        Things the user should know (missing videos, a CSV and .h5 that disagree ...).
    """

    config: Path
    label_files: list[Path] = field(default_factory=list)
    n_frames: int = 0
    videos: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -------------------------------------------------------------------------------- reading
def read_dlc_config(path: str | Path) -> dict[str, Any]:
    """Read a DeepLabCut ``config.yaml`` (or its folder); ConfigError unless it is one."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.yaml"
    if not path.is_file():
        raise ConfigError(path, "DeepLabCut config not found.", "Pass the project's config.yaml.")
    cfg = read_yaml_mapping(path)
    if "bodyparts" not in cfg:
        raise ConfigError(path, "has no 'bodyparts': it is not a DeepLabCut project config.", "")
    if cfg.get("multianimalproject") or cfg["bodyparts"] == "MULTI!":
        raise ConfigError(
            path,
            "is a multi-animal DeepLabCut project.",
            "Lightning Pose labels one animal per frame: import a single-animal project.",
        )
    if "camera_names" in cfg:
        raise ConfigError(
            path,
            "is a DeepLabCut 3D project config; the DeepLabCut import makes a single-camera "
            "project.",
            "Import each camera's 2D DeepLabCut project (config_file_camera-* in this file), "
            "or start a multi-camera project with init --views.",
        )
    return cfg


def read_dlc_table(path: str | Path) -> pd.DataFrame:
    """Read a DeepLabCut labels table (``CollectedData_*.csv`` or ``.h5``) as our labels.

    The index becomes one POSIX path per row (``labeled-data/<video>/img0042.png``), from a
    DeepLabCut >= 2.2 three-level index or a Windows path alike.
    """
    path = Path(path)
    if path.suffix.lower() == ".h5":
        import_optional("tables", "Reading a DeepLabCut .h5 table")
        try:
            df = pd.read_hdf(path)
        except (OSError, KeyError, ValueError, TypeError, ImportError) as err:
            raise LabelsError(path, f"cannot be read as a DeepLabCut .h5 table: {err}") from err
        if not isinstance(df, pd.DataFrame) or df.columns.nlevels != 3:
            raise LabelsError(
                path,
                "is not a single-animal DeepLabCut table (scorer, bodyparts, coords columns).",
                "Multi-animal tables (an 'individuals' level) are not supported.",
            )
        df = df.copy()
        df.columns = df.columns.set_names(pose_csv.HEADER_NAMES)
        if isinstance(df.index, pd.MultiIndex):
            df.index = pd.Index(["/".join(map(str, parts)) for parts in df.index])
        df = df.astype(float)
    else:
        df = labels_io.read_labels(path)
    df.index = pd.Index([str(PurePosixPath(str(i).replace("\\", "/"))) for i in df.index])
    return df


def find_label_tables(dlc_root: Path) -> list[Path]:
    """One labels table per ``labeled-data/<video>/`` folder: the ``.h5``, else the CSV."""
    tables: list[Path] = []
    labeled = dlc_root / LABELED_DATA_DIR
    for folder in sorted(p for p in labeled.glob("*") if p.is_dir()):
        if folder.name.endswith("_labeled"):  # DeepLabCut's check_labels output
            continue
        h5 = sorted(folder.glob("CollectedData_*.h5"))
        csv = sorted(folder.glob("CollectedData_*.csv"))
        tables.extend(h5[:1] or csv[:1])
    return tables


# -------------------------------------------------------------------------------- import
def import_dlc_project(
    dlc_config: str | Path,
    project: str | Path,
    copy_videos: bool = True,
) -> DlcImport:
    """Create a project from a DeepLabCut project: keypoints, skeleton, labels, videos.

    Parameters
    ----------
    dlc_config
        The DeepLabCut ``config.yaml`` (or its folder).
    project
        The new project folder (must not hold a project yet).
    copy_videos
        Copy the videos (True) or link to them.

    Returns
    -------
    DlcImport
        The new config, the tables merged, the frame count, videos and notes.
    """
    dlc_path = Path(dlc_config)
    dlc_path = dlc_path / "config.yaml" if dlc_path.is_dir() else dlc_path
    cfg = read_dlc_config(dlc_path)
    dlc_root = dlc_path.parent
    names = [str(b) for b in cfg["bodyparts"]]
    skeleton = [list(map(str, e)) for e in (cfg.get("skeleton") or []) if len(e) == 2]
    scorer = str(cfg.get("scorer") or labels_io.DEFAULT_SCORER)
    result = DlcImport(config=Path(project) / "config.yaml")

    frames: list[pd.DataFrame] = []
    for table in find_label_tables(dlc_root):
        df = read_dlc_table(table)
        df = labels_io.match_keypoints(df, names, table)
        frames.append(
            pose_csv.make_pose_frame(
                pose_csv.coords_array(df), names, index=df.index, scorer=scorer
            )
        )
        result.label_files.append(table)
    if frames:
        merged = pd.concat(frames)
        dup = merged.index[merged.index.duplicated()]
        if len(dup):
            raise LabelsError(dlc_root, f"the image {dup[0]!r} is labeled in two tables.")
    else:
        merged = labels_io.empty_labels(names, scorer=scorer)
        result.notes.append(f"no labels found under {dlc_root / 'labeled-data'}.")

    videos, missing = _dlc_videos(cfg, dlc_root)
    if missing:
        result.notes.append(
            f"videos not found (add them later with --video): {', '.join(missing)}."
        )
    result.config = init_project(
        project, keypoint_names=names, skeleton=skeleton, videos=videos, copy_videos=copy_videos
    )
    result.videos = [Path(project) / "videos" / v.name for v in videos]
    proj = Project.open(result.config)
    _copy_images(dlc_root, proj.data_dir, [str(i) for i in merged.index], result.notes)
    proj.write_labels(merged)
    result.n_frames = len(merged)
    return result


def _dlc_videos(cfg: dict[str, Any], dlc_root: Path) -> tuple[list[Path], list[str]]:
    """The project's videos: ``video_sets`` paths (else same name in ``videos/``)."""
    found: list[Path] = []
    missing: list[str] = []
    listed = [Path(str(v)) for v in (cfg.get("video_sets") or {})]
    local = dlc_root / "videos"
    if not listed and local.is_dir():
        listed = sorted(p for p in local.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    for video in listed:
        name = PurePosixPath(str(video).replace("\\", "/")).name
        for cand in (video, local / name):
            if cand.is_file():
                found.append(cand)
                break
        else:
            missing.append(name)
    return found, missing


def _copy_images(src_root: Path, dst_root: Path, images: Sequence[str], notes: list[str]) -> None:
    """Copy every image of the tables' folders (neighbours for the context model too)."""
    folders = {PurePosixPath(i).parent for i in images}
    absent = [i for i in images if not (src_root / i).is_file()]
    for folder in sorted(folders):
        dst = dst_root / folder
        dst.mkdir(parents=True, exist_ok=True)
        for image in sorted((src_root / folder).glob("*")):
            if image.suffix.lower() in IMAGE_SUFFIXES and not (dst / image.name).exists():
                shutil.copy2(image, dst / image.name)
    if absent:
        notes.append(
            f"{len(absent)} labeled image(s) are missing in the DeepLabCut project, "
            f"e.g. {absent[0]}."
        )


# -------------------------------------------------------------------------------- export
def dlc_frame(labels: pd.DataFrame, scorer: str) -> pd.DataFrame:
    """Our labels as DeepLabCut >= 2.2 holds them: three index levels, ``scorer`` columns."""
    names = pose_csv.keypoint_names(labels)
    values = pose_csv.coords_array(labels)
    index = pd.MultiIndex.from_tuples([PurePosixPath(i).parts for i in labels.index])
    return pose_csv.make_pose_frame(values, names, index=index, scorer=scorer)


def export_dlc_labels(
    project: Project | str | Path,
    dlc_root: str | Path,
    scorer: str | None = None,
) -> list[Path]:
    """Write a project's labels (and images) into a DeepLabCut project folder.

    Each ``labeled-data/<video>/`` gets ``CollectedData_<scorer>.csv`` and ``.h5`` (key
    ``df_with_missing``) with its rows and a copy of its images. Lightning Pose's flat
    ``labeled-data/img01.png`` rows go to ``labeled-data/<project folder name>/``. When
    ``dlc_root`` has no ``config.yaml`` a minimal single-animal one is written (bodyparts,
    skeleton, scorer, the project's videos).

    Returns
    -------
    list of pathlib.Path
        The tables written (CSV and .h5 of each video folder).
    """
    proj = project if isinstance(project, Project) else Project.open(project)
    if proj.views is not None:
        raise ConfigError(
            proj.config_path,
            f"is a multi-camera project (views {list(proj.views.names)}); the DeepLabCut "
            "export writes single-camera projects only.",
            "Export a single-camera project.",
        )
    dlc_root = Path(dlc_root)
    config = dlc_root / "config.yaml"
    if config.is_file():
        scorer = scorer or str(read_dlc_config(config).get("scorer") or "")
    scorer = scorer or pose_csv.scorer_name(proj.read_labels()) or labels_io.DEFAULT_SCORER
    labels = labels_io.drop_unlabeled(proj.read_labels())
    flat_folder = proj.root.name
    rows: dict[str, list[str]] = {}
    new_index = []
    for image in labels.index:
        parts = PurePosixPath(image).parts
        if len(parts) == 2:  # labeled-data/img01.png
            parts = (parts[0], flat_folder, parts[1])
        new_index.append(str(PurePosixPath(*parts)))
        rows.setdefault(parts[1], []).append(image)
    renamed = labels.set_axis(pd.Index(new_index), axis=0)
    written: list[Path] = []
    for video, images in rows.items():
        folder = dlc_root / LABELED_DATA_DIR / video
        folder.mkdir(parents=True, exist_ok=True)
        for image in images:
            src = proj.data_dir / image
            if src.is_file() and not (folder / src.name).exists():
                shutil.copy2(src, folder / src.name)
        part = renamed.loc[[i for i in renamed.index if PurePosixPath(i).parts[1] == video]]
        table = dlc_frame(part, scorer)
        csv_path = folder / f"CollectedData_{scorer}.csv"
        h5_path = csv_path.with_suffix(".h5")
        with atomic_path(csv_path) as tmp:
            table.to_csv(tmp)
        import_optional("tables", "Writing DeepLabCut's .h5 table")
        with atomic_path(h5_path) as tmp:
            table.to_hdf(tmp, key=H5_KEY, mode="w")
        written += [csv_path, h5_path]
    if not config.is_file():
        _write_dlc_config(config, proj, scorer)
    return written


def _write_dlc_config(path: Path, proj: Project, scorer: str) -> None:
    """A minimal DeepLabCut single-animal ``config.yaml`` for exported labels."""
    cfg = {
        "Task": proj.root.name,
        "scorer": scorer,
        "date": datetime.date.today().strftime("%b%d"),
        "multianimalproject": False,
        "project_path": str(path.parent.resolve()),
        "video_sets": {str(v.resolve()): {"crop": _crop(v)} for v in proj.video_paths()},
        "bodyparts": proj.keypoint_names,
        "skeleton": [list(e) for e in proj.skeleton],
        "numframes2pick": 20,
        "pcutoff": 0.6,
    }
    atomic_write_text(path, yaml.safe_dump(cfg, sort_keys=False))


def _crop(video: Path) -> str:
    from napari_lightning_pose.errors import VideoError
    from napari_lightning_pose.io.video_index import probe_video

    try:
        info = probe_video(video)
    except (VideoError, OSError):  # an unreadable video keeps DeepLabCut's placeholder
        return "0, 640, 0, 480"
    return f"0, {info.width}, 0, {info.height}"
