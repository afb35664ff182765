"""Command line: the same pipeline as the napari widgets, headless.

``napari-lightning-pose <command> --help`` describes each command. Long jobs are the core's
progress-event generators driven with a tqdm bar. Heavy imports (torch, napari) happen
inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from napari_lightning_pose.errors import LightningPoseInputError


# --------------------------------------------------------------------------- demo (issue 3)
def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="end-to-end demo on the bundled sample data")
    p.add_argument("--out", default="demo-output", help="folder for the demo project/results")
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    raise NotImplementedError("demo")


# --------------------------------------------------------------------------- init (issue 3)
def _add_init(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create a project folder with a config")
    p.add_argument("project", help="project folder to create")
    p.set_defaults(func=_run_init)


def _run_init(args: argparse.Namespace) -> int:
    raise NotImplementedError("init")


# ------------------------------------------------------------------ select-frames (issue 3)
def _add_select_frames(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("select-frames", help="pick diverse frames of a video to label")
    p.set_defaults(func=_run_select_frames)


def _run_select_frames(args: argparse.Namespace) -> int:
    raise NotImplementedError("select-frames")


# -------------------------------------------------------------------------- train (issue 4)
def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a pose model from a project config")
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    raise NotImplementedError("train")


# ------------------------------------------------------------------------ predict (issue 4)
def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="predict keypoints on videos with a checkpoint")
    p.set_defaults(func=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    raise NotImplementedError("predict")


# ----------------------------------------------------------------------- evaluate (issue 4)
def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="pixel error on held-out labeled frames")
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    raise NotImplementedError("evaluate")


# ------------------------------------------------------------------------- smooth (issue 5)
def _add_smooth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("smooth", help="fuse ensemble prediction CSVs with EKS")
    p.set_defaults(func=_run_smooth)


def _run_smooth(args: argparse.Namespace) -> int:
    raise NotImplementedError("smooth")


# ---------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="napari-lightning-pose",
        description="Lightning Pose in napari: label, train, predict, smooth (EKS), check.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_demo,
        _add_init,
        _add_select_frames,
        _add_train,
        _add_predict,
        _add_evaluate,
        _add_smooth,
    ):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-lightning-pose`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LightningPoseInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
