"""The training tab: live loss, metric and score-diagnostic curves and the preview grid, alone and during a run."""

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from engine.jobs import ScoreDiagnostic
from engine.monitor import SCORE_TIMES
from msgm_studio.main_window import MainWindow
from msgm_studio.training_view import FADED_DIAGNOSTICS, MovingAverage, TrainingView

TIMEOUT_MS = 120_000


@pytest.fixture
def view(qtbot) -> TrainingView:
    view = TrainingView()
    qtbot.addWidget(view)
    view.resize(900, 700)
    return view


def diagnostic(step: int, forget: float, retain: float) -> ScoreDiagnostic:
    times = list(SCORE_TIMES)
    return ScoreDiagnostic(step=step, times=times, forget=[forget] * len(times), retain=[retain] * len(times))


def test_losses_drawn_raw_and_smoothed(view):
    for step, value in enumerate([0.5, 0.3, 0.1], start=1):
        view.add_progress(step, {"retain_loss": value})
    view.add_progress(4, {"retain_loss": 0.2, "forget_loss": 0.9})
    view.redraw()

    steps, raw = view.curve_data("retain_loss")
    _, smoothed = view.curve_data("retain_loss_smoothed")
    assert list(steps) == [1, 2, 3, 4]
    assert list(raw) == [0.5, 0.3, 0.1, 0.2]
    assert smoothed[0] == pytest.approx(0.5)
    assert 0.2 < smoothed[-1] < 0.5
    assert list(view.curve_data("forget_loss")[0]) == [4]
    assert list(view.curve_data("forget_loss_smoothed")[1]) == [pytest.approx(0.9)]


def test_moving_average_is_debiased():
    average = MovingAverage(smoothing=0.9)
    assert average.add(2.0) == pytest.approx(2.0)
    assert average.add(2.0) == pytest.approx(2.0)
    assert average.add(4.0) == pytest.approx(2.0 + 2.0 * 0.1 / (1 - 0.9**3))


def test_points_wait_for_redraw_tick(qtbot, view):
    for step in range(1, 1001):
        view.add_progress(step, {"retain_loss": 1.0 / step})

    assert view.point_count("retain_loss") == 1000
    assert len(view.curve_data("retain_loss")[0]) == 0
    qtbot.waitUntil(lambda: len(view.curve_data("retain_loss")[0]) == 1000, timeout=2_000)


def test_metrics_drawn_in_percent(view):
    view.add_metrics(0, {"forget_rate": 0.125, "quality": 0.75})
    view.add_metrics(25, {"forget_rate": 0.0625, "quality": 0.8125})
    view.redraw()

    assert list(view.curve_data("forget_rate")[1]) == [12.5, 6.25]
    assert list(view.curve_data("quality")[1]) == [75.0, 81.25]
    assert view.readout.text() == "Step 25: forget rate 6%, quality (kept classes) 81%"


def test_score_diagnostic_fades_earlier(view):
    for index in range(FADED_DIAGNOSTICS + 2):
        view.add_score_diagnostic(diagnostic(step=25 * index, forget=1.0 - 0.3 * index, retain=0.99))
    view.redraw()

    times, forget = view.curve_data("score_forget")
    assert list(times) == list(SCORE_TIMES)
    assert forget[0] == pytest.approx(1.0 - 0.3 * (FADED_DIAGNOSTICS + 1))
    assert view.faded_curve_count("forget") == FADED_DIAGNOSTICS
    assert view.faded_curve_count("retain") == FADED_DIAGNOSTICS
    assert "step 125" in view.score_title.text()


def test_preview_shows_step(view):
    images = np.full((4, 28, 28, 1), 200, dtype=np.uint8)
    view.show_preview(40, images)
    assert view.preview_view.has_images
    assert view.preview_label.text() == "step 40"


def test_clear_drops_everything(view):
    view.add_progress(1, {"retain_loss": 0.1, "forget_loss": 0.2})
    view.add_metrics(1, {"forget_rate": 0.1})
    view.add_score_diagnostic(diagnostic(0, 1.0, 1.0))
    view.add_score_diagnostic(diagnostic(1, 0.5, 1.0))
    view.show_preview(1, np.zeros((1, 28, 28, 1), dtype=np.uint8))
    view.redraw()

    view.clear()

    for key in ("retain_loss", "forget_loss_smoothed", "forget_rate", "score_forget"):
        assert view.point_count(key) == 0
        assert len(view.curve_data(key)[0]) == 0
    assert view.faded_curve_count("forget") == 0
    assert not view.preview_view.has_images
    assert view.preview_label.text() == ""


def test_moderation_fills_every_curve(qtbot, base_checkpoint: Path, monkeypatch):
    window = MainWindow(checkpoint=None, device="cpu")
    qtbot.addWidget(window)
    window.sample_count = 4
    window.sampler_steps = 5
    window.moderation_overrides = {"retain_batch_size": 8, "forget_batch_size": 8, "warmup": 1,
                                   "monitor_every": 2, "monitor_count": 4, "preview_every": 2}
    errors: list[str] = []
    monkeypatch.setattr(window, "show_error", errors.append)
    window.open_checkpoint(base_checkpoint)
    qtbot.waitUntil(lambda: not window.jobs.busy and window.original is not None, timeout=TIMEOUT_MS)

    window.forget_panel.class_button("7").click()
    window.job_panel.steps_box.setValue(2)
    qtbot.mouseClick(window.job_panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.moderated is not None and not window.jobs.busy, timeout=TIMEOUT_MS)
    view = window.training_view
    qtbot.waitUntil(lambda: len(view.curve_data("forget_rate")[0]) == 2, timeout=2_000)

    assert errors == []
    assert list(view.curve_data("retain_loss")[0]) == [1, 2]
    assert list(view.curve_data("forget_loss")[0]) == [1, 2]
    assert list(view.curve_data("forget_rate")[0]) == [0, 2]
    assert list(view.curve_data("quality")[0]) == [0, 2]
    assert all(0 <= value <= 100 for value in view.curve_data("forget_rate")[1])
    assert len(view.curve_data("score_forget")[0]) == len(SCORE_TIMES)
    assert len(view.curve_data("score_retain")[0]) == len(SCORE_TIMES)
    assert view.faded_curve_count("forget") == 1
    assert view.preview_view.has_images
    assert view.preview_label.text() == "step 2"
    assert view.readout.text().startswith("Step 2: forget rate")


def test_charts_follow_the_theme(qtbot, view):
    from PySide6.QtWidgets import QApplication

    from msgm_studio.theme import apply_theme

    try:
        apply_theme("dark")
        qtbot.waitUntil(lambda: view.loss_plot.backgroundBrush().color().lightness() < 100, timeout=5_000)
        axis = view.loss_plot.getPlotItem().getAxis("left")
        assert axis.textPen().color().lightness() > 150
        assert QApplication.palette().color(view.palette().ColorRole.Base) == view.metrics_plot.backgroundBrush().color()
    finally:
        apply_theme("system")
    qtbot.waitUntil(lambda: view.loss_plot.backgroundBrush().color().lightness() > 200, timeout=5_000)


def test_history_restores_the_curves(qtbot, view):
    view.add_progress(1, {"retain_loss": 0.2, "forget_loss": 0.9})
    view.add_progress(2, {"retain_loss": 0.1})
    view.add_metrics(2, {"forget_rate": 0.05, "quality": 0.8})
    view.add_score_diagnostic(diagnostic(2, forget=-0.2, retain=0.9))
    view.redraw()
    history = view.history()

    other = TrainingView()
    qtbot.addWidget(other)
    other.restore({**history, "losses": [*history["losses"], ["bad", {}], [3, "not a dict"]]})

    assert other.history() == history
    for key in ("retain_loss_smoothed", "forget_loss", "forget_rate", "score_forget"):
        assert np.array_equal(other.curve_data(key)[1], view.curve_data(key)[1])
    assert other.readout.text() == view.readout.text()
