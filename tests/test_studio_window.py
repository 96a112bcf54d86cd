"""The studio window driven as a user would: open, choose a forget set, moderate, compare, export."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from engine.checkpoint import load_checkpoint
from engine.data import bundled_mnist
from msgm_studio.image_view import ImageGridView, tile_images
from msgm_studio.main_window import MainWindow
from resources import BASE_MODEL
from tests import studio_helpers as helpers
from tests.studio_helpers import TIMEOUT_MS, send_drop

class Studio(helpers.Studio):
    def drop(self, paths: list[Path]) -> None:
        """Deliver a drop of local files onto the window, as a file manager would."""
        entered, dropped = send_drop(self.window, paths)
        assert entered
        assert dropped


@pytest.fixture
def studio(qtbot, base_checkpoint, monkeypatch) -> Studio:
    studio = Studio(qtbot, monkeypatch, base_checkpoint)
    assert studio.errors == []
    return studio


def write_digit(path: Path, index: int = 0) -> Path:
    """Write one bundled digit as a PNG, dark on white as if drawn on paper."""
    images, _ = bundled_mnist()
    Image.fromarray(255 - images[index]).save(path)
    return path


def test_window_shows_model_and_samples(studio, base_model):
    window = studio.window
    details = base_model.describe()

    assert window.model_panel.values["name"].text() == details["name"]
    assert window.model_panel.values["sde"].text() == details["sde"]
    assert window.model_panel.values["parameters"].text() == f"{details['parameters']:,}"
    assert [button.text() for button in window.forget_panel.class_buttons] == [str(digit) for digit in range(10)]
    assert window.job_panel.method_box.currentText() == "obtuse"
    assert not studio.view("original").pixmap().isNull()
    assert studio.view("moderated").pixmap().isNull()
    assert not window.export_action.isEnabled()


def test_window_opens_bundled_model_by_default(qtbot, monkeypatch):
    window = MainWindow(device="cpu")
    qtbot.addWidget(window)
    window.sample_count = 1
    window.sampler_steps = 1
    errors = []
    monkeypatch.setattr(window, "show_error", errors.append)

    qtbot.waitUntil(lambda: window.compare_panel.views["original"].has_images, timeout=TIMEOUT_MS)
    assert window.checkpoint_path == BASE_MODEL
    assert errors == []


def test_moderate_class_compare_and_export(studio, tmp_path, monkeypatch):
    window = studio.window
    window.forget_panel.class_button("7").click()
    studio.moderate(steps=2)

    original, moderated = studio.view("original").pixmap(), studio.view("moderated").pixmap()
    assert not moderated.isNull()
    assert moderated.size() == original.size()
    assert window.moderated.history[-1]["method"] == "obtuse"
    assert window.moderated.history[-1]["steps_done"] == 2
    assert window.training_view.point_count("retain_loss") == 2
    assert window.training_view.point_count("forget_loss") == 2
    assert "finished: 2 steps" in window.job_panel.result_label.text()
    assert "classified as 7" in window.compare_panel.rate_labels["moderated"].text()
    assert window.export_action.isEnabled()

    out = tmp_path / "moderated.safetensors"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(out), ""))
    window.export_action.trigger()
    studio.wait_idle()

    assert studio.errors == []
    exported = load_checkpoint(out)
    moderations = [entry for entry in exported.history if entry.get("kind") == "moderation"]
    assert len(moderations) == 1
    assert moderations[0]["method"] == "obtuse"
    assert moderations[0]["forget_set"] == "bundled class 7"
    for key, tensor in window.moderated.network.state_dict().items():
        assert torch.equal(exported.network.state_dict()[key], tensor)


def test_export_to_missing_folder_fails_cleanly(studio, tmp_path):
    window = studio.window
    window.forget_panel.class_button("1").click()
    studio.moderate(steps=1)

    missing = tmp_path / "missing" / "moderated.safetensors"
    window.export_checkpoint(missing)
    studio.wait_idle()

    assert len(studio.errors) == 1
    assert "does not exist" in studio.errors[0]
    assert not missing.parent.exists()
    assert list(tmp_path.iterdir()) == []


def test_cancel_keeps_moderated_state(studio, base_checkpoint):
    window = studio.window
    window.forget_panel.class_button("3").click()
    window.job_panel.steps_box.setValue(200)
    before = {key: value.clone() for key, value in window.original.network.state_dict().items()}

    window.job_panel.start_button.click()
    studio.qtbot.waitUntil(lambda: window.training_view.point_count("retain_loss") >= 1, timeout=TIMEOUT_MS)
    window.job_panel.pause_button.click()
    assert window.job_panel.pause_button.text() == "Resume"
    assert window.jobs.paused
    window.job_panel.pause_button.click()
    assert window.job_panel.pause_button.text() == "Pause"
    window.job_panel.cancel_button.click()
    studio.qtbot.waitUntil(lambda: studio.view("moderated").has_images, timeout=TIMEOUT_MS)
    studio.wait_idle()

    assert studio.errors == []
    assert "cancelled after" in window.job_panel.result_label.text()
    assert window.moderated.history[-1]["cancelled"]
    assert window.moderated.history[-1]["steps_done"] < 200
    for key, tensor in window.original.network.state_dict().items():
        assert torch.equal(before[key], tensor)


def test_start_with_empty_forget_set_shows_error(studio):
    studio.window.job_panel.start_button.click()

    assert len(studio.errors) == 1
    assert "forget set is empty" in studio.errors[0]
    assert not studio.window.jobs.busy
    assert studio.window.moderated is None


@pytest.mark.parametrize("name, content", [
    ("broken.safetensors", b"this is not a checkpoint"),
    ("notes.txt", b"hello"),
])
def test_drop_unreadable_checkpoint_shows_error(studio, tmp_path, name, content):
    bad = tmp_path / name
    bad.write_bytes(content)
    original = studio.window.original

    studio.drop([bad])
    studio.wait_idle()

    assert len(studio.errors) == 1
    assert name in studio.errors[0]
    assert "not a checkpoint" in studio.errors[0]
    assert studio.window.original is original

    studio.window.compare_panel.seed_box.setValue(1)
    studio.window.compare_panel.sample_button.click()
    studio.wait_idle()
    assert studio.window.compare_panel.samples["original"].seed == 1
    assert len(studio.errors) == 1


def test_open_missing_checkpoint_shows_error(studio, tmp_path):
    studio.window.open_checkpoint(tmp_path / "nowhere.safetensors")
    studio.wait_idle()

    assert len(studio.errors) == 1
    assert "not found" in studio.errors[0]


def test_drop_non_image_shows_error(studio, tmp_path):
    fake = tmp_path / "digit.png"
    fake.write_bytes(b"not a png")

    studio.drop([fake])
    studio.wait_idle()

    assert len(studio.errors) == 1
    assert "digit.png: not a readable image" in studio.errors[0]
    assert studio.window.forget_panel.forget_set.is_empty()


def test_drop_images_and_moderate(studio, tmp_path):
    folder = tmp_path / "drawn"
    folder.mkdir()
    write_digit(folder / "a.png", 0)
    write_digit(folder / "b.png", 1)
    single = write_digit(tmp_path / "single.png", 2)

    studio.drop([folder, single])
    studio.wait_idle()

    forget_set = studio.window.forget_panel.forget_set
    assert studio.errors == []
    assert forget_set.file_count == 3
    assert forget_set.file_images.shape == (3, 1, 28, 28)
    assert studio.window.forget_panel.thumbnail_list.count() == 3

    studio.moderate(steps=1)
    assert studio.errors == []
    assert studio.window.moderated.history[-1]["forget_set"] == "3 image files"


def test_drop_checkpoint_and_images_together_shows_error(studio, tmp_path, base_checkpoint):
    image = write_digit(tmp_path / "digit.png")

    studio.drop([base_checkpoint, image])

    assert len(studio.errors) == 1
    assert "not several kinds at once" in studio.errors[0]
    assert not studio.window.jobs.busy


def test_drop_checkpoint_opens_it(studio, tmp_path, base_checkpoint):
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(base_checkpoint.read_bytes())

    studio.drop([copy])
    studio.qtbot.waitUntil(lambda: studio.window.checkpoint_path == copy, timeout=TIMEOUT_MS)
    studio.wait_idle()

    assert studio.errors == []
    assert studio.view("original").has_images


def test_image_view_enlarges_with_sharp_pixels(qtbot):
    view = ImageGridView()
    qtbot.addWidget(view)
    view.resize(300, 300)
    images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4, 1) * 7

    view.set_images(images, columns=2)

    grid = tile_images(images, columns=2)
    pixmap = view.pixmap()
    ratio = view.devicePixelRatioF()
    factor = pixmap.width() // grid.shape[1]
    assert pixmap.devicePixelRatio() == ratio
    assert factor == int(300 * ratio) // grid.shape[1]
    assert pixmap.width() == grid.shape[1] * factor
    rendered = pixmap.toImage()
    for y, x in [(1, 1), (2, 3), (4, 8)]:
        for dy, dx in [(0, 0), (factor - 1, factor - 1)]:
            assert rendered.pixelColor(x * factor + dx, y * factor + dy).red() == grid[y, x, 0]


def test_studio_without_display_exits_with_message(monkeypatch, capsys):
    from msgm_studio import app

    monkeypatch.setattr(app.sys, "platform", "linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    assert app.run_studio() == 2
    assert "no display found" in capsys.readouterr().err


def test_wheel_over_sidebar_field_keeps_its_value(studio):
    # Scrolling the sidebar must not change a field that slides under the pointer.
    method_box = studio.window.job_panel.method_box
    before = method_box.currentText()
    centre = QPointF(method_box.rect().center())
    wheel = QWheelEvent(centre, QPointF(method_box.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, -120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(method_box, wheel)
    assert method_box.currentText() == before


def test_status_bar_repeats_the_progress(studio):
    window = studio.window
    window.forget_panel.class_button("7").click()
    seen = []
    window.jobs.progress.connect(lambda job, progress: seen.append(
        (window.status_progress.isHidden(), window.status_progress.value(), progress.step)))

    studio.moderate(steps=3)

    assert seen
    assert all(not hidden and value == step for hidden, value, step in seen)
    assert window.status_progress.isHidden()
