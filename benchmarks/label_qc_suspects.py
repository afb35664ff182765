"""Draw the unplanted labels that label QC with models ranks first, to judge them by eye.

Runs ``label_qc`` with ``model_distance`` on the mirror-mouse example's labels as they are
(members from ``benchmarks/label_qc_members.py``), prints the top ``--top`` frames, and
draws each: a crop around the suspect keypoint with the frame's labels (yellow, named) and,
for the suspect, the label (red) and each member's prediction that held the frame out
(cyan, numbered by member) and their median (magenta); a dashed line marks the x of the
same part's label in the other mirrored view (the views share x). A swap row draws its
pair. One PNG per frame under ``--out``; ``--figure`` also puts the panels into one picture.

    python benchmarks/label_qc_suspects.py --models runs-qc/member*/run --out /tmp/qc22
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from label_qc_recall import SAMPLE, SHARED
from napari_lightning_pose.io.config import load_config
from napari_lightning_pose.io.labels import read_labels
from napari_lightning_pose.qc.label_qc import flip_pairs_of, label_qc
from napari_lightning_pose.qc.label_qc_models import median_held_out

HALF = 55  # crop half-width (px)


def member_results(models: list[str], cfg: dict[str, Any], cache: Path) -> list[Any]:
    """``evaluate`` of each member on every labeled frame (cached as pickles, keyed by the
    member's path and modification time)."""
    from napari_lightning_pose.inference.evaluate import evaluate

    cache.mkdir(parents=True, exist_ok=True)
    results = []
    for model in models:
        where = Path(model).resolve()
        key = hashlib.sha1(f"{where}:{where.stat().st_mtime_ns}".encode()).hexdigest()[:16]
        path = cache / f"eval_{key}.pkl"  # a retrained member is evaluated again
        if path.is_file():
            results.append(pd.read_pickle(path))
            continue
        result = evaluate(model, cfg, splits=("train", "val", "test"))
        pd.to_pickle(result, path)
        results.append(result)
    return results


def _xy(frame: pd.DataFrame, image: str, name: str) -> np.ndarray:
    return np.array([float(frame.loc[image, (slice(None), name, c)].iloc[0]) for c in ("x", "y")])


def _other_view(name: str, names: list[str]) -> str | None:
    """The same body part in the other mirrored view (``paw2LF_top`` -> ``paw2LF_bot``)."""
    for a, b in (("_top", "_bot"), ("_bot", "_top")):
        if name.endswith(a) and name[: -len(a)] + b in names:
            return name[: -len(a)] + b
    return None


def suspects_of(row: Any, names: list[str], pairs: list[tuple[int, int]]) -> list[str]:
    """The row's keypoint and, where the swap test put it there, its left/right partner."""
    keypoints = [str(row.keypoint)]
    if row.swap_gain_part >= max(row.model_distance_part, row.pose_pca_error_part, 0.5):
        for a, b in pairs:
            if names[a] == row.keypoint:
                keypoints.append(names[b])
            elif names[b] == row.keypoint:
                keypoints.append(names[a])
    return keypoints


def draw(ax: Any, image: str, keypoints: list[str], labels: pd.DataFrame, results: list[Any],
         median: pd.DataFrame, title: str) -> None:  # fmt: skip
    """One panel: the crop around ``keypoints`` with labels and held-out predictions."""
    pixels = plt.imread(SHARED / image)
    names = list(dict.fromkeys(labels.columns.get_level_values(1)))
    points = [_xy(f, image, k) for k in keypoints for f in (labels, median)]
    lo, hi = np.nanmin(points, axis=0), np.nanmax(points, axis=0)
    half = max(HALF, float(np.max(hi - lo)) / 2 + 35)  # the label and the members in view
    x0, y0 = (lo + hi) / 2 - half
    ax.imshow(pixels, cmap="gray", vmin=0, vmax=pixels.max())
    for name in names:
        x, y = _xy(labels, image, name)
        if np.isfinite(x) and name not in keypoints:
            ax.plot(x, y, "o", ms=4, color="yellow")
            ax.annotate(name, (x, y), color="yellow", fontsize=6, xytext=(3, -3),
                        textcoords="offset points")  # fmt: skip
    colours = ("red", "orange")
    for k, name in enumerate(keypoints):
        for m, r in enumerate(results):
            if r.errors.loc[image, "split"] == "train":
                continue
            px, py = _xy(r.predictions, image, name)
            ax.plot(px, py, "x", ms=6, mew=1.5, color="cyan" if k == 0 else "lime")
            ax.annotate(str(m), (px, py), color="cyan" if k == 0 else "lime", fontsize=6,
                        xytext=(3, 3), textcoords="offset points")  # fmt: skip
        mx, my = _xy(median, image, name)
        ax.plot(mx, my, "+", ms=10, mew=2, color="magenta")
        x, y = _xy(labels, image, name)
        other = _other_view(name, names)
        if other is not None and k == 0:  # the views share x: where the other view has it
            ox = _xy(labels, image, other)[0]
            ax.axvline(ox, color=colours[k], ls="--", lw=1)
            ax.annotate(f"x of {other} label", (ox, y0 + 2 * half), color=colours[k],
                        fontsize=6, xytext=(2, 4), textcoords="offset points")  # fmt: skip
        ax.plot(x, y, "o", ms=9, mfc="none", mew=2, color=colours[k])
        ax.annotate(f"label {name}", (x, y), color=colours[k], fontsize=7, xytext=(6, 6),
                    textcoords="offset points")  # fmt: skip
    ax.set_xlim(x0, x0 + 2 * half)
    ax.set_ylim(y0 + 2 * half, y0)
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--top", type=int, default=6)
    p.add_argument("--out", type=Path, default=Path("/tmp/qc22"))
    p.add_argument("--figure", type=Path, help="also write all panels into this PNG")
    args = p.parse_args(argv)
    cfg = load_config(SAMPLE / "config.yaml")
    cfg["data"]["data_dir"] = str(SHARED)
    names = list(cfg["data"]["keypoint_names"])
    labels = read_labels(SHARED / "CollectedData.csv", names)
    results = member_results(args.models, cfg, args.out / "cache")
    median, notes = median_held_out(results)
    table = label_qc(labels, cfg, median).ranked(args.top)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(1).to_string())
    print(*notes)
    pairs = flip_pairs_of(cfg, names)
    panels = []
    for rank, row in enumerate(table.itertuples(index=False), start=1):
        keypoints = suspects_of(row, names, pairs)
        held = [m for m, r in enumerate(results) if r.errors.loc[row.image, "split"] != "train"]
        dist = [float(np.hypot(*(_xy(median, row.image, k) - _xy(labels, row.image, k))))
                for k in keypoints]  # fmt: skip
        title = (f"#{rank} {Path(row.image).name} {' / '.join(keypoints)}: label to median of "
                 f"members {held}: {', '.join(f'{d:.0f}' for d in dist)} px")  # fmt: skip
        print(title)
        panels.append((row.image, keypoints, title))
        fig, ax = plt.subplots(figsize=(6, 6), dpi=150)
        draw(ax, row.image, keypoints, labels, results, median, title)
        args.out.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.out / f"{rank:02d}_{Path(row.image).stem}.png", bbox_inches="tight")
        plt.close(fig)
    if args.figure:
        fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), dpi=110)
        for ax, (image, keypoints, title) in zip(np.atleast_1d(axes), panels, strict=True):
            draw(ax, image, keypoints, labels, results, median, title.split(":")[0])
        fig.suptitle(
            "red o: the label; cyan x: each member that held the frame out (number = member); "
            "magenta +: their median; yellow: the frame's other labels; dashed: x of the same "
            "part's label in the other view",
            fontsize=7,
            y=0.02,
        )
        fig.savefig(args.figure, bbox_inches="tight")
        print(f"wrote {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
