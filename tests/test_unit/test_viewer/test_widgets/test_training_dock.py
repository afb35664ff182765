"""The training dock in the real window: train an ensemble in a worker, cancel, resume, close."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt, QTimer

from napari_lightning_pose.losses.balance import strength_of
from napari_lightning_pose.training import read_checkpoint
from napari_lightning_pose.viewer.widgets.train_settings import format_eta
from napari_lightning_pose.viewer.widgets.training import TrainingWidget

LEFT = Qt.MouseButton.LeftButton
BUNDLED = (
    Path(__file__).parents[4] / "src" / "napari_lightning_pose" / "resources" / "mirror-mouse"
)
pytestmark = pytest.mark.slow


@pytest.fixture
def dock(make_napari_viewer, blob_project: Path):
    from napari_lightning_pose.inference.jobs import preload_torch

    # the first job of a session imports torch's lazy parts in its worker; that one-time
    # import (C extensions that hold the GIL) is measured in bench_gui_stalls, not here
    preload_torch()
    viewer = make_napari_viewer(show=True)
    widget = TrainingWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train", area="right")
    widget.project_edit.setText(str(blob_project))
    widget.model_combo.setCurrentText("supervised")
    widget.device_combo.setCurrentText("cpu")
    return viewer, widget


def _wait_done(qtbot, widget: TrainingWidget, timeout: int = 900_000) -> None:
    # a deadline against a hang only: a loaded shared machine may take minutes
    qtbot.waitUntil(lambda: not widget.running, timeout=timeout)


def test_format_eta() -> None:
    assert format_eta(None) == "ETA -"
    assert format_eta(42.4) == "ETA 42 s"
    assert format_eta(200) == "ETA 3 min 20 s"


def test_trains_an_ensemble_with_live_plot_and_keeps_the_gui_responsive(
    dock, qtbot, blob_project, monkeypatch
) -> None:
    """The training runs in its own process, driven from a worker thread, and the GUI's
    event loop keeps turning while it runs. (How long the GUI stalls, in ms, is measured by
    benchmarks/bench_gui_stalls.py: a shared CI machine's timings are no test.)"""
    from napari_lightning_pose.viewer.widgets import training as training_module

    threads: set[int] = set()
    jobs: list[object] = []
    real = training_module.run_in_process

    def recording(job, *args, **kwargs):
        threads.add(threading.get_ident())  # runs where the job's generator runs
        jobs.append(job)
        return (yield from real(job, *args, **kwargs))

    monkeypatch.setattr(training_module, "run_in_process", recording)
    _viewer, widget = dock
    widget.members_spin.setValue(2)
    widget.steps_spin.setValue(8)
    ticks: list[bool] = []  # per tick of a GUI-thread timer: was the training running?
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(widget.running))
    timer.start()
    qtbot.mouseClick(widget.train_button, LEFT)
    assert widget.running and not widget.train_button.isEnabled()
    # pressed again while it runs: refused with a message, still one run
    assert widget.start() is False
    assert "already running" in widget.status.text()
    _wait_done(qtbot, widget)
    timer.stop()
    assert threads and threading.get_ident() not in threads  # off the GUI thread
    assert jobs == [training_module.train_ensemble]  # torch in a child process
    assert any(ticks)  # the event loop turned while the ensemble trained
    models = blob_project.parent / "models" / "blobs"
    for m in range(2):
        ckpt, _ = read_checkpoint(models / f"member{m}" / "last.ckpt")
        assert ckpt["step"] == 8
        assert ckpt["config"]["training"]["rng_seed_model_pt"] == m  # different seeds
        # and, by default, each its own held-out frames (label QC judges every label)
        assert ckpt["config"]["training"]["holdout_fold"] == [m, 2]
    assert widget.progress.value() == widget.progress.maximum() == 16
    assert any(name.startswith("heatmap") for _member, name in widget.curves)
    # one curve per member (a member's curve does not run into the next one's)
    assert [len(widget.curves[(m, "total")].getData()[0]) for m in range(2)] == [8, 8]
    assert widget.eta_label.text() == "done"
    assert "Trained 2 members" in widget.status.text()


def test_cancel_leaves_a_valid_checkpoint_and_resume_finishes(dock, qtbot, blob_project) -> None:
    _viewer, widget = dock
    widget.members_spin.setValue(1)
    widget.steps_spin.setValue(400)
    widget.start()
    qtbot.waitUntil(lambda: widget.progress.value() >= 2, timeout=60_000)
    widget.cancel()
    _wait_done(qtbot, widget)
    last = blob_project.parent / "models" / "blobs" / "member0" / "last.ckpt"
    ckpt, _ = read_checkpoint(last)
    stopped_at = ckpt["step"]
    assert 2 <= stopped_at < 400
    assert "stopped" in widget.status.text() and "Resume" in widget.status.text()
    # within one step: the checkpoint is at the last step the dock saw
    assert abs(stopped_at - widget.last_event.event.step) <= 1
    widget.steps_spin.setValue(stopped_at + 3)
    qtbot.mouseClick(widget.resume_button, LEFT)
    _wait_done(qtbot, widget)
    ckpt, _ = read_checkpoint(last)
    assert ckpt["step"] == stopped_at + 3
    assert widget.last_event.event.kind == "done"


def test_closing_the_viewer_stops_training_and_files_stay_valid(
    make_napari_viewer, qtbot, blob_project
) -> None:
    viewer = make_napari_viewer(show=True)
    widget = TrainingWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train", area="right")
    widget.project_edit.setText(str(blob_project))
    widget.steps_spin.setValue(400)
    widget.members_spin.setValue(2)
    widget.model_combo.setCurrentText("supervised")
    widget.start()
    qtbot.waitUntil(lambda: widget.progress.value() >= 1, timeout=60_000)
    viewer.close()
    ckpt, _ = read_checkpoint(blob_project.parent / "models" / "blobs" / "member0" / "last.ckpt")
    assert 1 <= ckpt["step"] < 400
    assert not (blob_project.parent / "models" / "blobs" / "member1").exists()


def test_bad_input_is_a_clear_message(dock, qtbot, tmp_path) -> None:
    _viewer, widget = dock
    widget.project_edit.setText(str(tmp_path / "nowhere"))
    assert widget.start() is False
    assert "nowhere" in widget.status.text() and not widget.running
    widget.project_edit.setText("")
    assert widget.start() is False and "no project" in widget.status.text()


def test_model_types_reach_the_config_or_fail_plainly(dock, qtbot, blob_project) -> None:
    """Semi-supervised + context sets model_type and the checked losses with their weights;
    where the core cannot train them yet, the dock says so and writes no checkpoint."""
    _viewer, widget = dock
    widget.model_combo.setCurrentText("semi-supervised + context")
    assert widget.loss_group.isEnabled()
    widget.loss_checks["pca_multiview"].setChecked(False)
    widget.loss_weights["temporal"].setValue(3.5)  # strength: 3.5 x a label's pull
    cfg = widget.config_for_run()
    assert cfg["model"]["model_type"] == "heatmap_mhcrnn"
    assert cfg["model"]["losses_to_use"] == ["temporal", "pca_singleview"]
    assert strength_of(cfg["losses"]["temporal"]["log_weight"], cfg) == pytest.approx(3.5)
    widget.model_combo.setCurrentText("supervised")
    assert widget.config_for_run()["model"]["losses_to_use"] == []
    assert not widget.loss_group.isEnabled()


def test_losses_the_project_cannot_fit_yet_say_what_they_lack(
    make_napari_viewer, sample_copy: Path
) -> None:
    """The first semi-supervised Train of a 20-frame cut of the sample (16 training frames)
    used to fail in the core (the single-view pose PCA needs 28 training poses): now that loss
    is unticked and greyed out with how many more frames it needs, and the run's config holds
    only losses that fit."""
    from napari_lightning_pose.io import labels as labels_io

    csv = sample_copy / "CollectedData.csv"
    labels_io.write_labels(labels_io.read_labels(csv).iloc[:20], csv)
    viewer = make_napari_viewer(show=True)
    widget = TrainingWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train", area="right")
    widget.model_combo.setCurrentText("semi-supervised")
    widget.project_edit.setText(str(sample_copy))
    check = widget.loss_checks["pca_singleview"]
    assert not check.isEnabled() and not check.isChecked()
    note = widget.loss_notes["pca_singleview"].text()
    assert "needs 18 more fully labeled frame(s)" in note and "has 14" in note
    assert widget.loss_notes["temporal"].text().startswith("log_weight ")
    cfg = widget.config_for_run()
    assert cfg["model"]["losses_to_use"] == ["temporal", "pca_multiview"]
    # the bundled sample itself (50 frames) fits all three
    widget.project_edit.setText("")
    widget.project_edit.setText(str(BUNDLED))
    assert check.isEnabled()
    check.setChecked(True)
    cfg = widget.config_for_run()
    assert cfg["model"]["losses_to_use"] == ["temporal", "pca_singleview", "pca_multiview"]


def test_context_model_trains_or_says_plainly_why_not(dock, qtbot, blob_project) -> None:
    """The context model (model_type heatmap_mhcrnn): trained where the core has it, and
    until then a plain message naming the key, with no checkpoint written."""
    from napari_lightning_pose.models.factory import PLANNED_MODEL_TYPES

    _viewer, widget = dock
    widget.model_combo.setCurrentText("context")
    widget.members_spin.setValue(1)
    widget.steps_spin.setValue(2)
    assert widget.start()
    _wait_done(qtbot, widget)
    last = blob_project.parent / "models" / "blobs" / "member0" / "last.ckpt"
    if "heatmap_mhcrnn" in PLANNED_MODEL_TYPES:
        assert "model.model_type 'heatmap_mhcrnn' is not available" in widget.status.text()
        assert "ff6b6b" in widget.status.styleSheet()  # shown as an error
        assert not last.exists()
    else:
        assert read_checkpoint(last)[0]["config"]["model"]["model_type"] == "heatmap_mhcrnn"


def test_semi_supervised_run_plots_each_unsupervised_loss(dock, qtbot, blob_project) -> None:
    _viewer, widget = dock
    widget.model_combo.setCurrentText("semi-supervised")
    widget.loss_checks["pca_multiview"].setChecked(False)  # the blobs have one view
    widget.members_spin.setValue(1)
    widget.steps_spin.setValue(4)
    assert widget.start()
    _wait_done(qtbot, widget)
    ckpt, _ = read_checkpoint(blob_project.parent / "models" / "blobs" / "member0" / "last.ckpt")
    assert ckpt["config"]["model"]["losses_to_use"] == ["temporal", "pca_singleview"]
    names = {name for _member, name in widget.curves}
    assert any("temporal" in n for n in names) and any("pca_singleview" in n for n in names)


def test_continue_from_the_current_models(dock, qtbot, blob_project) -> None:
    """After an ensemble exists, the dock offers to continue it; each member starts from its
    own weights (its new checkpoint records where it came from)."""
    import os

    import numpy as np

    viewer, widget = dock
    widget.refresh_continue()
    assert not widget.continue_check.isEnabled()  # no models yet
    widget.members_spin.setValue(2)
    widget.steps_spin.setValue(4)
    qtbot.mouseClick(widget.train_button, LEFT)
    _wait_done(qtbot, widget)
    assert widget.continue_check.isEnabled()
    assert "(2)" in widget.continue_check.text()
    widget.continue_check.setChecked(True)
    widget.steps_spin.setValue(2)
    qtbot.mouseClick(widget.train_button, LEFT)
    assert "Continuing the current models" in widget.status.text()
    _wait_done(qtbot, widget)
    for m in range(2):
        run = widget.out_dir / f"member{m}"
        ckpt, _ = read_checkpoint(run / "last.ckpt")
        assert ckpt["init_from"] == str(run) and ckpt["step"] == 2
    assert widget.status.text().startswith("Continued 2 members")
    if os.environ.get("NLP_UPDATE_DOCS") == "1":
        from PIL import Image

        widget.window().resize(1400, 900)
        qtbot.wait(100)
        shot = np.asarray(viewer.screenshot(canvas_only=False, flash=False))
        docs = Path(__file__).resolve().parents[4] / "docs"
        Image.fromarray(shot).save(docs / "train_continue.png")


def test_loss_plot_has_no_made_up_floor_marks_members_and_keeps_legend_off_curves(
    make_napari_viewer, qtbot
) -> None:
    """A zero loss (the unsupervised ones start at 0 under the anneal schedule) is a gap on
    the log axis, not a dip to 1e-12; each member has its own curves and a labelled start
    line; the legend sits in its own row, not over the curves."""
    from napari_lightning_pose.inference.jobs import EnsembleTrainEvent
    from napari_lightning_pose.training.events import TrainEvent
    from napari_lightning_pose.viewer.widgets.training import TrainingWidget

    viewer = make_napari_viewer(show=True)
    widget = TrainingWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train", area="right")
    qtbot.waitUntil(lambda: widget.plot is not None)
    for member in range(2):
        for step in range(1, 11):
            losses = {"total": 1.0 / step, "temporal": 0.0 if step < 4 else 0.1 * step}
            core = TrainEvent("step", step, 0, 10, losses=losses)
            widget._on_event(EnsembleTrainEvent(member, 2, core))
    widget._redraw()
    qtbot.wait(50)
    for (_member, _name), curve in widget.curves.items():
        ys = curve.getOriginalDataset()[1]  # as given, not log-transformed
        finite = ys[np.isfinite(ys)]
        assert finite.min() > 1e-3  # no point at a made-up 1e-12
    xs = widget.curves[(1, "total")].getOriginalDataset()[0]
    assert xs.min() > 10  # member 2's curve starts after member 1's, not joined to it
    assert [line.value() for line in widget.boundaries] == [10]
    assert widget.boundaries[0].label.format == "member 2"
    legend = widget.legend.sceneBoundingRect()
    plot = widget.loss_plot.vb.sceneBoundingRect()
    assert not legend.intersects(plot)
    assert sorted(item[1].text for item in widget.legend.items) == ["temporal", "total"]


def test_a_video_closed_while_training_is_freed(dock, qtbot) -> None:
    """A video layer the user closes during a run is collected (its reader, frame cache and
    prefetch thread gone): the run holds nothing of the window's."""
    import gc
    import weakref

    viewer, widget = dock
    [layer] = viewer.open(str(BUNDLED / "videos" / "test_vid.mp4"), plugin="napari-lightning-pose")
    freed = weakref.ref(layer.data)
    prefetch = layer.data.prefetcher._thread
    widget.members_spin.setValue(1)
    widget.steps_spin.setValue(6)
    qtbot.mouseClick(widget.train_button, LEFT)
    qtbot.waitUntil(lambda: widget.progress.value() >= 1, timeout=120_000)
    viewer.layers.remove(layer)  # the user closes the video while it trains
    del layer
    _wait_done(qtbot, widget)
    assert "Trained 1" in widget.status.text(), widget.status.text()
    qtbot.wait(50)
    gc.collect()
    assert freed() is None  # the closed video's reader (and frame cache) is gone
    prefetch.join(10)
    assert not prefetch.is_alive()
