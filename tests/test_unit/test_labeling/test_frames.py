"""Frame selection (k-means / uniform) and export of full-resolution PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_lightning_pose.io import labels as L
from napari_lightning_pose.io.image_paths import parse_image_path
from napari_lightning_pose.io.video import VideoReader
from napari_lightning_pose.labeling import frames as F
from napari_lightning_pose.labeling.appearance import thumbnail
from napari_lightning_pose.labeling.project import Project
from napari_lightning_pose.labeling.project_setup import init_project

SCENE_LENGTH = 25
N_SCENES = 4


def scene_frame(scene: int, t: int, rng: np.random.Generator) -> np.ndarray:
    """A 64 x 80 RGB frame of one of four scenes that look nothing alike, with a little noise."""
    yy, xx = np.mgrid[0:64, 0:80]
    patterns = [
        np.full((64, 80), 40.0),  # dark
        np.full((64, 80), 215.0),  # bright
        np.where((xx // 8) % 2 == 0, 30.0, 220.0),  # vertical stripes
        np.where(yy < 32, 220.0, 30.0),  # bright top half
    ]
    grey = patterns[scene] + rng.normal(0, 6, (64, 80)) + 3 * np.sin(t)
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


@pytest.fixture(scope="module")
def scenes_video(tmp_path_factory: pytest.TempPathFactory, blob_tools) -> Path:
    """100 frames: scenes 0, 1, 2, 3 for 25 frames each, in that order (H.264)."""
    rng = np.random.default_rng(0)
    frames = [scene_frame(s, t, rng) for s in range(N_SCENES) for t in range(SCENE_LENGTH)]
    path = tmp_path_factory.mktemp("video") / "scenes.mp4"
    return blob_tools.write_video(path, np.stack(frames))


def test_kmeans_picks_one_frame_of_each_scene(scenes_video: Path) -> None:
    picked = F.select_frames(scenes_video, N_SCENES, method="kmeans", seed=0)
    assert len(picked) == N_SCENES
    assert sorted(picked // SCENE_LENGTH) == list(range(N_SCENES))


def test_kmeans_is_deterministic_under_a_seed(scenes_video: Path) -> None:
    a = F.select_frames(scenes_video, 8, seed=3)
    b = F.select_frames(scenes_video, 8, seed=3)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == 8 and np.all(np.diff(a) > 0)


def test_kmeans_subsamples_long_videos_and_respects_exclude(scenes_video: Path) -> None:
    with VideoReader(scenes_video) as reader:
        picked = F.select_frames(reader, 4, max_candidates=20, exclude=range(0, 100, 10))
    # candidates are every 5th frame (100 / 20), minus the excluded multiples of 10
    assert np.all(picked % 5 == 0) and np.all(picked % 10 != 0)
    assert sorted(picked // SCENE_LENGTH) == list(range(N_SCENES))


def test_uniform_spacing_and_exclude(scenes_video: Path) -> None:
    np.testing.assert_array_equal(
        F.select_frames(scenes_video, 5, method="uniform"), [0, 25, 50, 74, 99]
    )
    picked = F.select_frames(scenes_video, 3, method="uniform", exclude=[0, 99])
    np.testing.assert_array_equal(picked, [1, 49, 98])  # evenly spaced over 1..98


def test_asking_for_more_frames_than_available_returns_all(scenes_video: Path) -> None:
    picked = F.select_frames(scenes_video, 500, exclude=range(10, 100))
    np.testing.assert_array_equal(picked, np.arange(10))


def test_bad_arguments(scenes_video: Path) -> None:
    with pytest.raises(ValueError, match="method"):
        F.select_frames(scenes_video, 3, method="random")
    with pytest.raises(ValueError, match="n must be"):
        F.select_frames(scenes_video, 0)


def test_selection_yields_progress_then_returns(scenes_video: Path) -> None:
    gen = F.iter_select_frames(scenes_video, 4)
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        result = stop.value
    assert len(result) == 4
    stages = [e.stage for e in events]
    assert stages[0] == "read" and stages[-1] == "cluster"
    assert events[stages.index("cluster") - 1].progress() == (100, 100)


def test_thumbnail_averages_blocks() -> None:
    frame = np.zeros((8, 12, 3), dtype=np.uint8)
    frame[:4, :6] = 90
    thumb = thumbnail(frame, (2, 2))
    np.testing.assert_array_equal(thumb, [[90, 0], [0, 0]])
    assert thumbnail(frame[..., 0], (100, 100)).shape == (8, 12)


def test_exported_pngs_equal_the_video_frames(scenes_video: Path, tmp_path: Path) -> None:
    paths = F.export_frames(scenes_video, [30, 3, 77], tmp_path, context=1)
    assert [p.name for p in paths] == ["img00003.png", "img00030.png", "img00077.png"]
    assert all(p.parent == tmp_path / "labeled-data" / "scenes" for p in paths)
    written = sorted(p.name for p in (tmp_path / "labeled-data" / "scenes").iterdir())
    assert written == [f"img{i:05d}.png" for i in (2, 3, 4, 29, 30, 31, 76, 77, 78)]
    with VideoReader(scenes_video) as reader:
        for name in written:
            index = parse_image_path(f"labeled-data/scenes/{name}")[1]
            png = np.asarray(Image.open(tmp_path / "labeled-data" / "scenes" / name))
            assert png.shape == (64, 80, 3)
            np.testing.assert_array_equal(png, reader[index])


def test_pick_frames_adds_new_rows_and_never_repeats(scenes_video: Path, tmp_path: Path) -> None:
    init_project(tmp_path / "p", ["a", "b"], videos=[scenes_video])
    project = Project.open(tmp_path / "p")
    video = project.video_paths()[0]
    first = F.pick_frames(project, video, 4, context=0)
    labels = project.read_labels()
    assert list(labels.index) == first
    assert labels.isna().all().all()
    assert all((project.data_dir / im).is_file() for im in first)
    # label one frame, then ask for more: old rows and labels stay, no frame comes twice
    labels = L.set_frame_labels(labels, first[0], {"a": (3.0, 4.0)})
    project.write_labels(labels)
    second = F.pick_frames(project, video, 4, context=0)
    assert not set(first) & set(second)
    after = project.read_labels()
    assert list(after.index) == first + second
    np.testing.assert_array_equal(L.frame_labels(after, first[0])[0], [3.0, 4.0])


def test_pick_frames_holds_the_labels_lock_while_it_writes(scenes_video, tmp_path) -> None:
    import concurrent.futures

    from napari_lightning_pose.io.lock import lock_owner

    init_project(tmp_path / "p", ["a", "b"], videos=[scenes_video])
    project = Project.open(tmp_path / "p")
    job = F.iter_pick_frames(project, project.video_paths()[0], 3, "uniform", context=1)
    with concurrent.futures.ThreadPoolExecutor(1) as other:  # as a labeling dock sees it

        def seen() -> str | None:
            return other.submit(lock_owner, project.csv_path).result()

        owners = {event.stage: seen() for event in job}
        assert set(owners) == {"export"} and owners["export"].startswith("select-frames")
        assert seen() is None  # a labeling dock's autosave waited meanwhile, now it may save
    assert len(project.read_labels()) == 3
