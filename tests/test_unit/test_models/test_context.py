"""Context model: heads, neighbours, sliding-window video prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from napari_lightning_pose.data.context import window_indices
from napari_lightning_pose.data.labeled import LabeledFrames, build_datasets
from napari_lightning_pose.data.transforms import (
    keypoints_to_original,
    resize_scale,
    to_model_input,
)
from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.inference.predict import predict_video
from napari_lightning_pose.inference.predict_options import InferenceOptions
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.pose_csv import coords_array, read_pose_csv
from napari_lightning_pose.io.video import VideoReader
from napari_lightning_pose.models.factory import build_model
from napari_lightning_pose.models.pose_model import best_head

SMALL = {"n_frames": 6, "height": 40, "width": 48, "resize": 32, "n_video_frames": 13}


@pytest.fixture
def ctx_cfg(tmp_path: Path, blob_tools) -> dict:
    return load_config(
        blob_tools.make_project(tmp_path / "p", **SMALL, **{"model.model_type": "heatmap_mhcrnn"})
    )


def _model(cfg: dict) -> torch.nn.Module:
    """A random context model with peaked (not near-flat) heatmaps."""
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    with torch.no_grad():
        for final in (model.head.final, model.context_head.decode.final):
            final.weight.normal_(0.0, 1.0)
    return model


def test_context_head_sees_neighbours_single_head_does_not(ctx_cfg: dict) -> None:
    model = _model(ctx_cfg)
    torch.manual_seed(1)
    windows = torch.randn(2, 5, 3, 32, 32)
    with torch.inference_mode():
        a = model(windows)
        changed = windows.clone()
        changed[:, 0] += 3.0  # frame t-2 changes, frame t does not
        b = model(changed)
    torch.testing.assert_close(a["heatmaps"], b["heatmaps"], rtol=0, atol=0)
    assert (a["context_heatmaps"] - b["context_heatmaps"]).abs().max() > 1e-6
    kp, like = best_head(a)
    pick = a["context_likelihood"] > a["likelihood"]
    assert torch.equal(kp[pick], a["context_keypoints"][pick])
    assert torch.equal(kp[~pick], a["keypoints"][~pick])
    assert torch.equal(like, torch.maximum(a["likelihood"], a["context_likelihood"]))


def test_labeled_frames_get_neighbours_from_pngs_with_repeated_edges(ctx_cfg: dict) -> None:
    frames = LabeledFrames(ctx_cfg)  # img00000..img00005, every one labeled
    assert frames.windows is not None
    first, middle = frames.windows[0], frames.windows[3]
    for k, j in enumerate([0, 0, 0, 1, 2]):  # img00000: t-2, t-1 repeat the frame itself
        np.testing.assert_array_equal(first[k], frames.images[j])
    for k, j in enumerate([1, 2, 3, 4, 5]):
        np.testing.assert_array_equal(middle[k], frames.images[j])
    item = build_datasets(ctx_cfg)["train"][0]
    assert item["images"].shape == (5, 3, 32, 32)


def test_labeled_frames_named_after_a_video_read_it(tmp_path: Path, blob_tools) -> None:
    cfg_path = blob_tools.make_project(tmp_path / "p", **SMALL)
    root = cfg_path.parent
    csv = (
        (root / "CollectedData.csv")
        .read_text()
        .replace("labeled-data/img00003.png", "labeled-data/blobs/img00007.png")
    )
    (root / "labeled-data" / "blobs").mkdir()
    with VideoReader(root / "videos" / "blobs.mp4") as reader:
        video = reader[:]
    from PIL import Image

    Image.fromarray(video[7]).save(root / "labeled-data" / "blobs" / "img00007.png")
    (root / "CollectedData.csv").write_text(csv)
    cfg = load_config(cfg_path)
    cfg["model"]["model_type"] = "heatmap_mhcrnn"
    frames = LabeledFrames(cfg)
    row = frames.image_paths.index("labeled-data/blobs/img00007.png")
    for k, j in enumerate(range(5, 10)):
        np.testing.assert_array_equal(frames.windows[row][k], video[j])


def test_context_model_without_neighbour_frames_is_a_clear_error(ctx_cfg: dict) -> None:
    root = Path(ctx_cfg["data"]["data_dir"])
    # img00005 loses both neighbours (img00004, img00003): nothing to give it context
    (root / "labeled-data" / "img00004.png").unlink()
    (root / "labeled-data" / "img00003.png").unlink()
    csv = root / "CollectedData.csv"
    lines = [
        line for line in csv.read_text().splitlines() if "img00003" not in line
        and "img00004" not in line
    ]  # fmt: skip
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(LabelsError, match=r"img00005.png.*neighbour") as err:
        LabeledFrames(ctx_cfg)
    assert "--context 2" in str(err.value)


@pytest.mark.parametrize("n_video", [13, 3])
def test_video_prediction_computes_features_once_and_equals_per_window(
    ctx_cfg: dict, tmp_path: Path, blob_tools, n_video: int
) -> None:
    """Sliding windows with padded edges = each frame's own window (clipped indices); also
    for a video shorter than 5 frames."""
    model = _model(ctx_cfg)
    video = tmp_path / "v.mp4"
    frames = blob_tools.frames(blob_tools.positions(n_video, 40, 48, seed=3), 40, 48)
    blob_tools.write_video(video, frames)
    with VideoReader(video) as reader:
        decoded = reader[:]
    calls = []
    real = model.frame_features
    model.frame_features = lambda x: calls.append(len(x)) or real(x)  # type: ignore[method-assign]
    out = tmp_path / "pred.csv"
    opts = InferenceOptions(batch_size=4, device="cpu", amp=False, channels_last=False)
    list(predict_video((model, ctx_cfg), video, out, options=opts))
    assert sum(calls) == n_video  # every frame through the backbone exactly once
    got = coords_array(read_pose_csv(out, required_coords=("x", "y", "likelihood")))

    inputs = to_model_input(decoded, (32, 32))
    windows = inputs[torch.as_tensor(window_indices(np.arange(n_video), n_video))]
    with torch.inference_mode():
        kp, _ = best_head(model(windows))
    expected = keypoints_to_original(
        kp.double(), torch.as_tensor(resize_scale((40, 48), (32, 32)))
    )
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4)


def test_neighbours_without_gradient_give_the_same_outputs_and_head_gradients(
    ctx_cfg: dict,
) -> None:
    """``model.context_neighbour_gradients: false`` (the default) computes the neighbours'
    features without autograd: every output (labeled windows and each clip frame's window)
    is the same as with gradients through all five frames, and so are the heads' gradients;
    only the backbone's gradient differs, since it now comes from the centre frames alone."""
    torch.manual_seed(1)
    windows, clip = torch.randn(2, 5, 3, 32, 32), torch.randn(1, 8, 3, 32, 32)
    grads, outs = {}, {}
    for full in (False, True):
        model = _model(ctx_cfg)  # eval mode: BatchNorm as when frozen in training
        model.neighbour_gradients = full
        out = model(windows, clip=clip)
        loss = out["context_heatmaps"].square().sum() + out["unlabeled"]["context_heatmaps"].sum()
        loss.backward()
        outs[full] = out
        grads[full] = {
            n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None
        }
    for key in ("heatmaps", "context_heatmaps"):
        torch.testing.assert_close(outs[False][key], outs[True][key])
        torch.testing.assert_close(outs[False]["unlabeled"][key], outs[True]["unlabeled"][key])
    assert outs[False]["unlabeled"]["context_heatmaps"].shape[:2] == (1, 4)  # 8 - 4 windows
    heads = [n for n in grads[True] if n.startswith("context_head.")]
    assert heads and all(torch.allclose(grads[False][n], grads[True][n], atol=1e-6) for n in heads)
    backbone = [n for n in grads[True] if n.startswith("backbone.") and n in grads[False]]
    assert any(not torch.allclose(grads[False][n], grads[True][n]) for n in backbone)


def test_prediction_head_choice(ctx_cfg: dict) -> None:
    """``best_head``: the confident rule mixes heads per keypoint; "context" and "single"
    always take that head (``InferenceOptions.context_head``)."""
    model = _model(ctx_cfg)
    torch.manual_seed(1)
    with torch.inference_mode():
        out = model(torch.randn(2, 5, 3, 32, 32))
    assert torch.equal(best_head(out, "context")[0], out["context_keypoints"])
    assert torch.equal(best_head(out, "single")[0], out["keypoints"])
    with pytest.raises(ValueError, match="head choice"):
        best_head(out, "loudest")
