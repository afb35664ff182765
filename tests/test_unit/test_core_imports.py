"""The core runs headless: no module outside ``viewer/widgets/`` imports napari or any Qt binding.

A cluster node or a CI runner without a display must be able to train, predict and smooth,
so importing any core module may not pull in napari, qtpy or a Qt binding (PyQt5, PyQt6 (the
one we ship), PySide2, PySide6), the Qt helpers built on them (superqt, magicgui) or
napari's canvas (vispy). Each check runs in a fresh interpreter, where nothing else has
imported those already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import napari_lightning_pose

PACKAGE = Path(napari_lightning_pose.__file__).parent
#: Top-level names whose import means napari or Qt came along.
GUI_ROOTS = (
    "napari",
    "qtpy",
    "PyQt5",
    "PyQt6",
    "PySide2",
    "PySide6",
    "superqt",
    "magicgui",
    "vispy",
)
#: Only these parts of the package may import napari/Qt when imported.
GUI_PARTS = (("viewer", "widgets"),)

# For each module in turn: import it, then name the GUI packages that are loaded now. The
# first module to show one is the one that imported it.
PROBE = """
import importlib, json, sys
roots, modules = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for name in modules:
    importlib.import_module(name)
    loaded = sorted({m.split(".")[0] for m in sys.modules} & set(roots))
    if loaded:
        print(json.dumps([name, loaded]))
        break
else:
    print(json.dumps(None))
"""


def _modules(parts_excluded: tuple[tuple[str, ...], ...]) -> list[str]:
    """Dotted names of the package's modules, found on disk (nothing imported here)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        if rel.name == "__main__" or any(rel.parts[: len(p)] == p for p in parts_excluded):
            continue  # ``__main__`` runs the command line when imported
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        names.append(".".join(("napari_lightning_pose", *parts)))
    return names


def _first_gui_import(modules: list[str]) -> list | None:
    """``[module, [gui packages]]`` for the first module that loads napari/Qt, else None."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(GUI_ROOTS), json.dumps(modules)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_no_core_module_imports_napari_or_any_qt_binding() -> None:
    modules = _modules(GUI_PARTS)
    # the whole package but the widgets: io, data, models, losses, ensemble, training, qc,
    # the CLI, the readers/writers and the top-level helpers
    assert len(modules) > 60
    for part in (
        "io.video",
        "ensemble.smooth",
        "training.loop",
        "cli",
        "viewer.layers",
        "qc.refine",
    ):
        assert f"napari_lightning_pose.{part}" in modules
    assert _first_gui_import(modules) is None


def test_the_probe_sees_the_qt_binding_we_ship() -> None:
    """The check above can fail: a widget module is caught with napari and PyQt6/qtpy."""
    found = _first_gui_import(
        ["napari_lightning_pose.errors", "napari_lightning_pose.viewer.widgets.legend"]
    )
    assert found is not None
    module, loaded = found
    assert module == "napari_lightning_pose.viewer.widgets.legend"
    assert "qtpy" in loaded and {"PyQt5", "PyQt6", "PySide2", "PySide6"} & set(loaded)
