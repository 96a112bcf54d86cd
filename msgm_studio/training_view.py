"""The training tab: live curves of a moderation run and its latest preview grid.

The first plot shows the retain loss on the left axis and the forget loss on the right axis, because
the forget terms have other scales. Raw values are faint and an exponential moving average is bold.
The second plot shows the forget rate and the quality on kept content in percent. The third shows the
score diagnostic: the cosine to the original model's predicted noise against the time t, with the
latest measurement bold and the earlier ones fading. Next to the plots is the preview grid from fixed
seeds, with the step it shows.

Points are appended to numpy buffers as events arrive. The curves are redrawn at most every
`REDRAW_INTERVAL_MS`, so a fast run does not redraw the plots on every step. The step axes of the
loss and the metrics plots are linked and follow the run from step 0 until the user pans or zooms.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from engine.jobs import ScoreDiagnostic
from msgm_studio.image_view import ImageGridView

REDRAW_INTERVAL_MS = 100
# Fixed axis widths (pixels), so that the step axes of the stacked plots line up.
AXIS_WIDTH = 56
# Weight of the previous value in the moving average of a loss.
SMOOTHING = 0.9
# Earlier score diagnostics drawn behind the latest one, each fainter than the one after it.
FADED_DIAGNOSTICS = 4

RETAIN_COLOUR = "#1f77b4"
FORGET_COLOUR = "#d62728"
QUALITY_COLOUR = "#2ca02c"

# Series key, legend name, colour. Losses come from Progress.values, metrics from Metrics.values.
LOSSES = [("retain_loss", "retain loss", RETAIN_COLOUR), ("forget_loss", "forget loss", FORGET_COLOUR)]
METRICS = [("forget_rate", "forget rate", FORGET_COLOUR), ("quality", "quality (kept classes)", QUALITY_COLOUR)]


class Series:
    """A growing (x, y) series in numpy buffers that double their size when full."""

    def __init__(self, capacity: int = 256) -> None:
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self.count = 0

    def append(self, x: float, y: float) -> None:
        if self.count == len(self._x):
            self._x = np.resize(self._x, 2 * len(self._x))
            self._y = np.resize(self._y, 2 * len(self._y))
        self._x[self.count] = x
        self._y[self.count] = y
        self.count += 1

    def clear(self) -> None:
        self.count = 0

    @property
    def x(self) -> np.ndarray:
        return self._x[: self.count]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self.count]


class MovingAverage:
    """Debiased exponential moving average: the first values are not pulled towards zero."""

    def __init__(self, smoothing: float = SMOOTHING) -> None:
        self.smoothing = smoothing
        self.reset()

    def reset(self) -> None:
        self._biased = 0.0
        self._weight = 0.0

    def add(self, value: float) -> float:
        """Add a value and return the current average."""
        self._biased = self.smoothing * self._biased + (1.0 - self.smoothing) * value
        self._weight = self.smoothing * self._weight + (1.0 - self.smoothing)
        return self._biased / self._weight


def _faint(colour: str, alpha: int) -> QColor:
    faint = QColor(colour)
    faint.setAlpha(alpha)
    return faint


def _is_step_entry(entry) -> bool:
    """Tell whether `entry` is [step, {name: number}], as history() writes it."""
    return (isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[0], int)
            and isinstance(entry[1], dict) and all(isinstance(value, (int, float)) for value in entry[1].values()))


class TrainingView(QWidget):
    """Live curves and previews of the moderation that runs, fed by the window from job engine events."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._series: dict[str, Series] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._averages: dict[str, MovingAverage] = {}
        self._dirty: set[str] = set()
        self._diagnostics: list[ScoreDiagnostic] = []
        self._legends: dict[pg.ViewBox, pg.LegendItem] = {}
        self._plots: list[pg.PlotWidget] = []
        # What add_progress and add_metrics received, kept for history().
        self._losses: list[tuple[int, dict[str, float]]] = []
        self._measurements: list[tuple[int, dict[str, float]]] = []

        self.loss_plot = self._plot("retain loss", "step")
        self.forget_loss_box = self._add_right_axis(self.loss_plot, "forget loss")
        for (key, name, colour), box in zip(LOSSES, (self.loss_plot.getPlotItem().getViewBox(), self.forget_loss_box)):
            self._add_curve(key, box, None, pg.mkPen(_faint(colour, 70), width=1))
            self._add_curve(f"{key}_smoothed", box, name, pg.mkPen(colour, width=2.5))
            self._averages[key] = MovingAverage()
        for key, _name, _colour in LOSSES:
            for curve in (self._curves[key], self._curves[f"{key}_smoothed"]):
                curve.setClipToView(True)
                curve.setDownsampling(auto=True, method="peak")

        self.metrics_plot = self._plot("% of samples", "step")
        self.metrics_plot.setYRange(0, 100, padding=0.02)
        self.metrics_plot.enableAutoRange(axis="y", enable=False)
        self.metrics_plot.setXLink(self.loss_plot)
        self.loss_plot.enableAutoRange(axis="x", enable=False)
        self._following = True
        self._last_step = 0
        for plot in (self.loss_plot, self.metrics_plot):
            plot.getPlotItem().getViewBox().sigRangeChangedManually.connect(self._stop_following)
        for key, name, colour in METRICS:
            self._add_curve(key, self.metrics_plot.getPlotItem().getViewBox(), name, pg.mkPen(colour, width=2),
                            symbol="o", symbolSize=5, symbolBrush=colour, symbolPen=None)

        self.score_plot = self._plot("cosine to the original", "time t")
        self.score_plot.setYRange(-1, 1, padding=0.05)
        self.score_plot.setXRange(0, 1, padding=0.02)
        self.score_plot.enableAutoRange(enable=False)
        self.score_plot.addItem(pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen("#888888", style=Qt.PenStyle.DashLine)))
        self._faded: dict[str, list[pg.PlotDataItem]] = {}
        for role, colour in (("forget", FORGET_COLOUR), ("retain", RETAIN_COLOUR)):
            self._faded[role] = [self.score_plot.plot([], [], pen=pg.mkPen(_faint(colour, 40 + 30 * index), width=1))
                                 for index in range(FADED_DIAGNOSTICS)]
            self._add_curve(f"score_{role}", self.score_plot.getPlotItem().getViewBox(), f"{role} images",
                            pg.mkPen(colour, width=2.5), symbol="o", symbolSize=5, symbolBrush=colour, symbolPen=None)

        self.readout = QLabel()
        self.readout.setWordWrap(True)
        # Wrapped, because the title is long and would otherwise widen the plots and squeeze the preview.
        self.score_title = QLabel()
        self.score_title.setWordWrap(True)
        self.preview_title = QLabel("Preview")
        font = QFont(self.preview_title.font())
        font.setBold(True)
        self.preview_title.setFont(font)
        self.preview_view = ImageGridView("Previews from fixed seeds appear here during a moderation")
        self.preview_label = QLabel()
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        plots = QVBoxLayout()
        plots.addWidget(self.readout)
        for widget in (self.loss_plot, self.metrics_plot):
            plots.addWidget(widget, 1)
        plots.addWidget(self.score_title)
        plots.addWidget(self.score_plot, 1)
        preview = QVBoxLayout()
        preview.addWidget(self.preview_title)
        preview.addWidget(self.preview_view, 1)
        preview.addWidget(self.preview_label)
        layout = QGridLayout(self)
        layout.addLayout(plots, 0, 0)
        layout.addLayout(preview, 0, 1)
        layout.setColumnStretch(0, 3)
        layout.setColumnStretch(1, 2)

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_INTERVAL_MS)
        self._redraw_timer.timeout.connect(self.redraw)
        self.clear()

    # Building

    def _plot(self, left: str, bottom: str) -> pg.PlotWidget:
        plot = pg.PlotWidget()
        item = plot.getPlotItem()
        item.showAxis("right")
        for side in ("left", "bottom", "right"):
            item.getAxis(side).enableAutoSIPrefix(False)
        for side in ("left", "right"):
            item.getAxis(side).setWidth(AXIS_WIDTH)
        item.getAxis("right").setStyle(showValues=False)
        item.setLabel("bottom", bottom)
        item.setLabel("left", left)
        item.showGrid(x=True, y=True, alpha=0.2)
        self._legends[item.getViewBox()] = item.addLegend(offset=(-60, 10))
        plot.setMinimumHeight(120)
        self._plots.append(plot)
        self._apply_palette(plot)
        return plot

    def _apply_palette(self, plot: pg.PlotWidget) -> None:
        """Draw `plot` in the colours of the current palette, so that it follows light and dark themes."""
        palette = self.palette()
        background, text_colour = palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.Text)
        plot.setBackground(background)
        item = plot.getPlotItem()
        for side in ("left", "bottom", "right"):
            item.getAxis(side).setPen(text_colour)
            item.getAxis(side).setTextPen(text_colour)
        legend = self._legends[item.getViewBox()]
        legend.setLabelTextColor(text_colour)
        for _sample, label in legend.items:
            label.setText(label.text)  # a label keeps its old colour until its text is set again
        # A half-transparent background keeps the legend readable and the curves behind it visible.
        legend.setBrush(pg.mkBrush(_faint(background.name(), 140)))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            for plot in self._plots:
                self._apply_palette(plot)
        super().changeEvent(event)

    def _add_right_axis(self, plot: pg.PlotWidget, label: str) -> pg.ViewBox:
        """Add a view box with its own y axis on the right of `plot`, sharing its x axis."""
        item = plot.getPlotItem()
        box = pg.ViewBox()
        item.scene().addItem(box)
        axis = item.getAxis("right")
        axis.linkToView(box)
        axis.setLabel(label)
        axis.setStyle(showValues=True)
        box.setXLink(item)
        self._legends[box] = self._legends[item.getViewBox()]

        def follow_geometry() -> None:
            box.setGeometry(item.getViewBox().sceneBoundingRect())

        item.getViewBox().sigResized.connect(follow_geometry)
        return box

    def _add_curve(self, key: str, box: pg.ViewBox, name: str | None, pen, **style) -> None:
        """Add an empty curve to `box`, and to the legend of its plot when it has a `name`."""
        curve = pg.PlotDataItem([], [], pen=pen, **style)
        box.addItem(curve)
        if name is not None:
            self._legends[box].addItem(curve, name)
        self._series[key] = Series()
        self._curves[key] = curve

    # Feeding

    def clear(self) -> None:
        """Drop the curves and the preview of the previous run."""
        for key, series in self._series.items():
            series.clear()
            self._curves[key].setData([], [])
        for average in self._averages.values():
            average.reset()
        for items in self._faded.values():
            for item in items:
                item.setData([], [])
        self._diagnostics.clear()
        self._losses.clear()
        self._measurements.clear()
        self._dirty.clear()
        self._following = True
        self._last_step = 0
        self.loss_plot.setXRange(0, 1, padding=0.02)
        self.readout.setText("Start a moderation to follow its losses and measurements here.")
        self.score_title.setText("Score diagnostic: measured during a moderation when monitoring is on")
        self.preview_view.set_placeholder("Previews from fixed seeds appear here during a moderation")
        self.preview_label.clear()

    def add_progress(self, step: int, values: dict[str, float]) -> None:
        """Append the loss terms of one step. The forget loss only has points on steps where its term ran."""
        self._losses.append((step, {key: float(values[key]) for key, _name, _colour in LOSSES if key in values}))
        for key, _name, _colour in LOSSES:
            if key in values:
                value = float(values[key])
                self._append(key, step, value)
                self._append(f"{key}_smoothed", step, self._averages[key].add(value))

    def add_metrics(self, step: int, values: dict[str, float]) -> None:
        """Append a measurement: shares in [0, 1], drawn in percent."""
        self._measurements.append((step, {key: float(values[key]) for key, _name, _colour in METRICS if key in values}))
        for key, _name, _colour in METRICS:
            if key in values:
                self._append(key, step, 100.0 * float(values[key]))
        parts = [f"{name} {100.0 * values[key]:.0f}%" for key, name, _colour in METRICS if key in values]
        if parts:
            self.readout.setText(f"Step {step}: {', '.join(parts)}")

    def add_score_diagnostic(self, diagnostic: ScoreDiagnostic) -> None:
        """Draw the latest score diagnostic bold and fade the earlier ones."""
        self._diagnostics.append(diagnostic)
        earlier = self._diagnostics[-1 - FADED_DIAGNOSTICS : -1]
        for role in ("forget", "retain"):
            # The oldest drawn measurement takes the faintest item.
            for item, old in zip(self._faded[role][FADED_DIAGNOSTICS - len(earlier):], earlier):
                item.setData(old.times, getattr(old, role))
            series = self._series[f"score_{role}"]
            series.clear()
            for t, cosine in zip(diagnostic.times, getattr(diagnostic, role)):
                series.append(t, cosine)
            self._dirty.add(f"score_{role}")
        self.score_title.setText(f"Score diagnostic at step {diagnostic.step}: cosine between the moderated and the "
                                 "original model's predicted noise (earlier measurements faded)")
        self._schedule_redraw()

    def history(self) -> dict:
        """Return the losses, measurements and score diagnostics shown, as JSON-ready lists, for a project to keep."""
        return {
            "losses": [[step, values] for step, values in self._losses],
            "measurements": [[step, values] for step, values in self._measurements],
            "score_diagnostics": [asdict(diagnostic) for diagnostic in self._diagnostics],
        }

    def restore(self, history: dict) -> None:
        """Show a run's curves again from `history()`. Entries that are not well formed are skipped."""
        self.clear()
        for key, add in (("losses", self.add_progress), ("measurements", self.add_metrics)):
            for entry in history.get(key) or []:
                if _is_step_entry(entry):
                    add(entry[0], entry[1])
        for entry in history.get("score_diagnostics") or []:
            try:
                self.add_score_diagnostic(ScoreDiagnostic(**entry))
            except TypeError:
                continue
        self.redraw()

    def show_preview(self, step: int, images: np.ndarray) -> None:
        """Show a preview grid, uint8 images (N, H, W, C), sampled at `step`."""
        self.preview_view.set_images(images)
        self.preview_label.setText(f"step {step}")

    def _append(self, key: str, step: int, y: float) -> None:
        self._series[key].append(step, y)
        self._last_step = max(self._last_step, step)
        self._dirty.add(key)
        self._schedule_redraw()

    def _stop_following(self, *_args) -> None:
        self._following = False

    def _schedule_redraw(self) -> None:
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def redraw(self) -> None:
        """Hand the new points to the curves now, instead of on the next redraw tick."""
        self._redraw_timer.stop()
        for key in self._dirty:
            series = self._series[key]
            self._curves[key].setData(series.x, series.y)
        self._dirty.clear()
        if self._following:
            self.loss_plot.setXRange(0, max(1, self._last_step), padding=0.02)

    # Reading, for tests and for the window

    def point_count(self, key: str) -> int:
        """Return how many points series `key` has (e.g. "retain_loss", "forget_rate", "score_forget")."""
        return self._series[key].count

    def curve_data(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """Return the (x, y) arrays that curve `key` draws now."""
        x, y = self._curves[key].getData()
        if x is None:
            return np.empty(0), np.empty(0)
        return x, y

    def faded_curve_count(self, role: str) -> int:
        """Return how many earlier score diagnostics of `role` ("forget" or "retain") are drawn faded."""
        return sum(1 for item in self._faded[role] if item.getData()[0] is not None and len(item.getData()[0]))
