"""Background prefetch: stepping either way finds frames ready, exactly, and the thread ends."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import numpy as np
import pytest

from napari_lightning_pose.io.video import VideoReader


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("prefetch ")]


def test_stepping_backwards_is_served_from_the_background(long_gop_mp4: Path, video_tools) -> None:
    """Without prefetch, stepping back past the look-behind frames seeks on the reading thread
    and decodes from the keyframe; with it, every step back and forth is a cache hit."""
    with VideoReader(long_gop_mp4, cache_size=32, read_ahead=4, prefetch=True) as reader:
        assert reader.prefetcher is not None
        assert (reader.prefetcher.behind, reader.prefetcher.ahead) == (16, 8)
        reader[140]  # one seek (keyframe 100) on the reading thread
        seeks, decoded = reader.stats.seeks, reader.stats.frames_decoded
        for i in range(139, 95, -1):  # across the keyframe at 100, back into the previous GOP
            assert reader.prefetcher.wait_idle(30)
            assert video_tools.index_of(reader[i]) == i
        for i in range(96, 112):
            assert reader.prefetcher.wait_idle(30)
            assert video_tools.index_of(reader[i]) == i
        assert reader.stats.seeks == seeks  # the reading thread never sought again...
        assert reader.stats.frames_decoded == decoded  # ...nor decoded anything
        assert reader.prefetcher.frames_decoded > 0


def test_without_prefetch_the_same_walk_decodes_on_the_reading_thread(long_gop_mp4: Path) -> None:
    """The counterpart of the test above: the walk does cost seeks without a prefetcher."""
    with VideoReader(long_gop_mp4, cache_size=32, read_ahead=4) as reader:
        reader[140]
        seeks = reader.stats.seeks
        for i in range(139, 95, -1):
            reader[i]
        assert reader.stats.seeks > seeks


def test_frames_stay_exact_while_the_prefetcher_races_the_reader(
    long_gop_mp4: Path, video_tools
) -> None:
    reference = video_tools.decode(long_gop_mp4)
    rng = np.random.default_rng(3)
    walk = np.clip(np.cumsum(rng.integers(-9, 10, size=400)) + 75, 0, 149)
    jumps = rng.integers(0, 150, size=20)
    with VideoReader(long_gop_mp4, cache_size=16, read_ahead=2, prefetch=True) as reader:
        for i in [*walk, *jumps]:
            np.testing.assert_array_equal(reader[int(i)], reference[i])


def test_the_cache_keeps_the_frames_around_the_cursor(long_gop_mp4: Path) -> None:
    with VideoReader(long_gop_mp4, cache_size=32, read_ahead=4, prefetch=True) as reader:
        for i in (60, 20, 130, 129, 128):
            reader[i]
            assert reader.prefetcher.wait_idle(30)
            # a side is refilled once less than half of it is left: at least half is there
            assert set(range(max(i - 8, 0), min(i + 5, 150))) <= set(reader._cache)
            assert len(reader._cache) <= 32


def test_prefetch_windows_must_fit_the_cache(long_gop_mp4: Path) -> None:
    from napari_lightning_pose.io.prefetch import Prefetcher

    with VideoReader(long_gop_mp4, cache_size=8, read_ahead=2) as reader:
        with pytest.raises(ValueError, match="cache_size"):
            Prefetcher(reader, behind=6, ahead=4)


def test_the_thread_ends_on_close_and_when_the_reader_is_dropped(long_gop_mp4: Path) -> None:
    before = set(_prefetch_threads())
    reader = VideoReader(long_gop_mp4, prefetch=True)
    reader[30]
    thread = reader.prefetcher._thread
    assert thread.is_alive()
    reader.close()
    assert not thread.is_alive()

    reader = VideoReader(long_gop_mp4, prefetch=True)
    reader[90]
    thread = reader.prefetcher._thread
    del reader
    gc.collect()
    thread.join(5)
    assert not thread.is_alive()
    assert set(_prefetch_threads()) <= before


def test_a_forked_child_reads_without_the_parents_thread(long_gop_mp4: Path, video_tools) -> None:
    import multiprocessing

    with VideoReader(long_gop_mp4, prefetch=True) as reader:
        reader[40]
        ctx = multiprocessing.get_context("fork")
        results = ctx.Queue()

        def child() -> None:
            frames = [video_tools.index_of(reader[i]) for i in (120, 5)]
            results.put((reader.prefetcher is None, frames))

        proc = ctx.Process(target=child)
        proc.start()
        got = results.get(timeout=60)
        proc.join(timeout=60)
        assert got == (True, [120, 5]) and proc.exitcode == 0
        assert video_tools.index_of(reader[41]) == 41
