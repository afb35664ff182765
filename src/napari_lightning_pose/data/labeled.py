"""Labeled frames as a PyTorch dataset: images from ``labeled-data/``, keypoints from the CSV.

``build_datasets(cfg)`` reads the project's label CSV (``data.csv_file``) with
``io.labels.read_labels``, which checks that its keypoints are the config's (any column
order), drops frames that have no label yet, decodes every listed image once into an
in-memory uint8 cache (shared by the train/val/test datasets and inherited by DataLoader
workers, which therefore never touch the PNGs again), checks that every label lies inside its
image, splits the rows with a fixed seed and returns the three datasets. A multi-camera
project (``data.view_names``) reads every view's CSV (``data.multiview``): each view's labeled
frame is a row, and the split is drawn over frames so that a frame's views share it.
Each item is a dict:

- ``"images"``: float32 (3, h, w), ImageNet-normalised, (h, w) = ``data.image_resize_dims``;
  for context models (5, 3, h, w): frames t-2..t+2 (``data.neighbours``), augmented alike;
- ``"keypoints"``: float32 (K, 2) in resized pixels (x, y), NaN where missing;
- ``"heatmaps"``: float32 (K, h / s, w / s) Gaussian targets (s = 2**downsample_factor),
  all zero for missing keypoints;
- ``"index"``: int, the row in ``LabeledFrames.labels`` (the CSV's labeled rows);
- ``"image_path"``: str, the CSV row label, e.g. ``labeled-data/img01.png``;
- ``"scale"``: float32 (2,), original -> resized factors (x, y), for
  ``data.transforms.keypoints_to_original``.

Resizing and normalising go through ``data.transforms`` exactly as video prediction does;
training augmentation (``data.augment``) runs on the resized frame in between.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from napari_lightning_pose.data.augment import Augmenter, pipeline_params
from napari_lightning_pose.data.heatmaps import gaussian_heatmaps
from napari_lightning_pose.data.multiview import keep_frames, read_view_labels, split_frames
from napari_lightning_pose.data.neighbours import neighbour_windows
from napari_lightning_pose.data.splits import config_split
from napari_lightning_pose.data.transforms import (
    image_to_heatmap,
    keypoints_to_resized,
    normalize,
    resize_frames,
    resize_scale,
)
from napari_lightning_pose.errors import ConfigError, LabelsError
from napari_lightning_pose.io.label_checks import check_labels_in_bounds
from napari_lightning_pose.io.labels import drop_unlabeled, read_labels
from napari_lightning_pose.io.pose_csv import coords_array, keypoint_names
from napari_lightning_pose.io.views import project_views


def read_image(path: Path) -> np.ndarray:
    """Decode an image file to uint8 (H, W, 1) for greyscale or (H, W, 3) for colour."""
    with Image.open(path) as img:
        if img.mode in ("L", "I;16", "I"):
            # 16-bit greyscale is rescaled to 8 bits; plain 8-bit passes through
            arr = np.array(img)
            if arr.dtype != np.uint8:
                arr = (arr.astype(np.float64) * (255.0 / max(float(arr.max()), 1.0))).astype(
                    np.uint8
                )
            return arr[..., None]
        return np.array(img.convert("RGB"))


class LabeledFrames:
    """The labels of a project plus its decoded images, loaded once.

    Parameters
    ----------
    cfg
        Validated project config; reads ``data.data_dir``, ``data.csv_file`` and
        ``data.keypoint_names``.

    Attributes
    ----------
    labels : pd.DataFrame
        The labeled rows of the CSV (frames without any label are left out), in file order,
        keypoint columns in the config's order.
    keypoint_names : list[str]
    keypoints : np.ndarray
        (N, K, 2) float64 in original pixels, NaN where missing.
    images : list[np.ndarray]
        N uint8 arrays (H, W, 1 or 3), the decoded ``labeled-data`` images.
    windows : list[list[np.ndarray]] or None
        For context models (``model.model_type: heatmap_mhcrnn``) the five frames t-2..t+2
        of each image (``data.neighbours``); None otherwise.
    views : tuple of str or None
        Multi-camera projects: the view names; ``view_of`` (N,) each row's view index and
        ``frame_keys`` each row's frame without its view. None for a single camera.
    """

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        data_dir = Path(cfg["data"]["data_dir"])
        names = list(cfg["data"]["keypoint_names"]) or None
        self.views: tuple[str, ...] | None = None
        self.view_of: np.ndarray | None = None  # multi-camera: each row's view index
        self.frame_keys: list[str] | None = None  # multi-camera: each row's frame, no view
        if project_views(cfg) is not None:
            self._read_views(cfg, names)
        else:
            self._read_csv(cfg, names)
        self.images = [
            _load_listed_image(data_dir, p, self._csv_of(i))
            for i, p in enumerate(self.image_paths)
        ]
        sizes = {p: img.shape[:2] for p, img in zip(self.image_paths, self.images, strict=True)}
        for csv in dict.fromkeys(self._csv_of(i) for i in range(len(self.image_paths))):
            rows = [i for i in range(len(self.image_paths)) if self._csv_of(i) == csv]
            check_labels_in_bounds(self.labels.iloc[rows], sizes, csv)
        self.windows: list[list[np.ndarray]] | None = None
        if cfg["model"]["model_type"] == "heatmap_mhcrnn":
            video_dir = Path(cfg["data"]["video_dir"])
            if not video_dir.is_absolute():
                video_dir = data_dir / video_dir
            self.windows = neighbour_windows(
                data_dir, video_dir, self.image_paths, self.images, read_image
            )

    def _read_csv(self, cfg: Mapping[str, Any], names: list[str] | None) -> None:
        csv_path = Path(cfg["data"]["data_dir"]) / cfg["data"]["csv_file"]
        labels = drop_unlabeled(read_labels(csv_path, keypoint_names=names))
        n_cfg = int(cfg["data"]["num_keypoints"])
        if names is None and n_cfg and n_cfg != len(keypoint_names(labels)):
            raise LabelsError(
                csv_path,
                f"has {len(keypoint_names(labels))} keypoints but data.num_keypoints is {n_cfg}.",
                "Make data.num_keypoints match, or list data.keypoint_names in the config.",
            )
        if len(labels) == 0:
            raise LabelsError(csv_path, "has no labeled frames.", "Label some frames first.")
        self._csvs = [csv_path]
        self.labels = labels
        self.keypoint_names = keypoint_names(labels)
        self.keypoints = coords_array(labels)
        self.image_paths = [str(p) for p in labels.index]

    def _read_views(self, cfg: Mapping[str, Any], names: list[str] | None) -> None:
        found = read_view_labels(cfg, names)
        if len(found.image_paths) == 0:
            raise LabelsError(
                found.views.csv_files[0],
                f"and the other views' CSVs ({', '.join(p.name for p in found.views.csv_files)}) "
                "have no labeled frames.",
                "Label some frames first.",
            )
        self._csvs = list(found.views.csv_files)
        self.views = found.views.names
        self.view_of = found.view_of
        self.frame_keys = found.frame_keys
        self.labels = found.table()
        self.keypoint_names = found.keypoint_names
        self.keypoints = found.keypoints
        self.image_paths = found.image_paths

    def _csv_of(self, row: int) -> Path:
        return self._csvs[int(self.view_of[row]) if self.view_of is not None else 0]

    def __len__(self) -> int:
        return len(self.image_paths)


def _load_listed_image(data_dir: Path, rel_path: str, csv_path: Path) -> np.ndarray:
    path = data_dir / rel_path
    if not path.is_file():
        raise LabelsError(
            path,
            f"image listed in {csv_path.name} (row {rel_path!r}) is missing.",
            f"Put the frame back under {data_dir}, or remove its row from the CSV.",
        )
    try:
        return read_image(path)
    except OSError as err:
        raise LabelsError(
            path, f"cannot decode image listed in {csv_path.name}: {err}", "Re-extract the frame."
        ) from err


class LabeledFramesDataset(Dataset):
    """Rows of a ``LabeledFrames`` as model-ready dicts (see the module docstring).

    Parameters
    ----------
    frames
        Labels and decoded images (shared between datasets).
    indices
        Rows of ``frames`` in this dataset.
    cfg
        Validated config: ``data.image_resize_dims``, ``data.downsample_factor``,
        ``data.flip_pairs``, ``losses.heatmap_sigma``.
    imgaug
        Augmentation pipeline name (``"none"`` for val/test).

    Notes
    -----
    Augmentation draws from a numpy generator seeded by torch's random state, so results are
    reproducible under ``torch.manual_seed`` in the main process and under the DataLoader's
    seeding in workers, and differ from epoch to epoch.
    """

    def __init__(
        self,
        frames: LabeledFrames,
        indices: Sequence[int] | np.ndarray,
        cfg: Mapping[str, Any],
        imgaug: str = "none",
    ) -> None:
        data = cfg["data"]
        self.frames = frames
        self.indices = np.asarray(indices, dtype=np.int64)
        self.resize_hw = (
            int(data["image_resize_dims"]["height"]),
            int(data["image_resize_dims"]["width"]),
        )
        self.heatmap_stride = 2 ** int(data["downsample_factor"])
        self.heatmap_hw = (
            self.resize_hw[0] // self.heatmap_stride,
            self.resize_hw[1] // self.heatmap_stride,
        )
        self.sigma = float(cfg["losses"]["heatmap_sigma"])
        names = frames.keypoint_names
        pairs = [(names.index(a), names.index(b)) for a, b in data["flip_pairs"]]
        params = pipeline_params(imgaug)
        self.augmenter = Augmenter(params, pairs) if params != pipeline_params("none") else None

    @property
    def keypoint_names(self) -> list[str]:
        """Keypoint names in model output order."""
        return self.frames.keypoint_names

    @property
    def num_keypoints(self) -> int:
        """Number of keypoints K."""
        return len(self.frames.keypoint_names)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = int(self.indices[i])
        image = self.frames.images[row]
        scale = resize_scale(image.shape[:2], self.resize_hw)
        window = self.frames.windows[row] if self.frames.windows is not None else [image]
        resized = resize_frames(np.stack(window), self.resize_hw)  # (F, 3, h, w), 0..255
        keypoints = keypoints_to_resized(self.frames.keypoints[row], scale)
        if self.augmenter is not None:  # one draw, the same for every frame of a window
            seed = int(torch.randint(0, 2**62, ()).item())
            out = [
                self.augmenter(f, keypoints, np.random.default_rng([seed, row])) for f in resized
            ]
            keypoints = out[len(out) // 2][1]
            resized = torch.stack([f for f, _ in out])
        images = normalize(resized)
        keypoints_t = torch.as_tensor(keypoints, dtype=torch.float32)
        heatmaps = gaussian_heatmaps(
            image_to_heatmap(keypoints_t, self.heatmap_stride), self.heatmap_hw, self.sigma
        )
        return {
            "images": images if self.frames.windows is not None else images[0],
            "keypoints": keypoints_t,
            "heatmaps": heatmaps,
            "index": row,
            "image_path": self.frames.image_paths[row],
            "scale": torch.as_tensor(scale, dtype=torch.float32),
        }


def build_datasets(
    cfg: Mapping[str, Any], frames: LabeledFrames | None = None
) -> dict[str, LabeledFramesDataset]:
    """Train (augmented), val and test datasets from the project that ``cfg`` describes.

    Splits with ``training.train_prob`` / ``val_prob`` and seed ``training.rng_seed_data_pt``;
    ``training.train_frames`` then keeps that many training rows (a fraction when <= 1).

    Parameters
    ----------
    cfg
        Validated project config with absolute ``data.data_dir`` (``io.config.load_config``).
    frames
        Already loaded labels and images, to skip decoding again.

    Returns
    -------
    dict
        ``{"train", "val", "test"}`` -> ``LabeledFramesDataset``; val/test may be empty.
    """
    frames = frames if frames is not None else LabeledFrames(cfg)
    train_cfg = cfg["training"]
    seed = int(train_cfg["rng_seed_data_pt"])
    keep = train_cfg["train_frames"]
    if frames.frame_keys is not None:  # multi-camera: a frame's views share a split
        splits = split_frames(frames.frame_keys, train_cfg)
        train = keep_frames(splits["train"], frames.frame_keys, keep, seed)
        if len(train) < 1:
            raise ConfigError(None, f"training.train_frames {keep} keeps no training frames.")
        return _datasets(frames, train, splits, cfg)
    splits = config_split(len(frames), train_cfg)
    train = splits["train"]
    n_keep = round(keep * len(train)) if keep <= 1 else int(keep)
    if n_keep < 1:
        raise ConfigError(None, f"training.train_frames {keep} keeps no training frames.")
    if n_keep < len(train):
        rng = np.random.default_rng(seed + 1)
        train = np.sort(rng.choice(train, size=n_keep, replace=False))
    return _datasets(frames, train, splits, cfg)


def _datasets(
    frames: LabeledFrames,
    train: np.ndarray,
    splits: Mapping[str, np.ndarray],
    cfg: Mapping[str, Any],
) -> dict[str, LabeledFramesDataset]:
    train_cfg = cfg["training"]
    return {
        "train": LabeledFramesDataset(frames, train, cfg, imgaug=train_cfg["imgaug"]),
        "val": LabeledFramesDataset(frames, splits["val"], cfg),
        "test": LabeledFramesDataset(frames, splits["test"], cfg),
    }
