"""The labeling dock's keyboard: shortcuts on the viewer, Delete on the labels layer.

Each key calls a method of the dock's ``label_editing.LabelEditor``, looked up by name when
the key is pressed; the bindings go through the editor's ``ViewerHooks`` and are released
with them when the project closes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from napari_lightning_pose.viewer.widgets.hooks import ViewerHooks

#: Keyboard shortcuts: key -> (what it does, name of the editor method it calls).
SHORTCUTS: dict[str, tuple[str, str]] = {
    "Down": ("next keypoint", "next_keypoint"),
    "Up": ("previous keypoint", "previous_keypoint"),
    "M": ("next frame with missing labels", "next_missing_frame"),
    "Shift-M": ("previous frame with missing labels", "previous_missing_frame"),
    "N": ("mark the current keypoint not visible", "mark_not_visible"),
    "Control-Z": ("undo the last labeling action", "undo"),
    "Control-Shift-Z": ("redo what was undone", "redo"),
}
#: Bound on the labels layer (replacing napari's "delete selected points").
DELETE_KEYS = ("Delete", "Backspace")


def bind_label_keys(hooks: ViewerHooks, viewer: Any, layer: Any, editor: Any) -> None:
    """Bind ``SHORTCUTS`` on ``viewer`` and ``DELETE_KEYS`` on the labels ``layer`` to the
    methods of ``editor``."""
    for key, (_, method) in SHORTCUTS.items():
        hooks.bind_key(viewer, key, _calling(editor, method))
    for key in DELETE_KEYS:
        hooks.bind_key(layer, key, lambda _layer: editor.delete_point())


def _calling(editor: Any, method: str) -> Callable[[Any], None]:
    def handler(_viewer: Any) -> None:
        getattr(editor, method)()

    return handler
