"""Checkpoint files: bad files give CheckpointError naming the file; float32 validation."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

from napari_lightning_pose import cli
from napari_lightning_pose.data.context import CONTEXT_FRAMES, CONTEXT_OFFSETS, CONTEXT_RADIUS
from napari_lightning_pose.data.labeled import build_datasets
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.labeling import frames
from napari_lightning_pose.training import CheckpointError, load_checkpoint, read_checkpoint, train
from napari_lightning_pose.training.evaluation import pixel_errors

TINY = {"n_frames": 12, "height": 40, "width": 48, "resize": 32, "n_video_frames": 4}


@pytest.fixture(scope="module")
def run(module_tmp: Path, blob_tools) -> tuple[Path, dict]:
    """A 2-step tiny run trained under bf16 autocast on the CPU."""
    root = module_tmp
    cfg = load_config(
        blob_tools.make_project(
            root / "proj", **TINY, **{"training.train_batch_size": 4, "training.val_prob": 0.2}
        )
    )
    cfg["training"]["precision"] = "bf16-mixed"
    list(train(cfg, root / "run", steps=2))
    return root / "run", cfg


def test_checkpoint_missing_keys_names_file_and_keys(run, tmp_path: Path) -> None:
    ckpt = torch.load(run[0] / "last.ckpt", weights_only=True)
    del ckpt["epoch"], ckpt["total_steps"]
    bad = tmp_path / "old.ckpt"
    torch.save(ckpt, bad)
    with pytest.raises(CheckpointError, match="epoch, total_steps missing") as err:
        load_checkpoint(bad)
    assert str(bad) in str(err.value)
    ckpt = torch.load(run[0] / "last.ckpt", weights_only=True)
    del ckpt["rng"]
    out = tmp_path / "resume"
    out.mkdir()
    torch.save(ckpt, out / "last.ckpt")
    with pytest.raises(CheckpointError, match="rng missing"):
        list(train(run[1], out, steps=3, resume=True))


@pytest.mark.parametrize("kind", ["text", "pickle"])
def test_non_checkpoint_file_says_so_without_unsafe_advice(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "notes.ckpt"
    if kind == "text":
        path.write_text("these are my notes\n", encoding="utf-8")
    else:
        torch.save({"state_dict": {}, "where": tmp_path}, path)  # a pickled Path object
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    message = str(err.value)
    assert str(path) in message and "not a napari-lightning-pose checkpoint" in message
    assert "weights_only" not in message
    video = tmp_path / "v.mp4"
    code = cli.main(["predict", "--checkpoint", str(path), "--video", str(video), "--out", "x"])
    shown = capsys.readouterr().err
    assert code == 2 and "not a napari-lightning-pose checkpoint" in shown
    assert "weights_only" not in shown


def test_validation_error_is_measured_in_float32_even_under_bf16_training(run) -> None:
    out, _ = run
    ckpt = torch.load(out / "last.ckpt", weights_only=True)
    model, trained_cfg, _ = load_checkpoint(out / "last.ckpt")
    val = torch.utils.data.DataLoader(build_datasets(trained_cfg)["val"], batch_size=16)
    errors, _, _ = pixel_errors(model, val, torch.device("cpu"))
    assert ckpt["val_pixel_error"] == pytest.approx(float(errors.mean()), rel=1e-5)
    # the same model under bf16 autocast measures something else: float32 is not a no-op
    with torch.autocast("cpu", dtype=torch.bfloat16):
        batch = next(iter(val))
        in_bf16 = model(batch["images"])["keypoints"]
    with torch.inference_mode():
        in_f32 = model(batch["images"])["keypoints"]
    assert not torch.equal(in_bf16.float(), in_f32)


def test_the_context_window_has_one_definition() -> None:
    assert CONTEXT_OFFSETS == (-2, -1, 0, 1, 2) and CONTEXT_FRAMES == 5
    for func in (frames.pick_frames, frames.iter_pick_frames):
        assert inspect.signature(func).parameters["context"].default == CONTEXT_RADIUS
    parser = cli.build_parser()
    args = parser.parse_args(["select-frames", "--config", "p"])
    assert args.context == CONTEXT_RADIUS
