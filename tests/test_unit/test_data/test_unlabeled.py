"""Unlabeled clips: frames as the labeled ones are prepared, choice by (seed, step), bad videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from napari_lightning_pose.data.transforms import to_model_input
from napari_lightning_pose.data.unlabeled import (
    WORKER_START,
    StepClipSampler,
    UnlabeledClips,
    clip_keys,
    project_videos,
)
from napari_lightning_pose.errors import VideoError
from napari_lightning_pose.io.video import VideoReader


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory, blob_tools) -> Path:
    path = tmp_path_factory.mktemp("clips") / "v.mp4"
    return blob_tools.write_video(
        path, blob_tools.frames(blob_tools.positions(20, 40, 48), 40, 48)
    )


def test_clip_frames_are_the_videos_frames_prepared_like_labeled_ones(video: Path) -> None:
    clips = UnlabeledClips([video], 6, (32, 32))
    item = clips[(0, 7, 123)]
    with VideoReader(video) as reader:
        expected = to_model_input(reader[7:13], (32, 32))
    torch.testing.assert_close(item["images"], expected)
    np.testing.assert_allclose(item["scale"].numpy(), [32 / 48, 32 / 40])
    assert clips.starts == [15]


def test_clips_from_the_frame_cache_equal_freshly_decoded_ones_and_decode_nothing(
    tmp_path: Path, blob_tools, monkeypatch: pytest.MonkeyPatch
) -> None:
    # keyframes every ~10 frames: a clip decodes from the keyframe before it, and the frames
    # passed on the way serve later clips of that stretch without decoding again
    frames = blob_tools.frames(blob_tools.positions(40, 40, 48, seed=3), 40, 48)
    path = blob_tools.write_video(tmp_path / "gop.mp4", frames)
    with VideoReader(path) as reader:
        seen: set[int] = set()
        expected_decodes = 0
        for first in (25, 21, 22, 34, 5, 23):
            if not set(range(first, first + 4)) <= seen:
                expected_decodes += 1
                seen |= set(range(reader.keyframe_before(first), first + 4))
    assert expected_decodes < 6  # the clips share stretches of video
    cached = UnlabeledClips([path], 4, (32, 32))
    uncached = UnlabeledClips([path], 4, (32, 32), cache_bytes=0)
    decoded: list[slice] = []
    real_getitem = VideoReader.__getitem__

    def counting(self, key):
        if isinstance(key, slice):  # a decode of frames (ints: the reader's own lookups)
            decoded.append(key)
        return real_getitem(self, key)

    monkeypatch.setattr(VideoReader, "__getitem__", counting)
    for first in (25, 21, 22, 34, 5, 23):
        torch.testing.assert_close(
            cached[(0, first, 0)]["images"], uncached[(0, first, 0)]["images"], rtol=0, atol=0
        )
    # the uncached dataset decoded each of the 6 clips; the cached one only what was new
    assert len(decoded) == 6 + expected_decodes


def test_one_augmentation_draw_for_the_whole_clip(tmp_path: Path, blob_tools) -> None:
    still = blob_tools.frames(np.repeat(blob_tools.positions(1, 40, 48), 8, axis=0), 40, 48)
    path = blob_tools.write_video(tmp_path / "still.mp4", still)
    clips = UnlabeledClips([path], 8, (32, 32), imgaug="dlc")
    plain = UnlabeledClips([path], 8, (32, 32))[(0, 0, 5)]["images"]
    changed = [clips[(0, 0, s)]["images"] for s in range(6)]
    for images in changed:  # every frame of a clip got the same draw...
        # (to within one grey level: H.264 leaves the still frames a little different)
        torch.testing.assert_close(images, images[:1].expand_as(images), atol=0.02, rtol=0)
    # ...and draws differ between clips, and do change the frames
    assert any((c - plain).abs().max() > 1 for c in changed)
    assert len({round(float(c.mean()), 4) for c in changed}) > 1


def test_clip_choice_depends_only_on_seed_and_step() -> None:
    starts = [100, 5, 40]
    one = [clip_keys(3, s, 4, 0, 1, starts) for s in range(10)]
    assert one == [clip_keys(3, s, 4, 0, 1, starts) for s in range(10)]
    ranks = [[clip_keys(3, s, 4, r, 2, starts) for s in range(10)] for r in range(2)]
    for s in range(10):  # two DDP ranks share out exactly the single process's clips
        assert sorted(ranks[0][s] + ranks[1][s]) == sorted(one[s])
    assert list(StepClipSampler(3, 4, 0, 1, starts, 6, 10)) == one[6:]  # resume at step 6
    assert one != [clip_keys(4, s, 4, 0, 1, starts) for s in range(10)]
    for keys in one:
        assert all(0 <= first < starts[v] for v, first, _ in keys)


@pytest.mark.slow
def test_workers_open_their_own_decoders_and_give_the_same_clips(video: Path) -> None:
    clips = UnlabeledClips([video, video], 5, (32, 32))
    sampler = StepClipSampler(0, 2, 0, 1, clips.starts, 0, 4)
    main = [b["images"] for b in DataLoader(clips, batch_sampler=sampler, num_workers=0)]
    workers = DataLoader(
        clips, batch_sampler=sampler, num_workers=2, multiprocessing_context=WORKER_START
    )
    for a, b in zip(main, (b["images"] for b in workers), strict=True):
        torch.testing.assert_close(a, b)
    assert main[0].shape == (2, 5, 3, 32, 32)


def test_bad_videos_are_named_with_the_fix(tmp_path: Path, video: Path, blob_tools) -> None:
    with pytest.raises(VideoError, match=r"20 frames, fewer than one unlabeled clip") as err:
        UnlabeledClips([video], 30, (32, 32))
    assert "sequence_length" in str(err.value) and str(video) in str(err.value)
    with pytest.raises(VideoError, match="is 48 x 40 pixels but the labeled frames are 64 x 64"):
        UnlabeledClips([video], 5, (32, 32), frame_sizes={(64, 64)})
    empty = tmp_path / "novideos"
    empty.mkdir()
    with pytest.raises(VideoError, match="holds no video"):
        project_videos(empty)
