"""The forget set panel, the drawing dialog and the retain source, used as people will use them."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from engine.checkpoint import save_checkpoint
from engine.data import MNIST_CLASSES, bundled_mnist, uint8_to_model
from engine.jobs import Finished, Message, Progress
from engine.moderation import ModerationConfig
from engine.score_model import ImageSpec, ScoreModel
from engine.sde import SDEConfig
from engine.unet import UNetConfig
from msgm_studio.forget_set import ForgetSet, bundled_class_examples, drawing_to_model
from msgm_studio.forget_set_panel import ForgetSetPanel
from msgm_studio.retain_source import RetainSource, iter_retain_candidates
from msgm_studio.tasks import iter_studio_moderation
from tests import studio_helpers as helpers
from tests.studio_helpers import FAST_DETECTOR, FAST_MODERATION, send_drop

# Enough steps for a detector to tell drawings from digits or samples, so that its filter keeps some retain images.


# Images and files


def digit(index: int) -> np.ndarray:
    """One bundled digit, uint8 (28, 28), white on black."""
    images, _ = bundled_mnist()
    return images[index]


def digit_tensor(*indices: int) -> torch.Tensor:
    """Bundled digits as model images (N, 1, 28, 28) in [-1, 1]."""
    return uint8_to_model(np.stack([digit(index) for index in indices])[:, None])


def write_png(path: Path, pixels: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode=mode).save(path)
    return path


def stroke_drawing(column: int) -> np.ndarray:
    """A vertical bar two pixels wide at `column`, as the canvas returns it: float (28, 28), 1 where painted."""
    drawing = np.zeros((28, 28), dtype=np.float32)
    drawing[4:24, column : column + 2] = 1.0
    return drawing


def drop_on(widget, paths: list[Path]) -> None:
    """Deliver a drop of local files onto `widget` and check that it was taken."""
    entered, dropped = send_drop(widget, paths)
    assert entered
    assert dropped


def tiny_model() -> ScoreModel:
    """A 16x16 model with random weights: not the bundled digits' shape."""
    torch.manual_seed(0)
    config = UNetConfig(image_size=16, channels=1, base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
                        attention_resolutions=(), groups=4)
    return ScoreModel.create(config, SDEConfig(), ImageSpec(channels=1, size=16), name="tiny")


# Fixtures


@pytest.fixture
def panel(qtbot) -> ForgetSetPanel:
    panel = ForgetSetPanel()
    qtbot.addWidget(panel)
    panel.set_model(ImageSpec(), list(MNIST_CLASSES), bundled_class_examples())
    return panel


class Studio(helpers.Studio):
    @property
    def panel(self) -> ForgetSetPanel:
        return self.window.forget_panel


@pytest.fixture
def studio(qtbot, monkeypatch, base_checkpoint) -> Studio:
    studio = Studio(qtbot, monkeypatch, base_checkpoint)
    assert studio.errors == []
    return studio


# Drops


def test_drop_folder_subfolder_and_unreadable_file(studio, tmp_path):
    folder = tmp_path / "sevens"
    write_png(folder / "a.png", 255 - digit(0))  # dark on white, as if drawn on paper
    write_png(folder / "nested" / "deeper" / "b.png", digit(1))
    colour = np.zeros((40, 60, 4), dtype=np.uint8)
    colour[10:30, 25:35] = (200, 30, 30, 255)  # a red bar on a transparent background, wider than high
    write_png(folder / "nested" / "c.png", colour, "RGBA")
    broken = folder / "nested" / "broken.png"
    broken.write_bytes(b"not a png at all")
    single = write_png(tmp_path / "single.jpg", np.stack([digit(2)] * 3, axis=2))  # a colour JPEG

    drop_on(studio.window, [folder, single])
    studio.wait_idle()

    forget_set = studio.panel.forget_set
    assert len(studio.errors) == 1
    assert "broken.png: not a readable image" in studio.errors[0]
    assert "1 item(s) could not be added" in studio.errors[0]
    assert forget_set.image_count == 4
    assert forget_set.file_images.shape == (4, 1, 28, 28)
    assert studio.panel.thumbnail_list.count() == 4
    assert "4 image files" in studio.panel.summary_label.text()


def test_drop_onto_panel_thumbnails(studio, tmp_path):
    first = write_png(tmp_path / "first.png", digit(3))
    second = write_png(tmp_path / "second.png", digit(4))

    drop_on(studio.panel.thumbnail_list.viewport(), [first, second])
    studio.wait_idle()

    assert studio.errors == []
    assert studio.panel.forget_set.file_paths == [first, second]
    assert studio.panel.thumbnail_list.count() == 2


def test_drop_same_pixels_skips_duplicates(studio, tmp_path):
    original = write_png(tmp_path / "original.png", digit(5))
    inverted_copy = write_png(tmp_path / "on_paper.png", 255 - digit(5))  # inverted back on loading: same pixels
    other = write_png(tmp_path / "other.png", digit(6))

    drop_on(studio.window, [original])
    studio.wait_idle()
    drop_on(studio.window, [inverted_copy, original, other])
    studio.wait_idle()

    assert studio.errors == []
    assert studio.panel.forget_set.image_count == 2
    assert studio.panel.note_label.text() == "Added 1 image file to the forget set. 2 duplicates skipped."
    assert "2 duplicates skipped" in studio.window.statusBar().currentMessage()


# Thumbnails, removal and warnings


def test_class_entry_shows_examples_and_count(panel):
    panel.class_button("7").click()

    item = panel.thumbnail_list.item(0)
    assert panel.thumbnail_list.count() == 1
    assert item.text() == "7: 500"
    assert not item.icon().isNull()
    assert panel.forget_set.classes == [7]


def test_small_set_warning(panel):
    panel.add_files(digit_tensor(0, 1, 2), [Path("a.png"), Path("b.png"), Path("c.png")])

    assert not panel.warning_label.isHidden()
    assert "Only 3 images" in panel.warning_label.text()
    assert "shifts, small rotations, scaling and stroke thickness" in panel.warning_label.text()

    panel.add_files(digit_tensor(3, 4), [Path("d.png"), Path("e.png")])
    assert panel.warning_label.isHidden()

    panel.undo_stack.undo()
    panel.class_button("1").click()
    assert panel.warning_label.isHidden()


def test_delete_key_removes_selected(panel, qtbot):
    panel.add_files(digit_tensor(0, 1, 2), [Path("a.png"), Path("b.png"), Path("c.png")])
    panel.class_button("9").click()
    panel.show()
    qtbot.waitExposed(panel)
    panel.activateWindow()
    panel.thumbnail_list.setFocus()
    qtbot.waitUntil(panel.thumbnail_list.hasFocus)

    panel.thumbnail_list.item(0).setSelected(True)  # the class entry comes first
    panel.thumbnail_list.item(2).setSelected(True)  # b.png
    qtbot.keyClick(panel.thumbnail_list, Qt.Key.Key_Delete)

    assert panel.forget_set.classes == []
    assert panel.forget_set.file_paths == [Path("a.png"), Path("c.png")]
    assert panel.thumbnail_list.count() == 2
    assert not panel.class_button("9").isChecked()


def test_add_picked_samples(panel):
    picked = np.stack([digit(10), digit(11)])[:, :, :, None]

    outcome = panel.add_picked(picked, "original model samples, seed 3")

    forget_set = panel.forget_set
    assert outcome.added == 2
    assert forget_set.summary() == "2 picked samples"
    assert forget_set.entries[0].origin == "original model samples, seed 3"
    assert torch.equal(forget_set.entries[1].image, digit_tensor(11)[0])
    assert panel.thumbnail_list.count() == 2


def test_add_picked_wrong_shape_rejected(panel):
    with pytest.raises(ValueError, match="do not match"):
        panel.add_picked(np.zeros((1, 16, 16, 1), dtype=np.uint8), "other model")

    assert panel.forget_set.is_empty()


# Undo and redo


def _add_files(panel):
    panel.add_files(digit_tensor(20, 21), [Path("x.png"), Path("y.png")])


def _add_drawing(panel):
    panel.add_drawing(stroke_drawing(12))


def _add_picked(panel):
    panel.add_picked(np.stack([digit(30)])[:, :, :, None], "moderated model samples, seed 0")


def _add_class(panel):
    panel.class_button("7").click()


def _remove_class(panel):
    panel.class_button("3").click()


def _remove_selected(panel):
    panel.thumbnail_list.item(1).setSelected(True)
    panel.remove_button.click()


def _clear(panel):
    panel.clear_button.click()


@pytest.mark.parametrize("edit", [_add_files, _add_drawing, _add_picked, _add_class, _remove_class, _remove_selected,
                                  _clear])
def test_undo_redo_each_edit(panel, edit):
    panel.class_button("3").click()
    panel.add_files(digit_tensor(40), [Path("start.png")])
    before = (panel.forget_set.summary(), panel.thumbnail_list.count())

    edit(panel)
    after = (panel.forget_set.summary(), panel.thumbnail_list.count())
    assert after != before

    panel.undo_stack.undo()
    assert (panel.forget_set.summary(), panel.thumbnail_list.count()) == before
    assert panel.class_button("3").isChecked() == (3 in panel.forget_set.classes)

    panel.undo_stack.redo()
    assert (panel.forget_set.summary(), panel.thumbnail_list.count()) == after
    assert panel.class_button("3").isChecked() == (3 in panel.forget_set.classes)


def test_undo_redo_keyboard(panel, qtbot):
    panel.show()
    qtbot.waitExposed(panel)
    panel.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is panel)
    panel.class_button("2").click()
    panel.add_drawing(stroke_drawing(5))

    qtbot.keyClick(panel, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert panel.forget_set.summary() == "bundled class 2"
    qtbot.keyClick(panel, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert panel.forget_set.is_empty()
    assert not panel.class_button("2").isChecked()

    qtbot.keyClick(panel, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert panel.forget_set.summary() == "bundled class 2"
    assert panel.undo_action.text() == "&Undo Add class 2"


def test_new_model_clears_undo_history(panel):
    panel.class_button("4").click()

    panel.set_model(ImageSpec(channels=1, size=16), [])

    assert panel.undo_stack.count() == 0
    assert panel.forget_set.is_empty()
    assert panel.class_buttons == []


def test_load_forget_set_replaces_without_undo(panel):
    panel.class_button("4").click()
    saved = ForgetSet(class_names=list(MNIST_CLASSES), classes=[1])
    saved.add_images(digit_tensor(50, 51), "picked", ["original model samples, seed 0"] * 2)

    panel.load_forget_set(saved)

    assert panel.forget_set.summary() == "bundled class 1 and 2 picked samples"
    assert panel.class_button("1").isChecked()
    assert not panel.class_button("4").isChecked()
    assert panel.thumbnail_list.count() == 3
    assert panel.undo_stack.count() == 0


# Drawing


def _canvas_point(canvas, row: float, column: float) -> QPoint:
    rect = canvas.image_rect()
    height, width = canvas.shape
    return QPoint(round(rect.left() + (column + 0.5) * rect.width() / width),
                  round(rect.top() + (row + 0.5) * rect.height() / height))


def _draw_line(qtbot, canvas, start: tuple[int, int], end: tuple[int, int]) -> None:
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=_canvas_point(canvas, *start))
    qtbot.mouseMove(canvas, _canvas_point(canvas, (start[0] + end[0]) / 2, (start[1] + end[1]) / 2))
    qtbot.mouseMove(canvas, _canvas_point(canvas, *end))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=_canvas_point(canvas, *end))


def test_draw_dialog_adds_a_series_of_drawings(panel, qtbot):
    panel.draw_button.click()
    dialog = panel.draw_dialog
    qtbot.waitExposed(dialog)
    canvas = dialog.canvas
    assert canvas.shape == (28, 28)
    assert not dialog.add_button.isEnabled()

    _draw_line(qtbot, canvas, (4, 14), (24, 14))  # a vertical stroke
    dialog.add_another_button.click()
    assert dialog.isVisible()
    assert not np.any(canvas.array() > 0)
    assert dialog.status_label.text() == "1 drawing added"

    _draw_line(qtbot, canvas, (14, 4), (14, 24))  # a horizontal stroke
    dialog.add_button.click()

    forget_set = panel.forget_set
    assert not dialog.isVisible()
    assert forget_set.summary() == "2 drawings"
    assert panel.thumbnail_list.count() == 2
    vertical, horizontal = forget_set.entries[0].image, forget_set.entries[1].image
    assert vertical.shape == (1, 28, 28)
    assert float(vertical[0, 14, 14]) == pytest.approx(1.0)  # painted: white
    assert float(vertical[0, 14, 4]) == pytest.approx(-1.0)  # unpainted: black
    assert float(horizontal[0, 14, 4]) == pytest.approx(1.0)
    assert float(horizontal[0, 4, 14]) == pytest.approx(-1.0)

    panel.undo_stack.undo()
    assert forget_set.summary() == "1 drawing"


def test_draw_dialog_eraser_and_undo(panel, qtbot):
    panel.draw_button.click()
    dialog = panel.draw_dialog
    qtbot.waitExposed(dialog)
    canvas = dialog.canvas
    _draw_line(qtbot, canvas, (4, 14), (24, 14))

    dialog.eraser_button.click()
    _draw_line(qtbot, canvas, (14, 10), (14, 18))
    assert canvas.array()[14, 14] == 0.0
    assert canvas.array()[6, 14] > 0.5

    dialog.undo_button.click()
    assert canvas.array()[14, 14] > 0.5

    dialog.clear_button.click()
    assert not dialog.add_button.isEnabled()
    dialog.close_button.click()
    assert panel.forget_set.is_empty()


def test_new_model_size_replaces_draw_dialog(panel, qtbot):
    panel.draw_button.click()
    old_dialog = panel.draw_dialog
    qtbot.waitExposed(old_dialog)

    panel.set_model(ImageSpec(channels=1, size=16), [])
    assert not old_dialog.isVisible()
    assert panel.draw_dialog is None

    panel.draw_button.click()
    assert panel.draw_dialog.canvas.shape == (16, 16)


def test_drawing_on_white_background_model(qtbot):
    panel = ForgetSetPanel()
    qtbot.addWidget(panel)
    panel.set_model(ImageSpec(channels=3, size=28, background="white"), [])

    panel.add_drawing(stroke_drawing(12))

    image = panel.forget_set.entries[0].image
    assert image.shape == (3, 28, 28)
    assert torch.all(image[:, 10, 12] == -1.0)  # black strokes
    assert torch.all(image[:, 10, 2] == 1.0)  # on white


# Retain source


def test_retain_candidates_from_folder_skip_unreadable(tmp_path, base_model):
    folder = tmp_path / "retain"
    write_png(folder / "one.png", digit(0))
    write_png(folder / "sub" / "two.png", np.full((50, 30), 200, dtype=np.uint8))
    (folder / "sub" / "three.png").write_bytes(b"broken")

    events = list(iter_retain_candidates(base_model, RetainSource(kind="folder", folder=folder), []))

    messages = [event.text for event in events if isinstance(event, Message)]
    images = events[-1].result
    assert images.shape == (2, 1, 28, 28)
    assert any("three.png (not a readable image)" in text for text in messages)


def test_retain_panel_folder_choice(qtbot, tmp_path):
    from msgm_studio.retain_source_panel import RetainSourcePanel

    retain_panel = RetainSourcePanel()
    qtbot.addWidget(retain_panel)
    assert retain_panel.retain_source() == RetainSource(kind="bundled")

    retain_panel.set_folder(tmp_path)
    assert retain_panel.retain_source() == RetainSource(kind="folder", folder=tmp_path)

    retain_panel.samples_button.click()
    retain_panel.sample_count_box.setValue(300)
    assert retain_panel.retain_source().sample_count == 300
    assert retain_panel.retain_source().kind == "samples"


def test_model_samples_retain_source(base_model):
    forget_set = ForgetSet(class_names=list(MNIST_CLASSES))
    forget_set.add_images(drawing_to_model(stroke_drawing(12), ImageSpec()), "drawing", ["drawing"])
    source = RetainSource(kind="samples", sample_count=8, sampler_steps=5)
    config = ModerationConfig(steps=1, **FAST_MODERATION)

    events = list(iter_studio_moderation(base_model, forget_set, source, config, detector_config=FAST_DETECTOR))

    texts = [event.text for event in events if isinstance(event, Message)]
    result = events[-1]
    assert isinstance(result, Finished)
    assert result.result.steps_done == 1
    assert any(text.startswith("forget detector:") for text in texts)
    assert any(text.startswith("kept ") and "of 8 retain images" in text for text in texts)
    assert result.result.model.history[-1]["retain_images"] <= 8
    phases = [event.phase for event in events if isinstance(event, Progress)]
    # Sampling the retain set, then training the detector, then the one moderation step, in that order.
    assert phases[0] == "sampling the retain set"
    assert "training the forget detector" in phases
    assert phases[-1] == ""
    assert phases.count("") == 1


# Moderation from the window


def test_moderate_drawn_set_trains_detector(studio):
    studio.panel.add_drawing(stroke_drawing(12))
    studio.panel.add_drawing(stroke_drawing(15))

    studio.moderate(steps=2)

    assert studio.errors == []
    assert studio.window.moderated.history[-1]["forget_set"] == "2 drawings"
    assert studio.window.moderated.history[-1]["steps_done"] == 2
    assert any(text.startswith("training a forget detector on 2 forget and 5,000 retain images") for text in studio.messages)
    assert any(text.startswith("forget detector:") for text in studio.messages)
    assert any(text.startswith("kept ") and "of 5,000 retain images" in text for text in studio.messages)
    # The detector judges the samples of both models, and the text under each grid names it.
    for role in ("original", "moderated"):
        verdict = studio.window.compare_panel.rate_labels[role].text()
        assert "look like the forget set" in verdict
        assert "Judge: detector (2 forget" in verdict


def test_moderate_dropped_set_with_retain_folder(studio, tmp_path):
    forget = [write_png(tmp_path / "forget" / f"{index}.png", 255 - digit(index)) for index in range(3)]
    retain = tmp_path / "retain"
    for index in range(6):
        write_png(retain / f"{index}.png", digit(100 + index))
    drop_on(studio.window, forget)
    studio.wait_idle()
    studio.window.retain_panel.set_folder(retain)

    studio.moderate(steps=2)

    assert studio.errors == []
    assert studio.window.moderated.history[-1]["forget_set"] == "3 image files"
    assert studio.window.moderated.history[-1]["retain_images"] == 6
    assert any(text.startswith("forget detector:") for text in studio.messages)
    warning = studio.window.job_panel.warning_label
    assert not warning.isHidden()
    assert "the retain folder has only 6 images" in warning.text()


def test_missing_retain_folder_shows_error(studio, tmp_path):
    studio.panel.class_button("7").click()
    studio.window.retain_panel.set_folder(tmp_path / "gone")

    studio.window.job_panel.start_button.click()

    assert len(studio.errors) == 1
    assert "does not exist" in studio.errors[0]
    assert not studio.window.jobs.busy


def test_other_model_offers_folder_and_samples(qtbot, monkeypatch, tmp_path):
    checkpoint = save_checkpoint(tiny_model(), tmp_path / "tiny.safetensors")
    studio = Studio(qtbot, monkeypatch, checkpoint)
    retain_panel = studio.window.retain_panel
    retain_panel.sample_count_box.setValue(6)
    retain_panel.sampler_steps = 2

    assert studio.errors == []
    assert studio.panel.class_buttons == []
    assert not retain_panel.bundled_button.isEnabled()
    assert retain_panel.samples_button.isChecked()

    studio.panel.add_drawing(np.pad(np.ones((8, 2), dtype=np.float32), ((4, 4), (7, 7))))
    studio.moderate(steps=1)

    assert studio.errors == []
    assert studio.window.moderated.history[-1]["forget_set"] == "1 drawing"
    assert studio.window.moderated.history[-1]["retain_images"] <= 6


def test_class_buttons_follow_a_theme_switch(qtbot, panel):
    from msgm_studio.theme import apply_theme

    def face_lightness(button) -> int:
        image = button.grab().toImage()
        return image.pixelColor(image.width() // 4, image.height() // 2).lightness()

    panel.show()
    try:
        apply_theme("light")
        qtbot.waitUntil(lambda: face_lightness(panel.class_button("1")) > 150, timeout=5_000)
        apply_theme("dark")
        qtbot.waitUntil(lambda: face_lightness(panel.class_button("1")) < 100, timeout=5_000)
    finally:
        apply_theme("system")
