"""Projects: saving a studio session to one file and opening it again, as a user would."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtWidgets import QFileDialog

from engine.checkpoint import save_checkpoint
from engine.data import bundled_mnist
from engine.errors import UserError
from msgm_studio.forget_set import ForgetSet
from msgm_studio.main_window import MainWindow
from msgm_studio.project import Project, load_project, save_project
from msgm_studio.project_session import CANCEL, DISCARD
from tests.studio_helpers import FAST_MODERATION, TIMEOUT_MS, open_window, wait_idle

# Small and quick runs: no monitoring or previews during the moderation.
FAST_RUN = FAST_MODERATION


def write_digit(path: Path, index: int) -> Path:
    images, _ = bundled_mnist()
    Image.fromarray(255 - images[index]).save(path)
    return path


@pytest.fixture
def model_copy(tmp_path, base_checkpoint) -> Path:
    """The bundled model copied into its own folder, so that a test can move or delete it."""
    folder = tmp_path / "models"
    folder.mkdir()
    return Path(shutil.copy(base_checkpoint, folder / "digits.safetensors"))


def build_session(qtbot, window: MainWindow, errors: list[str], tmp_path: Path) -> None:
    """Fill a window as a user would: settings, a moderation of class 7, then an image file, a drawing and a pick.

    The images come after the moderation because a forget set of more than classes first trains a
    forget detector, which takes too long for a test.
    """
    window.forget_panel.class_button("7").click()
    window.job_panel.method_box.setCurrentText("orthogonal")
    window.job_panel.steps_box.setValue(2)
    window.compare_panel.seed_box.setValue(3)
    window.start_moderation()
    qtbot.waitUntil(lambda: window.compare_panel.views["moderated"].has_images or bool(errors), timeout=TIMEOUT_MS)
    wait_idle(qtbot, window)
    assert errors == []

    window.add_forget_files([write_digit(tmp_path / "seven.png", 0)])
    wait_idle(qtbot, window)
    drawing = np.zeros((28, 28), dtype=np.float32)
    drawing[6:22, 13:16] = 1.0
    window.forget_panel.add_drawing(drawing)
    window.forget_panel.add_picked(bundled_mnist()[0][5:6, :, :, None], "original model, seed 0")


def test_project_reopens_same_session(qtbot, monkeypatch, tmp_path, model_copy):
    first, errors = open_window(qtbot, monkeypatch, model_copy)
    build_session(qtbot, first, errors, tmp_path)
    project_path = tmp_path / "session.msgmproj"

    first.session.save(project_path)
    wait_idle(qtbot, first)

    assert errors == []
    assert project_path.is_file()
    assert not first.session.dirty
    assert first.windowTitle().startswith("session")

    second, second_errors = open_window(qtbot, monkeypatch, None)
    second.session.open(project_path)
    qtbot.waitUntil(lambda: second.compare_panel.views["moderated"].has_images, timeout=TIMEOUT_MS)
    wait_idle(qtbot, second)

    assert second_errors == []
    assert second.checkpoint_path == model_copy
    assert second.session.path == project_path
    assert not second.session.dirty
    saved, opened = first.forget_panel.forget_set, second.forget_panel.forget_set
    assert opened.classes == saved.classes
    assert [entry.kind for entry in opened.entries] == ["file", "drawing", "picked"]
    assert [entry.origin for entry in opened.entries] == [entry.origin for entry in saved.entries]
    for before, after in zip(saved.entries, opened.entries):
        assert torch.equal(before.image, after.image)
    assert second.job_panel.method_box.currentText() == "orthogonal"
    assert second.job_panel.steps_box.value() == 2
    assert second.compare_panel.seed_box.value() == 3
    assert second.moderated.history == first.moderated.history
    for key, tensor in first.moderated.network.state_dict().items():
        assert torch.equal(second.moderated.network.state_dict()[key], tensor)
    assert second.job_panel.result_label.text() == first.job_panel.result_label.text()
    assert second.compare_panel.rate_labels["moderated"].text() == first.compare_panel.rate_labels["moderated"].text()
    assert second.export_action.isEnabled()
    # The training curves come back as they were drawn.
    assert second.training_view.point_count("retain_loss") == 2
    assert second.training_view.history() == first.training_view.history()
    for key in ("retain_loss", "retain_loss_smoothed"):
        assert np.array_equal(second.training_view.curve_data(key)[1], first.training_view.curve_data(key)[1])


def test_project_with_moved_checkpoint_asks_for_it(qtbot, monkeypatch, tmp_path, model_copy):
    first, _ = open_window(qtbot, monkeypatch, model_copy)
    first.forget_panel.class_button("3").click()
    project_path = tmp_path / "session.msgmproj"
    first.session.save(project_path)
    wait_idle(qtbot, first)
    moved = tmp_path / "elsewhere" / model_copy.name
    moved.parent.mkdir()
    shutil.move(model_copy, moved)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(moved), ""))

    second, errors = open_window(qtbot, monkeypatch, None)
    second.session.open(project_path)
    qtbot.waitUntil(lambda: second.checkpoint_path == moved, timeout=TIMEOUT_MS)
    wait_idle(qtbot, second)

    assert len(errors) == 1
    assert str(model_copy) in errors[0]
    assert "was not found" in errors[0]
    assert second.forget_panel.forget_set.classes == [3]
    # The project now refers to the new place, which a save would store.
    assert second.session.dirty


def test_project_open_cancelled_when_checkpoint_not_located(qtbot, monkeypatch, tmp_path, model_copy):
    first, _ = open_window(qtbot, monkeypatch, model_copy)
    project_path = tmp_path / "session.msgmproj"
    first.session.save(project_path)
    wait_idle(qtbot, first)
    model_copy.unlink()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: ("", ""))

    second, errors = open_window(qtbot, monkeypatch, None)
    second.session.open(project_path)
    wait_idle(qtbot, second)

    assert len(errors) == 1
    assert second.original is None
    assert second.session.path is None
    assert "was not opened" in second.statusBar().currentMessage()


@pytest.mark.parametrize("content, expected", [
    (b"not a project at all", "not an MSGM Studio project"),
    (None, "not an MSGM Studio project"),  # None: a checkpoint file renamed to .msgmproj
])
def test_open_wrong_file_as_project_shows_error(qtbot, monkeypatch, tmp_path, base_model, content, expected):
    bad = tmp_path / "bad.msgmproj"
    if content is None:
        save_checkpoint(base_model, bad)
    else:
        bad.write_bytes(content)
    window, errors = open_window(qtbot, monkeypatch, None)

    window.session.open(bad)
    wait_idle(qtbot, window)

    assert len(errors) == 1
    assert expected in errors[0]
    assert window.original is None


def test_save_project_without_model_shows_error(qtbot, monkeypatch, tmp_path):
    window, errors = open_window(qtbot, monkeypatch, None)

    window.session.save(tmp_path / "empty.msgmproj")

    assert len(errors) == 1
    assert "open a checkpoint first" in errors[0]
    assert list(tmp_path.iterdir()) == []


def test_save_project_to_missing_folder_writes_nothing(qtbot, monkeypatch, tmp_path, model_copy):
    window, errors = open_window(qtbot, monkeypatch, model_copy)
    target = tmp_path / "missing" / "session.msgmproj"

    window.session.save(target)
    wait_idle(qtbot, window)

    assert len(errors) == 1
    assert "does not exist" in errors[0]
    assert not target.parent.exists()
    assert window.session.path is None


def test_unsaved_changes_prompt_before_open(qtbot, monkeypatch, tmp_path, model_copy, base_checkpoint):
    window, _ = open_window(qtbot, monkeypatch, model_copy)
    window.show()
    answers = [CANCEL]
    prompts = []
    monkeypatch.setattr(window.session, "ask_save_changes", lambda: prompts.append(True) or answers[0])
    window.forget_panel.class_button("1").click()
    assert window.session.dirty
    assert window.isWindowModified()

    window.open_checkpoint(base_checkpoint)
    wait_idle(qtbot, window)
    assert len(prompts) == 1
    assert window.checkpoint_path == model_copy

    answers[0] = DISCARD
    window.open_checkpoint(base_checkpoint)
    qtbot.waitUntil(lambda: window.checkpoint_path == base_checkpoint, timeout=TIMEOUT_MS)
    wait_idle(qtbot, window)
    assert len(prompts) == 2
    assert not window.session.dirty


@pytest.mark.parametrize("name", ["notes.msgmproj", "notes.safetensors"])
def test_unreadable_file_errors_before_asking_about_changes(qtbot, monkeypatch, tmp_path, model_copy, name):
    window, errors = open_window(qtbot, monkeypatch, model_copy)
    window.show()
    prompts = []
    monkeypatch.setattr(window.session, "ask_save_changes", lambda: prompts.append(True) or CANCEL)
    window.forget_panel.class_button("1").click()
    bad = tmp_path / name
    bad.write_text("not a project or checkpoint")

    window.open_file(bad)
    wait_idle(qtbot, window)

    assert prompts == []
    assert len(errors) == 1
    assert window.session.dirty
    assert window.forget_panel.forget_set.classes == [1]
    window.session.mark_clean()  # so that closing the window at teardown shows no unsaved-changes question


def test_unsaved_changes_cancel_keeps_window_open(qtbot, monkeypatch, model_copy):
    window, _ = open_window(qtbot, monkeypatch, model_copy)
    window.show()
    answers = [CANCEL]
    monkeypatch.setattr(window.session, "ask_save_changes", lambda: answers[0])
    window.forget_panel.class_button("1").click()

    assert not window.close()
    assert window.isVisible()

    answers[0] = DISCARD
    assert window.close()


def test_project_file_keeps_forget_set_and_weights(tmp_path, base_model, base_checkpoint):
    forget_set = ForgetSet(class_names=[str(digit) for digit in range(10)])
    forget_set.set_classes([2, 5])
    images = torch.rand(3, 1, 28, 28) * 2 - 1
    forget_set.add_images(images[:2], "file", ["/data/a.png", "/data/b.png"])
    forget_set.add_images(images[2:], "drawing", ["drawing"])
    moderated = base_model.copy()
    with torch.no_grad():
        next(moderated.network.parameters()).add_(0.5)
    moderated.history.append({"kind": "moderation", "method": "obtuse", "steps_done": 3})
    project = Project(checkpoint=base_checkpoint, forget_set=forget_set, settings={"moderation": {"steps": 3}},
                      moderated=moderated, results={"summary": "done"})

    path = save_project(project, tmp_path / "session")
    loaded = load_project(path)

    assert path.suffix == ".msgmproj"
    assert [file.name for file in tmp_path.iterdir()] == ["session.msgmproj"]
    assert loaded.checkpoint_found
    assert loaded.project.checkpoint == base_checkpoint
    assert loaded.project.forget_set.classes == [2, 5]
    assert [entry.kind for entry in loaded.project.forget_set.entries] == ["file", "file", "drawing"]
    assert torch.equal(torch.stack([entry.image for entry in loaded.project.forget_set.entries]), images)
    assert loaded.project.settings == {"moderation": {"steps": 3}}
    assert loaded.project.results["summary"] == "done"
    assert loaded.project.moderated.history == moderated.history
    for key, tensor in moderated.network.state_dict().items():
        assert torch.equal(loaded.project.moderated.network.state_dict()[key], tensor)


def test_project_file_finds_checkpoint_moved_with_it(tmp_path, model_copy):
    project = Project(checkpoint=model_copy, forget_set=ForgetSet(class_names=["0"]))
    save_project(project, model_copy.parent / "session.msgmproj")
    moved = tmp_path / "moved"
    shutil.move(model_copy.parent, moved)

    loaded = load_project(moved / "session.msgmproj")

    assert loaded.checkpoint_found
    assert loaded.project.checkpoint == (moved / model_copy.name).resolve()


def test_load_missing_project_raises(tmp_path):
    with pytest.raises(UserError, match="project not found"):
        load_project(tmp_path / "nowhere.msgmproj")


def test_dropped_project_opens(qtbot, monkeypatch, tmp_path, model_copy):
    first, _ = open_window(qtbot, monkeypatch, model_copy)
    first.forget_panel.class_button("5").click()
    project_path = tmp_path / "dropped.msgmproj"
    first.session.save(project_path)
    wait_idle(qtbot, first)

    second, errors = open_window(qtbot, monkeypatch, None)
    second.open_paths([project_path])
    qtbot.waitUntil(lambda: second.session.path == project_path, timeout=TIMEOUT_MS)
    wait_idle(qtbot, second)

    assert errors == []
    assert second.forget_panel.forget_set.classes == [5]
    assert str(project_path.resolve()) in second.settings.recent_files


def test_studio_opens_the_file_it_was_given(qtbot, monkeypatch, model_copy):
    from msgm_studio.app import open_first_model

    window, errors = open_window(qtbot, monkeypatch, None)
    open_first_model(window, model_copy)
    wait_idle(qtbot, window)

    assert errors == []
    assert window.checkpoint_path == model_copy
