"""The Samples view: wipe view, zoom, grid size, forget verdict marks and picking samples for the forget set."""

import math

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtWidgets import QApplication

from engine.data import bundled_mnist
from msgm_studio.compare_panel import ComparePanel
from msgm_studio.image_view import FORGET_MARK_COLOR, tile_images
from msgm_studio.main_window import MainWindow
from msgm_studio.tasks import SampleSet
from msgm_studio.wipe_view import SPLIT_PAGE_STEP, SPLIT_STEP, WipeView
from tests.studio_helpers import FAST_MODERATION

TIMEOUT_MS = 120_000
CLASS_NAMES = [str(digit) for digit in range(10)]


def grab_array(widget) -> np.ndarray:
    """The widget as drawn on screen, as a uint8 (H, W, 3) array of device pixels."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes()).reshape(image.height(), -1)
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def device_rect(view) -> tuple[int, int, int, int]:
    """The view's image rectangle in device pixels: left, top, width, height."""
    rect, ratio = view.image_rect(), view.devicePixelRatioF()
    return round(rect.left() * ratio), round(rect.top() * ratio), round(rect.width() * ratio), round(rect.height() * ratio)


def digits(count: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` bundled digits as uint8 (N, 28, 28, 1) and their labels, spread over all classes."""
    images, labels = bundled_mnist()
    indices = (np.arange(count) * 311 + start) % len(images)
    return images[indices][..., None], labels[indices]


def ctrl_wheel(view, steps: int) -> None:
    """Turn the mouse wheel by `steps` notches over the view's centre with Ctrl held."""
    centre = QPointF(view.width() / 2, view.height() / 2)
    event = QWheelEvent(centre, view.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120 * steps), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view, event)


@pytest.fixture
def panel(qtbot) -> ComparePanel:
    """A Samples view showing 16 bundled digits as original samples and their negatives as moderated ones."""
    panel = ComparePanel()
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    qtbot.waitExposed(panel)
    images, labels = digits(16)
    panel.show_samples("original", SampleSet(images, labels, seed=3))
    panel.show_samples("moderated", SampleSet(255 - images, labels, seed=3))
    return panel


@pytest.fixture
def wipe(qtbot) -> WipeView:
    """A wipe view at 4x zoom: a horizontal gradient on the left, its negative on the right."""
    view = WipeView()
    qtbot.addWidget(view)
    view.resize(260, 160)
    gradient = np.tile(np.arange(0, 200, 10, dtype=np.uint8), (12, 1))[..., None]
    view.set_images(gradient, 255 - gradient)
    view.set_zoom(4)
    view.show()
    qtbot.waitExposed(view)
    return view


def wipe_side_at(view: WipeView, fraction: float) -> str:
    """Which image the wipe view shows at `fraction` of its width, on the bottom row: "left" or "right"."""
    left, top, width, height = device_rect(view)
    x = left + min(width - 1, int(fraction * width))
    y = top + height - 2
    value = int(grab_array(view)[y, x, 0])
    model_x = (x - left) // view.factor()
    expected_left = model_x * 10
    if value == expected_left:
        return "left"
    if value == 255 - expected_left:
        return "right"
    return f"neither ({value})"


# Wipe view

def test_wipe_split_follows_mouse_drag(qtbot, wipe):
    rect = wipe.image_rect()
    y = int(rect.center().y()) + 20
    start = QPoint(int(rect.left() + 0.25 * rect.width()), y)
    end = QPoint(int(rect.left() + 0.75 * rect.width()), y)

    qtbot.mousePress(wipe, Qt.MouseButton.LeftButton, pos=start)
    assert wipe.split() == pytest.approx(0.25, abs=2 / rect.width())
    qtbot.mouseMove(wipe, end)
    qtbot.mouseRelease(wipe, Qt.MouseButton.LeftButton, pos=end)

    assert wipe.split() == pytest.approx(0.75, abs=2 / rect.width())
    assert wipe_side_at(wipe, 0.6) == "left"
    assert wipe_side_at(wipe, 0.9) == "right"


def test_wipe_split_follows_keys(qtbot, wipe):
    wipe.setFocus()
    moves = []
    wipe.split_changed.connect(moves.append)

    qtbot.keyClick(wipe, Qt.Key.Key_Right)
    assert wipe.split() == pytest.approx(0.5 + SPLIT_STEP)
    qtbot.keyClick(wipe, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    assert wipe.split() == pytest.approx(0.5 + SPLIT_STEP - SPLIT_PAGE_STEP)
    qtbot.keyClick(wipe, Qt.Key.Key_Home)
    assert wipe.split() == 0.0
    assert wipe_side_at(wipe, 0.5) == "right"
    qtbot.keyClick(wipe, Qt.Key.Key_End)
    assert wipe.split() == 1.0
    assert wipe_side_at(wipe, 0.5) == "left"
    assert len(moves) == 4


def test_wipe_view_draws_pixels_sharp_at_every_zoom(wipe):
    left_image, right_image = wipe.images()
    assert left_image.width() == 20
    wipe.set_split(1.0)
    # The split line and its grip cover up to 5 widget pixels left of the right edge.
    covered = math.ceil(6 * wipe.devicePixelRatioF())
    for zoom in (1, 2, 5):
        wipe.set_zoom(zoom)
        left, top, width, height = device_rect(wipe)
        drawn = grab_array(wipe)[top : top + height, left : left + width - covered, 0]
        gradient = np.repeat(np.repeat(np.tile(np.arange(0, 200, 10, dtype=np.uint8), (12, 1)), zoom, 0), zoom, 1)
        assert width == 20 * zoom
        assert np.array_equal(drawn, gradient[:, : width - covered])


def test_wipe_view_rejects_images_of_different_sizes():
    view = WipeView()
    with pytest.raises(ValueError, match="differ in size"):
        view.set_images(np.zeros((8, 8, 1), np.uint8), np.zeros((8, 9, 1), np.uint8))


def test_wipe_view_shows_single_side(qtbot, wipe):
    gradient = np.tile(np.arange(0, 200, 10, dtype=np.uint8), (12, 1))[..., None]
    wipe.set_images(gradient, None)
    wipe.set_split(1.0)

    assert wipe_side_at(wipe, 0.5) == "left"


# Zoom

def assert_gallery_sharp(view, images: np.ndarray) -> None:
    """Every device pixel of the gallery's grid has the value of the model pixel it enlarges."""
    factor = view.factor()
    grid = tile_images(images)[..., 0]
    left, top, width, height = device_rect(view)
    drawn = grab_array(view)[top : top + height, left : left + width, 0]
    visible_height, visible_width = drawn.shape
    expected = np.repeat(np.repeat(grid, factor, 0), factor, 1)[:visible_height, :visible_width]
    assert width == grid.shape[1] * factor
    assert np.array_equal(drawn, expected)


def test_zoom_with_ctrl_wheel_keeps_pixels_sharp(qtbot, panel):
    view = panel.views["original"]
    images = panel.samples["original"].images
    fit = view.factor()
    assert panel.zoom() is None
    assert_gallery_sharp(view, images)

    ctrl_wheel(view, 1)
    assert panel.zoom() == fit + 1
    assert view.factor() == fit + 1
    assert panel.views["moderated"].factor() == fit + 1
    assert panel.wipe_view.factor() == fit + 1
    assert_gallery_sharp(view, images)

    ctrl_wheel(view, -2)
    assert view.factor() == fit - 1
    assert_gallery_sharp(view, images)


def test_zoom_with_ctrl_plus_and_minus_keys(qtbot, panel):
    view = panel.views["original"]
    images = panel.samples["original"].images
    panel.set_zoom(2)
    view.setFocus()
    panel.activateWindow()

    qtbot.keyClick(view, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    assert panel.zoom() == 3
    qtbot.keyClick(view, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert panel.zoom() == 4
    assert_gallery_sharp(view, images)
    qtbot.keyClick(view, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert panel.zoom() == 3
    assert_gallery_sharp(view, images)
    qtbot.keyClick(view, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert panel.zoom() is None


def test_zoom_beyond_view_scrolls(qtbot, panel):
    panel.set_zoom(8)
    view = panel.views["original"]
    area = panel.scroll_areas["original"]

    assert view.width() == math.ceil(117 * 8 / view.devicePixelRatioF())
    assert area.verticalScrollBar().maximum() > 0
    area.verticalScrollBar().setValue(100)
    assert panel.scroll_areas["moderated"].verticalScrollBar().value() == 100


# Verdicts

def mark_pixel(view, index: int) -> tuple[int, int, int]:
    """Colour of the device pixel just inside the top-right corner of tile `index`."""
    rect, ratio = view.tile_rect(index), view.devicePixelRatioF()
    x, y = int((rect.right() - 2) * ratio), int((rect.top() + 2) * ratio)
    return tuple(int(value) for value in grab_array(view)[y, x])


def test_classifier_verdicts_mark_forget_samples(panel):
    labels = panel.samples["moderated"].labels
    panel.update_forget_rates([7], CLASS_NAMES)

    flagged = np.flatnonzero(labels == 7)
    assert len(flagged) > 0
    red = (FORGET_MARK_COLOR.red(), FORGET_MARK_COLOR.green(), FORGET_MARK_COLOR.blue())
    view = panel.views["moderated"]
    for index in range(16):
        assert (mark_pixel(view, index) == red) == (index in flagged)
    text = panel.rate_labels["moderated"].text()
    assert text.startswith(f"{len(flagged)} of 16 look like the forget set")
    assert "classified as 7" in text


def test_mixed_forget_set_verdict_names_detector(panel):
    panel.update_forget_rates([7], CLASS_NAMES, image_count=3)

    text = panel.rate_labels["moderated"].text()
    assert "classified as 7" in text
    assert "the 3 forget images are judged by a detector" in text


def test_judge_probabilities_mark_samples_above_threshold(panel):
    probabilities = np.linspace(0.0, 1.0, 16)
    panel.show_verdicts("original", probabilities, "detector (10 forget, 4,500 retain images)")

    view = panel.views["original"]
    red = (FORGET_MARK_COLOR.red(), FORGET_MARK_COLOR.green(), FORGET_MARK_COLOR.blue())
    assert mark_pixel(view, 15) == red
    assert mark_pixel(view, 0) != red
    assert panel.rate_labels["original"].text().startswith("8 of 16 look like the forget set")
    assert "detector (10 forget" in panel.rate_labels["original"].text()
    assert panel.rate_labels["moderated"].text() == ""


def test_judge_verdicts_survive_forget_class_change_until_resampled(panel):
    panel.show_verdicts("original", np.ones(16, dtype=bool), "detector")
    panel.update_forget_rates([], CLASS_NAMES)
    assert panel.rate_labels["original"].text().startswith("16 of 16")

    images, labels = digits(16, start=100)
    panel.show_samples("original", SampleSet(images, labels, seed=4))
    assert panel.views["original"].forget_flags() is None
    assert panel.rate_labels["original"].text() == ""


def test_verdicts_of_wrong_length_are_rejected(panel):
    with pytest.raises(ValueError, match="one verdict per sample"):
        panel.show_verdicts("original", np.ones(5, dtype=bool), "detector")


def test_wipe_view_marks_verdicts(panel):
    panel.show_verdicts("moderated", np.arange(16) == 6, "detector")
    panel.show_wipe(True)
    panel.wipe_view.set_split(0.0)

    view = panel.wipe_view
    rect = view.from_source(panel.views["moderated"].tile_layout.tile_rect(6).toRectF())
    ratio = view.devicePixelRatioF()
    pixel = grab_array(view)[int((rect.top() + 2) * ratio), int((rect.right() - 2) * ratio)]
    assert tuple(int(value) for value in pixel) == (FORGET_MARK_COLOR.red(), FORGET_MARK_COLOR.green(), FORGET_MARK_COLOR.blue())


# Picking

def click_tile(qtbot, view, index: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, modifiers, view.tile_rect(index).center().toPoint())


def test_click_ctrl_and_shift_select_tiles(qtbot, panel):
    view = panel.views["original"]

    click_tile(qtbot, view, 2)
    assert view.selected_indices() == [2]
    click_tile(qtbot, view, 5, Qt.KeyboardModifier.ControlModifier)
    assert view.selected_indices() == [2, 5]
    click_tile(qtbot, view, 2, Qt.KeyboardModifier.ControlModifier)
    assert view.selected_indices() == [5]
    click_tile(qtbot, view, 6, Qt.KeyboardModifier.ControlModifier)
    click_tile(qtbot, view, 9, Qt.KeyboardModifier.ShiftModifier)
    assert view.selected_indices() == [6, 7, 8, 9]
    assert panel.selection_label.text() == "4 selected"
    assert panel.add_to_forget_button.isEnabled()

    click_tile(qtbot, view, 12)
    assert view.selected_indices() == [12]


def test_click_between_tiles_clears_selection(qtbot, panel):
    view = panel.views["original"]
    click_tile(qtbot, view, 0)

    corner = view.image_rect().bottomRight() + QPointF(20, 20)
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=corner.toPoint())

    assert view.selected_indices() == []
    assert not panel.add_to_forget_button.isEnabled()


def test_rubber_band_selects_touched_tiles(qtbot, panel):
    view = panel.views["moderated"]
    start = view.tile_rect(0).center().toPoint()
    end = view.tile_rect(5).center().toPoint()

    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, start + QPoint(10, 10))
    qtbot.mouseMove(view, end)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=end)

    assert view.selected_indices() == [0, 1, 4, 5]

    start = view.tile_rect(10).center().toPoint()
    end = view.tile_rect(11).center().toPoint()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, start)
    qtbot.mouseMove(view, end)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, end)

    assert view.selected_indices() == [0, 1, 4, 5, 10, 11]


def test_selected_tiles_are_highlighted(qtbot, panel):
    view = panel.views["original"]
    before = {index: mark_pixel(view, index) for index in (6, 7)}
    click_tile(qtbot, view, 6)

    assert mark_pixel(view, 6) != before[6]
    assert mark_pixel(view, 7) == before[7]


def test_add_to_forget_set_emits_selected_images(qtbot, panel):
    original, moderated = panel.views["original"], panel.views["moderated"]
    click_tile(qtbot, original, 1)
    click_tile(qtbot, original, 4, Qt.KeyboardModifier.ControlModifier)
    click_tile(qtbot, moderated, 7, Qt.KeyboardModifier.ControlModifier)
    picks = []
    panel.pick_requested.connect(lambda images, origin: picks.append((images, origin)))

    qtbot.mouseClick(panel.add_to_forget_button, Qt.MouseButton.LeftButton)

    assert len(picks) == 2
    assert np.array_equal(picks[0][0], panel.samples["original"].images[[1, 4]])
    assert picks[0][1] == "original model samples, seed 3"
    assert np.array_equal(picks[1][0], panel.samples["moderated"].images[[7]])
    assert picks[1][1] == "moderated model samples, seed 3"
    assert picks[0][0].dtype == np.uint8
    assert original.selected_indices() == []
    assert not panel.add_to_forget_button.isEnabled()


def test_context_menu_action_adds_own_gallery(qtbot, panel):
    click_tile(qtbot, panel.views["original"], 0)
    click_tile(qtbot, panel.views["moderated"], 2, Qt.KeyboardModifier.ControlModifier)
    click_tile(qtbot, panel.views["moderated"], 3, Qt.KeyboardModifier.ControlModifier)
    picks = []
    panel.pick_requested.connect(lambda images, origin: picks.append((images, origin)))

    panel.views["moderated"].add_action.trigger()

    assert len(picks) == 1
    assert np.array_equal(picks[0][0], panel.samples["moderated"].images[[2, 3]])
    assert panel.views["original"].selected_indices() == [0]


def test_plain_click_clears_other_gallery_selection(qtbot, panel):
    click_tile(qtbot, panel.views["original"], 1)
    click_tile(qtbot, panel.views["moderated"], 2)

    assert panel.views["original"].selected_indices() == []
    assert panel.views["moderated"].selected_indices() == [2]


# The window

@pytest.fixture
def window(qtbot, base_checkpoint, monkeypatch) -> MainWindow:
    """A window on the bundled model with 4 samples of 5 sampler steps, recording the errors it shows."""
    window = MainWindow(checkpoint=None, device="cpu")
    qtbot.addWidget(window)
    window.sample_count = 4
    window.sampler_steps = 5
    window.moderation_overrides = dict(FAST_MODERATION)
    window.errors = []
    monkeypatch.setattr(window, "show_error", window.errors.append)
    window.open_checkpoint(base_checkpoint)
    qtbot.waitUntil(lambda: "original" in window.compare_panel.samples and not window.jobs.busy, timeout=TIMEOUT_MS)
    return window


def test_grid_size_change_resamples_both_models(qtbot, window):
    panel = window.compare_panel
    window.forget_panel.class_button("7").click()
    window.job_panel.steps_box.setValue(1)
    window.job_panel.start_button.click()
    qtbot.waitUntil(lambda: "moderated" in panel.samples and not window.jobs.busy, timeout=TIMEOUT_MS)
    panel.seed_box.setValue(5)
    assert panel.grid_size() == 4

    panel.grid_size_box.setFocus()
    qtbot.keyClick(panel.grid_size_box, Qt.Key.Key_Home)
    assert not panel.grid_size_box.isEnabled()
    qtbot.waitUntil(lambda: not window.jobs.busy, timeout=TIMEOUT_MS)

    assert window.errors == []
    assert window.sample_count == 16
    assert panel.grid_size() == 16
    for role in ("original", "moderated"):
        assert panel.samples[role].images.shape == (16, 28, 28, 1)
        assert panel.samples[role].seed == 5
        assert panel.views[role].tile_layout.count == 16
    assert panel.rate_labels["moderated"].text().endswith("classified as 7")


def test_picked_samples_reach_forget_set(qtbot, window):
    panel = window.compare_panel
    before = window.forget_panel.forget_set.image_count
    view = panel.views["original"]
    click_tile(qtbot, view, 0)
    click_tile(qtbot, view, 3, Qt.KeyboardModifier.ShiftModifier)

    qtbot.mouseClick(panel.add_to_forget_button, Qt.MouseButton.LeftButton)

    assert window.errors == []
    assert window.forget_panel.forget_set.image_count == before + 4
