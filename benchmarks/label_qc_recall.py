"""Does label QC find wrong labels? Recall@k of planted label errors.

Plants 3 left/right swaps and 3 points moved 40-60 px (``qc.planting.plant_label_errors``)
into copies of real labels, each in its own labeled frame, runs ``label_qc`` (no models:
pose PCA, multi-view PCA, swap test) and reports, over ``--plantings`` random plantings,
recall@k (share of planted errors whose frame is in the top k; one row per frame), per
kind, the share of plantings whose top k holds all six, and ``named``: of the errors in the
top k, the share whose row names the planted keypoint (for a swap, either of the pair), the
keypoint the dock's jump selects. Points are moved only at
keypoints some criterion covers (the PCA keypoints; the mirror-mouse obstacle points are in
neither PCA and are checked only with ``--models``). ``--models`` adds the example's rows
with ``model_distance`` from members trained on different splits of its clean labels
(``benchmarks/label_qc_members.py``); a frame that no member held out predicts its planted
labels (a member that trained on a wrong label learns it). The real labels' own mistakes compete
for the top places, as they would for a user.

``--reviewed K`` models the user's loop: label QC first runs on the labels as they are,
the user checks its top K frames and confirms them in the dock (or fixes them: either way
they leave the list), and the errors come later. The top K of each set's unplanted ranking
are confirmed with the dock's own store (``qc.label_confirmations.confirm_frames``, in a
temporary folder) and each planting is ranked leaving out what that store still holds
(``confirmed_now``, as the dock and ``label-qc`` do): a planted error on a reviewed frame
moved its label, so it is judged again. Each set is then reported without and with review.

Plantings are seeded ``--first-seed`` .. ``--first-seed + --plantings - 1``: settings were
chosen on seeds 0-19, the README reports seeds 100-139.

    python benchmarks/label_qc_recall.py --first-seed 100 --plantings 40
    python benchmarks/label_qc_recall.py --first-seed 100 --plantings 40 --reviewed 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.labels import read_labels
from napari_lightning_pose.qc.label_confirmations import confirm_frames, confirmed_now
from napari_lightning_pose.qc.label_qc import flip_pairs_of, label_qc
from napari_lightning_pose.qc.label_qc_models import held_out_images, median_held_out
from napari_lightning_pose.qc.planting import plant_label_errors

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src" / "napari_lightning_pose" / "resources" / "mirror-mouse"
SHARED = ROOT.parent / "shared" / "data" / "mirror-mouse-example"
KS = (5, 10, 20)


def member_predictions(models: list[str], data: Path) -> tuple[pd.DataFrame, set[str]]:
    """The members' median held-out prediction per labeled image, and the images held out."""
    from napari_lightning_pose.inference.evaluate import evaluate

    cfg = load_config(SAMPLE / "config.yaml")
    cfg["data"]["data_dir"] = str(data)
    results = [evaluate(m, cfg, splits=("train", "val", "test")) for m in models]
    predictions, notes = median_held_out(results)
    held = held_out_images(results)
    test_px = [round(r.overall("test"), 2) for r in results]
    print(f"{len(models)} members, test px {test_px}; {len(held)} of {len(predictions)} "
          f"labeled frames held out by at least one member; {' '.join(notes)}")  # fmt: skip
    return predictions, held


def memorised(predictions: pd.DataFrame, held: set[str], labels: pd.DataFrame) -> pd.DataFrame:
    """Predictions where a frame no member held out predicts its (planted) labels.

    A member that trained on a wrong label learns it: the worst case for ``model_distance``,
    and what ``label_qc --models`` would see on frames every member trained on.
    """
    out = predictions.copy()
    never = [img for img in labels.index if img not in held and img in out.index]
    for name in dict.fromkeys(labels.columns.get_level_values(1)):
        for coord in ("x", "y"):
            src = labels.loc[never, (slice(None), name, coord)].to_numpy()
            out.loc[never, (slice(None), name, coord)] = src
    return out


def review(
    labels: pd.DataFrame, cfg: dict, models: tuple[pd.DataFrame, set[str]] | None, k: int,
    folder: Path,
) -> tuple[Path, list[str]]:  # fmt: skip
    """Confirm the top ``k`` frames of the unplanted ranking as the dock does; the labels
    path whose confirmation store now holds them, and the frames."""
    preds = None if models is None else memorised(models[0], models[1], labels)
    top = [str(i) for i in label_qc(labels, cfg, preds).ranked(k)["image"]]
    store = folder / "CollectedData.csv"  # the store sits beside it: confirmations only
    confirm_frames(store, labels, top)
    return store, top


#: ``--misses`` lists the planted errors ranked below this (issue 22: all in the top 10)
MISS_K = 10


def run_set(
    name: str,
    csv: Path,
    seeds: range,
    models: tuple[pd.DataFrame, set[str]] | None = None,
    reviewed: int = 0,
    min_swap_px: float = 0.0,
    misses: bool = False,
) -> list[dict]:
    cfg = load_config(SAMPLE / "config.yaml")  # the sample's config fits both label sets
    labels = read_labels(csv, cfg["data"]["keypoint_names"])
    if models is not None:
        name += f" + members ({len(models[1])} frames held out)"
    folder = tempfile.TemporaryDirectory()
    store, checked = None, []
    if reviewed:
        store, checked = review(labels, cfg, models, reviewed, Path(folder.name))
        name += f", top {reviewed} reviewed"
        print(f"{name}: confirmed {', '.join(Path(i).stem for i in checked)}")
    names = list(cfg["data"]["keypoint_names"])
    pairs = flip_pairs_of(cfg, names)
    covered = sorted(
        set(cfg["data"]["columns_for_singleview_pca"] or [])
        | {i for view in cfg["data"]["mirrored_column_matches"] or [] for i in view}
    )
    rows = []
    for seed in seeds:
        planted, events = plant_label_errors(
            labels, 3, 3, seed, pairs, movable=covered, min_swap_px=min_swap_px
        )
        preds = None if models is None else memorised(models[0], models[1], planted)
        skip = confirmed_now(store, planted) if store is not None else []
        table = label_qc(planted, cfg, preds).ranked(None, skip)
        ranked = list(table["image"])
        images = [planted.index[e.frames[0]] for e in events]
        # a frame whose every label is still confirmed is not listed: missed
        ranks = np.array([ranked.index(i) + 1 if i in ranked else len(labels) for i in images])
        on_checked = np.array([i in checked for i in images])
        named = np.array(
            [
                table["keypoint"].iloc[r - 1] in e.keypoints
                for r, e in zip(ranks, events, strict=True)
            ]
        )
        kinds = np.array([e.kind for e in events])
        if misses:
            for rank, event, image in zip(ranks, events, images, strict=True):
                if rank > MISS_K:
                    print(f"missed: {name}, seed {seed}: {event.kind} {Path(image).stem} "
                          f"{'/'.join(event.keypoints)} at rank {rank}")  # fmt: skip
        for k in KS:
            rows.append(
                {
                    "set": f"{name} ({len(labels)} frames)",
                    "k": k,
                    "recall": (ranks <= k).mean(),
                    "swap": (ranks[kinds == "swap"] <= k).mean(),
                    "moved": (ranks[kinds == "moved"] <= k).mean(),
                    "all six": float((ranks <= k).all()),
                    "named": named[ranks <= k].mean() if (ranks <= k).any() else np.nan,
                    "worst rank": ranks.max(),
                    "on reviewed": on_checked.sum(),
                    "found on reviewed": (ranks[on_checked] <= k).mean()
                    if on_checked.any()
                    else np.nan,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--plantings", type=int, default=20)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument(
        "--models",
        nargs="+",
        help="members trained on the mirror-mouse example (benchmarks/label_qc_members.py): "
        "adds model_distance from held-out predictions to the example's rows",
    )
    p.add_argument(
        "--reviewed",
        type=int,
        default=0,
        metavar="K",
        help="also report each set after the user confirmed the top K frames of its "
        "unplanted ranking (the dock's confirmation store)",
    )
    p.add_argument(
        "--min-swap-px",
        type=float,
        default=20.0,
        help="swap only left/right pairs at least this far apart (a swap moves each label "
        "by the pair's distance); 0: any pair",
    )
    p.add_argument(
        "--misses",
        action="store_true",
        help=f"also print each planted error ranked below {MISS_K} (set, seed, kind, frame, "
        "keypoints, rank)",
    )
    args = p.parse_args(argv)
    seeds = range(args.first_seed, args.first_seed + args.plantings)
    t0 = time.process_time()
    rows = []
    views = (0, args.reviewed) if args.reviewed else (0,)
    example = SHARED / "CollectedData.csv"
    for k in views:
        if SHARED.is_dir():
            rows += run_set(
                "mirror-mouse example",
                example,
                seeds,
                reviewed=k,
                min_swap_px=args.min_swap_px,
                misses=args.misses,
            )
    if SHARED.is_dir() and args.models:
        members = member_predictions(args.models, SHARED)
        for k in views:
            rows += run_set(
                "mirror-mouse example", example, seeds, members, k, args.min_swap_px, args.misses
            )
    for k in views:
        rows += run_set(
            "bundled sample",
            SAMPLE / "CollectedData.csv",
            seeds,
            reviewed=k,
            min_swap_px=args.min_swap_px,
            misses=args.misses,
        )
    table = (
        pd.DataFrame(rows)
        .groupby(["set", "k"], sort=False)
        .agg(
            {
                "recall": "mean",
                "swap": "mean",
                "moved": "mean",
                "all six": "mean",
                "named": "mean",
                "worst rank": "median",
                "on reviewed": "sum",
                "found on reviewed": "mean",
            }
        )
    )
    if not args.reviewed:
        table = table.drop(columns=["on reviewed", "found on reviewed"])
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(2).to_string())
    print(
        f"\n{args.plantings} plantings (seeds {seeds.start}-{seeds.stop - 1}) of 3 swaps + "
        f"3 moved points (40-60 px); swaps of pairs >= {args.min_swap_px:g} px apart; worst rank: "
        f"median over plantings; CPU time {time.process_time() - t0:.0f} s; "
        f"python {sys.version.split()[0]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
