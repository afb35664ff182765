"""Undo and redo of a labeling session: snapshots of the labels before each edit.

A snapshot is a copy of a ``LabelState``'s positions and not-visible marks. Each edit puts the
labels as they were before it on the undo stack; a drag (many moves while one mouse button is
held) is one step. Pure: the labeling dock's editor says whether a button is held.
"""

from __future__ import annotations

import numpy as np

from napari_lightning_pose.labeling.state import LabelState

Snapshot = tuple[np.ndarray, np.ndarray]


def snapshot(state: LabelState) -> Snapshot:
    """A copy of ``state``'s positions and not-visible marks."""
    return state.xy.copy(), state.not_visible.copy()


class EditHistory:
    """The undo and redo stacks of one session's labels, starting from ``state`` as it is."""

    def __init__(self, state: LabelState) -> None:
        self._undo: list[Snapshot] = []
        self._redo: list[Snapshot] = []
        self._last = snapshot(state)
        self._dragging = False

    def record(self, state: LabelState, button_held: bool) -> None:
        """Note an edit that made ``state``: the labels before it become an undo step
        (none when nothing changed, or while the same drag goes on); redo is cleared."""
        now = snapshot(state)
        before, self._last = self._last, now
        if all(np.array_equal(a, b, equal_nan=True) for a, b in zip(before, now, strict=True)):
            return
        if button_held and self._dragging:
            return  # the same drag goes on: its step is on the stack already
        self._dragging = button_held
        self._undo.append(before)
        self._redo.clear()

    def undo(self, state: LabelState) -> bool:
        """Put ``state`` back as it was before the last edit; False when there is none."""
        return self._step(state, self._undo, self._redo)

    def redo(self, state: LabelState) -> bool:
        """Do again what :meth:`undo` took back; False when there is none."""
        return self._step(state, self._redo, self._undo)

    def _step(self, state: LabelState, source: list[Snapshot], target: list[Snapshot]) -> bool:
        if not source:
            return False
        target.append(snapshot(state))
        xy, not_visible = source.pop()
        state.xy[:] = xy
        state.not_visible[:] = not_visible
        self._last = snapshot(state)
        self._dragging = False
        return True
