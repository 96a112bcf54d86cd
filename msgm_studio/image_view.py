"""Showing small model images enlarged with sharp pixels: tiling, numpy to QImage, a grid widget."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

# Grey of the one-pixel lines between tiles, so that black-background digits stay apart.
GAP_VALUE = 72


def tile_images(images: np.ndarray, columns: int | None = None, gap: int = 1) -> np.ndarray:
    """Tile uint8 images (N, H, W, C) into one uint8 image (rows, columns, C) with `gap` grey pixels between them."""
    count, height, width, channels = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.full((rows * (height + gap) + gap, columns * (width + gap) + gap, channels), GAP_VALUE, dtype=np.uint8)
    for index in range(count):
        row, column = divmod(index, columns)
        top, left = gap + row * (height + gap), gap + column * (width + gap)
        grid[top : top + height, left : left + width] = images[index]
    return grid


def to_qimage(array: np.ndarray) -> QImage:
    """Copy a uint8 (H, W, 1) grey or (H, W, 3) RGB array into a QImage that owns its pixels."""
    array = np.ascontiguousarray(array)
    height, width, channels = array.shape
    if channels == 1:
        image_format = QImage.Format.Format_Grayscale8
    elif channels == 3:
        image_format = QImage.Format.Format_RGB888
    else:
        raise ValueError(f"expected 1 or 3 channels, got {channels}")
    # QImage only wraps the numpy buffer, so copy() before the array can be freed.
    return QImage(array.data, width, height, array.strides[0], image_format).copy()


def enlarge(image: QImage, factor: int) -> QImage:
    """Scale by a whole number with nearest-neighbour sampling, so that every pixel stays a sharp square."""
    return image.scaled(image.width() * factor, image.height() * factor,
                        Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.FastTransformation)


class ImageGridView(QWidget):
    """A grid of model images, enlarged by the largest whole factor that fits, or a placeholder text.

    The pixmap is rendered at device pixels (widget size times devicePixelRatio) and tagged with that
    ratio, so the pixels stay sharp on HiDPI screens.
    """

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._placeholder = placeholder
        self._source = QImage()
        self._pixmap = QPixmap()
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)

    @property
    def has_images(self) -> bool:
        return not self._source.isNull()

    def pixmap(self) -> QPixmap:
        """Return the enlarged grid as drawn, or a null pixmap while the view shows its placeholder."""
        return self._pixmap

    def source_image(self) -> QImage:
        """Return the tiled grid at the model's resolution, before enlarging."""
        return self._source

    def set_images(self, images: np.ndarray, columns: int | None = None) -> None:
        """Show uint8 images (N, H, W, C)."""
        self._source = to_qimage(tile_images(images, columns))
        self._render()

    def set_placeholder(self, text: str) -> None:
        """Drop the images and show `text` instead."""
        self._placeholder = text
        self._source = QImage()
        self._pixmap = QPixmap()
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(300, 300)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._render()

    def _render(self) -> None:
        if self._source.isNull():
            self._pixmap = QPixmap()
            self.update()
            return
        ratio = self.devicePixelRatioF()
        available_width = int(self.width() * ratio)
        available_height = int(self.height() * ratio)
        factor = max(1, min(available_width // self._source.width(), available_height // self._source.height()))
        self._pixmap = QPixmap.fromImage(enlarge(self._source, factor))
        self._pixmap.setDevicePixelRatio(ratio)
        self.update()

    def paintEvent(self, event) -> None:
        if not self._pixmap.isNull() and self._pixmap.devicePixelRatio() != self.devicePixelRatioF():
            self._render()  # the window moved to a screen with another scale factor
        painter = QPainter(self)
        if self._pixmap.isNull():
            painter.setPen(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
            painter.drawText(QRectF(self.rect()).adjusted(8, 8, -8, -8),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            return
        size = self._pixmap.deviceIndependentSize()
        painter.drawPixmap(QPointF((self.width() - size.width()) / 2, (self.height() - size.height()) / 2), self._pixmap)
