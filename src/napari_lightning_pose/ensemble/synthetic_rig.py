"""Synthetic calibrated rigs and 3-D tracks with a known truth, for tests and benchmarks.

A rig is a ring of pinhole cameras around the origin, each looking at it, with a mild barrel
distortion; tracks are 3-D random walks of a few keypoints near the origin. Projecting the
tracks through the rig (:func:`.projection.project`) and adding noise per ensemble member
gives multi-camera predictions whose 3-D truth is known.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from napari_lightning_pose.ensemble.projection import rotation_vector
from napari_lightning_pose.io.calibration import MAX_DISTORTIONS, Camera

#: OpenCV distortions of the synthetic cameras: a mild barrel with a little tangential.
DISTORTIONS = (-0.12, 0.04, 0.001, -0.0005, 0.0)


def look_at(
    center: Sequence[float],
    name: str,
    focal: float = 1000.0,
    size: tuple[int, int] = (1280, 1024),
    distortions: Sequence[float] = DISTORTIONS,
) -> Camera:
    """A camera at ``center`` (world units) looking at the origin, world z up in the image."""
    center = np.asarray(center, dtype=float)
    forward = -center / np.linalg.norm(center)
    right = np.cross([0.0, 0.0, 1.0], forward)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rot = np.stack([right, down, forward])  # rows: the camera's axes in world coordinates
    dist = np.asarray(distortions, dtype=float)
    return Camera(
        name=name,
        size=size,
        matrix=np.array([[focal, 0.0, size[0] / 2], [0.0, focal, size[1] / 2], [0.0, 0.0, 1.0]]),
        distortions=np.pad(dist, (0, MAX_DISTORTIONS - len(dist))),
        rotation=rotation_vector(rot),
        translation=-rot @ center,
    )


def ring_rig(names: Sequence[str], distance: float = 600.0, height: float = 200.0) -> list[Camera]:
    """Cameras evenly spaced on a ring of radius ``distance``, ``height`` above the origin."""
    angles = 2 * np.pi * np.arange(len(names)) / len(names) + 0.3
    return [
        look_at([distance * np.cos(a), distance * np.sin(a), height * (1 + 0.2 * i)], n)
        for i, (a, n) in enumerate(zip(angles, names, strict=True))
    ]


def random_walk_3d(
    n_frames: int, n_keypoints: int, step_sd: float = 0.5, spread: float = 30.0, seed: int = 0
) -> np.ndarray:
    """Keypoint tracks (T, K, 3): random walks of ``step_sd`` per frame, kept near the origin.

    Each keypoint starts ``spread`` around the origin and is pulled back gently (an
    Ornstein-Uhlenbeck walk), so long tracks stay in every camera's view.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n_frames, n_keypoints, 3))
    pos = rng.normal(0.0, spread, (n_keypoints, 3))
    steps = rng.normal(0.0, step_sd, (n_frames, n_keypoints, 3))
    pull = 1e-3
    for t in range(n_frames):
        pos = pos * (1 - pull) + steps[t]
        out[t] = pos
    return out
