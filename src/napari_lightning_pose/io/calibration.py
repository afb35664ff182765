"""Camera calibrations in Anipose's ``calibration.toml`` format: read, check, write.

Anipose (and the reference EKS, through ``aniposelib``) stores one table per camera::

    [cam_0]
    name = "top"
    size = [1280, 1024]                 # width, height (px)
    matrix = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]
    distortions = [k1, k2, p1, p2, k3]  # OpenCV's order; 4 to 14 coefficients
    rotation = [rx, ry, rz]             # Rodrigues vector, world -> camera
    translation = [tx, ty, tz]          # world -> camera

plus an optional ``[metadata]`` table. A world point ``X`` is seen at ``R X + t`` in the
camera's frame and projected with OpenCV's pinhole model (:mod:`..ensemble.projection`).
Fisheye calibrations (``fisheye = true``) use another lens model and are refused.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_lightning_pose.errors import ConfigError
from napari_lightning_pose.io.atomic import atomic_write_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Distortion coefficients OpenCV's pinhole model takes at most (k1 k2 p1 p2 k3 k4 k5 k6 s1-s4).
MAX_DISTORTIONS = 12


@dataclass(frozen=True)
class Camera:
    """One calibrated camera.

    Attributes
    ----------
    name : str
    size : tuple of int
        Image width and height (px).
    matrix : ndarray, shape (3, 3)
        Intrinsics ``[[fx, skew, cx], [0, fy, cy], [0, 0, 1]]``.
    distortions : ndarray, shape (12,)
        OpenCV's ``k1 k2 p1 p2 k3 k4 k5 k6 s1 s2 s3 s4``, zero-padded.
    rotation : ndarray, shape (3,)
        Rodrigues vector of the world-to-camera rotation.
    translation : ndarray, shape (3,)
        World-to-camera translation.
    """

    name: str
    size: tuple[int, int]
    matrix: np.ndarray
    distortions: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray


def _array(table: dict, key: str, shape: tuple[int, ...], where: str, path: Path) -> np.ndarray:
    if key not in table:
        raise ConfigError(path, f"{where} has no {key!r}.", "Every camera needs " + key + ".")
    try:
        value = np.asarray(table[key], dtype=float)
    except (TypeError, ValueError):
        value = np.full(0, np.nan)
    if value.shape != shape or not np.isfinite(value).all():
        raise ConfigError(
            path,
            f"{where}: {key} must be {'x'.join(map(str, shape))} finite numbers, "
            f"got {table[key]!r}.",
        )
    return value


def _camera(table: dict, where: str, path: Path) -> Camera:
    if table.get("fisheye", False):
        raise ConfigError(
            path,
            f"{where} is a fisheye calibration; only the pinhole lens model is supported.",
            "Calibrate the cameras with Anipose's default (pinhole) model.",
        )
    name = table.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(path, f"{where} has no camera name.", 'Add name = "..." to it.')
    where = f"{where} ({name})"
    dist = np.ravel(np.asarray(table.get("distortions", []), dtype=float))
    if len(dist) > MAX_DISTORTIONS or not np.isfinite(dist).all():
        raise ConfigError(
            path, f"{where}: distortions must be up to {MAX_DISTORTIONS} finite numbers."
        )
    matrix = _array(table, "matrix", (3, 3), where, path)
    if not (matrix[0, 0] > 0 and matrix[1, 1] > 0):
        raise ConfigError(path, f"{where}: the focal lengths in matrix must be positive.")
    size = _array(table, "size", (2,), where, path)
    return Camera(
        name=name,
        size=(int(size[0]), int(size[1])),
        matrix=matrix,
        distortions=np.pad(dist, (0, MAX_DISTORTIONS - len(dist))),
        rotation=_array(table, "rotation", (3,), where, path),
        translation=_array(table, "translation", (3,), where, path),
    )


def load_calibration(path: str | Path, names: Sequence[str] | None = None) -> list[Camera]:
    """Read an Anipose ``calibration.toml``.

    Parameters
    ----------
    path : path
    names : sequence of str, optional
        The session's camera names; when given, the calibration must hold exactly these
        cameras, and they are returned in this order.

    Returns
    -------
    list of Camera
        In file order, or in the order of ``names``.

    Raises
    ------
    ConfigError
        Unreadable TOML, a malformed camera, fewer than two cameras, duplicate names, or
        camera names that do not match ``names``.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            path, "does not exist.", "Pass the session's calibration.toml."
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(path, f"is not a readable TOML file ({err}).") from None
    tables = {k: v for k, v in data.items() if k != "metadata" and isinstance(v, dict)}
    cameras = [_camera(table, f"[{key}]", path) for key, table in tables.items()]
    found = [c.name for c in cameras]
    if len(cameras) < 2:
        raise ConfigError(
            path,
            f"holds {len(cameras)} camera(s) {found}; 3-D smoothing needs at least two.",
            "Calibrate two or more cameras together (e.g. anipose calibrate).",
        )
    if len(set(found)) != len(found):
        raise ConfigError(path, f"names a camera twice: {found}.")
    if names is None:
        return cameras
    if sorted(found) != sorted(names):
        raise ConfigError(
            path,
            f"calibrates cameras {found}, but the session's cameras are {list(names)}.",
            "Use the calibration of this rig, or name the cameras as in the calibration.",
        )
    return [cameras[found.index(n)] for n in names]


def _toml_list(values: np.ndarray) -> str:
    if values.ndim > 1:
        return "[" + ", ".join(_toml_list(row) for row in values) + "]"
    return "[" + ", ".join(repr(float(v)) for v in values) + "]"


def calibration_text(cameras: Sequence[Camera]) -> str:
    """The cameras as Anipose ``calibration.toml`` text (``cam_0``, ``cam_1`` ... tables)."""
    parts = []
    for i, cam in enumerate(cameras):
        n_dist = int(np.flatnonzero(cam.distortions).max(initial=4)) + 1
        parts.append(
            f"[cam_{i}]\n"
            f"name = {json.dumps(cam.name)}\n"
            f"size = [{cam.size[0]}, {cam.size[1]}]\n"
            f"matrix = {_toml_list(cam.matrix)}\n"
            f"distortions = {_toml_list(cam.distortions[: max(n_dist, 5)])}\n"
            f"rotation = {_toml_list(cam.rotation)}\n"
            f"translation = {_toml_list(cam.translation)}\n"
        )
    parts.append("[metadata]\nadjusted = false\n")
    return "\n".join(parts)


def save_calibration(cameras: Sequence[Camera], path: str | Path) -> Path:
    """Write ``calibration.toml`` (atomically) for ``cameras``."""
    return atomic_write_text(path, calibration_text(cameras))
