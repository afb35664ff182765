"""``predict`` on a multi-camera session: one CSV per view, then ``smooth --cameras`` on an
ensemble of them (issue 23); bad sessions are refused with nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_lightning_pose.cli import main
from napari_lightning_pose.errors import ConfigError, LabelsError
from napari_lightning_pose.inference.predict import predict_video, predict_videos
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.pose_csv import read_pose_csv
from napari_lightning_pose.training import LAST_CKPT, train

# window and training tests of a few seconds each: the fast lane leaves them to CI
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def members(split_sample, module_tmp: Path) -> list[Path]:
    """Two tiny models (seeds 0, 1; 2 steps each) trained on the two-camera sample."""
    out = []
    for seed in (0, 1):
        cfg = load_config(split_sample.config)
        cfg["data"]["image_resize_dims"] = {"height": 32, "width": 64}
        cfg["training"].update(
            train_batch_size=4, num_workers=0, imgaug="none", accelerator="cpu",
            num_threads=1, freeze_batchnorm=False, unfreezing_epoch=0,
        )  # fmt: skip
        cfg["model"].update(backbone="resnet18", backbone_weights=None, losses_to_use=[])
        list(train(cfg, module_tmp / f"m{seed}", steps=2, seed=seed))
        out.append(module_tmp / f"m{seed}" / LAST_CKPT)
    return out


def _videos(split_sample) -> dict[str, Path]:
    return dict(split_sample.videos["test_vid"])


def test_session_gives_one_csv_per_view_in_its_pixels(members, split_sample, tmp_path):
    videos = _videos(split_sample)
    events = list(predict_videos(members[0], [videos["bottom"], videos["top"]], tmp_path))
    done = [e for e in events if e.kind == "done"]
    assert [e.out_csv.name for e in done] == ["test_vid_top.csv", "test_vid_bottom.csv"]
    for view, height in (("top", 168), ("bottom", 238)):
        df = read_pose_csv(tmp_path / f"test_vid_{view}.csv")
        assert len(df) == 12
        y = df.xs("y", axis=1, level="coords").to_numpy()
        assert np.isfinite(y).all() and (y >= 0).all() and (y <= height).all()


def test_bad_sessions_are_refused_with_nothing_written(members, split_sample, tmp_path):
    videos = _videos(split_sample)
    out = tmp_path / "out"
    with pytest.raises(LabelsError, match=r"no video for view\(s\) \['bottom'\]"):
        list(predict_videos(members[0], [videos["top"]], out))
    other = tmp_path / "clip.mp4"
    shutil.copy(videos["top"], other)
    with pytest.raises(LabelsError, match="holds none of the model's views"):
        list(predict_videos(members[0], [videos["top"], videos["bottom"], other], out))
    from napari_lightning_pose.interop.mirror_split import _crop_video

    short = tmp_path / "cut" / "test_vid_bottom.mp4"  # 5 frames where the top view has 12
    _crop_video(videos["top"], short, 84, 1, 5)
    with pytest.raises(LabelsError, match="different frame counts"):
        list(predict_videos(members[0], [videos["top"], short], out))
    with pytest.raises(ConfigError, match="it predicts a session"):
        list(predict_video(members[0], videos["top"], out / "top.csv"))
    assert not out.exists()


def test_smooth_cameras_on_a_session_ensemble(members, split_sample, tmp_path, capsys):
    videos = _videos(split_sample)
    csvs = []
    for i, member in enumerate(members):
        views = [str(videos["top"]), str(videos["bottom"])]
        code = main(
            [
                "predict",
                "--checkpoint",
                str(member),
                "--video",
                *views,
                "--out",
                str(tmp_path / f"m{i}"),
            ]
        )
        assert code == 0
        csvs += [tmp_path / f"m{i}" / f"test_vid_{view}.csv" for view in ("top", "bottom")]
    assert len(csvs) == 4
    out = tmp_path / "eks"
    code = main(["smooth", "--cameras", "top", "bottom", "--out-dir", str(out), "--smoothing",
                 "10", *map(str, csvs)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    for view in ("top", "bottom"):
        smoothed = read_pose_csv(out / f"{view}.eks.csv")
        assert len(smoothed) == 12
        assert np.isfinite(smoothed.xs("x_posterior_var", axis=1, level="coords")).all().all()


def test_predict_and_smooth_a_session_linear_then_calibrated(members, split_sample, tmp_path):
    from napari_lightning_pose.ensemble.synthetic_rig import ring_rig
    from napari_lightning_pose.inference.session_jobs import predict_and_smooth_session
    from napari_lightning_pose.io.calibration import save_calibration

    videos = list(_videos(split_sample).values())
    events = list(predict_and_smooth_session(members, videos, tmp_path / "lin", smoothing=10.0))
    assert [e.kind for e in events][-2:] == ["smoothing", "done"]
    done = events[-1]
    assert set(done.camera_csvs) == {"top", "bottom"} and len(done.member_csvs) == 4
    assert done.progress() == (2 * 24, 2 * 24)  # 2 members x 2 views x 12 frames
    for view in ("top", "bottom"):
        assert len(read_pose_csv(done.camera_csvs[view])) == 12
    # the project's calibration of the session makes it 3-D
    project = Path(shutil.copytree(split_sample.config.parent, tmp_path / "proj"))
    save_calibration(ring_rig(["top", "bottom"]), project / "calibrations" / "test_vid.toml")
    moved = []
    for member in members:  # the members' config points at the copy, which has it
        ckpt = torch.load(member, weights_only=False)
        ckpt["config"]["data"]["data_dir"] = str(project)
        moved.append(tmp_path / f"{member.parent.name}.ckpt")
        torch.save(ckpt, moved[-1])
    events = list(predict_and_smooth_session(moved, videos, tmp_path / "3d", smoothing=10.0))
    done = events[-1]
    assert set(done.camera_csvs) == {"top", "bottom", "3d"} and "3-D" in done.message
    coords = set(read_pose_csv(done.camera_csvs["3d"]).columns.get_level_values("coords"))
    assert {"x", "y", "z", "z_posterior_var"} <= coords
    # a calibration of other cameras is refused before anything is predicted
    save_calibration(ring_rig(["top", "side"]), project / "calibrations" / "test_vid.toml")
    with pytest.raises(ConfigError, match="session's cameras are"):
        list(predict_and_smooth_session(moved, videos, tmp_path / "bad"))
    assert not (tmp_path / "bad").exists()


def test_evaluate_a_multi_camera_model(members, split_sample, tmp_path, capsys):
    config = str(split_sample.config)
    assert main(["evaluate", "--checkpoint", str(members[0]), "--config", config]) == 0
    out = capsys.readouterr().out
    assert "| val | all |" in out and "| 10 |" in out  # 5 val frames x 2 views, per keypoint
    video = str(_videos(split_sample)["bottom"])  # one view's video metrics
    args = ["evaluate", "--checkpoint", str(members[0]), "--video", video]
    assert main([*args, "--video-out", str(tmp_path)]) == 0
    assert (tmp_path / "test_vid_bottom_pca_singleview_error.csv").is_file()
    assert not (tmp_path / "test_vid_bottom_pca_multiview_error.csv").exists()
