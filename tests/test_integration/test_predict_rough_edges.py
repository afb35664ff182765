"""``predict`` on the command line: frame ranges, videos cut short, clean stderr."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from torch import nn

from napari_lightning_pose.cli import main
from napari_lightning_pose.inference import predict
from napari_lightning_pose.inference.predict_options import InferenceOptions
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.pose_csv import read_pose_csv

COORDS = ("x", "y", "likelihood")


class MeanColour(nn.Module):
    """A stand-in network: 'keypoints' are each frame's mean red and green (frame-specific)."""

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        mean = images.mean(dim=(-2, -1))[:, :2]  # (batch, 2)
        return {
            "keypoints": torch.stack([mean, mean], dim=-1),
            "likelihood": torch.full((images.shape[0], 2), 0.5),
        }


@pytest.fixture
def blobs(tmp_path: Path, blob_tools, monkeypatch) -> Path:
    """A blob project; ``predict --checkpoint anything`` runs ``MeanColour`` on it."""
    config = blob_tools.make_project(tmp_path / "blobs", n_frames=4, n_video_frames=40)
    cfg = load_config(config)
    monkeypatch.setattr(
        predict, "_load", lambda model, device: predict.LoadedModel(MeanColour(), cfg)
    )
    return config.parent


def _faststart_mp4(path: Path, frames: np.ndarray) -> Path:
    """An H.264 mp4 with its index (moov) at the front, as cameras that stream write it."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "10", "g": "10"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(["predict", "--checkpoint", "model.ckpt", "--device", "cpu", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_frame_range(blobs: Path, tmp_path: Path, capsys) -> None:
    video = blobs / "videos" / "blobs.mp4"
    full, part = tmp_path / "full.csv", tmp_path / "part.csv"
    assert _run(["--video", str(video), "--out", str(full), "--batch-size", "8"], capsys)[0] == 0
    args = ["--video", str(video), "--out", str(part), "--start", "5", "--end", "17"]
    code, out, _ = _run([*args, "--batch-size", "4"], capsys)
    assert code == 0 and "(12 frames)" in out
    a, b = read_pose_csv(full, COORDS), read_pose_csv(part, COORDS)
    assert list(b.index) == list(range(5, 17))
    np.testing.assert_allclose(b.to_numpy(), a.loc[5:16].to_numpy())
    code, _, err = _run(
        ["--video", str(video), "--out", str(part), "--start", "9", "--end", "3"], capsys
    )
    assert code == 2 and "empty range" in err


@pytest.fixture
def cut_video(tmp_path: Path, blob_tools) -> tuple[Path, Path]:
    """(intact, cut) faststart mp4s of 60 frames; the cut one lost its last ~40 %."""
    frames = blob_tools.frames(blob_tools.positions(60, 80, 96), 80, 96)
    intact = _faststart_mp4(tmp_path / "intact.mp4", frames)
    cut = tmp_path / "cut" / "session.mp4"
    cut.parent.mkdir()
    data = intact.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    return intact, cut


def test_cut_video_never_replaces_a_complete_csv(blobs, cut_video, tmp_path, capsys) -> None:
    intact, cut = cut_video
    out = tmp_path / "session.csv"
    assert _run(["--video", str(intact), "--out", str(out)], capsys)[0] == 0
    complete = out.read_bytes()

    code, _, err = _run(["--video", str(cut), "--out", str(out)], capsys)
    assert code != 0
    assert "error:" in err and "session.partial.csv" in err and "--allow-partial" in err
    assert out.read_bytes() == complete  # untouched
    partial = read_pose_csv(predict.partial_path(out), COORDS)
    assert 0 < len(partial) < 60 and list(partial.index) == list(range(len(partial)))
    assert "VideoReader(" not in err  # no source line of ours in the message
    before_error = err.split("error:")[0]
    assert before_error.split("\r")[-1].strip() == ""  # the progress bar was cleared first


def test_allow_partial_writes_marked_output_and_keeps_the_old(
    blobs, cut_video, tmp_path, capsys
) -> None:
    intact, cut = cut_video
    out = tmp_path / "session.csv"
    _run(["--video", str(intact), "--out", str(out)], capsys)
    complete = out.read_bytes()
    code, _, err = _run(["--video", str(cut), "--out", str(out), "--allow-partial"], capsys)
    assert code == 0
    assert "PARTIAL" in err and "warning:" in err and "VideoReader(" not in err
    assert 0 < len(read_pose_csv(out, COORDS)) < 60
    assert out.with_name("session.csv.bak1").read_bytes() == complete


def test_evaluate_error_is_not_printed_after_a_bar(tmp_path: Path, capsys) -> None:
    assert main(["evaluate", "--checkpoint", str(tmp_path / "missing.ckpt")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "missing.ckpt" in err
    assert err.split("error:")[0].split("\r")[-1].strip() == ""


def test_frame_range_with_a_context_model(tmp_path: Path, blob_tools) -> None:
    """Rows keep their frame numbers; frames whose 5-frame window lies in the range get the
    same prediction as in a whole-video run (the range's edges repeat its end frames)."""
    from napari_lightning_pose.models.factory import build_model

    config = blob_tools.make_project(
        tmp_path / "p",
        n_frames=6,
        height=40,
        width=48,
        resize=32,
        n_video_frames=13,
        **{"model.model_type": "heatmap_mhcrnn"},
    )
    cfg = load_config(config)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    video = config.parent / "videos" / "blobs.mp4"
    opts = dict(batch_size=4, device="cpu", amp=False, channels_last=False, metrics=False)
    whole, part = tmp_path / "whole.csv", tmp_path / "part.csv"
    list(predict.predict_video((model, cfg), video, whole, options=InferenceOptions(**opts)))
    ranged = InferenceOptions(**opts, start=4, stop=11)
    list(predict.predict_video((model, cfg), video, part, options=ranged))
    a, b = read_pose_csv(whole, COORDS), read_pose_csv(part, COORDS)
    assert list(b.index) == list(range(4, 11))
    np.testing.assert_allclose(b.loc[6:8].to_numpy(), a.loc[6:8].to_numpy(), atol=1e-5)


def test_context_head_choice_on_the_command_line(
    tmp_path: Path, blob_tools, monkeypatch, capsys
) -> None:
    """``--context-head``: context and single write that head's keypoints, confident (the
    default) takes each keypoint from one of the two; an unknown head is refused."""
    from napari_lightning_pose.models.factory import build_model

    config = blob_tools.make_project(
        tmp_path / "p", n_frames=6, height=40, width=48, resize=32, n_video_frames=12,
        **{"model.model_type": "heatmap_mhcrnn"},
    )  # fmt: skip
    cfg = load_config(config)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    monkeypatch.setattr(predict, "_load", lambda _, device: predict.LoadedModel(model, cfg))
    video = config.parent / "videos" / "blobs.mp4"
    xy = {}
    for head in ("confident", "context", "single"):
        out = tmp_path / f"{head}.csv"
        args = ["predict", "--checkpoint", "m.ckpt", "--video", str(video), "--out", str(out)]
        assert main([*args, "--device", "cpu", "--context-head", head]) == 0
        xy[head] = read_pose_csv(out, COORDS).to_numpy().reshape(12, -1, 3)[..., :2]
    assert not np.allclose(xy["context"], xy["single"], atol=1e-3)
    from_context = np.isclose(xy["confident"], xy["context"], atol=1e-4).all(-1)
    from_single = np.isclose(xy["confident"], xy["single"], atol=1e-4).all(-1)
    assert (from_context | from_single).all()
    capsys.readouterr()
    args = ["predict", "--checkpoint", "m.ckpt", "--video", str(video), "--out", "x.csv"]
    assert main([*args, "--context-head", "both"]) == 2
    assert "--context-head 'both' is not a head" in capsys.readouterr().err
