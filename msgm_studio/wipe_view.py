"""A wipe view: two images of the same size overlaid, the left one left of a split line the user drags."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QWidget

from msgm_studio.image_view import PixelView, TileLayout, enlarged_pixmap, paint_forget_mark, tile_images, to_qimage

# Split change per arrow key press, and per Shift+arrow or Page Up/Down press, as a fraction of the width.
SPLIT_STEP = 0.02
SPLIT_PAGE_STEP = 0.1

LINE_COLOR = QColor(255, 210, 0)
LABEL_BACKGROUND = QColor(0, 0, 0, 160)
LABEL_MARGIN = 4


def _as_picture(image: np.ndarray) -> tuple[np.ndarray, TileLayout | None]:
    """Turn (H, W), (H, W, C) or a batch (N, H, W, C) of uint8 images into one (H, W, C) picture."""
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {image.dtype}")
    if image.ndim == 2:
        return image[:, :, None], None
    if image.ndim == 3:
        return image, None
    if image.ndim == 4:
        tiles = TileLayout.of(image)
        return tile_images(image, tiles.columns), tiles
    raise ValueError(f"expected an image (H, W, C) or images (N, H, W, C), got shape {image.shape}")


class WipeView(PixelView):
    """The left image left of a vertical split line and the right image right of it.

    The user drags the line with the mouse (a press anywhere moves it there) or moves it with the arrow
    keys (Shift for larger steps), Home and End. Both images are enlarged by the same whole factor, and the
    split falls on a whole device pixel, so the two halves line up pixel for pixel.
    """

    split_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._sources: list[QImage] = [QImage(), QImage()]
        self._pixmaps: list[QPixmap] = [QPixmap(), QPixmap()]
        self._labels = ["", ""]
        self._tiles: TileLayout | None = None
        self._marks: list[np.ndarray | None] = [None, None]
        self._split = 0.5
        self._dragging = False
        self._placeholder = ""
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.SplitHCursor)
        self.setToolTip("Drag, or use the arrow keys, to move the line between the two images")

    # Content

    def set_images(self, left: np.ndarray | None, right: np.ndarray | None) -> None:
        """Show uint8 images: each an image (H, W, C) or a batch (N, H, W, C) that is tiled into a grid.

        Both must give pictures of the same size. A side that is None stays empty. Tile marks are cleared.
        """
        pictures = [None if image is None else _as_picture(np.asarray(image)) for image in (left, right)]
        present = [picture for picture in pictures if picture is not None]
        if len(present) == 2 and present[0][0].shape[:2] != present[1][0].shape[:2]:
            raise ValueError(f"the left and right images differ in size: {present[0][0].shape[:2]} and "
                             f"{present[1][0].shape[:2]}")
        self._sources = [QImage() if picture is None else to_qimage(picture[0]) for picture in pictures]
        self._pixmaps = [QPixmap(), QPixmap()]
        self._tiles = present[0][1] if present else None
        self._marks = [None, None]
        self._picture_changed()

    def images(self) -> tuple[QImage, QImage]:
        """Return the left and right pictures at model resolution (null images for empty sides)."""
        return self._sources[0], self._sources[1]

    def set_labels(self, left_text: str, right_text: str) -> None:
        self._labels = [left_text, right_text]
        self.update()

    def set_placeholder(self, text: str) -> None:
        """Drop both images and show `text` instead."""
        self._placeholder = text
        self.set_images(None, None)

    def set_tile_marks(self, left: np.ndarray | None, right: np.ndarray | None) -> None:
        """Mark the tiles flagged True on each side with a forget mark. The images must have come as batches."""
        for flags in (left, right):
            if flags is not None and (self._tiles is None or len(flags) != self._tiles.count):
                raise ValueError("tile marks need one flag per image of a batch given to set_images")
        self._marks = [None if flags is None else np.asarray(flags, dtype=bool) for flags in (left, right)]
        self.update()

    # Split

    def split(self) -> float:
        """Return the split line's position as a fraction of the picture's width, from 0 (left edge) to 1 (right edge)."""
        return self._split

    def set_split(self, fraction: float) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        if fraction == self._split:
            return
        self._split = fraction
        self.update()
        self.split_changed.emit(fraction)

    def split_x(self) -> float:
        """Return the split line's x position in widget coordinates, on a whole device pixel."""
        rect = self.image_rect()
        ratio = self.devicePixelRatioF()
        return rect.left() + round(self._split * rect.width() * ratio) / ratio

    # PixelView

    def source_size(self) -> QSize:
        for source in self._sources:
            if not source.isNull():
                return source.size()
        return QSize()

    def _rebuild(self, factor: int, ratio: float) -> None:
        self._pixmaps = [QPixmap() if source.isNull() else enlarged_pixmap(source, factor, ratio)
                         for source in self._sources]

    # Events

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        painter = QPainter(self)
        if self.source_size().isEmpty():
            painter.setPen(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
            painter.drawText(QRectF(self.rect()).adjusted(8, 8, -8, -8),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            return

        rect = self.image_rect()
        ratio = self.devicePixelRatioF()
        split_device = round(self._split * rect.width() * ratio)
        width_device = round(rect.width() * ratio)
        height_device = round(rect.height() * ratio)
        halves = [(0, split_device), (split_device, width_device - split_device)]
        for side, (start, width) in enumerate(halves):
            if width <= 0:
                continue
            target = QRectF(rect.left() + start / ratio, rect.top(), width / ratio, rect.height())
            if not self._pixmaps[side].isNull():
                painter.drawPixmap(target, self._pixmaps[side], QRectF(start, 0, width, height_device))
            self._paint_marks(painter, side, target)

        self._paint_line(painter, rect)
        self._paint_labels(painter, rect)

    def _paint_marks(self, painter: QPainter, side: int, visible: QRectF) -> None:
        flags = self._marks[side]
        if flags is None or self._tiles is None:
            return
        painter.save()
        painter.setClipRect(visible)
        for index in np.flatnonzero(flags):
            paint_forget_mark(painter, self.from_source(QRectF(self._tiles.tile_rect(int(index)))))
        painter.restore()

    def _paint_line(self, painter: QPainter, rect: QRectF) -> None:
        x = self.split_x()
        painter.save()
        painter.setPen(QPen(QColor(0, 0, 0, 180), 4))
        painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        painter.setPen(QPen(LINE_COLOR, 2))
        painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        # A grip in the middle shows that the line can be dragged. It is wider while the view has focus.
        grip_width = 10 if self.hasFocus() else 8
        grip = QRectF(x - grip_width / 2, rect.center().y() - 14, grip_width, 28)
        painter.setBrush(LINE_COLOR)
        painter.setPen(QPen(QColor(0, 0, 0, 180), 1))
        painter.drawRoundedRect(grip, 3, 3)
        painter.restore()

    def _paint_labels(self, painter: QPainter, rect: QRectF) -> None:
        painter.save()
        metrics = painter.fontMetrics()
        for side, text in enumerate(self._labels):
            if not text:
                continue
            width = metrics.horizontalAdvance(text) + 2 * LABEL_MARGIN
            height = metrics.height() + 2 * LABEL_MARGIN
            left = rect.left() if side == 0 else rect.right() - width
            # The labels go above the picture where there is room, so that they hide no pixels, and on top of it otherwise.
            top = rect.top() - height if rect.top() >= height else rect.top()
            box = QRectF(max(0.0, left), top, width, height)
            painter.fillRect(box, LABEL_BACKGROUND)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.source_size().isEmpty():
            super().mousePressEvent(event)
            return
        self._dragging = True
        self._move_split_to(event.position().x())
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        if self._dragging:
            self._move_split_to(event.position().x())
            event.accept()
        else:
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._dragging and event.button() == Qt.MouseButton.LeftButton:
            self._dragging = False
            event.accept()
        else:
            super().mouseReleaseEvent(event)

    def keyPressEvent(self, event) -> None:
        key = event.key()
        large = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        step = SPLIT_PAGE_STEP if large else SPLIT_STEP
        moves = {
            Qt.Key.Key_Left: self._split - step,
            Qt.Key.Key_Right: self._split + step,
            Qt.Key.Key_PageUp: self._split - SPLIT_PAGE_STEP,
            Qt.Key.Key_PageDown: self._split + SPLIT_PAGE_STEP,
            Qt.Key.Key_Home: 0.0,
            Qt.Key.Key_End: 1.0,
        }
        if key in moves and not self.source_size().isEmpty():
            self.set_split(moves[key])
            event.accept()
        else:
            super().keyPressEvent(event)

    def focusInEvent(self, event) -> None:
        super().focusInEvent(event)
        self.update()

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        self.update()

    def _move_split_to(self, x: float) -> None:
        rect = self.image_rect()
        if rect.width() > 0:
            self.set_split((x - rect.left()) / rect.width())
