"""Outlier scores: planted jumps and disagreements rank first; one-member fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_lightning_pose.ensemble import smooth_ensemble, write_smoothed_csv
from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io.pose_csv import write_pose_csv
from napari_lightning_pose.qc.outlier_ranking import rank_outliers
from napari_lightning_pose.qc.scores import (
    SCORE_NAMES,
    outlier_scores,
    robust_z,
    scores_from_files,
)


def test_planted_frames_rank_first(planted):
    smoothed = smooth_ensemble(planted.members, smoothing=1.0).frame
    scores = outlier_scores(smoothed, planted.members)
    assert set(scores.scores) == {"posterior_sd", "ensemble_sd", "temporal_norm", "eks_residual"}
    top = rank_outliers(scores, n=4, min_gap=3)
    assert set(top["frame"]) == set(planted.jumps + planted.disagree)
    by_frame = top.set_index("frame")
    for f in planted.jumps:
        assert by_frame.loc[f, "keypoint"] == "ear"
    for f in planted.disagree:
        assert by_frame.loc[f, "keypoint"] == "paw"
    assert list(top.columns[:3]) == ["frame", "keypoint", "combined"]
    assert (np.diff(top["combined"]) <= 0).all()


def test_each_score_alone_finds_its_symptom(planted):
    smoothed = smooth_ensemble(planted.members, smoothing=1.0).frame
    scores = outlier_scores(smoothed, planted.members)
    spread = rank_outliers(scores, n=2, by="ensemble_sd")
    assert set(spread["frame"]) == set(planted.disagree)
    # a jump of the whole ensemble: the step into and out of it (frame f and f+1)
    jumps = rank_outliers(scores, n=4, by="temporal_norm")
    assert set(jumps["frame"]) == {f + d for f in planted.jumps for d in (0, 1)}
    with pytest.raises(LabelsError, match="no score"):
        rank_outliers(scores, by="nonsense")


def test_one_member_has_no_ensemble_sd_and_falls_back(planted):
    member = planted.members[0]
    smoothed = smooth_ensemble([member], smoothing=1.0).frame
    scores = outlier_scores(smoothed, [member])
    assert "ensemble_sd" not in scores.scores
    assert any("one member" in note for note in scores.notes)
    top = rank_outliers(scores, n=2, min_gap=3)
    assert set(top["frame"]) == set(planted.jumps)  # the jumps are still found


def test_robust_z_normalises_each_keypoint():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.normal(5, 1, 1000), "b": rng.normal(50, 10, 1000)})
    z = robust_z(df)
    assert np.allclose(z.median(), 0, atol=0.1)
    assert np.allclose((z.quantile(0.75) - z.quantile(0.25)) / 1.349, 1, atol=0.1)
    const = robust_z(pd.DataFrame({"c": np.ones(10)}))
    assert np.isfinite(const.to_numpy()).all()


def test_metric_files_next_to_predictions_are_used(planted, tmp_path):
    paths = []
    for i, m in enumerate(planted.members):
        paths.append(write_pose_csv(m, tmp_path / f"vid_m{i}.csv"))
    smoothed_csv = write_smoothed_csv(smooth_ensemble(paths, smoothing=1.0), tmp_path / "s.csv")
    scores = scores_from_files(smoothed_csv, paths)
    assert "pca_singleview_error" not in scores.scores
    # a PCA error file planting one more frame (Lightning Pose layout: one header row)
    names = list(planted.members[0].columns.get_level_values(1).unique())
    err = pd.DataFrame(1.0, index=range(400), columns=names)
    err.loc[200, "tail"] = 80.0
    for p in paths:
        err.assign(mean=err.mean(axis=1)).to_csv(p.with_name(p.stem + "_pca_singleview_error.csv"))
    scores = scores_from_files(smoothed_csv, paths)
    assert list(scores.scores) == [s for s in SCORE_NAMES if s != "pca_multiview_error"]
    top = rank_outliers(scores, n=5, min_gap=3)
    assert 200 in set(top["frame"])
    assert top.set_index("frame").loc[200, "keypoint"] == "tail"


def test_smoothed_table_without_variances_is_refused(planted):
    with pytest.raises(LabelsError, match="posterior_var"):
        outlier_scores(planted.members[0])
