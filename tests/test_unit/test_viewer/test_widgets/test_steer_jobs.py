"""The Steer dock's work off the GUI thread: the smoother's kernels are loaded ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _signatures() -> dict[str, int]:
    """How many compiled type signatures each of the smoother's numba kernels holds."""
    from numba.core.registry import CPUDispatcher

    from napari_lightning_pose.ensemble import kalman_passes, stats

    return {
        f"{module.__name__}.{name}": len(kernel.signatures)
        for module in (stats, kalman_passes)
        for name, kernel in vars(module).items()
        if isinstance(kernel, CPUDispatcher)
    }


def test_the_warm_up_loads_every_kernel_a_real_ensemble_needs() -> None:
    """After the warm-up (run while a prediction job works), loading and steering a real
    ensemble compiles nothing more: the ~0.7 s of numba loading that froze the window when
    the result arrived is done by then."""
    from napari_lightning_pose.ensemble.members import EnsembleMembers
    from napari_lightning_pose.ensemble.steer import SteerableSmoother
    from napari_lightning_pose.viewer.widgets.steer_jobs import warm_up_smoother

    thread = warm_up_smoother()
    assert warm_up_smoother() is thread  # once per process
    thread.join(timeout=120)
    assert not thread.is_alive()
    before = _signatures()
    assert sum(before.values()) >= 3  # loaded (helpers called only from kernels stay at 0)
    rng = np.random.default_rng(0)
    xy = 100 + rng.normal(0, 3, (3, 60, 4, 2)).cumsum(1)
    xy[1, 10, 2] = np.nan  # a member without a prediction
    members = EnsembleMembers(
        xy=xy,
        likelihood=rng.uniform(0.2, 1, xy.shape[:3]),
        keypoints=["nose", "ear", "paw", "tail"],
        index=pd.RangeIndex(60),
        sources=["a.csv", "b.csv", "c.csv"],
    )
    steer = SteerableSmoother(members, image_size=(400, 300))
    steer.smooth({"nose": 2.0, "ear": 1.0, "paw": 0.5, "tail": 4.0})
    correction = steer.correct(5, "paw", 120.0, 110.0)
    steer.smooth("auto", [correction])
    assert _signatures() == before
