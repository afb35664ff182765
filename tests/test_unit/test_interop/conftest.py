"""Small projects of other tools, built by the tests: DeepLabCut folders and SLEAP files.

The frames are the red/green blob frames of the top-level conftest (80 x 96 px), so the
keypoints are ``red`` and ``green`` and their true positions are known.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

KEYPOINTS = ["red", "green"]
H, W = 80, 96


def _dlc_table(video: str, frames: list[int], xy: np.ndarray, scorer: str) -> pd.DataFrame:
    """A DeepLabCut >= 2.2 labels table: three index levels, (scorer, bodyparts, coords)."""
    index = pd.MultiIndex.from_tuples([("labeled-data", video, f"img{f:04d}.png") for f in frames])
    columns = pd.MultiIndex.from_product(
        [[scorer], KEYPOINTS, ["x", "y"]], names=["scorer", "bodyparts", "coords"]
    )
    return pd.DataFrame(xy.reshape(len(frames), -1), index=index, columns=columns)


def make_dlc_project(root: Path, blob_tools, scorer: str = "Alice") -> SimpleNamespace:
    """A single-animal DeepLabCut project with three labeled videos.

    - ``mouseA``: ``CollectedData_Alice.csv`` in DeepLabCut >= 2.2 form (three index columns)
      and the same table as ``.h5``;
    - ``mouseB``: only a CSV, in the older one-index-column form;
    - ``mouseC``: only an ``.h5``.
    Images are named with 4 digits (``img0042.png``); one keypoint of mouseB is missing.
    ``video_sets`` points at a path that does not exist; the video sits in ``videos/``.
    """
    root.mkdir(parents=True)
    rng = np.random.default_rng(3)
    expected: dict[str, np.ndarray] = {}
    videos = {"mouseA": [3, 17, 42], "mouseB": [5, 8], "mouseC": [1, 2, 9, 11]}
    for v, (video, frames) in enumerate(videos.items()):
        folder = root / "labeled-data" / video
        folder.mkdir(parents=True)
        xy = blob_tools.positions(len(frames), H, W, seed=v)
        if video == "mouseB":
            xy[1, 0] = np.nan  # red not visible in the second frame
        for f, frame in zip(
            frames, blob_tools.frames(np.nan_to_num(xy, nan=-50), H, W), strict=True
        ):
            Image.fromarray(frame).save(folder / f"img{f:04d}.png")
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(
            folder / "img0000.png"  # an unlabeled neighbour frame
        )
        table = _dlc_table(video, frames, xy, scorer)
        for f, row in zip(frames, xy, strict=True):
            expected[f"labeled-data/{video}/img{f:04d}.png"] = row
        if video == "mouseA":
            table.to_csv(folder / f"CollectedData_{scorer}.csv")
            table.to_hdf(folder / f"CollectedData_{scorer}.h5", key="df_with_missing")
        elif video == "mouseB":
            flat = table.set_axis(["/".join(i) for i in table.index], axis=0)
            flat.to_csv(folder / f"CollectedData_{scorer}.csv")
        else:
            table.to_hdf(folder / f"CollectedData_{scorer}.h5", key="df_with_missing")
    (root / "videos").mkdir()
    video = blob_tools.write_video(
        root / "videos" / "mouseA.mp4", blob_tools.frames(blob_tools.positions(50, H, W), H, W)
    )
    config = {
        "Task": "blobs",
        "scorer": scorer,
        "date": "Jan01",
        "multianimalproject": False,
        "identity": None,
        "project_path": "/somewhere/else/blobs-Alice-2024-01-01",
        "video_sets": {"/somewhere/else/videos/mouseA.mp4": {"crop": "0, 96, 0, 80"}},
        "bodyparts": KEYPOINTS,
        "skeleton": [["red", "green"]],
        "numframes2pick": 20,
        "pcutoff": 0.6,
        "TrainingFraction": [0.95],
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return SimpleNamespace(config=path, root=root, expected=expected, video=video)


@pytest.fixture
def dlc_project(tmp_path: Path, blob_tools) -> SimpleNamespace:
    """A DeepLabCut project folder (see ``make_dlc_project``)."""
    return make_dlc_project(tmp_path / "blobs-Alice-2024-01-01", blob_tools)


def make_slp(
    path: Path, blob_tools, n_animals: int = 1, predictions: bool = False, embed: bool = True
) -> SimpleNamespace:
    """A tiny SLEAP file over a 12-frame blob video, written with sleap-io.

    Labeled frames 1, 4 and 7 (frame 4's ``green`` is NaN but marked visible, as SLEAP does
    sometimes; frame 7's ``red`` is invisible). With ``predictions`` every frame gets a
    predicted instance (scores 0.9) instead of user labels. ``n_animals`` instances per frame,
    on tracks ``mouse0``, ``mouse1`` ...
    """
    import sleap_io as sio

    xy = blob_tools.positions(12, H, W)
    video_path = blob_tools.write_video(path.with_suffix(".mp4"), blob_tools.frames(xy, H, W))
    # a copy: sio.Skeleton turns the names of the list it gets into Nodes, in place
    skeleton = sio.Skeleton(nodes=list(KEYPOINTS), edges=[("red", "green")])
    video = sio.Video.from_filename(str(video_path))
    tracks = [sio.Track(name=f"mouse{i}") for i in range(n_animals)]
    frames = range(12) if predictions else (1, 4, 7)
    lfs = []
    for f in frames:
        instances = []
        for a, track in enumerate(tracks):
            pts = xy[f] + 5 * a
            if predictions:
                inst = sio.PredictedInstance.from_numpy(
                    pts, skeleton=skeleton, point_scores=np.full(2, 0.9), score=0.9, track=track
                )
            else:
                inst = sio.Instance.from_numpy(pts, skeleton=skeleton, track=track)
                if f == 4:
                    inst.points["xy"][1] = np.nan
                    inst.points["visible"][1] = True
                if f == 7:
                    inst.points["visible"][0] = False
            instances.append(inst)
        lfs.append(sio.LabeledFrame(video=video, frame_idx=f, instances=instances))
    labels = sio.Labels(labeled_frames=lfs, videos=[video], skeletons=[skeleton], tracks=tracks)
    sio.save_slp(
        labels, str(path), embed="user" if embed and not predictions else False, verbose=False
    )
    return SimpleNamespace(path=path, xy=xy, video=video_path)


@pytest.fixture
def slp_tools(blob_tools):
    """``make(path, n_animals=1, predictions=False, embed=True)`` builds a tiny .slp."""
    return SimpleNamespace(make=lambda path, **kw: make_slp(path, blob_tools, **kw))
