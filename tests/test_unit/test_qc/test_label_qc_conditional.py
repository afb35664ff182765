"""Label QC's ``conditional_z``: a label is judged by where the frame's other labels put it,
tightly where they pin it down, loosely where the keypoint varies freely."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_lightning_pose.io.pose_csv import make_pose_frame
from napari_lightning_pose.qc.label_qc import label_qc
from napari_lightning_pose.qc.label_qc_conditional import conditional_z, pose_covariance

NAMES = ["base", "mid", "tip", "paw"]
CFG = {"data": {"flip_pairs": []}, "losses": {"pca_singleview": {"components_to_keep": 0.95}}}


def _tails(n: int = 80, seed: int = 0) -> np.ndarray:
    """(n, 4, 2): a tail whose middle lies halfway between base and tip (pinned by them),
    and a paw that moves freely, 40 px around."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(100, 300, (n, 2))
    tip = base + rng.normal((80, 0), 25, (n, 2))
    mid = (base + tip) / 2 + rng.normal(0, 1.0, (n, 2))
    paw = base + rng.normal((0, 60), 40, (n, 2))
    return np.stack([base, mid, tip, paw], axis=1)


def _table(xy: np.ndarray) -> pd.DataFrame:
    index = [f"labeled-data/img{i:03d}.png" for i in range(len(xy))]
    return make_pose_frame(xy, NAMES, ("x", "y"), index=index, scorer="lab")


def test_a_pinned_point_moved_a_little_stands_out_more_than_a_free_one():
    xy = _tails()
    mean, cov = pose_covariance(xy[1:].reshape(len(xy) - 1, -1))  # fitted without frame 0
    clean = conditional_z(xy[0].reshape(-1), mean, cov)
    pose = xy[0].copy()
    pose[1] += (12.0, 0.0)  # the tail's middle slips 12 px
    moved_mid = conditional_z(pose.reshape(-1), mean, cov)
    pose = xy[0].copy()
    pose[3] += (12.0, 0.0)  # the freely moving paw, the same 12 px
    moved_paw = conditional_z(pose.reshape(-1), mean, cov)
    assert moved_mid[1] - clean[1] > 5 * abs(moved_paw[3] - clean[3])
    assert moved_mid[1] - clean[1] > 5  # in units of the middle's spread given the rest


def test_a_slipped_point_ranks_first_with_its_criterion_shown():
    xy = _tails()
    xy[17, 1] += (0.0, 15.0)  # 15 px off, well inside the range a tail's middle takes
    qc = label_qc(_table(xy), CFG)
    assert "conditional_z" in qc.criteria
    top = qc.ranked(1)
    assert top["image"].iloc[0].endswith("img017.png")
    assert top["keypoint"].iloc[0] == "mid"
    assert top["conditional_z"].iloc[0] > 5 and top["conditional_z_part"].iloc[0] > 0


def test_missing_labels_are_skipped_not_guessed():
    xy = _tails()
    xy[5, 3] = np.nan  # paw not labeled in one frame
    qc = label_qc(_table(xy), CFG)
    z = qc.criteria["conditional_z"]
    assert np.isnan(z.iloc[5]["paw"])
    assert np.isfinite(z.iloc[5][["base", "mid", "tip"]]).all()
    assert np.isfinite(z.drop(index=z.index[5])).all().all()
