"""Multi-camera EKS: the ensembles of several synchronised cameras smoothed jointly.

Each camera has its own ensemble (one prediction CSV per model and camera, the camera's name in
the file name). Without a calibration (:func:`smooth_cameras`), keypoint ``k`` seen by ``V``
cameras is one multi-view group: its ``2V`` coordinates are explained by a 3-D latent through a
PCA of the stacked views (the linear model of :mod:`.multiview`, as the reference package's
``multicam`` smoother does without a calibration). The result is one table per camera with the
columns ``smooth`` writes for a single video. With a calibration (:func:`smooth_cameras_3d`),
each keypoint is a 3-D point seen through every camera's projection (:mod:`.calibrated`), and a
3-D table comes too.

Checked before anything is smoothed (each a ``LabelsError`` naming the file and the fix): a
member whose file name names no camera or several, a camera with no members, cameras with
different numbers of members or frames, and cameras with different keypoints.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from napari_lightning_pose.ensemble.calibrated import smooth_calibrated
from napari_lightning_pose.ensemble.members import EnsembleMembers, load_members
from napari_lightning_pose.ensemble.smooth import (
    EKS_COORDS,
    EKS_SCORER,
    Smoothing,
    SmoothResult,
    smooth_ensemble,
)
from napari_lightning_pose.ensemble.stats import Center, ensemble_stats
from napari_lightning_pose.errors import LabelsError, LightningPoseInputError
from napari_lightning_pose.io.calibration import Camera
from napari_lightning_pose.io.pose_csv import HEADER_NAMES


def _whole_word(name: str, text: str) -> bool:
    """Whether ``name`` occurs in ``text`` not flanked by letters or digits."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", text) is not None


def assign_cameras(members: Sequence[str | Path], cameras: Sequence[str]) -> dict[str, list[Path]]:
    """Sort member CSVs by camera: a member belongs to the camera named in its file name.

    A camera matches when its name occurs in the file name; when several do (``cam1`` and
    ``cam10`` in ``cam10.csv``), only those occurring as a whole word (not flanked by letters
    or digits) count.

    Returns
    -------
    dict of camera name to list of Path
        In the order of ``cameras``; each camera's members in the order given.

    Raises
    ------
    LightningPoseInputError
        Fewer than two cameras, or a camera listed twice.
    LabelsError
        A member whose name matches no camera or several; a camera with no members.
    """
    cameras = list(cameras)
    if len(cameras) < 2:
        raise LightningPoseInputError(
            None,
            f"multi-camera smoothing needs at least two cameras, got {cameras}.",
            "Pass --cameras NAME NAME ... (one per camera), or drop --cameras for one video.",
        )
    if len(set(cameras)) != len(cameras) or not all(cameras):
        raise LightningPoseInputError(
            None, f"camera names must be distinct and non-empty, got {cameras}."
        )
    out: dict[str, list[Path]] = {cam: [] for cam in cameras}
    for member in members:
        path = Path(member)
        found = [cam for cam in cameras if cam in path.name]
        if len(found) > 1:
            found = [cam for cam in found if _whole_word(cam, path.name)]
        if len(found) != 1:
            what = "names no camera" if not found else f"names several cameras {found}"
            raise LabelsError(
                path,
                f"the file name {what} of {cameras}.",
                "Rename the file so that exactly one camera name appears in it "
                "(e.g. model0_top.csv), or fix --cameras.",
            )
        out[found[0]].append(path)
    empty = [cam for cam, paths in out.items() if not paths]
    if empty:
        raise LabelsError(
            None,
            f"camera(s) {empty} have no member CSV (no file name contains their name).",
            "Pass each camera's prediction CSVs, or fix --cameras.",
        )
    return out


@dataclass(frozen=True)
class CameraEnsembles:
    """The members of every camera, checked to describe one synchronised session.

    Attributes
    ----------
    cameras : list of str
    ensembles : list of EnsembleMembers
        One per camera, keypoints in the first camera's order.
    """

    cameras: list[str]
    ensembles: list[EnsembleMembers]

    @property
    def keypoints(self) -> list[str]:
        """Keypoint names shared by all cameras."""
        return list(self.ensembles[0].keypoints)

    def combined(self) -> EnsembleMembers:
        """One ensemble with every camera's keypoints side by side, named ``camera/keypoint``."""
        first = self.ensembles[0]
        return EnsembleMembers(
            xy=np.concatenate([e.xy for e in self.ensembles], axis=2),
            likelihood=np.concatenate([e.likelihood for e in self.ensembles], axis=2),
            keypoints=[f"{cam}/{kp}" for cam in self.cameras for kp in self.keypoints],
            index=first.index,
            sources=[s for e in self.ensembles for s in e.sources],
        )


def load_cameras(assignment: Mapping[str, Sequence[str | Path | pd.DataFrame]]) -> CameraEnsembles:
    """Read every camera's members and check that the cameras fit together.

    Parameters
    ----------
    assignment : mapping of camera name to member CSVs (or DataFrames)
        As :func:`assign_cameras` returns.

    Raises
    ------
    LabelsError
        Members of one camera that disagree (see :func:`.members.load_members`), cameras with
        different numbers of members or frames, or different keypoints.
    """
    cameras = list(assignment)
    ensembles = [load_members(list(assignment[cam])) for cam in cameras]
    ref, ref_cam = ensembles[0], cameras[0]
    ordered = [ref]
    for cam, ens in zip(cameras[1:], ensembles[1:], strict=True):
        where = ens.sources[0]
        if ens.n_members != ref.n_members:
            raise LabelsError(
                None,
                f"camera {cam!r} has {ens.n_members} members but {ref_cam!r} has {ref.n_members}.",
                "Pass one CSV per model for every camera (the same models predict each view).",
            )
        if ens.n_frames != ref.n_frames:
            raise LabelsError(
                where,
                f"camera {cam!r} has {ens.n_frames} frames but camera {ref_cam!r} "
                f"({ref.sources[0]}) has {ref.n_frames}.",
                "The cameras' videos must be synchronised and of equal length; trim them to the "
                "same frames and predict again.",
            )
        if set(ens.keypoints) != set(ref.keypoints):
            missing = [k for k in ref.keypoints if k not in ens.keypoints]
            extra = [k for k in ens.keypoints if k not in ref.keypoints]
            raise LabelsError(
                where,
                f"camera {cam!r} has other keypoints than camera {ref_cam!r}: missing "
                f"{missing}, extra {extra}.",
                "Every camera must be predicted with the same keypoint names.",
            )
        order = [ens.keypoints.index(k) for k in ref.keypoints]
        ordered.append(
            EnsembleMembers(
                xy=ens.xy[:, :, order],
                likelihood=ens.likelihood[:, :, order],
                keypoints=list(ref.keypoints),
                index=ens.index,
                sources=ens.sources,
            )
        )
    return CameraEnsembles(cameras, ordered)


@dataclass(frozen=True)
class MultiCamResult:
    """Per-camera smoothed tables and how they were obtained.

    Attributes
    ----------
    frames : dict of camera name to pandas.DataFrame
        Each camera's table, with the columns of :data:`.smooth.EKS_COORDS`.
    smoothing : dict of keypoint name to float
        Smoothing parameter per keypoint (shared by its views).
    joint : SmoothResult or None
        The joint result of the linear model, keypoints named ``camera/keypoint``.
    frame_3d : pandas.DataFrame or None
        With a calibration: per keypoint ``x, y, z`` and their posterior variances.
    """

    frames: dict[str, pd.DataFrame]
    smoothing: dict[str, float]
    joint: SmoothResult | None
    frame_3d: pd.DataFrame | None = None


def smooth_cameras(
    cams: CameraEnsembles,
    smoothing: Smoothing = "auto",
    center: Center = "median",
    confidence_weighted: bool = True,
) -> MultiCamResult:
    """Smooth all cameras jointly, keypoint by keypoint, through a 3-D latent (linear model).

    Parameters
    ----------
    cams : CameraEnsembles
    smoothing : "auto", float or mapping of keypoint name to float
        As in :func:`.smooth.smooth_ensemble`; one value per keypoint, shared by its views.
    center, confidence_weighted
        As in :func:`.smooth.smooth_ensemble`.
    """
    names = cams.keypoints
    if isinstance(smoothing, Mapping):
        smoothing = {f"{cam}/{k}": float(smoothing[k]) for cam in cams.cameras for k in names}
    n_kp = len(names)
    views = [[v * n_kp + k for k in range(n_kp)] for v in range(len(cams.cameras))]
    joint = smooth_ensemble(cams.combined(), smoothing, views, center, confidence_weighted)
    frames = {}
    for v, cam in enumerate(cams.cameras):
        width = n_kp * len(EKS_COORDS)
        part = joint.frame.iloc[:, v * width : (v + 1) * width].copy()
        part.columns = pd.MultiIndex.from_product(
            [[EKS_SCORER], names, EKS_COORDS], names=HEADER_NAMES
        )
        part.index = cams.ensembles[v].index
        frames[cam] = part
    first = cams.cameras[0]
    used = {k: joint.smoothing[f"{first}/{k}"] for k in names}
    return MultiCamResult(frames=frames, smoothing=used, joint=joint)


def _eks_table(
    index: pd.Index,
    names: Sequence[str],
    coords: Sequence[str],
    columns: Sequence[np.ndarray],
) -> pd.DataFrame:
    """A pose table from per-coordinate arrays (T, K), in ``coords`` order per keypoint."""
    values = np.stack(columns, axis=-1)  # (T, K, C)
    header = pd.MultiIndex.from_product(
        [[EKS_SCORER], list(names), list(coords)], names=HEADER_NAMES
    )
    return pd.DataFrame(values.reshape(len(index), -1), index=index, columns=header)


#: Columns per keypoint of the 3-D table (the reference package's).
COORDS_3D = ("x", "y", "z", "x_posterior_var", "y_posterior_var", "z_posterior_var")


def smooth_cameras_3d(
    cams: CameraEnsembles,
    calibration: Sequence[Camera],
    smoothing: str | float = "auto",
    center: Center = "median",
    confidence_weighted: bool = True,
) -> MultiCamResult:
    """Smooth all cameras jointly through each keypoint's 3-D position (calibrated).

    Parameters
    ----------
    cams : CameraEnsembles
    calibration : sequence of Camera
        One per camera of ``cams``, in the same order (:func:`..io.calibration.load_calibration`
        with ``names=cams.cameras``).
    smoothing, center, confidence_weighted
        As in :func:`smooth_cameras` (a single number or ``"auto"``).

    Returns
    -------
    MultiCamResult
        With ``frame_3d``: ``x, y, z`` and their posterior variances per keypoint, and per
        camera the projections of the smoothed 3-D points.

    Raises
    ------
    LabelsError
        A keypoint that no two cameras ever predict in the same frame.
    """
    names = cams.keypoints
    stats = [
        ensemble_stats(e.xy, e.likelihood, center, confidence_weighted) for e in cams.ensembles
    ]
    try:
        fit = smooth_calibrated(
            calibration,
            np.stack([s.center for s in stats]),
            np.stack([s.variance for s in stats]),
            smoothing,
            members=np.stack([e.xy for e in cams.ensembles]),
        )
    except ValueError as err:
        raise LabelsError(
            cams.ensembles[0].sources[0],
            f"cannot triangulate: {err} (keypoints are numbered as in {names}).",
            "Check that the cameras' CSVs are predictions of the same session.",
        ) from None
    frames = {}
    for v, cam in enumerate(cams.cameras):
        st = stats[v]
        columns = [fit.xy[v, ..., 0], fit.xy[v, ..., 1], st.likelihood]
        columns += [st.center[..., 0], st.center[..., 1], st.variance[..., 0], st.variance[..., 1]]
        columns += [fit.xy_var[v, ..., 0], fit.xy_var[v, ..., 1]]
        frames[cam] = _eks_table(cams.ensembles[v].index, names, EKS_COORDS, columns)
    points = [fit.points[..., c] for c in range(3)] + [fit.points_var[..., c] for c in range(3)]
    frame_3d = _eks_table(cams.ensembles[0].index, names, COORDS_3D, points)
    used = dict(zip(names, fit.smoothing.tolist(), strict=True))
    return MultiCamResult(frames=frames, smoothing=used, joint=None, frame_3d=frame_3d)
