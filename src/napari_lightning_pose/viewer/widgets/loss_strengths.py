"""The Train dock's unsupervised-loss box: a tick and a strength per loss, and a note saying
the log_weight it becomes (or what the project lacks for it)."""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import QCheckBox, QDoubleSpinBox, QGridLayout, QGroupBox, QLabel

from napari_lightning_pose.losses.balance import DEFAULT_STRENGTHS, log_weight_for, strength_of
from napari_lightning_pose.viewer.widgets.train_settings import loss_note

STRENGTH_HELP = (
    "Strength of each loss next to the labels: 1 means one pixel of error beyond the loss's "
    "epsilon pulls on a keypoint as hard as a label pulls on a prediction one heatmap sigma "
    "away from it. Written to the config as Lightning Pose's log_weight (weight = "
    "1 / (2 e^log_weight)), which depends on the heatmap loss and the input size."
)


class LossStrengths(QGroupBox):
    """Lightning Pose's unsupervised losses (model.losses_to_use), each with its strength
    (losses.balance: 1 = one pixel beyond epsilon pulls like a label at a 1-sigma miss)."""

    def __init__(self) -> None:
        super().__init__("Unsupervised losses (strength; 1 = pulls like a label)")
        self.setToolTip(STRENGTH_HELP)
        grid = QGridLayout(self)
        self.checks: dict[str, QCheckBox] = {}
        self.weights: dict[str, QDoubleSpinBox] = {}
        self.notes: dict[str, QLabel] = {}
        for i, (name, strength) in enumerate(DEFAULT_STRENGTHS.items()):
            check, spin, note = QCheckBox(name), QDoubleSpinBox(), QLabel("")
            check.setChecked(True)
            spin.setRange(0.01, 100.0)
            spin.setDecimals(2)
            spin.setValue(strength)
            spin.setToolTip(STRENGTH_HELP)
            note.setWordWrap(True)
            grid.addWidget(check, i, 0)
            grid.addWidget(spin, i, 1)
            grid.addWidget(note, i, 2)
            self.checks[name], self.weights[name], self.notes[name] = check, spin, note

    def chosen(self) -> dict[str, float]:
        """The ticked losses and their strengths."""
        return {n: float(self.weights[n].value()) for n, c in self.checks.items() if c.isChecked()}

    def clear_notes(self) -> None:
        for note in self.notes.values():
            note.setText("")

    def show_project(self, cfg: dict[str, Any], available: dict[str, Any]) -> None:
        """Offer only the losses ``available`` now (the others unticked and greyed out,
        saying what they lack); show each strength as the log_weight it becomes under the
        project's heatmap loss and input size (the project's own weight for a loss it uses)."""
        for name, check in self.checks.items():
            state = available[name]
            check.setEnabled(state.ok)
            self.weights[name].setEnabled(state.ok)
            if not state.ok:
                check.setChecked(False)
                self.notes[name].setText(state.reason)
                continue
            if name in cfg["model"]["losses_to_use"]:  # the project's own weight
                self.weights[name].setValue(
                    strength_of(float(cfg["losses"][name]["log_weight"]), cfg)
                )
            lw = log_weight_for(float(self.weights[name].value()), cfg)
            self.notes[name].setText(loss_note(name, lw, cfg))
