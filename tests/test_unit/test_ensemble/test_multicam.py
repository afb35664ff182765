"""Multi-camera EKS (linear): members sorted by camera, cameras smoothed jointly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_lightning_pose.ensemble import smooth_ensemble
from napari_lightning_pose.ensemble.multicam import assign_cameras, load_cameras, smooth_cameras
from napari_lightning_pose.errors import LabelsError, LightningPoseInputError


def test_members_go_to_the_camera_named_in_their_file_name():
    got = assign_cameras(
        ["run/m0_cam1.csv", "m0_cam10.csv", "cam1-m1.csv", "m1.cam10.csv"], ["cam1", "cam10"]
    )
    # "cam10" contains "cam1": the whole-word match decides
    assert got == {
        "cam1": [Path("run/m0_cam1.csv"), Path("cam1-m1.csv")],
        "cam10": [Path("m0_cam10.csv"), Path("m1.cam10.csv")],
    }
    assert assign_cameras(["topview.csv", "sideview.csv"], ["top", "side"])["top"] == [
        Path("topview.csv")
    ]


@pytest.mark.parametrize(
    ("members", "cameras", "words"),
    [
        (["a_top.csv", "b.csv"], ["top", "bot"], ["b.csv", "names no camera"]),
        (["a_top.csv", "top_bot.csv"], ["top", "bot"], ["top_bot.csv", "several"]),
        (["a_top.csv", "b_top.csv"], ["top", "bot"], ["['bot']", "no member CSV"]),
    ],
)
def test_bad_assignments_name_the_file(members, cameras, words):
    with pytest.raises(LabelsError) as err:
        assign_cameras(members, cameras)
    assert all(w in str(err.value) for w in words)


def test_one_camera_is_not_multi_camera():
    with pytest.raises(LightningPoseInputError, match="at least two cameras"):
        assign_cameras(["a_top.csv"], ["top"])


def _project(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """An affine camera: (T, K, 3) world points to (T, K, 2) pixels."""
    return points @ matrix[:, :3].T + matrix[:, 3]


def test_joint_smoothing_beats_each_camera_alone(eks_tools):
    """Three cameras of one random-walk 3-D point set: the shared latent fuses the views."""
    rng = np.random.default_rng(3)
    n_frames, names = 600, ["nose", "paw", "tail"]
    truth3d = np.cumsum(rng.normal(0, 0.5, (n_frames, 3, 3)), axis=0) + 50
    cams = {f"c{i}": rng.normal(0, 1, (2, 4)) for i in range(3)}
    assignment = {}
    truth2d = {}
    for cam, matrix in cams.items():
        truth2d[cam] = _project(truth3d, matrix)
        members = eks_tools.members(truth2d[cam], 4, 2.0, seed=len(assignment))
        assignment[cam] = eks_tools.frames(members, names)
    loaded = load_cameras(assignment)
    result = smooth_cameras(loaded, smoothing="auto")
    for cam, frame in result.frames.items():
        xy = np.stack([frame.xs(c, axis=1, level=2).to_numpy() for c in "xy"], -1)
        alone = smooth_ensemble(assignment[cam]).frame
        xy_alone = np.stack([alone.xs(c, axis=1, level=2).to_numpy() for c in "xy"], -1)
        err_joint = np.sqrt(((xy - truth2d[cam]) ** 2).mean())
        err_alone = np.sqrt(((xy_alone - truth2d[cam]) ** 2).mean())
        # 3600 values per RMSE: a few % of sampling spread; the views give ~13 % here
        assert err_joint < 0.95 * err_alone, (err_joint, err_alone)
        sd = np.sqrt(frame.xs("x_posterior_var", axis=1, level=2).to_numpy())
        # the posterior SD is the size of the actual error (within a factor of 2)
        assert 0.5 < np.sqrt(((xy[..., 0] - truth2d[cam][..., 0]) ** 2).mean()) / sd.mean() < 2
    assert set(result.smoothing) == set(names)


DEGENERATE = Path(__file__).resolve().parents[2] / "fixtures" / "degenerate_cameras"


@pytest.mark.parametrize("smoothing", [10.0, "auto"])
def test_members_that_agree_exactly_somewhere_still_smooth(smoothing):
    """Two untrained members of two cameras (tests/fixtures/degenerate_cameras): ensemble
    variance 0 at some frames beside spreads of 100s of px. The smoother said the posterior
    precision was not positive definite; now every smoothed value is finite."""
    members = sorted(DEGENERATE.glob("m*_*.csv"))
    result = smooth_cameras(load_cameras(assign_cameras(members, ["top", "bottom"])), smoothing)
    for frame in result.frames.values():
        assert np.isfinite(frame.to_numpy()).all()
        assert (frame.xs("x_posterior_var", axis=1, level=2).to_numpy() > 0).all()
