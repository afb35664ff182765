"""The fast pose-CSV writer and reader give exactly what pandas gives, on real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from napari_lightning_pose.io import pose_csv
from napari_lightning_pose.io.pose_csv import make_pose_frame, read_pose_csv, write_pose_csv

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


BUNDLED = [
    Path(pose_csv.__file__).parents[1] / "resources" / "mirror-mouse" / "CollectedData.csv",
    *sorted((FIXTURES / "eks" / "members").glob("*.csv.gz"))[:2],
]


def _check_same_as_pandas(source: Path, tmp_path: Path) -> None:
    df = pd.read_csv(source, header=[0, 1, 2], index_col=0)
    out = write_pose_csv(df, tmp_path / "out.csv")
    expected = tmp_path / "pandas.csv"
    df.to_csv(expected)
    assert out.read_bytes() == expected.read_bytes()
    # and read back, the fast reader gives what the pandas reader gives
    assert pose_csv._read_fast(out) is not None  # the fast path reads what we write
    fast = read_pose_csv(out, required_coords=())
    slow = pose_csv._read_pandas(out)
    slow.columns = slow.columns.set_names(pose_csv.HEADER_NAMES)
    slow.index.name = None
    pd.testing.assert_frame_equal(fast, slow.astype(float))


@pytest.mark.parametrize("source", BUNDLED, ids=lambda p: p.name)
def test_bundled_files_are_written_byte_for_byte_as_pandas_does(source, tmp_path) -> None:
    _check_same_as_pandas(source, tmp_path)


def test_real_example_files_are_written_byte_for_byte_as_pandas_does(
    shared_data, tmp_path
) -> None:
    files = sorted((shared_data / "eks-example").glob("*.csv"))[:3]
    files.append(shared_data / "mirror-mouse-example" / "CollectedData.csv")
    for source in files:
        _check_same_as_pandas(source, tmp_path)


def test_awkward_values_keep_pandas_notation() -> None:
    values = np.array(
        [[[1e-5, 0.0]], [[-0.0, 1e16]], [[np.nan, 3.25]], [[7.3e-300, np.inf]], [[0.1, 2 / 3]]]
    )
    df = make_pose_frame(values, ["nose"], index=[f"labeled-data/v/img{i}.png" for i in range(5)])
    assert pose_csv.pose_csv_text(df) == df.to_csv()
    frames = make_pose_frame(values, ["nose"])  # integer frame index, as predictions have
    assert pose_csv.pose_csv_text(frames) == frames.to_csv()


def test_a_large_random_table_is_identical_and_reads_back_exactly(tmp_path) -> None:
    rng = np.random.default_rng(1)
    values = rng.uniform(0, 500, (5000, 4, 3))
    values[..., 2] = rng.random((5000, 4)) ** 8  # likelihoods, many below 1e-4
    values[rng.random(values.shape) < 0.05] = np.nan
    df = make_pose_frame(values, list("abcd"), coords=["x", "y", "likelihood"])
    path = write_pose_csv(df, tmp_path / "p.csv")
    assert path.read_text() == df.to_csv()
    assert pose_csv._read_fast(path) is not None
    back = read_pose_csv(path, required_coords=("x", "y", "likelihood"))
    np.testing.assert_array_equal(back.to_numpy(), df.to_numpy())
    assert back.index.dtype == np.int64


def test_written_predictions_load_in_movement(tmp_path) -> None:
    from movement.io import load_dataset

    rng = np.random.default_rng(2)
    values = rng.uniform(0, 300, (50, 3, 3))
    values[..., 2] = rng.random((50, 3))
    df = make_pose_frame(values, ["nose", "ear", "tail"], coords=["x", "y", "likelihood"])
    path = write_pose_csv(df, tmp_path / "pred.csv")
    ds = load_dataset(path, source_software="LightningPose", fps=25)
    np.testing.assert_allclose(
        ds.position.values[:, :, :, 0], values[..., :2].transpose(0, 2, 1), rtol=0, atol=0
    )
    np.testing.assert_allclose(ds.confidence.values[:, :, 0], values[..., 2])
