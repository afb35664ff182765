"""smooth_ensemble end to end: agreement with the reference package, output, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_lightning_pose.ensemble import kalman
from napari_lightning_pose.ensemble.members import load_members
from napari_lightning_pose.ensemble.multiview import build_view_model
from napari_lightning_pose.ensemble.singleview import series_from_stats
from napari_lightning_pose.ensemble.smooth import (
    EKS_COORDS,
    parse_views,
    poses_only,
    smooth_ensemble,
    write_smoothed_csv,
)
from napari_lightning_pose.ensemble.stats import ensemble_stats
from napari_lightning_pose.ensemble.tuning import constant_search_variance
from napari_lightning_pose.errors import ConfigError, LightningPoseInputError
from napari_lightning_pose.io.pose_csv import read_pose_csv

VIEWS = [[0, 1, 2, 3], [4, 5, 6, 7]]  # paw*_top <-> paw*_bot in the example ensemble


def coords(frame: pd.DataFrame, name: str) -> np.ndarray:
    """One coordinate of every keypoint, (T, K)."""
    return frame.loc[:, frame.columns.get_level_values("coords") == name].to_numpy()


@pytest.fixture(scope="module")
def single_s10(eks_members):
    return smooth_ensemble(eks_members, smoothing=10.0)


def test_singleview_agrees_with_the_reference_package(single_s10, eks_fixture, eks_tools):
    ref = eks_tools.read_reference(eks_fixture / "reference_singleview_s10.csv.gz")
    ours = single_s10.frame
    assert ours.columns.equals(ref.columns)  # same scorer, keypoints, coords, order
    assert list(ours.index) == list(ref.index)
    for c in ("x", "y"):  # the README and docs/eks.md claim 2e-5 px (measured 1.7e-5)
        assert np.abs(coords(ours, c) - coords(ref, c)).max() < 2e-5
    for c in ("likelihood", "x_ens_median", "y_ens_median"):
        np.testing.assert_allclose(coords(ours, c), coords(ref, c), atol=1e-5)
    for c in ("x_ens_var", "y_ens_var", "x_posterior_var", "y_posterior_var"):
        # the reference computes in float32; we agree to its precision
        np.testing.assert_allclose(coords(ours, c), coords(ref, c), rtol=1e-2, atol=1e-4)


def test_multiview_agrees_with_the_reference_package(eks_members, eks_fixture, eks_tools):
    ref = eks_tools.read_reference(eks_fixture / "reference_multiview_s10.csv.gz")
    ours = smooth_ensemble(eks_members, smoothing=10.0, views=VIEWS).frame
    assert ours.columns.equals(ref.columns)
    for c in ("x", "y"):  # the README and docs/eks.md claim 5e-4 px (measured 4.6e-4)
        assert np.abs(coords(ours, c) - coords(ref, c)).max() < 5e-4
    # the reference adds the ensemble variance to its multi-view posterior variance
    for c in ("x", "y"):
        np.testing.assert_allclose(
            coords(ours, f"{c}_posterior_var") + coords(ours, f"{c}_ens_var"),
            coords(ref, f"{c}_posterior_var"),
            rtol=1e-2,
            atol=1e-4,
        )


def test_auto_smoothing_matches_the_reference_optimum(eks_members, eks_reference_info):
    """Same objective; the reference's Adam stops early, so ours is at least as likely."""
    result = smooth_ensemble(eks_members, smoothing="auto")
    ref_s = eks_reference_info["auto_smoothing_singleview"]
    ens = load_members(eks_members)
    stats = ensemble_stats(ens.xy, ens.likelihood)
    names = result.keypoints
    for k, name in enumerate(names):
        ours = result.smoothing[name]
        assert abs(np.log(ours / ref_s[name])) < 0.25, name
        obs, var = series_from_stats(stats, [k])
        search = constant_search_variance(var)
        mean, prior = np.nanmean(obs[..., 0], 1), np.nanvar(obs[..., 0], 1)

        def loglik(s, obs=obs, search=search, mean=mean, prior=prior):
            model = kalman.scalar_model(np.full(2, s), mean, prior)
            return kalman.log_likelihood(model, obs, search).sum()

        assert loglik(ours) >= loglik(ref_s[name]) - 1e-6
        assert result.fits[name].smoothing == ours


def test_auto_multiview_matches_the_reference_optimum(eks_members, eks_reference_info):
    result = smooth_ensemble(eks_members, smoothing="auto", views=VIEWS)
    ref_s = eks_reference_info["auto_smoothing_multiview"]
    ens = load_members(eks_members)
    model = build_view_model(ensemble_stats(ens.xy, ens.likelihood), VIEWS)
    search = constant_search_variance(model.obs_var)
    groups = eks_reference_info["multiview_groups"]
    ours = np.array([result.smoothing[f"{group}_top"] for group in groups])
    theirs = np.array([ref_s[group] for group in groups])
    for group, s in zip(groups, ours, strict=True):
        assert result.smoothing[f"{group}_bot"] == s
    assert np.abs(np.log(ours / theirs)).max() < 0.25
    loglik = kalman.log_likelihood(model.random_walk(ours), model.obs, search)
    loglik_ref = kalman.log_likelihood(model.random_walk(theirs), model.obs, search)
    assert (loglik >= loglik_ref - 1e-6).all()


def test_written_csv_reads_back_and_keeps_the_layout(single_s10, tmp_path):
    path = write_smoothed_csv(single_s10, tmp_path / "out" / "smoothed.csv")
    back = read_pose_csv(path, required_coords=EKS_COORDS)
    pd.testing.assert_frame_equal(back, single_s10.frame, check_exact=False, rtol=1e-12)
    assert back.columns.get_level_values("coords")[:9].tolist() == list(EKS_COORDS)


def test_loads_in_movement(single_s10, tmp_path):
    pytest.importorskip("movement")
    from napari_lightning_pose.ensemble import to_movement_dataset

    ds = to_movement_dataset(single_s10.frame, fps=250)
    assert ds.position.shape == (1000, 2, 8, 1)
    np.testing.assert_allclose(
        ds.position.sel(space="x").values[..., 0], coords(single_s10.frame, "x")
    )
    np.testing.assert_allclose(
        ds.posterior_var.sel(space="y").values[..., 0], coords(single_s10.frame, "y_posterior_var")
    )
    # the plain x/y/likelihood table is a normal prediction file
    plain = tmp_path / "poses.csv"
    poses_only(single_s10.frame).to_csv(plain)
    from movement.io import load_poses

    loaded = load_poses.from_dlc_file(plain)
    np.testing.assert_allclose(loaded.position.values, ds.position.values)


def test_keypoint_never_predicted_is_nan_and_reported(eks_members):
    ens = load_members(eks_members)
    frames = []
    for path in eks_members:
        df = read_pose_csv(path, required_coords=("x", "y", "likelihood"))
        df.loc[:, df.columns.get_level_values("bodyparts") == "paw2LF_top"] = np.nan
        frames.append(df)
    with pytest.warns(UserWarning, match="paw2LF_top"):
        result = smooth_ensemble(frames, smoothing=10.0)
    assert result.unsmoothed == ["paw2LF_top"]
    hidden = result.frame.xs("paw2LF_top", axis=1, level="bodyparts")
    assert hidden.drop(columns="likelihood", level=-1).isna().all().all()
    assert (hidden.xs("likelihood", axis=1, level=-1) == 0).all().all()
    assert np.isnan(result.smoothing["paw2LF_top"])
    # everything else is exactly what it would be without that keypoint
    full = smooth_ensemble(ens, smoothing=10.0).frame
    other = result.frame.columns.get_level_values("bodyparts") != "paw2LF_top"
    pd.testing.assert_frame_equal(result.frame.loc[:, other], full.loc[:, other])
    # in multi-view its partner falls back to single view
    with pytest.warns(UserWarning) as caught:
        multi = smooth_ensemble(frames, smoothing=10.0, views=VIEWS)
    assert any("no frame where all views are predicted" in str(w.message) for w in caught)
    assert multi.views == [
        ["paw1LH_top", "paw3RF_top", "paw4RH_top"],
        ["paw1LH_bot", "paw3RF_bot", "paw4RH_bot"],
    ]
    np.testing.assert_allclose(
        multi.frame["ensemble-kalman_tracker", "paw2LF_bot", "x"],
        full["ensemble-kalman_tracker", "paw2LF_bot", "x"],
    )


def test_mean_center_and_per_keypoint_smoothing(eks_members):
    ens = load_members(eks_members)
    values = {name: 1.0 + i for i, name in enumerate(ens.keypoints)}
    result = smooth_ensemble(ens, smoothing=values, center="mean")
    assert result.smoothing == values
    np.testing.assert_allclose(coords(result.frame, "x_ens_median"), ens.xy[..., 0].mean(axis=0))


@pytest.mark.parametrize("bad", ["fast", -1.0, 0.0, float("nan"), {"paw1LH_top": 2.0}])
def test_bad_smoothing_is_refused(eks_members, bad):
    with pytest.raises(LightningPoseInputError, match="smoothing"):
        smooth_ensemble(eks_members[:2], smoothing=bad)


@pytest.mark.parametrize(
    ("views", "message"),
    [
        ([[0, 1]], "at least two views"),
        ([[0, 1], [4]], "same number"),
        ([[0, "nose"], [4, 5]], "'nose' is not in"),
        ([[0, 1], [4, 12]], "out of range"),
        ([[0, 1], [1, 5]], "more than once"),
    ],
)
def test_bad_views_are_refused(views, message):
    names = ["a", "b", "c", "d", "e", "f", "g", "h"]
    with pytest.raises(ConfigError, match=message):
        parse_views(views, names)


def test_views_by_name(eks_members):
    names = [f"paw{p}_{v}" for v in ("top", "bot") for p in ("1LH", "2LF", "3RF", "4RH")]
    assert parse_views([names[:4], names[4:]], names) == VIEWS
    assert parse_views([["0", "1"], ["4", "5"]], names) == [[0, 1], [4, 5]]


def test_views_never_seen_together_fall_back_to_single_view(eks_members):
    ens = load_members(eks_members)
    xy = ens.xy.copy()
    xy[:, :500, 4] = np.nan  # paw1LH only in the top view for the first half ...
    xy[:, 500:, 0] = np.nan  # ... and only in the bottom view for the second half
    hidden = type(ens)(xy, ens.likelihood, ens.keypoints, ens.index, ens.sources)
    with pytest.warns(UserWarning, match="no frame where all views are predicted"):
        result = smooth_ensemble(hidden, smoothing=10.0, views=VIEWS)
    assert result.views == [
        [f"paw{p}_top" for p in ("2LF", "3RF", "4RH")],
        [f"paw{p}_bot" for p in ("2LF", "3RF", "4RH")],
    ]
    x = result.frame.xs("x", axis=1, level="coords").droplevel("scorer", axis=1)
    assert x["paw1LH_top"].notna().all() and x["paw1LH_bot"].notna().all()
