"""Labeled-frame images: a lazy stack that pads smaller frames and names a missing file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.io.images import image_sizes, load_frame_stack


def test_frame_stack_reads_lazily_and_pads(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    big = rng.integers(0, 255, (12, 10), dtype=np.uint8)
    small = rng.integers(0, 255, (8, 6), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "a.png")
    Image.fromarray(small).save(tmp_path / "b.png")
    stack = load_frame_stack(["a.png", "b.png"], tmp_path)
    assert stack.shape == (2, 12, 10) and stack.dtype == np.uint8 and not stack.rgb
    assert stack.sizes == [(12, 10), (8, 6)]
    np.testing.assert_array_equal(stack[0], big)
    np.testing.assert_array_equal(stack[1][:8, :6], small)
    assert not stack[1][8:].any() and not stack[1][:, 6:].any()
    np.testing.assert_array_equal(stack[:, 2, 3], [big[2, 3], small[2, 3]])
    np.testing.assert_array_equal(stack[-1, ..., 1], stack[1][:, 1])
    assert np.asarray(stack).shape == (2, 12, 10)


def test_frame_stack_is_rgb_when_any_frame_is_colour(tmp_path: Path) -> None:
    grey = np.full((4, 4), 7, dtype=np.uint8)
    colour = np.zeros((4, 4, 3), dtype=np.uint8)
    colour[..., 2] = 200
    Image.fromarray(grey).save(tmp_path / "g.png")
    Image.fromarray(colour).save(tmp_path / "c.png")
    stack = load_frame_stack(["g.png", "c.png"], tmp_path)
    assert stack.shape == (2, 4, 4, 3) and stack.rgb
    np.testing.assert_array_equal(stack[0], np.full((4, 4, 3), 7))
    np.testing.assert_array_equal(stack[1], colour)


def test_frame_stack_names_a_missing_image(tmp_path: Path) -> None:
    with pytest.raises(LabelsError, match="labeled frame not found") as err:
        load_frame_stack(["labeled-data/v/img00001.png"], tmp_path)
    assert "img00001.png" in str(err.value)


def test_image_sizes_come_from_the_headers_and_skip_missing_files(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((5, 7), dtype=np.uint8)).save(tmp_path / "a.png")
    assert image_sizes(["a.png", "missing.png"], tmp_path) == {"a.png": (5, 7)}
