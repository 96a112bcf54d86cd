"""The drawing dialog: paint an image of what the model must forget, in the model's size, and add it to the forget set."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from msgm_studio.paint_canvas import PaintCanvas

# Smallest brush diameter, in model pixels.
MIN_BRUSH = 0.5
# Default brush diameter as a share of the image side: 2.5 pixels at 28x28, roughly an MNIST pen stroke.
DEFAULT_BRUSH_SHARE = 2.5 / 28


class DrawDialog(QDialog):
    """A paint canvas of the model's size with brush, eraser, brush size, clear, undo and redo.

    "Add" emits `drawing_added` with the canvas array and closes; "Add and draw another" emits it and
    starts a new, empty drawing, for a quick series. The array is float32 (H, W) in [0, 1], 1 where
    painted; the forget set panel turns it into a model image.
    """

    drawing_added = Signal(object)  # np.ndarray (H, W)

    def __init__(self, height: int, width: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Draw an image to forget")
        self.added_count = 0
        self.canvas = PaintCanvas(height, width)
        self.canvas.setMinimumSize(max(224, width * 4), max(224, height * 4))
        self.canvas.set_brush_size(max(MIN_BRUSH, round(DEFAULT_BRUSH_SHARE * max(height, width) * 2) / 2))

        self.brush_button = QPushButton("Brush")
        self.eraser_button = QPushButton("Eraser")
        self._tools = QButtonGroup(self)
        for button, tool in ((self.brush_button, "brush"), (self.eraser_button, "eraser")):
            button.setCheckable(True)
            button.setProperty("tool", tool)
            self._tools.addButton(button)
        self.brush_button.setChecked(True)
        self._tools.buttonClicked.connect(lambda button: self.canvas.set_tool(button.property("tool")))

        self.size_box = QDoubleSpinBox()
        self.size_box.setRange(MIN_BRUSH, max(8.0, max(height, width) / 4))
        self.size_box.setSingleStep(0.5)
        self.size_box.setDecimals(1)
        self.size_box.setSuffix(" px")
        self.size_box.setToolTip("Brush and eraser diameter, in pixels of the model's images")
        self.size_box.setValue(self.canvas.brush_size)
        self.size_box.valueChanged.connect(self.canvas.set_brush_size)

        self.undo_button = QPushButton("Undo")
        self.redo_button = QPushButton("Redo")
        self.clear_button = QPushButton("Clear")
        self.undo_button.clicked.connect(self.canvas.undo)
        self.redo_button.clicked.connect(self.canvas.redo)
        self.clear_button.clicked.connect(self.canvas.clear)

        self.add_button = QPushButton("Add")
        self.add_another_button = QPushButton("Add and draw another")
        self.close_button = QPushButton("Close")
        self.add_button.setDefault(True)
        self.add_button.clicked.connect(self.add_and_close)
        self.add_another_button.clicked.connect(self.add_and_draw_another)
        self.close_button.clicked.connect(self.reject)

        self.status_label = QLabel()
        hint = QLabel("Paint with the left button; the right button erases. "
                      f"The drawing is added at {width}x{height} pixels.")
        hint.setWordWrap(True)

        tools = QHBoxLayout()
        for widget in (self.brush_button, self.eraser_button, QLabel("Size:"), self.size_box):
            tools.addWidget(widget)
        tools.addStretch(1)
        for widget in (self.undo_button, self.redo_button, self.clear_button):
            tools.addWidget(widget)
        actions = QHBoxLayout()
        actions.addWidget(self.status_label, 1)
        for widget in (self.add_another_button, self.add_button, self.close_button):
            actions.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.addLayout(tools)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(hint)
        layout.addLayout(actions)

        self.canvas.changed.connect(self._update_buttons)
        self._update_buttons()
        self.canvas.setFocus(Qt.FocusReason.OtherFocusReason)

    @property
    def shape(self) -> tuple[int, int]:
        return self.canvas.shape

    def add_and_close(self) -> None:
        if self._add():
            self.canvas.set_shape(*self.canvas.shape)
            self.accept()

    def add_and_draw_another(self) -> None:
        if self._add():
            self.canvas.set_shape(*self.canvas.shape)
            self.canvas.setFocus(Qt.FocusReason.OtherFocusReason)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.status_label.clear()
        self.added_count = 0

    def _add(self) -> bool:
        drawing = self.canvas.array()
        if not np.any(drawing > 0):
            return False
        self.drawing_added.emit(drawing)
        self.added_count += 1
        self.status_label.setText(f"{self.added_count} drawing{'s' if self.added_count > 1 else ''} added")
        return True

    def _update_buttons(self) -> None:
        painted = bool(np.any(self.canvas.array() > 0))
        self.add_button.setEnabled(painted)
        self.add_another_button.setEnabled(painted)
        self.clear_button.setEnabled(painted)
        self.undo_button.setEnabled(self.canvas.can_undo())
        self.redo_button.setEnabled(self.canvas.can_redo())
