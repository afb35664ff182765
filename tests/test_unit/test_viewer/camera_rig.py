"""A small synthetic multi-camera session with a known 3-D truth, for the viewer's tests.

Three calibrated cameras (``ensemble.synthetic_rig``) film three keypoints moving in 3-D;
each camera's video shows blobs where the keypoints project, and an ensemble of three members
(the projections plus noise; two planted errors, ``HOT_*`` and ``SHIFT_*``) is
smoothed by the real command, ``smooth --cameras ... --calibration``, into
``predictions/session0/eks/``. A multi-camera project config (views, skeleton) holds it all.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import yaml

CAMERAS = ("top", "side", "front")
KEYPOINTS = ["nose", "ear", "tail"]
SKELETON = [["nose", "ear"], ["ear", "tail"]]
SIZE = (160, 128)  # width, height of each camera's video


class Planted(NamedTuple):
    """Where an error is planted: a frame, a keypoint (index) and a camera; ``px`` the shift."""

    frame: int
    keypoint: int
    camera: str
    px: float = 0.0


#: Camera ``HOT.camera``'s members are thrown far off at that frame and keypoint, each its
#: own way: the ensemble disagrees.
HOT = Planted(17, 1, "side")
#: All of ``SHIFT.camera``'s members are off by the same ``SHIFT.px`` (x) at that frame and
#: keypoint: that camera's ensemble agrees with itself but not with the other cameras.
SHIFT = Planted(5, 2, "front", 12.0)


def _blob_video(path: Path, xy: np.ndarray) -> None:
    """A video of white-ish blobs at ``xy`` (T, K, 2) on a dark background (PyAV, H.264)."""
    import av

    width, height = SIZE
    yy, xx = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
        stream.options = {"crf": "12", "g": "10"}
        for frame_xy in xy:
            img = np.full((height, width), 25.0)
            for x, y in frame_xy:
                img += 200 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 4.0**2))
            rgb = np.repeat(np.clip(img, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_rig_session(root: Path, n_frames: int = 30, calibrated: bool = True) -> dict:
    """Write the session under ``root``; returns its paths and the truth.

    Keys: ``config``, ``out_dir`` (the ``smooth --cameras`` folder), ``videos`` (camera ->
    path), ``members`` (camera -> member CSVs), ``calibration``, ``truth`` (T, K, 3) and
    ``pixels`` (camera -> (T, K, 2) true projections).
    """
    from napari_lightning_pose.cli.main import main
    from napari_lightning_pose.ensemble.projection import project
    from napari_lightning_pose.ensemble.synthetic_rig import look_at, random_walk_3d
    from napari_lightning_pose.io.calibration import save_calibration
    from napari_lightning_pose.io.pose_csv import make_pose_frame, write_pose_csv

    root.mkdir(parents=True, exist_ok=True)
    angles = 2 * np.pi * np.arange(len(CAMERAS)) / len(CAMERAS) + 0.3
    rig = [
        look_at([600 * np.cos(a), 600 * np.sin(a), 200.0 * (1 + 0.2 * i)], name, 900.0, SIZE)
        for i, (a, name) in enumerate(zip(angles, CAMERAS, strict=True))
    ]
    calibration = save_calibration(rig, root / "calibration.toml")
    truth = random_walk_3d(n_frames, len(KEYPOINTS), step_sd=0.8, spread=12.0, seed=3)
    (root / "videos").mkdir(exist_ok=True)
    pred = root / "predictions" / "session0"
    pred.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    videos, members, pixels = {}, {}, {}
    for cam in rig:
        xy = project(cam, truth)
        pixels[cam.name] = xy
        videos[cam.name] = root / "videos" / f"session0_{cam.name}.mp4"
        _blob_video(videos[cam.name], xy)
        members[cam.name] = []
        for m in range(3):
            noisy = xy + rng.normal(0, 0.4, xy.shape)
            if cam.name == HOT.camera:
                noisy[HOT.frame, HOT.keypoint] += rng.normal(0, 15.0, 2)
            if cam.name == SHIFT.camera:
                noisy[SHIFT.frame, SHIFT.keypoint, 0] += SHIFT.px
            values = np.concatenate([noisy, np.full((*xy.shape[:2], 1), 0.9)], axis=-1)
            df = make_pose_frame(values, KEYPOINTS, ("x", "y", "likelihood"), scorer=f"m{m}")
            members[cam.name].append(write_pose_csv(df, pred / f"seed{m}_{cam.name}.csv"))
    out_dir = pred / "eks"
    args = ["smooth", *(str(p) for ps in members.values() for p in ps), "--cameras", *CAMERAS]
    args += ["--out-dir", str(out_dir), "--smoothing", "4"]
    if calibrated:
        args += ["--calibration", str(calibration)]
    assert main(args) == 0
    config = {
        "data": {
            "data_dir": ".",
            "video_dir": "videos",
            "view_names": list(CAMERAS),
            "csv_file": [f"CollectedData_{c}.csv" for c in CAMERAS],
            "keypoint_names": KEYPOINTS,
            "num_keypoints": len(KEYPOINTS),
            "skeleton": SKELETON,
            "camera_params_file": "calibration.toml",
            "image_orig_dims": {"height": SIZE[1], "width": SIZE[0]},
        }
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return {
        "config": root / "config.yaml",
        "out_dir": out_dir,
        "videos": videos,
        "members": members,
        "calibration": calibration,
        "truth": truth,
        "pixels": pixels,
    }
