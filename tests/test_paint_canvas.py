"""The paint canvas driven with the mouse and keyboard as a user would: strokes, rectangles, undo and redo."""

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow

from msgm_studio.paint_canvas import PaintCanvas, stroke_coverage

LEFT = Qt.MouseButton.LeftButton
RIGHT = Qt.MouseButton.RightButton


@pytest.fixture
def canvas(qtbot) -> PaintCanvas:
    canvas = PaintCanvas(28, 28)
    qtbot.addWidget(canvas)
    canvas.resize(280, 280)
    canvas.show()
    qtbot.waitExposed(canvas)
    return canvas


def at(canvas: PaintCanvas, x: float, y: float) -> QPoint:
    """Widget position of the centre of image pixel (row y, column x)."""
    rect = canvas.image_rect()
    pixel = rect.width() / canvas.shape[1]
    return QPoint(round(rect.left() + (x + 0.5) * pixel), round(rect.top() + (y + 0.5) * pixel))


def drag(qtbot, canvas: PaintCanvas, points: list[tuple[float, float]], button=LEFT) -> None:
    qtbot.mousePress(canvas, button, pos=at(canvas, *points[0]))
    for point in points[1:]:
        qtbot.mouseMove(canvas, at(canvas, *point))
    qtbot.mouseRelease(canvas, button, pos=at(canvas, *points[-1]))


def test_stroke_paints_line_without_gaps(qtbot, canvas):
    canvas.set_brush_size(1)
    changes = []
    canvas.changed.connect(lambda: changes.append(canvas.array()))

    # One fast move across the canvas: the stroke is interpolated between the two mouse positions.
    drag(qtbot, canvas, [(2, 5), (25, 5)])

    mask = canvas.array()
    assert mask.dtype == np.float32
    assert mask.shape == (28, 28)
    assert np.all(mask[5, 2:26] == 1.0)
    assert mask[5, 1] == 0.0
    assert mask[5, 26] == 0.0
    assert mask[:5].sum() == 0.0
    assert mask[6:].sum() == 0.0
    assert len(changes) == 1
    assert canvas.can_undo()


def test_brush_size_widens_stroke(qtbot, canvas):
    canvas.set_brush_size(5)
    drag(qtbot, canvas, [(14, 4), (14, 20)])

    painted = canvas.array() >= 0.5
    assert painted[12, 12:17].all()
    assert not painted[12, 10]
    assert not painted[12, 18]


def test_eraser_and_right_button_erase(qtbot, canvas):
    canvas.set_array(np.ones((28, 28), dtype=np.float32))
    canvas.set_brush_size(1)

    canvas.set_tool("eraser")
    drag(qtbot, canvas, [(3, 3), (10, 3)])
    canvas.set_tool("brush")
    drag(qtbot, canvas, [(3, 20), (10, 20)], button=RIGHT)

    mask = canvas.array()
    assert np.all(mask[3, 3:11] == 0.0)
    assert np.all(mask[20, 3:11] == 0.0)
    assert mask[10, 10] == 1.0


def test_rectangle_tool_fills_box(qtbot, canvas):
    canvas.set_tool("rectangle")
    drag(qtbot, canvas, [(6, 8), (4, 6), (2, 3)])

    mask = canvas.array()
    assert np.all(mask[3:9, 2:7] == 1.0)
    assert mask.sum() == 6 * 5
    assert canvas.can_undo()


def test_undo_redo_one_entry_per_edit(qtbot, canvas):
    canvas.set_brush_size(1)
    drag(qtbot, canvas, [(1, 1), (5, 1)])
    stroke = canvas.array()
    canvas.invert()
    inverted = canvas.array()
    canvas.clear()

    assert canvas.array().sum() == 0.0
    canvas.undo()
    assert np.array_equal(canvas.array(), inverted)
    assert np.array_equal(inverted, 1.0 - stroke)
    canvas.undo()
    assert np.array_equal(canvas.array(), stroke)
    canvas.undo()
    assert canvas.array().sum() == 0.0
    assert not canvas.can_undo()
    assert canvas.can_redo()
    canvas.redo()
    canvas.redo()
    assert np.array_equal(canvas.array(), inverted)
    canvas.set_array(np.zeros((28, 28)))
    assert not canvas.can_redo()


def test_unchanged_edit_adds_no_undo(canvas):
    canvas.clear()
    canvas.set_array(np.zeros((28, 28)))

    assert not canvas.can_undo()


def test_keyboard_undo_and_redo(qtbot, canvas):
    canvas.set_array(np.ones((28, 28)))
    canvas.setFocus()

    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert canvas.array().sum() == 0.0
    redo = QKeySequence(QKeySequence.StandardKey.Redo)[0]
    qtbot.keyClick(canvas, redo.key(), redo.keyboardModifiers())
    assert canvas.array().sum() == 28 * 28


def test_undo_key_beats_window_shortcut(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    canvas = PaintCanvas(8, 8)
    window.setCentralWidget(canvas)
    triggered = []
    action = QAction("Undo", window, shortcut=QKeySequence.StandardKey.Undo)
    action.triggered.connect(lambda: triggered.append(True))
    window.addAction(action)
    window.show()
    qtbot.waitExposed(window)
    canvas.set_array(np.ones((8, 8)))
    canvas.setFocus()

    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)

    assert canvas.array().sum() == 0.0
    assert triggered == []


def test_set_array_clips_and_checks_shape(canvas):
    canvas.set_array(np.full((28, 28), 3.0))
    assert canvas.array().max() == 1.0
    with pytest.raises(ValueError, match="shape"):
        canvas.set_array(np.zeros((14, 28)))


def test_background_shows_under_tinted_mask(canvas):
    background = np.arange(28 * 28, dtype=np.uint32).reshape(28, 28).astype(np.uint8)
    canvas.set_background(background)
    mask = np.zeros((28, 28), dtype=np.float32)
    mask[14:] = 1.0
    canvas.set_array(mask)

    picture = canvas.composed_image()
    assert np.array_equal(picture[:14, :, 0], background[:14])
    assert np.array_equal(picture[:14, :, 2], background[:14])
    assert not np.array_equal(picture[14:, :, 1], background[14:])
    with pytest.raises(ValueError, match="14x14 pixels"):
        canvas.set_background(np.zeros((14, 14), dtype=np.uint8))


def test_canvas_enlarges_with_sharp_pixels(canvas):
    mask = np.zeros((28, 28), dtype=np.float32)
    mask[3, 4] = 1.0
    canvas.set_array(mask)

    pixmap = canvas.pixmap()
    ratio = canvas.devicePixelRatioF()
    factor = pixmap.width() // 28
    assert pixmap.devicePixelRatio() == ratio
    assert factor == int(280 * ratio) // 28
    rendered = pixmap.toImage()
    assert rendered.pixelColor(4 * factor, 3 * factor).red() == 255
    assert rendered.pixelColor(5 * factor - 1, 4 * factor - 1).red() == 255
    assert rendered.pixelColor(5 * factor, 3 * factor).red() == 0


def test_set_shape_starts_empty_canvas(canvas):
    canvas.set_array(np.ones((28, 28)))
    canvas.set_shape(32, 16)

    assert canvas.array().shape == (32, 16)
    assert canvas.array().sum() == 0.0
    assert not canvas.can_undo()


def test_stroke_coverage_is_soft_round_brush():
    coverage = stroke_coverage(9, 9, (4.5, 4.5), (4.5, 4.5), radius=2.0)

    assert coverage[4, 4] == 1.0
    assert coverage[4, 5] == 1.0
    assert coverage[4, 6] == 0.5
    assert coverage[4, 7] == 0.0
    assert 0.0 < coverage[5, 6] < 1.0
    assert np.array_equal(coverage, coverage.T)


def test_unknown_tool_rejected(canvas):
    with pytest.raises(ValueError, match="unknown tool"):
        canvas.set_tool("spray")
