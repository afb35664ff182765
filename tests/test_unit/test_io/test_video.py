"""VideoReader returns exactly the frame asked for, without needless seeks, and fails clearly."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from napari_lightning_pose.errors import VideoError
from napari_lightning_pose.io import VideoReader as ReExported
from napari_lightning_pose.io.video import VideoReader
from napari_lightning_pose.io.video_index import VideoWarning, probe_video


def _digest(frame: np.ndarray) -> bytes:
    import hashlib

    return hashlib.blake2b(np.ascontiguousarray(frame).tobytes(), digest_size=16).digest()


# --------------------------------------------------------------------------- exact frames
@pytest.mark.parametrize(
    ("suffix", "codec"),
    [(".mp4", "libx264"), (".mkv", "libx264"), (".mov", "libx264"), (".avi", "mpeg4")],
)
def test_random_access_equals_sequential_decode(
    tmp_path: Path, video_tools, suffix: str, codec: str
) -> None:
    path = video_tools.write(tmp_path / f"v{suffix}", n_frames=120, gop=40, codec=codec, bframes=2)
    reference = video_tools.decode(path)
    order = np.random.default_rng(0).permutation(len(reference))
    with VideoReader(path, cache_size=2, read_ahead=0) as reader:  # every read decodes
        assert len(reader) == len(reference) == 120
        for i in order:
            frame = reader[int(i)]
            assert video_tools.index_of(frame) == i
            np.testing.assert_array_equal(frame, reference[i])


def test_array_like_attributes_and_metadata(long_gop_mp4: Path) -> None:
    with VideoReader(long_gop_mp4) as reader:
        assert reader.shape == (150, 64, 128, 3)
        assert reader.dtype == np.uint8 and reader.ndim == 4 and len(reader) == 150
        assert reader.size == 150 * 64 * 128 * 3
        assert reader.n_frames == 150 and reader.fps == pytest.approx(30)
        frame = reader[0]
        assert isinstance(frame, np.ndarray) and frame.shape == (64, 128, 3)
        assert frame.dtype == np.uint8
        np.testing.assert_allclose(reader.timestamps[:3], [0, 1 / 30, 2 / 30])
        info = probe_video(long_gop_mp4)
        assert info == reader.info
        assert (info.n_frames, info.height, info.width, info.codec) == (150, 64, 128, "h264")
    assert ReExported is VideoReader


def test_slices_negative_indices_and_tuples(long_gop_mp4: Path, video_tools) -> None:
    def indices(frames: np.ndarray) -> list[int]:
        return [video_tools.index_of(f) for f in frames]

    with VideoReader(long_gop_mp4) as reader:
        assert indices(reader[10:20:3]) == [10, 13, 16, 19]
        assert indices(reader[-3:]) == [147, 148, 149]
        assert indices(reader[120:90:-10]) == [120, 110, 100]
        assert indices(reader[[70, 3, 70]]) == [70, 3, 70]
        mask = np.zeros(150, bool)
        mask[[4, 99]] = True
        assert indices(reader[mask]) == [4, 99]
        assert video_tools.index_of(reader[-1]) == 149
        assert video_tools.index_of(reader[np.int64(-150)]) == 0
        assert reader[5:5].shape == (0, 64, 128, 3)
        # the tuples napari and numpy users write
        np.testing.assert_array_equal(reader[5, :, :, 0], reader[5][..., 0])
        np.testing.assert_array_equal(reader[(5, slice(None), slice(None))], reader[5])
        assert reader[(slice(5, 6), slice(None), slice(None))].shape == (1, 64, 128, 3)
        np.testing.assert_array_equal(reader[7, ..., 1], reader[7][:, :, 1])
        assert reader[2:4, 10:20, :, 2].shape == (2, 10, 128)
        for bad in (150, -151):
            with pytest.raises(IndexError, match="out of range"):
                reader[bad]
        with pytest.raises(IndexError, match="too many indices"):
            reader[0, 0, 0, 0, 0]


def test_returned_frames_are_the_callers_own(long_gop_mp4: Path, video_tools) -> None:
    with VideoReader(long_gop_mp4) as reader:
        frame = reader[30]
        frame[:] = 0  # must not damage the cache
        assert video_tools.index_of(reader[30]) == 30


def test_reading_forwards_does_not_seek_again(long_gop_mp4: Path) -> None:
    with VideoReader(long_gop_mp4, read_ahead=2) as reader:
        reader[60]
        seeks = reader.stats.seeks
        for i in range(61, 100):  # past the read-ahead window, up to the next keyframe
            reader[i]
        assert reader.stats.seeks == seeks
        # stepping backwards a little is served from frames decoded on the way
        hits = reader.stats.cache_hits
        for i in range(98, 90, -1):
            reader[i]
        assert reader.stats.seeks == seeks
        assert reader.stats.cache_hits == hits + 8


def test_tiny_cache_stays_correct_under_scrubbing(long_gop_mp4: Path, video_tools) -> None:
    rng = np.random.default_rng(1)
    walk = np.clip(np.cumsum(rng.integers(-7, 9, size=300)) + 20, 0, 149)
    with VideoReader(long_gop_mp4, cache_size=4, read_ahead=1) as reader:
        for i in walk:
            assert video_tools.index_of(reader[int(i)]) == i


def test_concurrent_reads_from_threads(long_gop_mp4: Path, video_tools) -> None:
    reference = [_digest(f) for f in video_tools.decode(long_gop_mp4)]
    errors: list[str] = []
    with VideoReader(long_gop_mp4, cache_size=8, read_ahead=2) as reader:

        def scrub(seed: int) -> None:
            for i in np.random.default_rng(seed).integers(0, 150, size=40):
                if _digest(reader[int(i)]) != reference[i]:
                    errors.append(f"thread {seed}: wrong frame for {i}")

        threads = [threading.Thread(target=scrub, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_iter_frames_reads_ranges_in_one_pass(long_gop_mp4: Path, video_tools) -> None:
    reference = video_tools.decode(long_gop_mp4)
    with VideoReader(long_gop_mp4) as reader:
        seen = []
        for i, frame in reader.iter_frames():
            np.testing.assert_array_equal(frame, reference[i])
            seen.append(i)
            if i % 25 == 0:  # random access in between must not disturb the iteration
                assert video_tools.index_of(reader[149 - i]) == 149 - i
        assert seen == list(range(150))
        part = [(i, video_tools.index_of(f)) for i, f in reader.iter_frames(37, 120, 7)]
        assert part == [(i, i) for i in range(37, 120, 7)]
        sparse = list(reader.iter_frames(3, None, 60))  # jumps over whole keyframe intervals
        assert [i for i, _ in sparse] == [3, 63, 123]
        for i, frame in sparse:
            np.testing.assert_array_equal(frame, reference[i])
        assert [i for i, _ in reader.iter_frames(-3)] == [147, 148, 149]
        assert list(reader.iter_frames(100, 100)) == []
        assert [video_tools.index_of(f) for f in reader][:3] == [0, 1, 2]
        with pytest.raises(ValueError, match="step"):
            next(reader.iter_frames(0, 10, 0))


def test_variable_frame_rate_is_indexed_by_display_order(tmp_path: Path, video_tools) -> None:
    gaps = np.random.default_rng(2).integers(10, 80, size=60)
    pts = np.concatenate([[0], np.cumsum(gaps)[:-1]])
    path = video_tools.write(tmp_path / "vfr.mkv", n_frames=60, gop=20, pts=pts)
    reference = video_tools.decode(path)
    with VideoReader(path) as reader:
        assert len(reader) == 60
        for i in np.random.default_rng(3).permutation(60):
            np.testing.assert_array_equal(reader[int(i)], reference[i])
            assert video_tools.index_of(reader[int(i)]) == i
        np.testing.assert_allclose(reader.timestamps, pts / 1000, atol=1e-3)


def test_frames_hidden_by_an_edit_list_are_left_out(tmp_path: Path, video_tools) -> None:
    """Negative timestamps make the muxer hide the first frames, as ffmpeg does on reading."""
    pts = (np.arange(60) - 5) * 33
    path = video_tools.write(tmp_path / "trimmed.mp4", n_frames=60, gop=20, pts=pts)
    reference = video_tools.decode(path)
    assert len(reference) == 55 and video_tools.index_of(reference[0]) == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error", VideoWarning)  # hidden frames are not a damaged file
        reader = VideoReader(path, cache_size=2, read_ahead=0)
    with reader:
        assert len(reader) == 55
        for i in np.random.default_rng(6).permutation(55):
            np.testing.assert_array_equal(reader[int(i)], reference[i])
        assert [video_tools.index_of(f) for _, f in reader.iter_frames(0, 3)] == [5, 6, 7]


def test_stream_without_timestamps_is_counted_from_the_start(tmp_path: Path, video_tools) -> None:
    path = video_tools.write(tmp_path / "raw.h264", n_frames=60, gop=20, container_format="h264")
    with VideoReader(path) as reader:
        assert len(reader) == 60
        for i in (45, 3, 59, 0, 21):
            assert video_tools.index_of(reader[i]) == i
        assert [video_tools.index_of(f) for _, f in reader.iter_frames(50)] == list(range(50, 60))


def test_whole_array_only_when_small(long_gop_mp4: Path, video_tools) -> None:
    with VideoReader(long_gop_mp4) as reader:
        everything = np.asarray(reader)
        assert everything.shape == (150, 64, 128, 3)
        assert [video_tools.index_of(f) for f in everything[::50]] == [0, 50, 100]
        reader.max_array_bytes = 10**6
        with pytest.raises(ValueError, match="iter_frames"):
            np.asarray(reader)


def test_cache_settings_are_checked(long_gop_mp4: Path) -> None:
    assert VideoReader(long_gop_mp4, cache_size=8).read_ahead == 2
    for cache_size, read_ahead in ((1, 0), (8, 4), (16, -1)):
        with pytest.raises(ValueError, match="read_ahead"):
            VideoReader(long_gop_mp4, cache_size=cache_size, read_ahead=read_ahead)


def test_reader_survives_pickling_and_fork(long_gop_mp4: Path, video_tools) -> None:
    """DataLoader workers get a copy by pickling (spawn) or by fork; both must read alone."""
    import multiprocessing
    import pickle

    with VideoReader(long_gop_mp4, cache_size=8, read_ahead=2) as reader:
        copy = pickle.loads(pickle.dumps(reader))
        assert copy.shape == reader.shape and copy.read_ahead == 2
        assert video_tools.index_of(copy[77]) == 77
        copy.close()

        reader[40]  # the parent's decoder is mid-file when the child is forked
        ctx = multiprocessing.get_context("fork")
        results = ctx.Queue()

        def child() -> None:
            results.put([video_tools.index_of(reader[i]) for i in (120, 5, 41)])

        proc = ctx.Process(target=child)
        proc.start()
        got = results.get(timeout=60)
        proc.join(timeout=60)
        assert got == [120, 5, 41] and proc.exitcode == 0
        assert [video_tools.index_of(reader[i]) for i in (41, 42, 130)] == [41, 42, 130]


def test_closed_reader_refuses_to_read(long_gop_mp4: Path) -> None:
    with VideoReader(long_gop_mp4) as reader:
        reader[3]
    with pytest.raises(ValueError, match="closed"):
        reader[3]


# ------------------------------------------------------------------- the real example video
@pytest.mark.parametrize("source", ["bundled", "shared"])
def test_mirror_mouse_random_frames_equal_full_decode(request, source: str) -> None:
    """The real long-GOP file (5 keyframes in 994 frames, B-frames): frames are exact."""
    if source == "bundled":
        video = request.getfixturevalue("bundled_sample") / "videos" / "test_vid.mp4"
    else:
        video = request.getfixturevalue("mirror_mouse") / "videos" / "test_vid.mp4"
    import av

    with av.open(str(video)) as container:
        reference = [_digest(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    picks = np.random.default_rng(4).choice(len(reference), size=15, replace=False)
    picks = [*picks.tolist(), 993, 0, 1, 600, 599]  # both ends and a backwards step
    with VideoReader(video) as reader:
        assert reader.shape == (994, 406, 396, 3) and reader.fps == pytest.approx(250)
        for i in picks:
            assert _digest(reader[i]) == reference[i], f"frame {i}"


# ------------------------------------------------------------------------------ bad input
def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.mp4"
    for opener in (VideoReader, probe_video):
        with pytest.raises(VideoError, match="not found") as err:
            opener(path)
        assert str(path) in str(err.value)


def test_folder_named_like_a_video(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").mkdir()
    with pytest.raises(VideoError, match="folder"):
        VideoReader(tmp_path / "clip.mp4")


@pytest.mark.parametrize("content", [b"not a video at all\n" * 50, b""])
def test_non_video_file_named_mp4(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError, match="cannot be opened as a video") as err:
        VideoReader(path)
    assert str(path) in str(err.value) and "ffmpeg" in str(err.value)


def test_file_without_video_stream(tmp_path: Path) -> None:
    import av

    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        samples = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        samples.sample_rate = 8000
        for packet in [*stream.encode(samples), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(VideoError, match=r"no video stream \(streams: audio\)"):
        VideoReader(path)


def test_truncated_mp4_without_index(tmp_path: Path, long_gop_mp4: Path) -> None:
    """A recording cut short before its index was written cannot be read at all: say why."""
    data = long_gop_mp4.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="cut short") as err:
        VideoReader(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(("suffix", "faststart"), [(".mp4", True), (".mkv", False)])
def test_truncated_video_keeps_the_frames_before_the_cut(
    tmp_path: Path, video_tools, suffix: str, faststart: bool
) -> None:
    intact = video_tools.write(tmp_path / f"intact{suffix}", faststart=faststart)
    reference = video_tools.decode(intact)
    data = intact.read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: len(data) * 6 // 10])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader = VideoReader(path)
        probed = probe_video(path)
    with reader:
        n = len(reader)
        assert 60 <= n < 150 and probed.n_frames == n
        if suffix == ".mp4":  # its header still promises 150 frames
            assert [issubclass(w.category, VideoWarning) for w in caught] == [True, True]
            assert "150" in str(caught[0].message) and str(path) in str(caught[0].message)
        # every readable frame is the intact file's frame, in order
        found = []
        for i in np.random.default_rng(5).permutation(n):
            frame = reader[int(i)]
            k = video_tools.index_of(frame)
            np.testing.assert_array_equal(frame, reference[k])
            found.append((int(i), k))
        ks = [k for _, k in sorted(found)]
        assert ks == sorted(ks) and len(set(ks)) == n
        assert [video_tools.index_of(f) for _, f in reader.iter_frames()] == ks
        with pytest.raises(IndexError):
            reader[n]


def test_corrupt_frame_names_the_frame_and_others_stay_readable(
    tmp_path: Path, video_tools
) -> None:
    import av

    intact = video_tools.write(tmp_path / "intact.mp4")
    reference = video_tools.decode(intact)
    with av.open(str(intact)) as container:
        stream = container.streams.video[0]
        packets = sorted((p.pts, p.pos, p.size) for p in container.demux(stream) if p.size)
    _, pos, size = packets[60]  # display order: frame 60, a P-frame in the second GOP
    data = bytearray(intact.read_bytes())
    data[pos : pos + size] = b"\xff" * size
    path = tmp_path / "damaged.mp4"
    path.write_bytes(bytes(data))

    with VideoReader(path) as reader:
        with pytest.raises(VideoError, match="frame 60 cannot be decoded") as err:
            reader[60]
        assert str(path) in str(err.value) and "ffmpeg" in str(err.value)
        for i in [*range(0, 50, 7), *range(100, 150, 7)]:  # the other GOPs are intact
            np.testing.assert_array_equal(reader[i], reference[i])
        seen = []
        with pytest.raises(VideoError, match="frame 60"):
            for i, _ in reader.iter_frames():
                seen.append(i)
        assert seen == list(range(60))


# --------------------------------------------------------------------------- napari reader
def test_napari_reader_declines_other_files(tmp_path: Path, long_gop_mp4: Path) -> None:
    from napari_lightning_pose.viewer.reader import get_video_reader

    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert get_video_reader(str(notes)) is None
    assert get_video_reader(str(tmp_path / "missing.mp4")) is None
    assert get_video_reader([str(long_gop_mp4), str(notes)]) is None
    assert get_video_reader([]) is None


def test_napari_reader_gives_lazy_rgb_layers(tmp_path: Path, long_gop_mp4: Path) -> None:
    from napari_lightning_pose.viewer.reader import get_video_reader

    upper = tmp_path / "CLIP.MP4"
    upper.write_bytes(long_gop_mp4.read_bytes())
    read = get_video_reader([str(long_gop_mp4), str(upper)])
    assert read is not None
    layers = read([str(long_gop_mp4), str(upper)])
    assert [(kw["name"], kind) for _, kw, kind in layers] == [
        ("long_gop", "image"),
        ("CLIP", "image"),
    ]
    data, kwargs, _ = layers[0]
    assert isinstance(data, VideoReader) and data.shape == (150, 64, 128, 3)
    assert kwargs["rgb"] is True
    assert kwargs["metadata"] == {
        "fps": pytest.approx(30),
        "n_frames": 150,
        "video_path": str(long_gop_mp4.resolve()),
    }


def test_napari_image_layer_shows_the_frame_under_the_slider(
    long_gop_mp4: Path, video_tools, monkeypatch: pytest.MonkeyPatch
) -> None:
    """napari slices the lazy reader frame by frame and never decodes the whole video."""
    from napari.components import ViewerModel

    from napari_lightning_pose.viewer.reader import get_video_reader

    def refuse(*args, **kwargs):
        raise AssertionError("napari asked for the whole video")

    monkeypatch.setattr(VideoReader, "__array__", refuse)
    [(data, kwargs, _)] = get_video_reader(str(long_gop_mp4))(str(long_gop_mp4))
    viewer = ViewerModel()
    layer = viewer.add_image(data, **kwargs)
    assert viewer.dims.nsteps[0] == 150 and layer.rgb
    for frame in (0, 77, 149, 12):
        viewer.dims.set_current_step(0, frame)
        bits = [
            layer.get_value((frame, 8 + 16 * row, 8 + 16 * col))[0] > 128
            for row in range(2)
            for col in range(8)
        ]
        assert sum(int(b) << k for k, b in enumerate(bits)) == frame
    assert data.stats.seeks <= 4
