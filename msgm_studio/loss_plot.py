"""A live plot of the retain and forget loss of a moderation run."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QWidget

# Loss term in Progress.values, legend name and colour.
CURVES = [("retain_loss", "retain loss", "#1f77b4"), ("forget_loss", "forget loss", "#d62728")]


class LossPlot(pg.PlotWidget):
    """Plot of retain and forget loss per step. The forget loss has points only on steps where its term ran."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        palette = self.palette()
        self.setBackground(palette.color(QPalette.ColorRole.Base))
        plot = self.getPlotItem()
        text_colour = palette.color(QPalette.ColorRole.Text)
        for side in ("left", "bottom"):
            plot.getAxis(side).setPen(text_colour)
            plot.getAxis(side).setTextPen(text_colour)
        plot.setLabel("bottom", "step")
        plot.setLabel("left", "loss")
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.addLegend(offset=(-10, 10), labelTextColor=text_colour)
        self.setMinimumHeight(140)

        self._points: dict[str, tuple[list[int], list[float]]] = {}
        self._curves = {}
        for key, name, colour in CURVES:
            self._points[key] = ([], [])
            self._curves[key] = plot.plot([], [], name=name, pen=pg.mkPen(colour, width=1.5))

    def clear_points(self) -> None:
        for key, (steps, values) in self._points.items():
            steps.clear()
            values.clear()
            self._curves[key].setData([], [])

    def add_point(self, step: int, values: dict[str, float]) -> None:
        for key, (steps, points) in self._points.items():
            if key in values:
                steps.append(step)
                points.append(values[key])
                self._curves[key].setData(steps, points)

    def point_count(self, key: str) -> int:
        return len(self._points[key][0])
