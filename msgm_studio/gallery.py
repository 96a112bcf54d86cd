"""A sample gallery: a grid of model samples the user picks from, with a forget judge's verdict on each."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence, QPainter, QPen
from PySide6.QtWidgets import QApplication, QMenu, QRubberBand, QToolTip, QWidget

from msgm_studio.image_view import ImageGridView, paint_forget_mark

SELECTION_COLOR = QColor(40, 140, 255)
SELECTION_TINT = QColor(40, 140, 255, 70)

# A forget judge's probability at or above which an image counts as looking like the forget set.
FORGET_THRESHOLD = 0.5


class SampleGallery(ImageGridView):
    """A grid of samples with selection and forget verdict marks.

    Selecting works as in a file manager. A click selects one image, Ctrl+click toggles one, and Shift+click
    selects the range from the last clicked image. A drag draws a rubber band that selects the images it
    touches, or adds them with Ctrl or Shift held. Ctrl+A selects all, Escape clears the selection.
    """

    selection_changed = Signal()
    # A click or drag without Ctrl or Shift replaced the selection, so other galleries should clear theirs.
    selection_replaced = Signal()
    # The user chose "Add to forget set" in the context menu.
    pick_requested = Signal()

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(placeholder, parent)
        self._images: np.ndarray | None = None
        self._selected: set[int] = set()
        self._anchor: int | None = None
        self._flags: np.ndarray | None = None
        self._probabilities: np.ndarray | None = None
        self._judge_name = ""
        self._press: QPointF | None = None
        self._press_modifiers = Qt.KeyboardModifier.NoModifier
        self._selection_before_band: set[int] = set()
        self._rubber_band = QRubberBand(QRubberBand.Shape.Rectangle, self)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)

        self.add_action = QAction("&Add to forget set", self)
        self.add_action.setStatusTip("Add the selected samples to the forget set")
        self.add_action.triggered.connect(self.pick_requested)
        self.select_all_action = QAction("Select &all", self)
        self.select_all_action.triggered.connect(self.select_all)
        self.clear_selection_action = QAction("&Clear selection", self)
        self.clear_selection_action.triggered.connect(self.clear_selection)

    # Content

    def images(self) -> np.ndarray | None:
        """Return the uint8 samples (N, H, W, C) shown, or None while the gallery shows its placeholder."""
        return self._images

    def set_images(self, images: np.ndarray, columns: int | None = None) -> None:
        """Show uint8 images (N, H, W, C), which clears the selection and the verdicts."""
        self._images = np.asarray(images)
        self._reset_state()
        super().set_images(self._images, columns)

    def set_placeholder(self, text: str) -> None:
        self._images = None
        self._reset_state()
        super().set_placeholder(text)

    def _reset_state(self) -> None:
        changed = bool(self._selected)
        self._selected, self._anchor = set(), None
        self._flags, self._probabilities, self._judge_name = None, None, ""
        if changed:
            self.selection_changed.emit()

    # Verdicts

    def set_verdicts(self, verdicts: np.ndarray | None, judge_name: str = "") -> None:
        """Mark the images a forget judge calls forget: `verdicts` contains one bool or probability per image.

        Probabilities count as forget from FORGET_THRESHOLD on. None removes the marks.
        """
        if verdicts is None:
            self._flags, self._probabilities, self._judge_name = None, None, ""
            self.update()
            return
        verdicts = np.asarray(verdicts).reshape(-1)
        count = 0 if self._images is None else len(self._images)
        if len(verdicts) != count:
            raise ValueError(f"expected one verdict per sample ({count}), got {len(verdicts)}")
        if verdicts.dtype == bool:
            self._flags, self._probabilities = verdicts.copy(), None
        else:
            self._probabilities = verdicts.astype(np.float64)
            self._flags = self._probabilities >= FORGET_THRESHOLD
        self._judge_name = judge_name
        self.update()

    def forget_flags(self) -> np.ndarray | None:
        """Return one bool per image, True where the judge calls it forget, or None without verdicts."""
        return self._flags

    # Selection

    def selected_indices(self) -> list[int]:
        return sorted(self._selected)

    def selected_images(self) -> np.ndarray:
        """Return the selected samples as uint8 (K, H, W, C) in grid order, with K = 0 without a selection."""
        if self._images is None:
            return np.empty((0, 0, 0, 0), dtype=np.uint8)
        return self._images[self.selected_indices()]

    def set_selection(self, indices) -> None:
        count = 0 if self._images is None else len(self._images)
        selected = {int(index) for index in indices if 0 <= int(index) < count}
        if selected == self._selected:
            return
        self._selected = selected
        self.update()
        self.selection_changed.emit()

    def select_all(self) -> None:
        self.set_selection(range(0 if self._images is None else len(self._images)))

    def clear_selection(self) -> None:
        self._anchor = None
        self.set_selection([])

    # Painting

    def _paint_overlay(self, painter: QPainter) -> None:
        if self._flags is not None:
            for index in np.flatnonzero(self._flags):
                paint_forget_mark(painter, self.tile_rect(int(index)))
        if self._selected:
            painter.save()
            painter.setPen(QPen(SELECTION_COLOR, 3))
            painter.setBrush(SELECTION_TINT)
            for index in self._selected:
                # The frame lies just outside the tile, so that it does not hide a forget mark.
                painter.drawRect(self.tile_rect(index).adjusted(-1.5, -1.5, 1.5, 1.5))
            painter.restore()

    # Mouse and keys

    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._images is None:
            super().mousePressEvent(event)
            return
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self._press = event.position()
        self._press_modifiers = event.modifiers()
        self._selection_before_band = set(self._selected)
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        if self._press is None:
            super().mouseMoveEvent(event)
            return
        if not self._rubber_band.isVisible():
            distance = (event.position() - self._press).manhattanLength()
            if distance < QApplication.startDragDistance():
                return
            self._rubber_band.show()
        band = QRectF(self._press, event.position()).normalized()
        self._rubber_band.setGeometry(band.toAlignedRect())
        self._select_band(band)
        event.accept()

    def mouseReleaseEvent(self, event) -> None:
        if self._press is None or event.button() != Qt.MouseButton.LeftButton:
            super().mouseReleaseEvent(event)
            return
        if self._rubber_band.isVisible():
            self._rubber_band.hide()
        else:
            self._click(event.position(), self._press_modifiers)
        self._press = None
        event.accept()

    def _click(self, position: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        index = self.tile_at(position)
        if modifiers & Qt.KeyboardModifier.ShiftModifier and index is not None and self._anchor is not None:
            low, high = sorted((self._anchor, index))
            extra = self._selected if modifiers & Qt.KeyboardModifier.ControlModifier else set()
            self.set_selection(extra | set(range(low, high + 1)))
        elif modifiers & Qt.KeyboardModifier.ControlModifier:
            if index is not None:
                self.set_selection(self._selected ^ {index})
                self._anchor = index
        else:
            self._anchor = index
            self.set_selection([] if index is None else [index])
            self.selection_replaced.emit()

    def _select_band(self, band: QRectF) -> None:
        top_left = self.to_source(band.topLeft())
        bottom_right = self.to_source(band.bottomRight())
        touched = set(self.tile_layout.indices_in(QRectF(top_left, bottom_right)))
        adding = self._press_modifiers & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
        if adding:
            self.set_selection(self._selection_before_band | touched)
        else:
            self.set_selection(touched)
            self.selection_replaced.emit()

    def keyPressEvent(self, event) -> None:
        if event.matches(QKeySequence.StandardKey.SelectAll) and self._images is not None:
            self.select_all()
            event.accept()
        elif event.key() == Qt.Key.Key_Escape and self._selected:
            self.clear_selection()
            event.accept()
        else:
            super().keyPressEvent(event)

    def contextMenuEvent(self, event) -> None:
        if self._images is None:
            return
        # A right-click on an unselected image selects it, as in a file manager.
        index = self.tile_at(QPointF(event.pos()))
        if index is not None and index not in self._selected:
            self._anchor = index
            self.set_selection([index])
            self.selection_replaced.emit()
        menu = QMenu(self)
        self.add_action.setEnabled(bool(self._selected))
        self.clear_selection_action.setEnabled(bool(self._selected))
        menu.addAction(self.add_action)
        menu.addSeparator()
        menu.addAction(self.select_all_action)
        menu.addAction(self.clear_selection_action)
        menu.exec(event.globalPos())

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            text = self._tile_tooltip(self.tile_at(QPointF(event.pos())))
            if text:
                QToolTip.showText(event.globalPos(), text, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)

    def _tile_tooltip(self, index: int | None) -> str:
        if index is None:
            return ""
        lines = [f"Sample {index + 1} of {len(self._images)}"]
        if self._flags is not None:
            verdict = "looks like the forget set" if self._flags[index] else "does not look like the forget set"
            if self._probabilities is not None:
                verdict += f" (probability {self._probabilities[index]:.2f})"
            lines.append(f"{self._judge_name}: {verdict}" if self._judge_name else verdict.capitalize())
        lines.append("Click, Ctrl+click, Shift+click or drag to select; right-click to add to the forget set")
        return "\n".join(lines)
