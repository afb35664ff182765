"""The file names inside a training run's folder.

Kept apart from ``training.checkpoints`` (which imports torch) so that a dock can look for
trained models without importing torch on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

LAST_CKPT = "last.ckpt"
BEST_CKPT = "best.ckpt"
METRICS_CSV = "metrics.csv"


def has_checkpoint(run_dir: Path) -> bool:
    """True when ``run_dir`` holds a finished or resumable checkpoint."""
    return any((run_dir / name).is_file() for name in (BEST_CKPT, LAST_CKPT))
