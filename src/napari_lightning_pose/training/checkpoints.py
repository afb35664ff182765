"""Checkpoint files: write atomically, read with ``weights_only=True``, load into a model.

A checkpoint is a plain dict that ``torch.load(weights_only=True)`` reads: ``format``,
``state_dict``, ``config``, ``optimizer``, ``scheduler``, ``scaler``, ``step``, ``epoch``,
``total_steps``, ``rng`` (torch/numpy/python generator states as tensors and ints),
``keypoint_names``, ``val_pixel_error``, ``best_val_pixel_error``, ``torch_version`` and, for
semi-supervised runs, ``pca`` (the PCA fits of the unsupervised losses as tensors, see
``losses.pca.PCAFit.to_state``). Prediction and evaluation import this module, never the
training loop.
"""

from __future__ import annotations

import copy
import csv
import os
import random
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from napari_lightning_pose.errors import CheckpointError, ConfigError
from napari_lightning_pose.io.atomic import atomic_path
from napari_lightning_pose.io.config import validate_config
from napari_lightning_pose.io.run_layout import BEST_CKPT, LAST_CKPT, METRICS_CSV
from napari_lightning_pose.models.factory import build_model

CHECKPOINT_FORMAT = "napari-lightning-pose/checkpoint-1"
# every key that load_checkpoint reads; resume needs RESUME_KEYS as well
REQUIRED_KEYS = ("state_dict", "config", "step", "epoch", "total_steps", "keypoint_names")
RESUME_KEYS = ("optimizer", "rng")


def write_checkpoint(ckpt: Mapping[str, Any], out_dir: Path, best: bool = False) -> Path:
    """Write ``ckpt`` to ``out_dir/last.ckpt`` atomically (and ``best.ckpt`` when ``best``)."""
    last = out_dir / LAST_CKPT
    with atomic_path(last) as tmp:
        torch.save(dict(ckpt), tmp)
    if best:
        _replace_with_copy(last, out_dir / BEST_CKPT)
    return last


def _replace_with_copy(src: Path, dst: Path) -> None:
    """Make ``dst`` an atomic copy of ``src``: a hard link where the file system allows
    (no second write; ``src`` is later replaced, never modified in place), else a copy."""
    with atomic_path(dst) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def read_checkpoint(
    path: str | Path, required: tuple[str, ...] = REQUIRED_KEYS
) -> tuple[dict[str, Any], Path]:
    """Read a checkpoint dict with ``torch.load(weights_only=True)``, checking its keys.

    A folder means its ``best.ckpt``. Returns the dict and the resolved file path. Anything
    that is not one of our checkpoints (another file type, a pickle of other objects, a
    dict without ``required`` keys) raises ``CheckpointError`` naming the file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / BEST_CKPT
    if not path.is_file():
        raise CheckpointError(
            path,
            "checkpoint file not found.",
            "Train a model first (`napari-lightning-pose train`) or check the path.",
        )
    fix = "Use a last.ckpt / best.ckpt written by `napari-lightning-pose train`, or retrain."
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, pickle refused, not a torch file...
        # PyTorch's own message advises weights_only=False, i.e. running the file's code:
        # never pass that on.
        raise CheckpointError(
            path,
            f"is not a napari-lightning-pose checkpoint: it cannot be read as one "
            f"({_why_unreadable(err)}).",
            fix,
        ) from None
    missing = [k for k in required if k not in ckpt] if isinstance(ckpt, dict) else required
    if missing:
        raise CheckpointError(
            path,
            f"is not a napari-lightning-pose checkpoint (keys {', '.join(missing)} missing).",
            fix,
        )
    try:
        ckpt["config"] = validate_config(ckpt["config"], path)
    except ConfigError as err:
        raise CheckpointError(path, f"holds an invalid config: {err.problem}") from err
    return ckpt, path


def _why_unreadable(err: Exception) -> str:
    text = str(err)
    if "weights_only" in text or "Unpickl" in type(err).__name__:
        return "it holds Python objects other than tensors, which are never loaded"
    if "zip" in text.lower() or "central directory" in text:
        return "truncated or not a PyTorch file"
    return f"{type(err).__name__}: {text.splitlines()[0][:200] if text else ''}"


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
    """Load a checkpoint written by ``training.train`` into a model in eval mode.

    Uses ``torch.load(weights_only=True)``: a checkpoint cannot run code when loaded.

    Parameters
    ----------
    path
        A ``.ckpt`` file (``last.ckpt`` / ``best.ckpt``), or a training output folder
        (then its ``best.ckpt``).
    device
        Where to put the model.

    Returns
    -------
    model : nn.Module
        The trained model, ``eval()`` mode, on ``device``.
    cfg : dict
        The config the model was trained with.
    meta : dict
        ``step``, ``epoch``, ``total_steps``, ``keypoint_names``, ``val_pixel_error``,
        ``best_val_pixel_error``, ``model_name``, ``path`` and ``pca`` (the saved PCA
        fits by loss name, possibly empty).

    Raises
    ------
    CheckpointError
        Missing file, not a checkpoint, or weights that do not fit the model in its config.
    """
    ckpt, path = read_checkpoint(path)
    cfg = ckpt["config"]
    build_cfg = copy.deepcopy(cfg)
    build_cfg["model"]["backbone_weights"] = None  # the checkpoint holds all the weights
    model = build_model(build_cfg)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(
            path,
            f"its weights do not fit the model its config describes: {err}",
            "Was it written by another version of napari-lightning-pose? Retrain the model.",
        ) from err
    model.to(device).eval()
    meta = {
        "step": ckpt["step"],
        "epoch": ckpt["epoch"],
        "total_steps": ckpt["total_steps"],
        "keypoint_names": list(ckpt["keypoint_names"]),
        "val_pixel_error": ckpt.get("val_pixel_error"),
        "best_val_pixel_error": ckpt.get("best_val_pixel_error"),
        "model_name": cfg["model"]["model_name"],
        "path": path,
        "pca": dict(ckpt.get("pca") or {}),
    }
    return model, cfg, meta


# --------------------------------------------------------------------------- RNG state
def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch's global generators.

    They are seeded and checkpointed for third-party code that uses them; our own data
    order and augmentation draw from explicit seeds (``training.sampling``).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002
    torch.manual_seed(seed)


def get_rng_state() -> dict[str, Any]:
    """Generator states as tensors and plain values, so ``weights_only=True`` loads them."""
    np_state = np.random.get_state()  # noqa: NPY002
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the generator states that :func:`get_rng_state` returned."""
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            "MT19937",
            npst["keys"].numpy().astype(np.uint32),
            npst["pos"],
            npst["has_gauss"],
            npst["cached_gaussian"],
        )
    )
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def append_metrics(out_dir: Path, row: Mapping[str, Any]) -> Path:
    """Append one epoch's row (step, lr, every loss by name, validation error) to
    ``out_dir/metrics.csv``, writing the header first when the file is new."""
    path = out_dir / METRICS_CSV
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
    return path
