"""The npe2 manifest is valid, discoverable, and every contribution it names exists."""

from __future__ import annotations

import importlib

import npe2


def _manifest() -> npe2.PluginManifest:
    return npe2.PluginManifest.from_distribution("napari-lightning-pose")


def test_manifest_is_installed_and_valid() -> None:
    manifest = _manifest()
    assert manifest.name == "napari-lightning-pose"
    kinds = {
        "readers": manifest.contributions.readers,
        "writers": manifest.contributions.writers,
        "widgets": manifest.contributions.widgets,
        "sample_data": manifest.contributions.sample_data,
    }
    assert all(kinds.values()), {k: bool(v) for k, v in kinds.items()}


def test_every_command_resolves_to_a_callable() -> None:
    for command in _manifest().contributions.commands:
        module_name, _, attr = command.python_name.partition(":")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, attr)), command.python_name


def test_video_files_pick_our_reader(tmp_path) -> None:
    readers = [r for r in _manifest().contributions.readers if "*.mp4" in r.filename_patterns]
    assert readers and readers[0].command.endswith("get_video_reader")
