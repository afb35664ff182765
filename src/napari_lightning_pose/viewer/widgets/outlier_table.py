"""The outlier queue's table: ranked frames above the threshold, each with why it ranks there.

``why`` (pure) says what each score added to a row's combined score; :class:`OutlierTable`
lists the rows of ``qc.outlier_ranking.rank_outliers`` at or above a threshold and reads back the
frame and keypoint of a row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from qtpy.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem

#: Most rows listed.
MAX_ROWS = 500
#: Short names of the scores in the "why" column.
SHORT = {
    "posterior_sd": "posterior",
    "ensemble_sd": "spread",
    "temporal_norm": "jump",
    "eks_residual": "residual",
    "pca_singleview_error": "pose PCA",
    "pca_multiview_error": "views PCA",
    "reprojection_error": "reprojection",
}


def why(row: Any, scores: Iterable[str], columns: Iterable[str]) -> str:
    """What each of ``scores`` added to the row's combined score (its ``<score>_part``
    among ``columns``), largest first, below 0.5 left out; prefixed by the row's camera."""
    columns = set(columns)
    parts = [(getattr(row, f"{name}_part"), name) for name in scores if f"{name}_part" in columns]
    parts = sorted((p for p in parts if np.isfinite(p[0]) and p[0] >= 0.5), reverse=True)
    text = ", ".join(f"{SHORT.get(name, name)} {value:.0f}" for value, name in parts)
    camera = getattr(row, "camera", None)
    return f"{camera}: {text}" if camera else text


class OutlierTable(QTableWidget):
    """Rank, frame, keypoint, score and why of each listed row; whole rows are selected."""

    def __init__(self) -> None:
        super().__init__(0, 5)
        self.setHorizontalHeaderLabels(["#", "frame", "keypoint", "score", "why"])
        self.horizontalHeader().setStretchLastSection(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setMinimumHeight(110)
        self.verticalHeader().setVisible(False)

    def show_ranked(
        self, ranked: pd.DataFrame, by: str, threshold: float, scores: Iterable[str]
    ) -> int:
        """List the rows of ``ranked`` whose ``by`` is at or above ``threshold`` (at most
        ``MAX_ROWS``); ``scores`` are those whose parts the "why" column names. Returns
        how many are listed."""
        if ranked.empty:
            self.setRowCount(0)
            return 0
        shown = ranked[ranked[by] >= threshold].head(MAX_ROWS)
        self.setRowCount(len(shown))
        scores = list(scores)
        for r, row in enumerate(shown.itertuples(index=False)):
            cells = [str(r + 1), str(int(row.frame)), str(row.keypoint), f"{getattr(row, by):.2f}"]
            cells.append(why(row, scores, ranked.columns))
            for c, text in enumerate(cells):
                self.setItem(r, c, QTableWidgetItem(text))
        return len(shown)

    def frame_at(self, row: int) -> int:
        """The frame listed in ``row``."""
        return int(self.item(row, 1).text())

    def keypoint_at(self, row: int) -> str:
        """The keypoint listed in ``row``."""
        return self.item(row, 2).text()

    def selected_rows(self) -> list[int]:
        """The selected rows, in order."""
        return sorted({i.row() for i in self.selectedIndexes()})

    def current_row(self) -> int:
        """The first selected row, or -1."""
        rows = [i.row() for i in self.selectedIndexes()]
        return rows[0] if rows else -1
