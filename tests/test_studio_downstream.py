"""The Inpainting and Reconstruction tabs driven as a user would: choose an image, paint a mask, run, compare."""


import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from engine.data import bundled_mnist
from msgm_studio.inpaint_tab import InpaintTab, preset_mask
from msgm_studio.reconstruct_tab import ReconstructTab
from tests import studio_helpers as helpers
from tests.studio_helpers import TIMEOUT_MS, send_drop


class Studio(helpers.Studio):
    """The shared test window, with the downstream tabs at hand."""

    @property
    def inpaint(self) -> InpaintTab:
        return self.window.inpaint_tab

    @property
    def reconstruct(self) -> ReconstructTab:
        return self.window.reconstruct_tab

    def show_tab(self, tab: QWidget) -> None:
        self.window.resize(1400, 800)
        self.window.show()
        self.qtbot.waitExposed(self.window)
        self.window.tabs.setCurrentWidget(tab)

    def pick_digit(self, tab, digit: int, index: int) -> None:
        tab.picker.pick_digit(digit, index)
        self.qtbot.waitUntil(lambda: tab.picker.image is not None, timeout=TIMEOUT_MS)
        self.wait_idle()

    def moderate(self, steps: int) -> None:
        """Moderate digit 7 for `steps` steps."""
        self.window.forget_panel.class_button("7").click()
        super().moderate(steps)

    def run(self, tab) -> None:
        self.qtbot.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)
        self.qtbot.waitUntil(lambda: tab.result is not None, timeout=TIMEOUT_MS)
        self.wait_idle()


@pytest.fixture
def studio(qtbot, base_checkpoint, monkeypatch):
    studio = Studio(qtbot, monkeypatch, base_checkpoint)
    assert studio.errors == []
    yield studio
    # A visible window shows an unsaved-changes dialog when it closes, and a hidden one closes without it.
    studio.window.hide()


def bundled_digit(digit: int, index: int) -> np.ndarray:
    images, labels = bundled_mnist()
    return images[labels == digit][index]


def qimage_array(image: QImage) -> np.ndarray:
    """The grey values of an 8-bit grey QImage as a (H, W) array."""
    grey = image.convertToFormat(QImage.Format.Format_Grayscale8)
    rows = np.frombuffer(grey.constBits(), dtype=np.uint8).reshape(grey.height(), grey.bytesPerLine())
    return rows[:, : grey.width()].copy()


drop_on = send_drop


def canvas_point(canvas, x: float, y: float) -> QPoint:
    rect = canvas.image_rect()
    pixel = rect.width() / canvas.shape[1]
    return QPoint(round(rect.left() + (x + 0.5) * pixel), round(rect.top() + (y + 0.5) * pixel))


def test_window_has_downstream_tabs(studio):
    titles = [studio.window.tabs.tabText(index) for index in range(studio.window.tabs.count())]

    assert "&Inpainting" in titles
    assert "&Reconstruction" in titles
    assert studio.inpaint.run_button.isEnabled()


def test_bundled_digit_shows_under_mask(studio):
    studio.pick_digit(studio.inpaint, 7, 3)

    picture = studio.inpaint.canvas.composed_image()
    assert studio.errors == []
    assert studio.inpaint.picker.description == "Bundled digit 7, #3"
    assert np.array_equal(picture[:, :, 0], bundled_digit(7, 3))

    studio.inpaint.picker.class_box.setValue(2)
    assert np.array_equal(studio.inpaint.canvas.composed_image()[:, :, 0], bundled_digit(2, 3))


def test_use_button_takes_the_digit_the_boxes_show(studio, qtbot):
    picker = studio.reconstruct.picker
    assert picker.image is None

    picker.use_button.click()
    qtbot.waitUntil(lambda: picker.image is not None, timeout=TIMEOUT_MS)

    assert studio.errors == []
    assert picker.description == "Bundled digit 0, #0"


def test_paint_mask_with_mouse_and_buttons(studio, qtbot):
    tab = studio.inpaint
    studio.show_tab(tab)
    studio.pick_digit(tab, 4, 0)
    tab.size_box.setValue(1)
    assert not tab.undo_button.isEnabled()

    qtbot.mousePress(tab.canvas, Qt.MouseButton.LeftButton, pos=canvas_point(tab.canvas, 3, 10))
    qtbot.mouseMove(tab.canvas, canvas_point(tab.canvas, 24, 10))
    qtbot.mouseRelease(tab.canvas, Qt.MouseButton.LeftButton, pos=canvas_point(tab.canvas, 24, 10))
    stroke = tab.canvas.array()
    painted = stroke >= 0.5
    assert painted[10, 3:25].all()
    assert painted.sum() == 22
    assert tab.undo_button.isEnabled()

    tab.preset_buttons["bottom"].click()
    assert np.array_equal(tab.canvas.array(), preset_mask("bottom", 28, 28))
    assert tab.canvas.array()[14:].min() == 1.0
    assert tab.canvas.array()[:14].max() == 0.0
    tab.invert_button.click()
    assert np.array_equal(tab.canvas.array(), preset_mask("top", 28, 28))
    tab.undo_button.click()
    tab.undo_button.click()
    assert np.array_equal(tab.canvas.array(), stroke)
    assert tab.redo_button.isEnabled()
    tab.redo_button.click()
    assert np.array_equal(tab.canvas.array(), preset_mask("bottom", 28, 28))
    tab.clear_button.click()
    assert tab.canvas.array().sum() == 0.0

    tab.tool_buttons["rectangle"].click()
    assert tab.canvas.tool == "rectangle"
    qtbot.mousePress(tab.canvas, Qt.MouseButton.LeftButton, pos=canvas_point(tab.canvas, 2, 2))
    qtbot.mouseMove(tab.canvas, canvas_point(tab.canvas, 5, 4))
    qtbot.mouseRelease(tab.canvas, Qt.MouseButton.LeftButton, pos=canvas_point(tab.canvas, 5, 4))
    assert tab.canvas.array()[2:5, 2:6].min() == 1.0
    assert tab.canvas.array().sum() == 12
    assert studio.errors == []


@pytest.mark.parametrize("name, rows, columns", [
    ("top", slice(0, 14), slice(None)),
    ("left", slice(None), slice(0, 14)),
    ("right", slice(None), slice(14, 28)),
    ("centre", slice(7, 21), slice(7, 21)),
])
def test_preset_masks(name, rows, columns):
    expected = np.zeros((28, 28), dtype=np.float32)
    expected[rows, columns] = 1.0

    assert np.array_equal(preset_mask(name, 28, 28), expected)


def test_inpaint_original_and_moderated(studio):
    studio.moderate(steps=2)
    tab = studio.inpaint
    studio.pick_digit(tab, 7, 0)
    tab.preset_buttons["bottom"].click()
    tab.steps_box.setValue(5)
    tab.seed_box.setValue(3)
    progress = []
    studio.window.jobs.progress.connect(lambda job, event: progress.append((event.step, event.total)))

    studio.run(tab)

    assert studio.errors == []
    digit = bundled_digit(7, 0)
    left, right = tab.wipe_view.images()
    for role, shown in (("original", left), ("moderated", right)):
        result = tab.result.images[role][:, :, 0]
        assert np.array_equal(qimage_array(shown), result)
        assert np.array_equal(result[:14], digit[:14])
    assert tab.result.seed == 3
    assert "Original model: classified as" in tab.verdict_labels["original"].text()
    assert "Moderated model: classified as" in tab.verdict_labels["moderated"].text()
    assert progress[-1] == (10, 10)
    assert studio.window.job_panel.status_label.text() == "Inpainting with the original model and moderated model: done"


def test_inpaint_without_moderated_model(studio):
    tab = studio.inpaint
    studio.pick_digit(tab, 1, 5)
    tab.preset_buttons["centre"].click()
    tab.steps_box.setValue(5)

    studio.run(tab)

    left, right = tab.wipe_view.images()
    assert not left.isNull()
    assert right.isNull()
    assert "Moderate the model" in tab.verdict_labels["moderated"].text()
    assert np.array_equal(tab.result.images["original"][:7, :, 0], bundled_digit(1, 5)[:7])


def test_inpaint_empty_mask_shows_message(studio):
    tab = studio.inpaint
    studio.pick_digit(tab, 7, 0)

    tab.run_button.click()

    assert len(studio.errors) == 1
    assert "mask is empty" in studio.errors[0]
    assert not studio.window.jobs.busy
    assert tab.result is None


def test_run_without_image_shows_message(studio):
    studio.reconstruct.run_button.click()

    assert len(studio.errors) == 1
    assert "no input image" in studio.errors[0]
    assert not studio.window.jobs.busy


def test_drop_image_file_on_tab(studio, tmp_path):
    path = tmp_path / "paper.png"
    Image.fromarray(255 - bundled_digit(5, 2)).save(path)

    assert drop_on(studio.inpaint, [path]) == (True, True)
    studio.qtbot.waitUntil(lambda: studio.inpaint.picker.image is not None, timeout=TIMEOUT_MS)
    studio.wait_idle()

    assert studio.errors == []
    assert studio.inpaint.picker.description == "paper.png"
    # A dark digit on white paper is inverted to a light digit on black, like the bundled digits.
    assert np.array_equal(studio.inpaint.canvas.composed_image()[:, :, 0], bundled_digit(5, 2))


def test_drop_two_images_on_tab_shows_message(studio, tmp_path):
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    for path in paths:
        Image.fromarray(bundled_digit(0, 0)).save(path)

    assert drop_on(studio.reconstruct, paths) == (True, True)

    assert len(studio.errors) == 1
    assert "takes one input image" in studio.errors[0]
    assert studio.reconstruct.picker.image is None


def test_drop_checkpoint_on_tab_opens_it(studio, tmp_path, base_checkpoint):
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(base_checkpoint.read_bytes())

    # The tab takes only image files; the window below it opens the checkpoint.
    assert drop_on(studio.inpaint, [copy]) == (True, True)
    studio.qtbot.waitUntil(lambda: studio.window.checkpoint_path == copy, timeout=TIMEOUT_MS)
    studio.wait_idle()

    assert studio.errors == []
    assert studio.inpaint.original is studio.window.original


def test_open_unreadable_image_shows_error(studio, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")

    studio.inpaint.picker.open_file(bad)
    studio.wait_idle()

    assert len(studio.errors) == 1
    assert "broken.png could not be opened: not a readable image" in studio.errors[0]
    assert studio.inpaint.picker.image is None


@pytest.mark.parametrize("method", ["ode", "sde"])
def test_reconstruct_shows_results_and_verdicts(studio, method):
    tab = studio.reconstruct
    studio.pick_digit(tab, 3, 1)
    tab.method_box.setCurrentText(method)
    tab.set_t(0.3)
    tab.steps_box.setValue(5)

    studio.run(tab)

    assert studio.errors == []
    left, _ = tab.wipe_view.images()
    assert left.size().width() == 28
    assert np.array_equal(qimage_array(left), tab.result.images["original"][:, :, 0])
    assert tab.input_view.has_images
    assert tab.input_verdict.text().startswith("Input: classified as 3")
    assert "Original model: classified as" in tab.verdict_labels["original"].text()


def test_reconstruct_t_slider_follows_defaults(studio):
    tab = studio.reconstruct

    assert tab.t == 0.02
    assert tab.t_label.text() == "0.02"
    assert tab.method_box.currentText() == "ode"
    assert tab.steps_box.value() == 50
    tab.set_t(1.0)
    assert tab.t_label.text() == "1.00"


def test_new_moderation_clears_results(studio):
    tab = studio.reconstruct
    studio.pick_digit(tab, 0, 0)
    tab.steps_box.setValue(2)
    studio.run(tab)

    studio.moderate(steps=1)

    assert tab.result is None
    assert tab.wipe_view.images()[0].isNull()
    assert tab.moderated is studio.window.moderated


def test_cancel_inpainting_keeps_window_usable(studio):
    tab = studio.inpaint
    studio.pick_digit(tab, 7, 0)
    tab.preset_buttons["top"].click()
    tab.steps_box.setValue(2000)
    progress = []
    studio.window.jobs.progress.connect(lambda job, event: progress.append(event.step))

    tab.run_button.click()
    studio.qtbot.waitUntil(lambda: len(progress) >= 1, timeout=TIMEOUT_MS)
    studio.window.job_panel.cancel_button.click()
    studio.wait_idle()

    assert studio.errors == []
    assert tab.result is None
    assert tab.wipe_view.images()[0].isNull()
    assert tab.run_button.isEnabled()
