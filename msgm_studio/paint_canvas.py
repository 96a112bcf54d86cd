"""A paint canvas on a small grey array, shown enlarged with sharp pixels and painted with the mouse.

The array is float32 (H, W) in [0, 1], 1 where painted. The inpainting tab paints its mask on it over
the input image; the same canvas draws white strokes on black, as in MNIST.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QKeySequence, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from msgm_studio.image_view import enlarge, to_qimage

TOOLS = ("brush", "eraser", "rectangle")
# Edits kept for undo. Each entry is a copy of the array, so the memory is MAX_UNDO * H * W * 4 bytes.
MAX_UNDO = 100
# Painted pixels over a background image are tinted with this colour, at this opacity for a value of 1.
OVERLAY_RGB = np.array([255, 40, 150], dtype=np.float32)
OVERLAY_OPACITY = 0.6


def stroke_coverage(height: int, width: int, start: tuple[float, float], end: tuple[float, float],
                    radius: float) -> np.ndarray:
    """Return how much a round brush of `radius` pixels dragged from `start` to `end` covers each pixel.

    Points are (x, y) in image coordinates, where pixel (row, column) spans [column, column + 1) x
    [row, row + 1). The coverage falls linearly from 1 to 0 as the distance of a pixel's centre from the
    segment grows from radius - 0.5 to radius + 0.5, so a fast stroke leaves no gaps and its edge is soft.
    """
    coverage = np.zeros((height, width), dtype=np.float32)
    reach = radius + 1.0
    left = max(0, math.floor(min(start[0], end[0]) - reach))
    right = min(width, math.ceil(max(start[0], end[0]) + reach))
    top = max(0, math.floor(min(start[1], end[1]) - reach))
    bottom = min(height, math.ceil(max(start[1], end[1]) + reach))
    if left >= right or top >= bottom:
        return coverage

    xs = np.arange(left, right, dtype=np.float32)[None, :] + 0.5
    ys = np.arange(top, bottom, dtype=np.float32)[:, None] + 0.5
    dx, dy = end[0] - start[0], end[1] - start[1]
    length_squared = dx * dx + dy * dy
    if length_squared > 0:
        along = np.clip(((xs - start[0]) * dx + (ys - start[1]) * dy) / length_squared, 0.0, 1.0)
    else:
        along = np.zeros((bottom - top, right - left), dtype=np.float32)
    distance = np.hypot(xs - (start[0] + along * dx), ys - (start[1] + along * dy))
    coverage[top:bottom, left:right] = np.clip(radius + 0.5 - distance, 0.0, 1.0)
    return coverage


def _is_undo_key(event) -> bool:
    return event.matches(QKeySequence.StandardKey.Undo)


def _is_redo_key(event) -> bool:
    control_y = event.key() == Qt.Key.Key_Y and event.modifiers() == Qt.KeyboardModifier.ControlModifier
    return event.matches(QKeySequence.StandardKey.Redo) or control_y


class PaintCanvas(QWidget):
    """A grey array painted with a soft round brush, an eraser or filled rectangles, with undo and redo.

    The left button paints with the current tool and the right button erases (with the rectangle tool,
    it clears a rectangle). Ctrl+Z undoes and Ctrl+Shift+Z or Ctrl+Y redoes while the canvas has focus.
    Every completed edit (a stroke, a rectangle, clear, invert, set_array) is one undo entry; an edit
    that changes no pixel adds none.
    """

    changed = Signal()  # after every completed edit, undo and redo, not during a stroke

    def __init__(self, height: int = 28, width: int = 28, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tool = "brush"
        self._brush_size = 2.0
        self._background: np.ndarray | None = None  # uint8 (H, W, 3)
        self._pixmap = QPixmap()
        self._hover: QPointF | None = None  # image coordinates of the mouse, for the brush outline
        self._drag_button: Qt.MouseButton | None = None
        self._drag_start: np.ndarray | None = None  # the array before the edit in progress
        self._last_point: tuple[float, float] | None = None
        self._rectangle: tuple[int, int, int, int] | None = None  # anchor and current pixel: x0, y0, x1, y1
        self.set_shape(height, width)

        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Dark)

    # The array

    @property
    def shape(self) -> tuple[int, int]:
        return self._array.shape

    def set_shape(self, height: int, width: int) -> None:
        """Start a new, empty array of another size, without background or undo history."""
        if height < 1 or width < 1:
            raise ValueError(f"the canvas needs at least 1x1 pixels, got {height}x{width}")
        self._array = np.zeros((height, width), dtype=np.float32)
        self._background = None
        self._undo: list[np.ndarray] = []
        self._redo: list[np.ndarray] = []
        self._cancel_drag()
        self._render()
        self.updateGeometry()
        self.changed.emit()

    def array(self) -> np.ndarray:
        """Return a copy of the painted array: float32 (H, W) in [0, 1], 1 where painted."""
        return self._array.copy()

    def set_array(self, array: np.ndarray) -> None:
        """Replace the painted array (values clipped to [0, 1]) as one undoable edit."""
        array = np.asarray(array, dtype=np.float32)
        if array.shape != self._array.shape:
            raise ValueError(f"the array has shape {array.shape} but the canvas is {self._array.shape}")
        self._edit(np.clip(array, 0.0, 1.0))

    def clear(self) -> None:
        self._edit(np.zeros_like(self._array))

    def invert(self) -> None:
        """Swap painted and unpainted: every value v becomes 1 - v."""
        self._edit(1.0 - self._array)

    def undo(self) -> None:
        self._finish_drag()
        if self._undo:
            self._redo.append(self._array)
            self._array = self._undo.pop()
            self._show_change()

    def redo(self) -> None:
        self._finish_drag()
        if self._redo:
            self._undo.append(self._array)
            self._array = self._redo.pop()
            self._show_change()

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    # Tools and background

    @property
    def tool(self) -> str:
        return self._tool

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; use one of {', '.join(TOOLS)}")
        self._finish_drag()
        self._tool = tool
        self.update()

    @property
    def brush_size(self) -> float:
        return self._brush_size

    def set_brush_size(self, pixels: float) -> None:
        """Set the brush and eraser diameter in image pixels (at least 0.5)."""
        self._brush_size = max(0.5, float(pixels))
        self.update()

    def set_background(self, image: np.ndarray | None) -> None:
        """Show a uint8 (H, W), (H, W, 1) or (H, W, 3) image under the painting, or none with None.

        Over a background the painted pixels are a translucent tint; without one they are white on black.
        """
        if image is None:
            self._background = None
        else:
            image = np.asarray(image)
            if image.ndim == 2:
                image = image[:, :, None]
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (1, 3):
                raise ValueError(f"the background must be uint8 (H, W), (H, W, 1) or (H, W, 3), got {image.dtype} {image.shape}")
            if image.shape[:2] != self._array.shape:
                raise ValueError(f"the background is {image.shape[1]}x{image.shape[0]} pixels but the canvas is "
                                 f"{self._array.shape[1]}x{self._array.shape[0]}")
            self._background = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image.copy()
        self._render()

    def has_background(self) -> bool:
        return self._background is not None

    def pixmap(self) -> QPixmap:
        """Return the enlarged picture as drawn, tagged with the device pixel ratio."""
        return self._pixmap

    # Editing

    def _edit(self, new_array: np.ndarray) -> None:
        self._finish_drag()
        before = self._array
        self._array = new_array.astype(np.float32, copy=True)
        self._commit(before)

    def _commit(self, before: np.ndarray) -> None:
        """Record `before` as one undo entry when the array changed, and tell listeners."""
        if np.array_equal(before, self._array):
            self._render()
            return
        self._undo.append(before)
        del self._undo[:-MAX_UNDO]
        self._redo.clear()
        self._show_change()

    def _show_change(self) -> None:
        self._render()
        self.changed.emit()

    def _paint_segment(self, start: tuple[float, float], end: tuple[float, float], erase: bool) -> None:
        height, width = self._array.shape
        coverage = stroke_coverage(height, width, start, end, self._brush_size / 2)
        if erase:
            np.minimum(self._array, 1.0 - coverage, out=self._array)
        else:
            np.maximum(self._array, coverage, out=self._array)
        self._render()

    def _fill_rectangle(self, rectangle: tuple[int, int, int, int], erase: bool) -> None:
        x0, y0, x1, y1 = rectangle
        self._array[min(y0, y1) : max(y0, y1) + 1, min(x0, x1) : max(x0, x1) + 1] = 0.0 if erase else 1.0

    def _erases(self, button: Qt.MouseButton) -> bool:
        return self._tool == "eraser" or button == Qt.MouseButton.RightButton

    def _finish_drag(self) -> None:
        """Complete the stroke or rectangle in progress, for example when undo is pressed during a drag."""
        if self._drag_start is None:
            return
        before, button, rectangle = self._drag_start, self._drag_button, self._rectangle
        self._cancel_drag()
        if rectangle is not None:
            self._fill_rectangle(rectangle, self._erases(button))
        self._commit(before)

    def _cancel_drag(self) -> None:
        self._drag_start = None
        self._drag_button = None
        self._last_point = None
        self._rectangle = None

    # Geometry: the array is drawn enlarged by a whole number of device pixels per pixel, centred in the widget.

    def _scale_factor(self) -> int:
        height, width = self._array.shape
        ratio = self.devicePixelRatioF()
        return max(1, min(int(self.width() * ratio) // width, int(self.height() * ratio) // height))

    def image_rect(self) -> QRectF:
        """Return where the array is drawn, in widget coordinates, starting on a whole device pixel."""
        height, width = self._array.shape
        ratio = self.devicePixelRatioF()
        factor = self._scale_factor()
        left = max(0, (int(self.width() * ratio) - width * factor) // 2)
        top = max(0, (int(self.height() * ratio) - height * factor) // 2)
        return QRectF(left / ratio, top / ratio, width * factor / ratio, height * factor / ratio)

    def to_image(self, position: QPointF) -> tuple[float, float]:
        """Map a widget position to image coordinates (x, y), where pixel (row, column) spans one unit."""
        rect = self.image_rect()
        height, width = self._array.shape
        return ((position.x() - rect.left()) * width / rect.width(), (position.y() - rect.top()) * height / rect.height())

    def _pixel_at(self, point: tuple[float, float]) -> tuple[int, int]:
        height, width = self._array.shape
        return min(max(int(math.floor(point[0])), 0), width - 1), min(max(int(math.floor(point[1])), 0), height - 1)

    # Mouse and keyboard

    def mousePressEvent(self, event) -> None:
        button = event.button()
        if button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton) or self._drag_start is not None:
            event.ignore()
            return
        point = self.to_image(event.position())
        self._drag_start = self._array.copy()
        self._drag_button = button
        if self._tool == "rectangle":
            x, y = self._pixel_at(point)
            self._rectangle = (x, y, x, y)
            self.update()
        else:
            self._last_point = point
            self._paint_segment(point, point, self._erases(button))
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        point = self.to_image(event.position())
        self._hover = QPointF(*point)
        if self._drag_start is None:
            self.update()
            return
        if self._rectangle is not None:
            x, y = self._pixel_at(point)
            self._rectangle = (self._rectangle[0], self._rectangle[1], x, y)
            self.update()
        else:
            self._paint_segment(self._last_point, point, self._erases(self._drag_button))
            self._last_point = point
        event.accept()

    def mouseReleaseEvent(self, event) -> None:
        if self._drag_start is None or event.button() != self._drag_button:
            event.ignore()
            return
        point = self.to_image(event.position())
        if self._rectangle is not None:
            x, y = self._pixel_at(point)
            self._rectangle = (self._rectangle[0], self._rectangle[1], x, y)
        else:
            self._paint_segment(self._last_point, point, self._erases(self._drag_button))
        self._finish_drag()
        event.accept()

    def leaveEvent(self, event) -> None:
        self._hover = None
        self.update()
        super().leaveEvent(event)

    def event(self, event) -> bool:
        # While the canvas has focus, undo and redo keys edit the canvas, not a window-wide Undo action.
        if event.type() == QEvent.Type.ShortcutOverride and (_is_undo_key(event) or _is_redo_key(event)):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        if _is_undo_key(event):
            self.undo()
        elif _is_redo_key(event):
            self.redo()
        else:
            super().keyPressEvent(event)

    # Drawing

    def sizeHint(self) -> QSize:
        height, width = self._array.shape
        factor = max(1, 320 // max(height, width))
        return QSize(width * factor, height * factor)

    def minimumSizeHint(self) -> QSize:
        height, width = self._array.shape
        factor = 1 if max(height, width) > 100 else 4
        return QSize(width * factor, height * factor)

    def composed_image(self) -> np.ndarray:
        """Return the picture at the array's resolution: uint8 (H, W, 3), the painting over the background."""
        if self._background is None:
            grey = np.round(self._array * 255).astype(np.uint8)
            return np.repeat(grey[:, :, None], 3, axis=2)
        opacity = (self._array * OVERLAY_OPACITY)[:, :, None]
        mixed = self._background.astype(np.float32) * (1.0 - opacity) + OVERLAY_RGB * opacity
        return np.round(mixed).astype(np.uint8)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._render()

    def _render(self) -> None:
        self._pixmap = QPixmap.fromImage(enlarge(to_qimage(self.composed_image()), self._scale_factor()))
        self._pixmap.setDevicePixelRatio(self.devicePixelRatioF())
        self.update()

    def paintEvent(self, event) -> None:
        if self._pixmap.devicePixelRatio() != self.devicePixelRatioF():
            self._render()  # the window moved to a screen with another scale factor
        rect = self.image_rect()
        painter = QPainter(self)
        painter.drawPixmap(rect.topLeft(), self._pixmap)
        painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Mid), 1))
        painter.drawRect(rect.adjusted(-0.5, -0.5, 0.5, 0.5))

        pixel = rect.width() / self._array.shape[1]
        if self._rectangle is not None:
            x0, y0, x1, y1 = self._rectangle
            box = QRectF(rect.left() + min(x0, x1) * pixel, rect.top() + min(y0, y1) * pixel,
                         (abs(x1 - x0) + 1) * pixel, (abs(y1 - y0) + 1) * pixel)
            painter.setPen(QPen(QColor(255, 255, 0), 1, Qt.PenStyle.DashLine))
            painter.drawRect(box)
        elif self._hover is not None and self._tool != "rectangle":
            centre = QPointF(rect.left() + self._hover.x() * pixel, rect.top() + self._hover.y() * pixel)
            radius = self._brush_size / 2 * pixel
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(QColor(255, 255, 0, 200), 1))
            painter.drawEllipse(centre, radius, radius)
