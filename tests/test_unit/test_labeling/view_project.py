"""A small three-view project with a calibration and known labels, for the labeling tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

VIEWS = ("top", "side", "front")
KEYPOINTS = ["nose", "ear", "tail"]


def make_view_project(root: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """``init --views`` plus 4 labeled frames of session0 per view (dark 160 x 128 PNGs), the
    rig's calibration in ``calibrations/session0.toml`` and labels at the true projections,
    except: frame 1 has no front labels, and front's nose is 10 px off on frame 2.

    Returns the config and each view's true pixels (4, K, 2).
    """
    from PIL import Image

    from napari_lightning_pose.cli.main import main
    from napari_lightning_pose.ensemble.projection import project
    from napari_lightning_pose.ensemble.synthetic_rig import look_at, random_walk_3d
    from napari_lightning_pose.io.calibration import save_calibration
    from napari_lightning_pose.io.labels import write_labels
    from napari_lightning_pose.io.pose_csv import make_pose_frame

    assert main(["init", str(root), "--views", *VIEWS, "--keypoints", *KEYPOINTS]) == 0
    rig = [
        look_at([600 * np.cos(a), 600 * np.sin(a), 200.0], v, 900.0, (160, 128))
        for a, v in zip([0.3, 2.4, 4.5], VIEWS, strict=True)
    ]
    (root / "calibrations").mkdir()
    save_calibration(rig, root / "calibrations" / "session0.toml")
    truth = random_walk_3d(4, len(KEYPOINTS), spread=12.0, seed=2)
    pixels = {cam.name: project(cam, truth) for cam in rig}
    for view in VIEWS:
        folder = root / "labeled-data" / f"session0_{view}"
        folder.mkdir(parents=True)
        names = []
        for i in range(4):
            Image.fromarray(np.full((128, 160, 3), 40, np.uint8)).save(folder / f"img{i}.png")
            names.append(f"labeled-data/session0_{view}/img{i}.png")
        xy = pixels[view].copy()
        if view == "front":
            xy[1] = np.nan  # frame 1: front not labeled yet
            xy[2, 0] += (10.0, 0.0)  # frame 2: front's nose 10 px off
        write_labels(make_pose_frame(xy, KEYPOINTS, index=names), labels_csv(root, view))
    return root / "config.yaml", pixels


def labels_csv(root: Path, view: str) -> Path:
    """The labels CSV of ``view`` (as ``init --views`` named it)."""
    import yaml

    cfg = yaml.safe_load((root / "config.yaml").read_text())
    return root / cfg["data"]["csv_file"][list(cfg["data"]["view_names"]).index(view)]
