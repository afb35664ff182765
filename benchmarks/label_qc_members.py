"""Train the ensemble that label QC's ``model_distance`` needs: members on different splits.

Each member trains on the full mirror-mouse example's clean labels with its own model seed
and its own held-out frames: ``--split folds`` (default, as the Train dock trains an
ensemble: ``training.holdout_fold = [m, M]``, so the members together hold out every frame)
or ``--split seeds`` (its own ``training.rng_seed_data_pt``: random splits, which leave a
few frames in every member's training split); ``label_qc --models`` (and
``benchmarks/label_qc_recall.py --models``) then judges every label by the members that
never saw it. Settings are the paper-claims runs'
supervised ones (128 px, ``efficientnet_lite0_s16``, KL heatmaps, batch 8), one torch
thread per member.

    python benchmarks/label_qc_members.py --members 9 --steps 500 --jobs 2 --out runs-qc
    python benchmarks/label_qc_recall.py --models runs-qc/member*/run --first-seed 100 \
        --plantings 40
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paper_claims import SHARED, make_config


def _run_args(steps: int, device: str) -> argparse.Namespace:
    """paper_claims' settings for one supervised run."""
    return argparse.Namespace(
        data=str(SHARED), resize=128, device=device, steps=steps, unfreezing_epoch=5,
        val_every=5, heatmap_loss="kl", backbone="efficientnet_lite0_s16", clip=8,
        neighbour_gradients=False, anneal_reach=0.3, strength=0.25,
    )  # fmt: skip


def train_member(member: int, args: argparse.Namespace) -> None:
    """Train member ``member`` (data and model seed = member) and write its summary."""
    import torch

    from napari_lightning_pose.inference.evaluate import evaluate
    from napari_lightning_pose.training import train

    torch.set_num_threads(1)
    out = Path(args.out) / f"member{member}"
    cfg = make_config("supervised", member, _run_args(args.steps, args.device))
    cfg["training"].update(train_prob=args.train_prob, val_prob=args.val_prob)
    if args.split == "folds":
        cfg["training"]["holdout_fold"] = [member, args.members]
    else:
        cfg["training"]["rng_seed_data_pt"] = member
    cfg["model"]["model_name"] = f"member{member}"
    cpu0 = time.process_time()
    for event in train(cfg, out / "run"):
        if event.kind == "validation":
            print(f"[member{member}] step {event.step} val {event.val_pixel_error:.2f} px")
    result = evaluate(out / "run" / "best.ckpt", cfg, splits=("test", "val"), device=args.device)
    summary = {
        "member": member, "steps": args.steps, "cpu_s": time.process_time() - cpu0,
        "test_px": result.overall("test"), "val_px": result.overall("val"),
    }  # fmt: skip
    (out / "result.json").write_text(json.dumps(summary), encoding="utf-8")
    print(json.dumps(summary), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--members", type=int, default=6)
    p.add_argument("--member", type=int, help="train this one member only")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--split", choices=("folds", "seeds"), default="folds")
    p.add_argument("--train-prob", type=float, default=0.7)
    p.add_argument("--val-prob", type=float, default=0.1)
    p.add_argument("--jobs", type=int, default=2, help="members trained at once")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs-qc")
    args = p.parse_args(argv)
    if args.member is not None:
        train_member(args.member, args)
        return 0
    todo = [
        m for m in range(args.members) if not (Path(args.out) / f"member{m}/result.json").is_file()
    ]
    running: list[subprocess.Popen] = []
    for m in todo:
        while len(running) >= args.jobs:
            running = [r for r in running if r.poll() is None]
            time.sleep(2)
        cmd = [sys.executable, __file__, "--member", str(m), *(argv or sys.argv[1:])]
        running.append(subprocess.Popen(cmd))
    return max([r.wait() for r in running], default=0)


if __name__ == "__main__":
    raise SystemExit(main())
