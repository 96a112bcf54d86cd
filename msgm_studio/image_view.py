"""Showing small model images enlarged with sharp pixels: tiling, numpy to QImage, zoomable views.

Every view enlarges by a whole number of device pixels per model pixel (nearest neighbour), so each model
pixel stays a sharp square on any screen, including HiDPI screens with a fractional devicePixelRatio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

# Grey of the one-pixel lines between tiles, so that black-background digits stay apart.
GAP_VALUE = 72

# The fixed zoom factors offered besides fitting the view, in device pixels per model pixel.
ZOOM_FACTORS = tuple(range(1, 9))

# One notch of a mouse wheel, in the eighths of a degree that QWheelEvent.angleDelta() reports.
WHEEL_NOTCH = 120

MINIMUM_VIEW_SIZE = QSize(120, 120)

# Colour of the frame and corner mark on images that a forget judge calls forget.
FORGET_MARK_COLOR = QColor(230, 40, 40)


def grid_columns(count: int) -> int:
    """Return the columns of the most nearly square grid that contains `count` tiles."""
    return max(1, math.ceil(math.sqrt(count)))


@dataclass(frozen=True)
class TileLayout:
    """Positions of the tiles in a grid made by `tile_images`, in pixels of the tiled grid."""

    count: int
    columns: int
    tile_height: int
    tile_width: int
    gap: int = 1

    @classmethod
    def of(cls, images: np.ndarray, columns: int | None = None, gap: int = 1) -> TileLayout:
        count, height, width = images.shape[:3]
        return cls(count, columns or grid_columns(count), height, width, gap)

    @property
    def rows(self) -> int:
        return math.ceil(self.count / self.columns)

    @property
    def size(self) -> QSize:
        """Size of the whole grid, gaps and border included."""
        return QSize(self.columns * (self.tile_width + self.gap) + self.gap,
                     self.rows * (self.tile_height + self.gap) + self.gap)

    def tile_rect(self, index: int) -> QRect:
        row, column = divmod(index, self.columns)
        return QRect(self.gap + column * (self.tile_width + self.gap), self.gap + row * (self.tile_height + self.gap),
                     self.tile_width, self.tile_height)

    def index_at(self, point: QPointF) -> int | None:
        """Index of the tile under `point` (grid pixels), or None over a gap, the border or an empty cell."""
        column, x_in_cell = divmod(point.x() - self.gap, self.tile_width + self.gap)
        row, y_in_cell = divmod(point.y() - self.gap, self.tile_height + self.gap)
        if column < 0 or row < 0 or column >= self.columns or x_in_cell >= self.tile_width or y_in_cell >= self.tile_height:
            return None
        index = int(row) * self.columns + int(column)
        return index if index < self.count else None

    def indices_in(self, rect: QRectF) -> list[int]:
        """Indices of the tiles that `rect` (grid pixels) touches, even a rectangle of zero width or height."""
        rect = rect.normalized()
        touched = []
        for index in range(self.count):
            tile = self.tile_rect(index)
            # QRectF.intersects() is False for a flat rectangle, which a purely horizontal drag draws.
            if (rect.left() < tile.x() + tile.width() and rect.right() >= tile.x()
                    and rect.top() < tile.y() + tile.height() and rect.bottom() >= tile.y()):
                touched.append(index)
        return touched


def tile_images(images: np.ndarray, columns: int | None = None, gap: int = 1) -> np.ndarray:
    """Tile uint8 images (N, H, W, C) into one uint8 image (rows, columns, C) with `gap` grey pixels between them."""
    count, height, width, channels = images.shape
    columns = columns or grid_columns(count)
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


def enlarged_pixmap(image: QImage, factor: int, ratio: float) -> QPixmap:
    """Enlarge `image` by `factor` device pixels per pixel and tag it with the screen's devicePixelRatio."""
    pixmap = QPixmap.fromImage(enlarge(image, factor))
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


def paint_forget_mark(painter: QPainter, tile: QRectF) -> None:
    """Frame a tile (widget coordinates) in red and fill its top-right corner, the sign of a forget verdict."""
    painter.save()
    width = 2.0
    painter.setPen(QPen(FORGET_MARK_COLOR, width))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRect(tile.adjusted(width / 2, width / 2, -width / 2, -width / 2))
    corner = min(tile.width(), tile.height()) / 4
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(FORGET_MARK_COLOR)
    painter.drawPolygon(QPolygonF([tile.topRight(), tile.topRight() - QPointF(corner, 0), tile.topRight() + QPointF(0, corner)]))
    painter.restore()


class PixelView(QWidget):
    """Base of the views that draw a picture of model pixels enlarged by a whole factor.

    The zoom is either None (fit: the largest whole factor that fits the widget) or a fixed factor from
    ZOOM_FACTORS, in device pixels per model pixel. At a fixed zoom the widget's minimum size is the
    picture's size, so that a QScrollArea around it scrolls. Ctrl+wheel zooms in and out.

    Subclasses return the picture's size in `source_size`, build their pixmaps in `_rebuild(factor, ratio)`
    and paint them at `image_rect()`.
    """

    zoom_changed = Signal(object)  # the new zoom: None for fit, or a factor from ZOOM_FACTORS

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._zoom: int | None = None
        self._factor = 1
        self._ratio = 1.0
        self._wheel_angle = 0
        # The pixmaps are rebuilt only when the picture, the factor or the screen's scale changes.
        self._picture_version = 0
        self._built_for: tuple | None = None
        self.setMinimumSize(MINIMUM_VIEW_SIZE)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)

    # To override

    def source_size(self) -> QSize:
        """Size of the picture in model pixels, or an empty size when there is nothing to draw."""
        return QSize()

    def _rebuild(self, factor: int, ratio: float) -> None:
        """Rebuild the enlarged pixmaps for `factor` device pixels per model pixel."""

    # Zoom

    def zoom(self) -> int | None:
        return self._zoom

    def factor(self) -> int:
        """Return the enlargement in effect, in device pixels per model pixel."""
        return self._factor

    def set_zoom(self, zoom: int | None) -> None:
        """Fit the widget (None) or enlarge by a fixed factor from ZOOM_FACTORS."""
        if zoom is not None and zoom not in ZOOM_FACTORS:
            raise ValueError(f"zoom must be None (fit) or one of {ZOOM_FACTORS}, got {zoom}")
        if zoom == self._zoom:
            return
        self._zoom = zoom
        self._update_minimum_size()
        self._render()
        self.zoom_changed.emit(zoom)

    def zoom_in(self) -> None:
        larger = [factor for factor in ZOOM_FACTORS if factor > self._factor]
        if larger:
            self.set_zoom(larger[0])

    def zoom_out(self) -> None:
        smaller = [factor for factor in ZOOM_FACTORS if factor < self._factor]
        if smaller:
            self.set_zoom(smaller[-1])

    def fit_factor(self) -> int:
        """Compute the largest whole factor at which the picture fits the widget, at least 1."""
        source = self.source_size()
        if source.isEmpty():
            return 1
        ratio = self.devicePixelRatioF()
        return max(1, min(int(self.width() * ratio) // source.width(), int(self.height() * ratio) // source.height()))

    # Geometry

    def image_rect(self) -> QRectF:
        """Compute the enlarged picture's rectangle in widget coordinates, centred on whole device pixels."""
        source = self.source_size()
        ratio = self.devicePixelRatioF()
        width, height = source.width() * self._factor, source.height() * self._factor
        left = max(0, (int(self.width() * ratio) - width) // 2)
        top = max(0, (int(self.height() * ratio) - height) // 2)
        return QRectF(left / ratio, top / ratio, width / ratio, height / ratio)

    def to_source(self, point: QPointF) -> QPointF:
        """Map a widget position to model pixels of the picture."""
        rect = self.image_rect()
        scale = self.devicePixelRatioF() / self._factor
        return QPointF((point.x() - rect.left()) * scale, (point.y() - rect.top()) * scale)

    def from_source(self, rect: QRectF) -> QRectF:
        """Map a rectangle in model pixels of the picture to widget coordinates."""
        image = self.image_rect()
        scale = self._factor / self.devicePixelRatioF()
        return QRectF(image.left() + rect.left() * scale, image.top() + rect.top() * scale,
                      rect.width() * scale, rect.height() * scale)

    def sizeHint(self) -> QSize:
        return QSize(300, 300)

    def _update_minimum_size(self) -> None:
        source = self.source_size()
        if self._zoom is None or source.isEmpty():
            self.setMinimumSize(MINIMUM_VIEW_SIZE)
        else:
            ratio = self.devicePixelRatioF()
            self.setMinimumSize(math.ceil(source.width() * self._zoom / ratio), math.ceil(source.height() * self._zoom / ratio))
        self.updateGeometry()

    def _render(self) -> None:
        self._ratio = self.devicePixelRatioF()
        self._factor = self._zoom if self._zoom is not None else self.fit_factor()
        built_for = (self._picture_version, self._factor, self._ratio)
        if not self.source_size().isEmpty() and built_for != self._built_for:
            self._rebuild(self._factor, self._ratio)
            self._built_for = built_for
        self.update()

    def _picture_changed(self) -> None:
        """Resize for a new picture and render it. Subclasses call it after they change their picture."""
        self._picture_version += 1
        self._update_minimum_size()
        self._render()

    # Events

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._render()

    def paintEvent(self, event) -> None:
        if self._ratio != self.devicePixelRatioF():
            # The window moved to a screen with another scale factor.
            self._update_minimum_size()
            self._render()

    def wheelEvent(self, event) -> None:
        if not event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            event.ignore()  # a plain wheel scrolls the scroll area around the view
            return
        event.accept()
        # Touchpads send many small deltas, so zoom once per whole notch.
        self._wheel_angle += event.angleDelta().y()
        while abs(self._wheel_angle) >= WHEEL_NOTCH:
            if self._wheel_angle > 0:
                self._wheel_angle -= WHEEL_NOTCH
                self.zoom_in()
            else:
                self._wheel_angle += WHEEL_NOTCH
                self.zoom_out()


class ImageGridView(PixelView):
    """A grid of model images, enlarged by a whole factor (fit or zoom), or a placeholder text."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._placeholder = placeholder
        self._source = QImage()
        self._pixmap = QPixmap()
        self._tiles: TileLayout | None = None

    @property
    def has_images(self) -> bool:
        return not self._source.isNull()

    @property
    def tile_layout(self) -> TileLayout | None:
        """Positions of the images in the tiled grid, or None while the view shows its placeholder."""
        return self._tiles

    def pixmap(self) -> QPixmap:
        """Return the enlarged grid as drawn, or a null pixmap while the view shows its placeholder."""
        return self._pixmap

    def source_image(self) -> QImage:
        """Return the tiled grid at the model's resolution, before enlarging."""
        return self._source

    def source_size(self) -> QSize:
        return self._source.size() if self.has_images else QSize()

    def set_images(self, images: np.ndarray, columns: int | None = None) -> None:
        """Show uint8 images (N, H, W, C)."""
        self._tiles = TileLayout.of(images, columns)
        self._source = to_qimage(tile_images(images, self._tiles.columns))
        self._picture_changed()

    def set_placeholder(self, text: str) -> None:
        """Drop the images and show `text` instead."""
        self._placeholder = text
        self._source = QImage()
        self._pixmap = QPixmap()
        self._tiles = None
        self._picture_changed()

    def tile_rect(self, index: int) -> QRectF:
        """Map image `index` to its rectangle in widget coordinates."""
        return self.from_source(QRectF(self._tiles.tile_rect(index)))

    def tile_at(self, point: QPointF) -> int | None:
        """Index of the image under a widget position, or None."""
        if self._tiles is None:
            return None
        return self._tiles.index_at(self.to_source(point))

    def _rebuild(self, factor: int, ratio: float) -> None:
        self._pixmap = enlarged_pixmap(self._source, factor, ratio)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        painter = QPainter(self)
        if self._pixmap.isNull():
            painter.setPen(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
            painter.drawText(QRectF(self.rect()).adjusted(8, 8, -8, -8),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            return
        painter.drawPixmap(self.image_rect().topLeft(), self._pixmap)
        self._paint_overlay(painter)

    def _paint_overlay(self, painter: QPainter) -> None:
        """Draw on top of the images. Subclasses mark tiles here."""
