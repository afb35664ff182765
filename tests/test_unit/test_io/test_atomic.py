"""Atomic writes never leave a half-written file, and backups rotate."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_lightning_pose.io.atomic import atomic_write, atomic_write_text, rotate_backups


def test_atomic_write_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]  # no temp files left


def test_failed_write_keeps_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "labels.csv"
    target.write_text("precious")

    def broken_writer(tmp: Path) -> None:
        tmp.write_text("half of the new cont")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken_writer)
    assert target.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.csv"]


def test_rotate_backups_keeps_newest_versions(tmp_path: Path) -> None:
    target = tmp_path / "CollectedData.csv"
    for version in range(5):
        rotate_backups(target, keep=3)
        atomic_write_text(target, f"v{version}")
    assert target.read_text() == "v4"
    assert (tmp_path / "CollectedData.csv.bak1").read_text() == "v3"
    assert (tmp_path / "CollectedData.csv.bak2").read_text() == "v2"
    assert (tmp_path / "CollectedData.csv.bak3").read_text() == "v1"
    assert not (tmp_path / "CollectedData.csv.bak4").exists()


def test_new_files_follow_the_umask_and_overwrites_keep_the_mode(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        target = atomic_write_text(tmp_path / "config.yaml", "a")
        assert target.stat().st_mode & 0o777 == 0o644  # not 0600 like mkstemp
        target.chmod(0o640)
        atomic_write_text(target, "b")
        assert target.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
