"""Project config: one YAML file whose keys follow Lightning Pose's config where one exists.

``load_config`` merges the file over ``default_config()``, checks every key and type at the
boundary, and resolves ``data.data_dir`` / ``data.video_dir`` relative to the config file.
Sections that only Lightning Pose's own trainer uses (``dali``, ``eval``, ``callbacks``,
``hydra``) are accepted and kept, so a Lightning Pose config can be opened as it is.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.io.atomic import atomic_write_text
from napari_lightning_pose.io.views import check_view_keys
from napari_lightning_pose.io.yaml_reading import PASSTHROUGH_SECTIONS, read_yaml

CONFIG_NAME = "config.yaml"


# Keys of Lightning Pose's own trainer (PyTorch Lightning's). Accepted and kept when a config
# has them (not added to new configs). ``interop.lightning_pose.training_plan`` honours those
# with a meaning here: epochs -> steps, early stopping, logging interval, GPUs -> devices.
_OPT_INT = (int, type(None))
_OPT_BOOL = (bool, type(None))
LIGHTNING_POSE_KEYS: dict[str, dict[str, tuple[type, ...]]] = {
    "data": {"keypoints": (list, type(None))},
    "training": {
        "num_gpus": _OPT_INT,
        "early_stopping": _OPT_BOOL,
        "early_stop_patience": _OPT_INT,
        "min_epochs": _OPT_INT,
        "max_epochs": _OPT_INT,
        "log_every_n_steps": _OPT_INT,
        "ckpt_every_n_epochs": _OPT_INT,
        "uniform_heatmaps_for_nan_keypoints": _OPT_BOOL,
        "accumulate_grad_batches": _OPT_INT,
        "limit_train_batches": (int, float, type(None)),
        "profiler": (str, type(None)),
    },
    "model": {
        "checkpoint": (str, type(None)),
        "lightning_pose_version": (str, type(None)),
        "head": (str, type(None)),
    },
}

_NUM = (int, float)
_OPT_LIST = (list, type(None))
_OPT_STR = (str, type(None))
_OPT_NUM = (int, float, type(None))

# key -> (default, allowed types). Nested dicts are sections. Order is the file's order.
_SCHEMA: dict[str, Any] = {
    "data": {
        "data_dir": (".", (str,)),
        "video_dir": ("videos", (str,)),
        # one labels CSV, or one per camera in the order of view_names (io/views.py)
        "csv_file": ("CollectedData.csv", (str, list)),
        "view_names": (None, _OPT_LIST),
        "camera_params_file": (None, _OPT_STR),
        "image_orig_dims": {
            "height": (None, (int, type(None))),
            "width": (None, (int, type(None))),
        },
        "image_resize_dims": {"height": (256, (int,)), "width": (256, (int,))},
        "downsample_factor": (2, (int,)),
        "num_keypoints": (0, (int,)),
        "keypoint_names": ([], (list,)),
        "skeleton": ([], (list,)),
        "columns_for_singleview_pca": (None, _OPT_LIST),
        "mirrored_column_matches": (None, _OPT_LIST),
        "flip_pairs": ([], (list,)),
    },
    "training": {
        "train_batch_size": (8, (int,)),
        "val_batch_size": (16, (int,)),
        "test_batch_size": (16, (int,)),
        "train_prob": (0.8, _NUM),
        "val_prob": (0.1, _NUM),
        "train_frames": (1, _NUM),
        "num_workers": (2, (int,)),
        "max_steps": (3000, (int,)),
        "steps_per_epoch": (None, (int, type(None))),
        "check_val_every_n_epoch": (1, (int,)),
        "rng_seed_data_pt": (0, (int,)),
        # [m, M]: member m of an ensemble of M holds out its own share of the labeled frames
        # (data.splits.split_indices), so label QC can judge every label by a held-out member
        "holdout_fold": (None, _OPT_LIST),
        "rng_seed_model_pt": (0, (int,)),
        "optimizer": ("Adam", (str,)),
        "optimizer_params": {"learning_rate": (1e-3, _NUM)},
        "lr_scheduler": ("multisteplr", (str,)),
        "lr_scheduler_params": {
            "multisteplr": {"milestones": ([0.5, 0.7, 0.9], (list,)), "gamma": (0.5, _NUM)},
        },
        "imgaug": ("default", (str,)),
        "accelerator": ("auto", (str,)),
        "precision": ("auto", (str,)),
        "num_threads": (None, (int, type(None))),
        # keep BatchNorm layers in eval mode (running statistics, affine still trained), as
        # DeepLabCut does: pretrained statistics beat those of small batches of one video's
        # frames (mirror-mouse, 150 CPU steps: 27 px test error instead of 84), and CPU DDP
        # equals one process. From scratch (backbone_weights: null) set it false and
        # unfreezing_epoch 0: a random backbone has no statistics or features to keep.
        "freeze_batchnorm": (True, (bool,)),
        # Lightning Pose's key: epochs (of steps_per_epoch steps) that train the head alone,
        # at ~40 % of a full step's CPU cost, before the backbone joins with a learning rate
        # that ramps up (training/schedules.py); 0 trains everything from the start. Lightning Pose
        # uses 20 for long GPU runs; 5 did better in 4-minute CPU runs on mirror-mouse
        # (8.7 px test error after 427 steps, 20: 11.8 px after 390).
        "unfreezing_epoch": (5, (int,)),
        # unlabeled clips per step for the unsupervised losses; null: one per process
        "unlabeled_clips_per_step": (None, (int, type(None))),
    },
    "model": {
        "model_type": ("heatmap", (str,)),
        "backbone": ("efficientnet_lite0", (str,)),
        "backbone_weights": ("imagenet", _OPT_STR),
        # Lightning Pose's "mse" (its default, and ours: the unsupervised weights are set
        # against it, losses/balance.py) or "kl" (faster off a fresh head's flat maps, where
        # its gradient is ~2000x MSE's: mirror-mouse, 150 CPU steps: 27 px vs 51)
        "heatmap_loss_type": ("mse", (str,)),
        "losses_to_use": ([], (list,)),
        # context model: back-propagate through the backbone for the 4 neighbour frames of
        # each labeled window too (true), or only through the centre frame (false: the
        # neighbours' features are computed without gradient; models/context.py)
        "context_neighbour_gradients": (False, (bool,)),
        "model_name": ("model", (str,)),
    },
    "losses": {
        "heatmap_sigma": (1.25, _NUM),
        "pca_multiview": {
            "log_weight": (5.0, _NUM),
            "components_to_keep": (3, _NUM),
            "epsilon": (None, _OPT_NUM),
            # epsilon null: this percentile of the training poses' own errors x multiplier
            "empirical_epsilon_percentile": (0.99, _NUM),
            "empirical_epsilon_multiplier": (1.0, _NUM),
        },
        "pca_singleview": {
            "log_weight": (5.0, _NUM),
            "components_to_keep": (0.99, _NUM),
            "epsilon": (None, _OPT_NUM),
            # epsilon null: this percentile of the training poses' own errors x multiplier
            "empirical_epsilon_percentile": (0.99, _NUM),
            "empirical_epsilon_multiplier": (1.0, _NUM),
        },
        "temporal": {
            "log_weight": (5.0, _NUM),
            "epsilon": (20.0, (int, float, list, type(None))),  # px; or one per keypoint
            "prob_threshold": (0.05, _NUM),
        },
    },
}


def _defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        out[key] = _defaults(spec) if isinstance(spec, dict) else copy.deepcopy(spec[0])
    return out


def default_config() -> dict[str, Any]:
    """A fresh config dict holding every default value."""
    return _defaults(_SCHEMA)


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def _merge_checked(
    base: dict[str, Any], user: Mapping[str, Any], schema: Mapping[str, Any], where: str, path
) -> None:
    for key, value in user.items():
        dotted = f"{where}.{key}" if where else str(key)
        if key not in schema:
            if not where and key in PASSTHROUGH_SECTIONS:
                base[key] = copy.deepcopy(value)
                continue
            lp_types = LIGHTNING_POSE_KEYS.get(where, {}).get(key)
            if lp_types is not None:
                _check_type(value, lp_types, dotted, path)
                base[key] = copy.deepcopy(value)
                continue
            if not where:
                _refuse_foreign_config(user, path)
            extra = (*LIGHTNING_POSE_KEYS.get(where, {}), *(() if where else PASSTHROUGH_SECTIONS))
            valid = ", ".join((*schema, *extra))
            raise ConfigError(
                path,
                f"unknown key {dotted!r}.",
                f"Valid keys{' in ' + where if where else ''}: {valid}.",
            )
        spec = schema[key]
        if isinstance(spec, dict):
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise ConfigError(path, f"{dotted!r} must be a section (mapping), got {value!r}.")
            _merge_checked(base[key], value, spec, dotted, path)
            continue
        if value is None and dotted in _NULL_MEANS_EMPTY:
            value = []
        _check_type(value, spec[1], dotted, path)
        base[key] = copy.deepcopy(value)


def _check_type(value: Any, types: tuple[type, ...], dotted: str, path) -> None:
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        raise ConfigError(
            path,
            f"{dotted!r} must be {_type_names(types)}, got {type(value).__name__} {value!r}.",
        )


# Lightning Pose reads null as "none" for these lists ("null: the model is supervised").
_NULL_MEANS_EMPTY = ("model.losses_to_use",)

# Top-level keys of a DeepLabCut project config (none of them is a section of ours).
_DLC_KEYS = ("Task", "scorer", "bodyparts", "video_sets", "project_path", "multianimalproject")


def is_dlc_config(raw: Mapping[str, Any]) -> bool:
    """True when a config mapping is a DeepLabCut project's (``Task``, ``bodyparts`` ...)."""
    return sum(key in raw for key in _DLC_KEYS) >= 2


def _refuse_foreign_config(user: Mapping[str, Any], path) -> None:
    """Raise a ConfigError that says how to import a DeepLabCut config given as ours."""
    if is_dlc_config(user):
        raise ConfigError(
            path,
            "is a DeepLabCut project config, not a napari-lightning-pose one.",
            "Import the DeepLabCut project first: `napari-lightning-pose init PROJECT "
            f"--from-dlc {path if path is not None else 'config.yaml'}`, then use "
            "PROJECT/config.yaml.",
        )


def _check_values(cfg: dict[str, Any], path) -> None:
    data = cfg["data"]
    check_view_keys(data, path)
    names = data["keypoint_names"]
    if not all(isinstance(n, str) for n in names):
        raise ConfigError(path, "data.keypoint_names must be a list of strings.")
    if len(set(names)) != len(names):
        raise ConfigError(path, "data.keypoint_names has duplicate names.")
    if names and data["num_keypoints"] not in (0, len(names)):
        raise ConfigError(
            path,
            f"data.num_keypoints is {data['num_keypoints']} but data.keypoint_names has "
            f"{len(names)} names.",
            "Make them agree (or drop num_keypoints).",
        )
    data["num_keypoints"] = len(names) if names else data["num_keypoints"]
    for edge in data["skeleton"]:
        if not (isinstance(edge, list | tuple) and len(edge) == 2):
            raise ConfigError(path, f"data.skeleton entry {edge!r} must be a pair of names.")
        for end in edge:
            if end not in names:
                raise ConfigError(
                    path, f"data.skeleton names {end!r}, which is not in data.keypoint_names."
                )
    for pair in data["flip_pairs"]:
        is_pair = isinstance(pair, list | tuple) and len(pair) == 2
        if not (is_pair and all(p in names for p in pair)):
            raise ConfigError(
                path, f"data.flip_pairs entry {pair!r} must pair two keypoint names."
            )
    n = len(names) or int(data["num_keypoints"])  # indices are checked when K is known
    for key in ("columns_for_singleview_pca",):
        cols = data[key]
        if cols is not None and not all(isinstance(c, int) and 0 <= c < max(n, 1) for c in cols):
            raise ConfigError(path, f"data.{key} must list keypoint indices in 0..{n - 1}.")
    matches = data["mirrored_column_matches"]
    if matches is not None:
        if not all(isinstance(v, list) for v in matches) or len({len(v) for v in matches}) > 1:
            raise ConfigError(
                path, "data.mirrored_column_matches must be a list of equal-length index lists."
            )
        for view in matches:
            if not all(isinstance(c, int) and 0 <= c < max(n, 1) for c in view):
                raise ConfigError(
                    path, f"data.mirrored_column_matches must hold indices in 0..{n - 1}."
                )
    for dim in ("height", "width"):
        size = data["image_resize_dims"][dim]
        if size < 32 or size % 32:
            raise ConfigError(
                path,
                f"data.image_resize_dims.{dim} is {size}; it must be a multiple of 32 (>= 32).",
            )
    train = cfg["training"]
    if not (0 < train["train_prob"] <= 1 and 0 <= train["val_prob"] < 1):
        raise ConfigError(path, "training.train_prob must be in (0, 1] and val_prob in [0, 1).")
    if train["train_prob"] + train["val_prob"] > 1 + 1e-9:
        raise ConfigError(path, "training.train_prob + training.val_prob must not exceed 1.")
    fold = train["holdout_fold"]
    if fold is not None and not (
        len(fold) == 2 and all(isinstance(v, int) for v in fold) and 0 <= fold[0] < fold[1]
    ):
        raise ConfigError(
            path, f"training.holdout_fold is {fold}; it must be [m, M] with 0 <= m < M, or null."
        )


def validate_config(user: Mapping[str, Any], path: str | Path | None = None) -> dict[str, Any]:
    """Merge ``user`` over the defaults, checking keys, types and values.

    Raises ``ConfigError`` naming ``path`` and listing the valid keys on the first problem.
    """
    if not isinstance(user, Mapping):
        raise ConfigError(path, "the config must be a YAML mapping of sections.")
    cfg = default_config()
    _merge_checked(cfg, user, _SCHEMA, "", path)
    _check_values(cfg, path)
    return cfg


def load_config(path: str | Path) -> dict[str, Any]:
    """Load and validate a project config; ``data_dir``/``video_dir`` become absolute paths."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(
            path, "config file not found.", "Create a project with `napari-lightning-pose init`."
        )
    cfg = validate_config(read_yaml(path), path)
    root = path.parent.resolve()
    data_dir = (root / cfg["data"]["data_dir"]).resolve()
    video_dir = (data_dir / cfg["data"]["video_dir"]).resolve()
    csv_file = cfg["data"]["csv_file"]
    csv_file = csv_file[0] if isinstance(csv_file, list) else csv_file
    if not (data_dir / csv_file).exists() and (root / csv_file).is_file():
        # a Lightning Pose project moved from another machine: its absolute data_dir is gone
        # but the labels sit beside the config, as in the layout Lightning Pose creates
        warnings.warn(
            f"{path}: data.data_dir {str(data_dir)!r} has no {csv_file}; using the config's "
            f"folder {root}, which has it.",
            ConfigNote,
            stacklevel=2,
        )
        if not video_dir.is_dir() and video_dir.is_relative_to(data_dir):
            video_dir = root / video_dir.relative_to(data_dir)
        data_dir = root
    cfg["data"]["data_dir"] = str(data_dir)
    cfg["data"]["video_dir"] = str(video_dir)
    return cfg


class ConfigNote(UserWarning):
    """A config was accepted with a change worth telling the user (e.g. a moved data_dir)."""


def save_config(cfg: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``cfg`` as YAML atomically (validated first, so a bad config never lands)."""
    validate_config(cfg, path)
    text = yaml.safe_dump(_plain(cfg), sort_keys=False, default_flow_style=None)
    return atomic_write_text(path, text)


def _plain(value: Any) -> Any:
    """Convert tuples and numpy scalars to plain YAML-safe Python values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def get(cfg: Mapping[str, Any], dotted: str) -> Any:
    """Look up ``"section.key"`` in a config dict."""
    node: Any = cfg
    for part in dotted.split("."):
        node = node[part]
    return node
