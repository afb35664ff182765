"""Undo and redo of a labeling session: one step per edit, one per drag."""

from __future__ import annotations

import numpy as np

from napari_lightning_pose.labeling.edit_history import EditHistory
from napari_lightning_pose.labeling.state import LabelState


def test_undo_and_redo_step_through_edits_and_a_drag_is_one_step() -> None:
    state = LabelState.empty(["a.png", "b.png"], ["nose", "tail"])
    history = EditHistory(state)
    assert not history.undo(state)  # nothing yet
    state.xy[0, 0] = (1.0, 2.0)
    history.record(state, button_held=False)
    history.record(state, button_held=False)  # nothing changed: no step
    for x in (3.0, 4.0, 5.0):  # one drag: many moves while the button is held
        state.xy[0, 0] = (x, 2.0)
        history.record(state, button_held=True)
    state.not_visible[1, 1] = True
    history.record(state, button_held=False)

    assert history.undo(state) and not state.not_visible[1, 1]
    assert history.undo(state) and tuple(state.xy[0, 0]) == (1.0, 2.0)  # the whole drag
    assert history.undo(state) and np.isnan(state.xy[0, 0]).all()
    assert not history.undo(state)
    assert history.redo(state) and tuple(state.xy[0, 0]) == (1.0, 2.0)
    state.xy[1, 0] = (7.0, 7.0)  # a new edit clears what could be redone
    history.record(state, button_held=False)
    assert not history.redo(state)
