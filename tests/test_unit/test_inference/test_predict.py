"""Video prediction: coordinates, CSV format, batching, damaged videos, sharding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from napari_lightning_pose.errors import VideoError
from napari_lightning_pose.inference.predict import (
    partial_path,
    predict_video,
    predict_videos,
)
from napari_lightning_pose.inference.predict_options import InferenceOptions
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.pose_csv import coords_array, keypoint_names, read_pose_csv
from napari_lightning_pose.models.factory import build_model

COORDS = ("x", "y", "likelihood")


class BlobOracle(nn.Module):
    """A stand-in 'network' that finds the red and the green blob exactly (intensity-weighted
    centroid in the model input), so the tests check decoding, preprocessing and the
    resized -> original mapping without training anything."""

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        r, g = images[:, 0], images[:, 1]
        maps = torch.stack([torch.relu(r - g - 1.0), torch.relu(g - r - 1.0)], dim=1)
        b, k, h, w = maps.shape
        total = maps.sum(dim=(-2, -1)).clamp_min(1e-9)
        xs = torch.arange(w, dtype=maps.dtype)
        ys = torch.arange(h, dtype=maps.dtype)
        x = (maps.sum(dim=-2) * xs).sum(-1) / total
        y = (maps.sum(dim=-1) * ys).sum(-1) / total
        return {
            "heatmaps": maps / total[..., None, None],
            "keypoints": torch.stack([x, y], dim=-1),
            "likelihood": torch.full((b, k), 0.75),
        }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, blob_tools) -> Path:
    root = tmp_path_factory.mktemp("predict") / "blobs"
    return blob_tools.make_project(root, n_frames=4, n_video_frames=30)


@pytest.fixture(scope="module")
def oracle(project: Path) -> tuple[nn.Module, dict]:
    return BlobOracle(), load_config(project)


def _video(project: Path) -> Path:
    return project.parent / "videos" / "blobs.mp4"


def _truth(project: Path) -> np.ndarray:
    return np.load(project.parent / "videos" / "blobs_positions.npy")


def _predict(model, video: Path, out: Path, **kwargs) -> list:
    return list(predict_video(model, video, out, device="cpu", **kwargs))


def test_predictions_are_in_original_pixels_one_row_per_frame(project, oracle, tmp_path):
    out = tmp_path / "pred" / "blobs.csv"
    events = _predict(oracle, _video(project), out, batch_size=8)

    assert [e.kind for e in events] == ["start", "batch", "batch", "batch", "batch", "done"]
    assert [e.frames_done for e in events] == [0, 8, 16, 24, 30, 30]
    assert events[-1].out_csv == out and events[-1].n_frames == 30
    df = read_pose_csv(out, required_coords=COORDS)
    assert list(df.index) == list(range(30))
    assert keypoint_names(df) == ["red", "green"]
    assert set(df.columns.get_level_values("scorer")) == {"blobs"}  # model.model_name
    assert list(df.columns.get_level_values("coords")[:3]) == list(COORDS)
    xy = coords_array(df)
    # the video is 96 x 80 and the model sees 64 x 64: a scaling slip would cost pixels
    error = np.linalg.norm(xy - _truth(project), axis=-1)
    assert error.max() < 0.6, error.max()
    np.testing.assert_allclose(coords_array(df, ("likelihood",)), 0.75)


def test_batch_size_does_not_change_predictions(project, oracle, tmp_path: Path) -> None:
    _predict(oracle, _video(project), tmp_path / "a.csv", batch_size=16)
    _predict(oracle, _video(project), tmp_path / "b.csv", batch_size=7)
    a = read_pose_csv(tmp_path / "a.csv", COORDS)
    b = read_pose_csv(tmp_path / "b.csv", COORDS)
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), atol=1e-4)


def test_nhwc_layout_is_the_cpu_default_and_gives_the_same_predictions(
    project, oracle, tmp_path: Path
) -> None:
    # channels_last made CPU prediction 1.2-1.6x faster (bench_predict); it must not move
    # a real network's keypoints, and GPUs keep NCHW unless asked
    cfg = oracle[1]
    assert InferenceOptions().use_channels_last(torch.device("cpu"))
    assert not InferenceOptions().use_channels_last(torch.device("cuda"))
    assert not InferenceOptions(channels_last=False).use_channels_last(torch.device("cpu"))
    torch.manual_seed(0)
    net = build_model(cfg).eval()
    video = _video(project)
    for name, nhwc in (("nchw", False), ("nhwc", True)):
        options = InferenceOptions(device="cpu", amp=False, channels_last=nhwc)
        list(predict_video((net, cfg), video, tmp_path / f"{name}.csv", options=options))
    nchw = read_pose_csv(tmp_path / "nchw.csv", COORDS).to_numpy()
    nhwc = read_pose_csv(tmp_path / "nhwc.csv", COORDS).to_numpy()
    assert np.isfinite(nchw).all()
    np.testing.assert_allclose(nhwc, nchw, atol=1e-3)


def test_prediction_csv_loads_in_movement(project, oracle, tmp_path: Path) -> None:
    from movement.io import load_dataset

    out = tmp_path / "blobs.csv"
    _predict(oracle, _video(project), out)
    ds = load_dataset(out, source_software="LightningPose", fps=25)
    df = read_pose_csv(out, COORDS)
    position = ds.position.squeeze("individuals").transpose("time", "keypoints", "space")
    np.testing.assert_allclose(position.values, coords_array(df), rtol=1e-6)
    confidence = ds.confidence.squeeze("individuals").transpose("time", "keypoints").values
    np.testing.assert_allclose(confidence, coords_array(df, ("likelihood",))[..., 0])
    assert list(ds.keypoints.values) == ["red", "green"]


# --------------------------------------------------------------------------- damaged videos


def _zero_jpeg(path: Path, k: int) -> None:
    """Overwrite the data of the k-th JPEG in the file (SOI marker to the next) with zeros."""
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    start, end = starts[k], starts[k + 1]
    data[start : end - 8] = bytes(end - 8 - start)
    path.write_bytes(bytes(data))


def test_decode_failure_midway_names_the_frame_and_keeps_earlier_rows(
    project, oracle, tmp_path: Path, blob_tools
) -> None:
    frames = blob_tools.frames(_truth(project), 80, 96)
    # MJPEG: every frame is a separate JPEG, so one can be damaged on its own
    mjpeg = {"fps": 25, "codec": "mjpeg", "pix_fmt": "yuvj444p", "options": {}}
    good = blob_tools.write_video(tmp_path / "good.avi", frames, **mjpeg)
    bad = blob_tools.write_video(tmp_path / "bad.avi", frames, **mjpeg)
    _zero_jpeg(bad, 15)
    _predict(oracle, good, tmp_path / "good.csv", batch_size=4)

    out = tmp_path / "bad.csv"
    with pytest.raises(VideoError, match=r"frame 15 .*15 frames before it.*bad\.partial\.csv"):
        _predict(oracle, bad, out, batch_size=4)
    assert not out.exists()  # the requested output never holds a partial result
    partial = read_pose_csv(partial_path(out), COORDS)
    full = read_pose_csv(tmp_path / "good.csv", COORDS)
    assert list(partial.index) == list(range(15))
    np.testing.assert_allclose(partial.to_numpy(), full.iloc[:15].to_numpy(), atol=1e-4)


def test_mp4_cut_short_without_index_is_refused(project, oracle, tmp_path: Path) -> None:
    data = _video(project).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # moov atom (the index) sits at the end
    with pytest.raises(VideoError, match=r"cut\.mp4"):
        _predict(oracle, cut, tmp_path / "cut.csv")
    assert not (tmp_path / "cut.csv").exists()


def test_missing_video_is_named(oracle, tmp_path: Path) -> None:
    with pytest.raises(VideoError, match=r"nope\.mp4.*not found"):
        _predict(oracle, tmp_path / "nope.mp4", tmp_path / "x.csv")


# --------------------------------------------------------------------------- many videos
def test_predict_videos_shards_videos_across_ranks(
    project, oracle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    videos = []
    for name in ("v0", "v1", "v2"):
        videos.append(tmp_path / f"{name}.mp4")
        videos[-1].write_bytes(_video(project).read_bytes())
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    done = [e.video.name for e in predict_videos(oracle, videos, tmp_path / "r1", device="cpu")]
    assert set(done) == {"v1.mp4"}
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    list(predict_videos(oracle, videos, tmp_path / "r0", device="cpu"))

    def predictions(folder: Path) -> list[str]:  # leave out the video metrics beside them
        return sorted(p.name for p in folder.iterdir() if not p.stem.endswith(("norm", "error")))

    assert predictions(tmp_path / "r0") == ["v0.csv", "v2.csv"]
    assert predictions(tmp_path / "r1") == ["v1.csv"]


def test_predict_videos_refuses_clashing_names(oracle, tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="share the name 'clip'"):
        list(predict_videos(oracle, [tmp_path / "a" / "clip.mp4", tmp_path / "clip.avi"], "o"))
