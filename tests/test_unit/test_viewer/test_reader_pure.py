"""A reader is a pure function of its file: no viewer, no Qt, the same layers whatever is open.

Lining layers up with the open video happens where napari adds them (``layer_watch``); the
file alone decides what it opens as.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from napari.layers import Layer

from napari_lightning_pose.errors import LabelsError
from napari_lightning_pose.viewer.reader import (
    get_labels_reader,
    get_predictions_reader,
    get_video_reader,
)

from .test_prediction_layers import smoothed_csv

#: What a layer-data tuple holds, as plain picklable values: arrays, tables, numbers, text
#: (a lazy image stack as its shape and first frame, a colormap as its colours).
DESCRIBE = """
import numpy as np
import pandas as pd

def describe(value):
    if isinstance(value, (np.ndarray, pd.DataFrame, pd.Series, str, int, float, bool)):
        return value
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: describe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if hasattr(value, "colors"):  # a napari Colormap
        return ("colormap", np.asarray(value.colors))
    if hasattr(value, "shape") and hasattr(value, "__getitem__"):  # a lazy stack
        return ("stack", tuple(value.shape), np.asarray(value[0]))
    return repr(value)
"""

#: Run in a fresh interpreter: read each file, fail if Qt came along (napari's colormap class
#: is plain Python), and pickle what the readers returned.
HEADLESS = (
    DESCRIBE
    + """
import pickle, sys
from napari_lightning_pose.viewer import reader
out = []
for getter, path in [(reader.get_predictions_reader, sys.argv[1]),
                     (reader.get_labels_reader, sys.argv[2]),
                     (reader.get_video_reader, sys.argv[3])]:
    out.extend(describe(list(layer)) for layer in getter(path)(path))
qt = {"qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "superqt", "magicgui"}
gui = sorted({m.split(".")[0] for m in sys.modules} & qt)
assert not gui, gui
with open(sys.argv[4], "wb") as f:
    pickle.dump(out, f)
"""
)


def _same(a, b) -> None:
    """Assert two layer-data payloads (arrays, DataFrames, dicts, tuples) are equal."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    elif hasattr(a, "equals"):
        assert a.equals(b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _same(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        assert a == b


def test_readers_give_the_same_layers_with_no_viewer_and_with_another_video_open(
    tmp_path: Path, bundled_sample: Path, blob_tools, make_napari_viewer
) -> None:
    csv = smoothed_csv(tmp_path / "clip.eks.csv", n=12)
    labels = bundled_sample / "CollectedData.csv"
    video = next((bundled_sample / "videos").glob("*.mp4"))
    out = tmp_path / "headless.pkl"
    subprocess.run(
        [sys.executable, "-c", HEADLESS, str(csv), str(labels), str(video), str(out)],
        check=True,
        timeout=600,
    )
    headless = pickle.loads(out.read_bytes())

    # a viewer with a video of another length open: the readers do not look at it
    viewer = make_napari_viewer()
    other = blob_tools.write_video(
        tmp_path / "other.mp4", blob_tools.frames(blob_tools.positions(5, 40, 48), 40, 48)
    )
    viewer.open(str(other), plugin="napari-lightning-pose")
    namespace: dict = {}
    exec(DESCRIBE, namespace)
    layers = []
    for getter, path in [
        (get_predictions_reader, csv),
        (get_labels_reader, labels),
        (get_video_reader, video),
    ]:
        layers.extend(getter(str(path))(str(path)))
    _same(headless, [namespace["describe"](list(layer)) for layer in layers])
    assert {"tracks", "points", "image"} <= {kind for *_, kind in layers}
    # the check against the open video happens where the layers are added
    with pytest.raises(LabelsError, match=r"has 12 frames .* other\.mp4 has 5"):
        viewer.add_layer(Layer.create(*layers[0]))
    assert [layer.name for layer in viewer.layers] == ["other"]
