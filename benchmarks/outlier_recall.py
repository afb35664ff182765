"""Does the outlier queue list real prediction errors first? Recall@k / precision@k.

Plants errors of five kinds (``qc.planting``: one member off, two members off in opposite
directions, every member off for 3-5 frames, a one-frame jump, a left/right swap; 30-100
px) into copies of a real ensemble, smooths each copy with EKS (``--smoothing``, default
auto as in ``smooth``), ranks its frames with every score alone and with ``combined``
(the queue's defaults: frames ``DEFAULT_MIN_GAP`` apart, a keypoint at most twice its
fair share of the list), and reports over ``--plantings`` random plantings:

- recall@k: share of planted events with a listed frame within one frame of them;
- precision@k: share of the top k that hit a planted event (the real ensemble's own
  mistakes count as misses here, so this is a lower bound);
- strict@k: share of plantings whose top k holds *every* planted event where two or more
  members are off by more than 3x the file's typical (median) ensemble SD;
- issue 22's bar on the whole file, real frames and planted ones alike
  (``qc.members_off``: a member is off when farther than 3x the clean file's typical
  ensemble SD from the ensemble median; qualifying frames less than ``DEFAULT_MIN_GAP``
  apart are one event): ``bar events`` (how many), ``bar all`` (share of plantings whose
  top k holds every one; only attainable where there are at most k), ``bar precision``
  (share of the top k that hit one) and ``bar worst`` (share of the min(k, n) events with
  the largest offsets that the top k holds: are the worst listed first?);
- known precision@k: share of the top k that hit a planted event or a bar event (what is
  left are the file's own errors of other kinds, e.g. jumps the whole ensemble makes, and
  false alarms).

``before`` is the combination this replaces (sum of unbounded robust z-scores, no
diversity), for comparison.

Data sets: ``eks-2kp`` is issue 22's setting (the EKS example ensemble, first 1000 frames,
the bottom-view hind and front left paws: naturally calm keypoints), ``eks-8kp`` the whole
file (2000 frames, 8 keypoints, whose top-view paws hold dozens of natural errors larger
than the planted ones), and ``--members`` any other ensemble (e.g. the demo's members).

    python benchmarks/outlier_recall.py --plantings 10
    python benchmarks/outlier_recall.py --members DEMO/predictions/test_vid/*.csv
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.ensemble import smooth_ensemble
from napari_lightning_pose.io.pose_csv import read_pose_csv
from napari_lightning_pose.qc.defaults import DEFAULT_MIN_GAP
from napari_lightning_pose.qc.members_off import (
    BAR_FACTOR,
    member_xy,
    members_off_events,
    typical_ensemble_sd,
)
from napari_lightning_pose.qc.outlier_ranking import rank_outliers
from napari_lightning_pose.qc.planting import found_at_k, guess_flip_pairs, plant_prediction_errors
from napari_lightning_pose.qc.scores import OutlierScores, outlier_scores, robust_z

ROOT = Path(__file__).resolve().parents[1]
EKS_DIR = ROOT.parent / "shared" / "data" / "eks-example"
KS = (6, 12, 20)


def load(paths: list[Path], frames: int | None, keypoints: list[str] | None) -> list:
    members = [read_pose_csv(p, required_coords=("x", "y")) for p in paths]
    if frames:
        members = [m.iloc[:frames] for m in members]
    if keypoints:
        members = [m.loc[:, m.columns.get_level_values(1).isin(keypoints)] for m in members]
    return members


def before(scores: OutlierScores) -> OutlierScores:
    """The earlier combination: sum of unbounded positive robust z-scores."""
    z = np.stack([robust_z(_two_sided(k, s)).to_numpy() for k, s in scores.scores.items()])
    combined = np.nansum(np.clip(z, 0, None), axis=0)
    frame = pd.DataFrame(combined, index=scores.combined.index, columns=scores.combined.columns)
    return OutlierScores(scores.scores, frame, [])


def _two_sided(name: str, score: pd.DataFrame) -> pd.DataFrame:
    """The earlier combination's temporal norm: ``min(tn_t, tn_{t+1})``."""
    if name != "temporal_norm":
        return score
    ahead = score.shift(-1)
    return score.where(score < ahead, ahead).where(ahead.notna(), score)


def run_set(name: str, members: list, args: argparse.Namespace) -> list[dict]:
    names = list(dict.fromkeys(members[0].columns.get_level_values(1)))
    pairs = guess_flip_pairs(names)
    kinds = ("one_member", "two_members", "all_members", "jump", "swap")
    if not pairs:
        kinds = kinds[:-1]
    typical = typical_ensemble_sd(member_xy(members)[0])
    bar = args.bar_factor * typical
    clean = members_off_events(*member_xy(members), bar)
    print(
        f"{name}: typical ensemble SD {typical:.2f} px, bar {bar:.1f} px; "
        f"{len(clean)} bar events in the file before planting"
    )
    rows = []
    for seed in range(args.plantings):
        planted, events = plant_prediction_errors(members, args.events, seed, kinds, pairs)
        strict = [e.members_off >= 2 and e.size > bar for e in events]
        off = members_off_events(*member_xy(planted), bar)
        worst_first = np.argsort([-e.size for e in off], kind="stable")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            smoothed = smooth_ensemble(planted, smoothing=args.smoothing).frame
        scores = outlier_scores(smoothed, planted)
        rankings = {"combined": rank_outliers(scores, max(KS), "combined", DEFAULT_MIN_GAP, None)}
        for score in scores.scores:
            rankings[score] = rank_outliers(scores, max(KS), score, DEFAULT_MIN_GAP, None)
        rankings["before (unbounded, no diversity)"] = rank_outliers(before(scores), max(KS))
        for by, table in rankings.items():
            for k in KS:
                found, hits = found_at_k(events, table["frame"].to_numpy(), k)
                row = {"set": name, "seed": seed, "ranking": by, "k": k}
                row["recall"] = found.mean()
                row["precision"] = hits.mean()
                row["strict"] = float(found[strict].all())
                row["strict events"] = sum(strict)
                for kind in kinds:
                    sel = [e.kind == kind for e in events]
                    row[kind] = found[sel].mean()
                bar_found, bar_hits = found_at_k(off, table["frame"].to_numpy(), k)
                row["bar events"] = len(off)
                row["bar all"] = float(bar_found.all())
                row["bar precision"] = bar_hits.mean()
                row["bar worst"] = bar_found[worst_first[:k]].mean() if off else 1.0
                row["known precision"] = (hits | bar_hits).mean()
                rows.append(row)
    return rows


def print_issue_bar(df: pd.DataFrame, factor: float, k: int = 12) -> None:
    """Issue 22's criterion per ensemble, as a sentence: the queue's (``combined``) top k
    holds every planted frame where two or more members are off by more than the bar."""
    chosen = df[(df["ranking"] == "combined") & (df["k"] == k)]
    for name, g in chosen.groupby("set", sort=False):
        held = int(g["strict"].sum())
        print(
            f"issue 22, {name}: the top {k} holds every planted frame with two or more members "
            f"off by > {factor:g}x the typical SD ({g['strict events'].mean():.1f} per "
            f"planting) in {held} of {len(g)} plantings ({held / len(g):.2f}); counting the "
            f"file's own such frames too ({g['bar events'].mean():.1f} events): "
            f"{g['bar all'].mean():.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--plantings", type=int, default=10)
    p.add_argument("--events", type=int, default=6, help="planted errors per planting")
    p.add_argument("--smoothing", default="auto")
    p.add_argument("--members", nargs="+", type=Path, help="another ensemble's CSVs")
    p.add_argument(
        "--bar-factor",
        type=float,
        default=BAR_FACTOR,
        help="a member is off when farther than this x the typical SD from the median",
    )
    p.add_argument("--sets", nargs="+", default=["eks-2kp", "eks-8kp"])
    args = p.parse_args(argv)
    if args.smoothing != "auto":
        args.smoothing = float(args.smoothing)
    eks = sorted(EKS_DIR.glob("*.csv"))
    sets = {
        "eks-2kp": lambda: load(eks, 1000, ["paw1LH_bot", "paw2LF_bot"]),
        "eks-8kp": lambda: load(eks, None, None),
    }
    chosen = {s: sets[s] for s in args.sets}
    if args.members:
        chosen = {"members": lambda: load(args.members, None, None), **chosen}
    t0 = time.process_time()
    rows = []
    for name, make in chosen.items():
        rows += run_set(name, make(), args)
    df = pd.DataFrame(rows)
    table = df.groupby(["set", "ranking", "k"], sort=False).mean(numeric_only=True)
    table = table.drop(columns="seed")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(2).to_string())
    print_issue_bar(df, args.bar_factor)
    print(
        f"\n{args.plantings} plantings x {args.events} events per set; bar "
        f"{args.bar_factor:g} x typical ensemble SD; CPU time "
        f"{time.process_time() - t0:.0f} s; python {sys.version.split()[0]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
