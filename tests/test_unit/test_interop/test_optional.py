"""Without the ``interop`` extra, a command that needs one of its packages says which extra to
install (each package's import is made to fail, as on a machine that lacks it)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from napari_lightning_pose.cli import main
from napari_lightning_pose.ensemble.smooth import EKS_COORDS
from napari_lightning_pose.errors import INTEROP_INSTALL, MissingExtraError
from napari_lightning_pose.io.pose_csv import make_pose_frame, write_pose_csv


@pytest.fixture
def smoothed_csv(tmp_path: Path) -> Path:
    values = np.random.default_rng(0).uniform(1, 50, size=(5, 2, len(EKS_COORDS)))
    df = make_pose_frame(values, ["nose", "tail"], EKS_COORDS, scorer="ensemble")
    return write_pose_csv(df, tmp_path / "smoothed.csv")


def _missing(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for module in modules:  # None in sys.modules: "import module" raises ImportError
        monkeypatch.setitem(sys.modules, module, None)


@pytest.mark.parametrize(
    ("fmt", "module", "extra_args"),
    [("nwb", "pynwb", ["--fps", "30"]), ("movement", "movement.io.load_poses", [])],
)
def test_export_without_the_extra_names_it(
    smoothed_csv, tmp_path, capsys, monkeypatch, fmt, module, extra_args
) -> None:
    _missing(monkeypatch, module)
    out = tmp_path / f"out.{fmt}"
    assert main(["export", fmt, str(smoothed_csv), "--out", str(out), *extra_args]) != 0
    said = capsys.readouterr().err
    assert INTEROP_INSTALL in said and repr(module.split(".")[0]) in said
    assert not out.exists()


def test_reading_sleap_or_dlc_h5_without_the_extra_names_it(tmp_path, monkeypatch) -> None:
    from napari_lightning_pose.interop.dlc import read_dlc_table
    from napari_lightning_pose.interop.sleap import load_sleap

    _missing(monkeypatch, "sleap_io", "tables")
    with pytest.raises(MissingExtraError, match="sleap_io") as err:
        load_sleap(tmp_path / "labels.slp")
    assert INTEROP_INSTALL in str(err.value)
    with pytest.raises(MissingExtraError, match="tables") as err:
        read_dlc_table(tmp_path / "CollectedData_me.h5")
    assert INTEROP_INSTALL in str(err.value)
