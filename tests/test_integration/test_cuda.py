"""CUDA paths: mixed-precision training, prediction and checkpoints moving between devices.

Skipped without a GPU (CI has none); run on a GPU machine with
``pytest tests/test_integration/test_cuda.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from napari_lightning_pose.inference.predict import predict_video
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.pose_csv import coords_array, read_pose_csv
from napari_lightning_pose.training import load_checkpoint, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _last(events):
    *_, final = events
    return final


@pytest.mark.parametrize("precision", ["auto", "32", "16-mixed", "bf16-mixed"])
def test_training_on_cuda_learns_and_saves_a_cpu_loadable_checkpoint(
    tmp_path: Path, blob_tools, precision: str
) -> None:
    cfg_path = blob_tools.make_project(
        tmp_path / "blobs", n_frames=120, **{"training.precision": precision}
    )
    cfg = load_config(cfg_path)
    events = list(train(cfg, tmp_path / "run", steps=300, seed=0, device="cuda"))
    losses = [e.losses["total"] for e in events if e.kind == "step"]
    assert events[-1].kind == "done"
    assert all(np.isfinite(losses))
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])  # it learns under this precision
    model, _, meta = load_checkpoint(tmp_path / "run" / "last.ckpt", "cpu")
    assert next(model.parameters()).device.type == "cpu"
    assert meta["step"] == 300
    assert np.isfinite(meta["val_pixel_error"])


def test_cuda_and_cpu_predictions_agree(tmp_path: Path, blob_tools) -> None:
    cfg_path = blob_tools.make_project(tmp_path / "blobs", n_frames=80)
    cfg = load_config(cfg_path)
    _last(train(cfg, tmp_path / "run", steps=150, seed=0, device="cuda"))
    video = Path(cfg["data"]["video_dir"]) / "blobs.mp4"
    ckpt = tmp_path / "run" / "last.ckpt"
    _last(predict_video(ckpt, video, tmp_path / "gpu.csv", device="cuda"))
    _last(predict_video(ckpt, video, tmp_path / "cpu.csv", device="cpu"))
    gpu = coords_array(read_pose_csv(tmp_path / "gpu.csv", ("x", "y", "likelihood")))
    cpu = coords_array(read_pose_csv(tmp_path / "cpu.csv", ("x", "y", "likelihood")))
    assert gpu.shape == cpu.shape == (30, 2, 2)
    np.testing.assert_allclose(gpu, cpu, atol=0.05)
    truth = np.load(video.with_name("blobs_positions.npy"))
    assert np.nanmedian(np.linalg.norm(gpu - truth, axis=-1)) < 4.0
