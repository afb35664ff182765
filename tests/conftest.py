"""Shared fixtures: paths to the bundled sample data and to ../shared/data when present."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Without a GPU triton has no use, and importing it after a window test drew (Mesa's OpenGL
# loads its libLLVM with global symbols) segfaults the process: the window's jobs hide it
# (inference.jobs.preload_torch), and so does the suite, whose torch tests may follow a
# window test in any order (`pytest tests/test_unit/test_viewer tests/test_unit/test_training`).
if not Path("/dev/nvidia0").exists():
    sys.modules.setdefault("triton", None)  # `import triton` raises ImportError: torch skips it

# Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine spinning threads
# made small training steps ~10x slower. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_shared_data() -> Path | None:
    """The example data folder: $NLP_SHARED_DATA, else ../shared/data beside the repo."""
    candidates = [os.environ.get("NLP_SHARED_DATA"), REPO_ROOT.parent / "shared" / "data"]
    for cand in candidates:
        if cand and (Path(cand) / "mirror-mouse-example").is_dir():
            return Path(cand)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real mirror-mouse and EKS examples); skips the test when absent."""
    path = find_shared_data()
    if path is None:
        pytest.skip("../shared/data not found (set NLP_SHARED_DATA to run this test)")
    return path


@pytest.fixture(scope="session")
def mirror_mouse(shared_data: Path) -> Path:
    """The full Lightning Pose mirror-mouse example folder."""
    return shared_data / "mirror-mouse-example"


BUNDLED_SAMPLE = REPO_ROOT / "src" / "napari_lightning_pose" / "resources" / "mirror-mouse"


@pytest.fixture(scope="session")
def bundled_sample() -> Path:
    """The sample project shipped in the package (50 labeled mirror-mouse frames); read-only."""
    return BUNDLED_SAMPLE


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled sample project in ``tmp_path`` (tests may damage it)."""
    import shutil

    return Path(shutil.copytree(BUNDLED_SAMPLE, tmp_path / "mirror-mouse"))


#: Lightning Pose's own config of its mirror-mouse example, unchanged.
LP_EXAMPLE_CONFIG = (
    REPO_ROOT / "tests" / "fixtures" / "lightning_pose" / "config_mirror-mouse-example.yaml"
)


def make_lp_project(data: Path, tmp_path: Path) -> Path:
    """``data`` (a mirror-mouse folder) copied into ``tmp_path`` with Lightning Pose's example
    config as its ``config.yaml``; returns that config's path."""
    import shutil

    root = Path(shutil.copytree(data, tmp_path / "lp-project"))
    shutil.copy(LP_EXAMPLE_CONFIG, root / "config.yaml")
    return root / "config.yaml"


@pytest.fixture(scope="session")
def lp_example():
    """Lightning Pose's example config (``config``) and ``project(data, tmp_path)``, which
    makes a project of a mirror-mouse folder with that config (test files cannot import
    conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(config=LP_EXAMPLE_CONFIG, project=make_lp_project)


# ------------------------------------------------------------- synthetic blob project (TRAINING)
BLOB_KEYPOINTS = ("red", "green")
BLOB_COLOURS = ((255, 40, 40), (40, 255, 40))


def blob_positions(n: int, height: int, width: int, seed: int = 0):
    """Known keypoint positions (n, 2 keypoints, x/y) for ``blob_frames``, away from edges.

    Like the two views of the mirror-mouse frames, the red blob moves in the top half and
    the green one in the bottom half (at 80 px: y in 8..36 and 43..71).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    margin = 8
    x = rng.uniform(margin, width - 1 - margin, size=(n, 2))
    half = (height - 1) / 2
    top = rng.uniform(margin, half - 4, size=n)
    bottom = rng.uniform(half + 4, height - 1 - margin, size=n)
    return np.stack([x, np.stack([top, bottom], axis=1)], axis=-1)


def blob_frames(positions, height: int, width: int):
    """RGB uint8 frames (n, H, W, 3): a red and a green Gaussian blob at ``positions``."""
    import numpy as np

    yy, xx = np.mgrid[0:height, 0:width]
    frames = np.full((len(positions), height, width, 3), 20.0)
    for i, frame_xy in enumerate(positions):
        for (x, y), colour in zip(frame_xy, BLOB_COLOURS, strict=True):
            blob = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.5**2))
            frames[i] += blob[..., None] * (np.array(colour) - 20.0)
    return np.clip(frames, 0, 255).round().astype(np.uint8)


def write_blob_video(
    path: Path,
    frames,
    fps: int = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv444p",
    options: dict[str, str] | None = None,
) -> Path:
    """Encode frames (n, H, W, 3) as a video; by default an H.264 mp4 (near-lossless, every
    10th frame a keyframe)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        stream.options = {"crf": "10", "g": "10"} if options is None else options
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_blob_project(
    root: Path,
    n_frames: int = 40,
    height: int = 80,
    width: int = 96,
    resize: int = 64,
    n_video_frames: int = 30,
    frame_digits: int = 5,
    **overrides,
) -> Path:
    """A tiny project of moving red/green blobs with known positions; returns config.yaml.

    Labeled PNGs (``labeled-data/imgNNNNN.png``, H x W; ``frame_digits=2`` names them as
    the demo's sample does, ``img07.png``), ``CollectedData.csv``, a video
    ``videos/blobs.mp4`` of ``n_video_frames`` further frames (positions saved next to it as
    ``videos/blobs_positions.npy``, shape (n, 2, 2)) and a config for a small random-init
    ResNet-18 at ``resize`` x ``resize``. ``overrides`` maps "section.key" to a value.
    """
    import numpy as np
    import yaml
    from PIL import Image

    from napari_lightning_pose.io.pose_csv import make_pose_frame, write_pose_csv

    root.mkdir(parents=True, exist_ok=True)
    (root / "labeled-data").mkdir(exist_ok=True)
    (root / "videos").mkdir(exist_ok=True)
    xy = blob_positions(n_frames, height, width, seed=0)
    names = []
    for i, frame in enumerate(blob_frames(xy, height, width)):
        name = f"labeled-data/img{i:0{frame_digits}d}.png"
        Image.fromarray(frame).save(root / name)
        names.append(name)
    labels = make_pose_frame(xy, list(BLOB_KEYPOINTS), index=names, scorer="tester")
    write_pose_csv(labels, root / "CollectedData.csv")
    vid_xy = blob_positions(n_video_frames, height, width, seed=1)
    write_blob_video(root / "videos" / "blobs.mp4", blob_frames(vid_xy, height, width))
    np.save(root / "videos" / "blobs_positions.npy", vid_xy)
    cfg = {
        "data": {
            "image_orig_dims": {"height": height, "width": width},
            "image_resize_dims": {"height": resize, "width": resize},
            "keypoint_names": list(BLOB_KEYPOINTS),
            "num_keypoints": len(BLOB_KEYPOINTS),
        },
        "training": {
            "train_batch_size": 8,
            "max_steps": 20,
            "num_workers": 0,
            "imgaug": "none",
            "accelerator": "cpu",
            "num_threads": 1,  # tiny models: one thread is as fast, and robust on busy CPUs
            # the backbone starts random: no statistics to keep, no features to protect
            "freeze_batchnorm": False,
            "unfreezing_epoch": 0,
            "train_prob": 0.8,
            "val_prob": 0.1,
        },
        "model": {"backbone": "resnet18", "backbone_weights": None, "model_name": "blobs"},
    }
    for dotted, value in overrides.items():
        node = cfg
        *sections, key = dotted.split(".")
        for section in sections:
            node = node.setdefault(section, {})
        node[key] = value
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory, request) -> Iterator[Path]:
    """A folder for one test module's shared fixtures, removed when the module is done: a
    trained test checkpoint is ~0.14 GB, and CI's disk holds the whole run."""
    path = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def blob_project(tmp_path: Path) -> Path:
    """config.yaml of a fresh synthetic blob project (see ``make_blob_project``)."""
    return make_blob_project(tmp_path / "blobs")


@pytest.fixture(scope="session")
def blob_tools():
    """The blob helpers for tests that build their own variants (test files cannot import
    conftest): ``make_project``, ``frames``, ``positions``, ``write_video``, ``keypoints``."""
    from types import SimpleNamespace

    return SimpleNamespace(
        make_project=make_blob_project,
        frames=blob_frames,
        positions=blob_positions,
        write_video=write_blob_video,
        keypoints=BLOB_KEYPOINTS,
    )


@pytest.fixture(scope="session", autouse=True)
def _few_torch_threads() -> None:
    """Keep torch to two threads so tests behave the same on the 2-core CI machine."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(2)


# ------------------------------------------------------- two-camera project (issue 23)
@pytest.fixture(scope="session")
def split_sample(tmp_path_factory):
    """The bundled sample split into a two-camera project (top / bottom crops, 7 shared
    keypoints, videos cut to 12 frames); read-only (``interop.mirror_split.MirrorSplit``)."""
    from napari_lightning_pose.interop.mirror_split import split_mirrored_project

    out = tmp_path_factory.mktemp("split") / "mirror-mouse-split"
    return split_mirrored_project(BUNDLED_SAMPLE, out, max_video_frames=12)
