"""The application shell: menus and shortcuts, settings that persist, recent files, palettes, the model panel."""

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QFileDialog

from engine.checkpoint import load_checkpoint
from msgm_studio.image_view import ImageGridView
from msgm_studio.main_window import MainWindow
from msgm_studio.model_panel import history_line
from msgm_studio.project_session import DISCARD
from msgm_studio.settings_store import RECENT_LIMIT, StudioSettings, load_settings, settings_path
from tests.studio_helpers import FAST_MODERATION, TIMEOUT_MS, open_window, wait_idle

FAST_RUN = FAST_MODERATION


def open_and_wait(qtbot, window: MainWindow, checkpoint: Path) -> None:
    window.open_checkpoint(checkpoint)
    qtbot.waitUntil(lambda: window.checkpoint_path == checkpoint, timeout=TIMEOUT_MS)
    wait_idle(qtbot, window)


@pytest.fixture
def model_copies(tmp_path, base_checkpoint) -> list[Path]:
    """Two copies of the bundled model, so that a test can delete one."""
    return [Path(shutil.copy(base_checkpoint, tmp_path / name)) for name in ("first.safetensors", "second.safetensors")]


@pytest.fixture
def shown_window(qtbot, monkeypatch, base_checkpoint) -> tuple[MainWindow, list[str]]:
    """A shown, active window on the bundled model: keyboard shortcuts need an active window."""
    window, errors = open_window(qtbot, monkeypatch, base_checkpoint)
    monkeypatch.setattr(window.session, "ask_save_changes", lambda: DISCARD)
    monkeypatch.setattr(window, "ask_stop_job", lambda job: True)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    return window, errors


# Recent files and settings


def test_recent_files_persist_and_prune(qtbot, monkeypatch, model_copies):
    first_copy, second_copy = model_copies
    first, _ = open_window(qtbot, monkeypatch, first_copy)
    open_and_wait(qtbot, first, second_copy)
    first.close()
    second_copy.unlink()

    window, errors = open_window(qtbot, monkeypatch)
    window.recent_menu.aboutToShow.emit()

    assert window.settings.recent_files == [str(first_copy.resolve())]
    assert second_copy.name in window.statusBar().currentMessage()
    assert load_settings().recent_files == [str(first_copy.resolve())]
    entries = [action for action in window.recent_menu.actions() if first_copy.name in action.text()]
    assert len(entries) == 1

    entries[0].trigger()
    qtbot.waitUntil(lambda: window.checkpoint_path == first_copy.resolve(), timeout=TIMEOUT_MS)
    wait_idle(qtbot, window)
    assert errors == []


def test_recent_file_deleted_after_start_shows_error(qtbot, monkeypatch, model_copies):
    first_copy, _ = model_copies
    settings = StudioSettings()
    settings.add_recent(first_copy)
    settings_path().write_text(json.dumps({"recent_files": settings.recent_files}))
    window, errors = open_window(qtbot, monkeypatch)
    first_copy.unlink()

    window.open_recent(window.settings.recent_files[0])

    assert len(errors) == 1
    assert "no longer exists" in errors[0]
    assert window.settings.recent_files == []
    assert not window.jobs.busy


def test_recent_files_keep_the_newest(tmp_path):
    settings = StudioSettings()
    paths = [tmp_path / f"model{index}.safetensors" for index in range(RECENT_LIMIT + 2)]
    for path in paths:
        settings.add_recent(path)
    settings.add_recent(paths[3])

    assert len(settings.recent_files) == RECENT_LIMIT
    assert settings.recent_files[0] == str(paths[3].resolve())
    assert settings.recent_files[1] == str(paths[-1].resolve())
    assert str(paths[0].resolve()) not in settings.recent_files


def test_bundled_model_stays_out_of_recent_files(qtbot, monkeypatch, base_checkpoint):
    window, _ = open_window(qtbot, monkeypatch, base_checkpoint)

    assert window.settings.recent_files == []


def test_settings_persist_between_windows(qtbot, monkeypatch, tmp_path, model_copies):
    first, _ = open_window(qtbot, monkeypatch, model_copies[0])
    first.job_panel.method_box.setCurrentText("orthogonal")
    first.job_panel.steps_box.setValue(77)
    first.resize(first.width(), 640)
    first.toolbar.hide()
    first.theme_actions["dark"].trigger()
    first.close()

    second, errors = open_window(qtbot, monkeypatch)
    qtbot.waitUntil(lambda: second.palette().color(QPalette.ColorRole.Window) == QApplication.palette().color(
        QPalette.ColorRole.Window), timeout=5_000)

    assert errors == []
    assert second.job_panel.method_box.currentText() == "orthogonal"
    assert second.job_panel.steps_box.value() == 77
    # The offscreen screen is narrower than the window, so only the height comes back unchanged.
    assert second.height() == 640
    assert second.toolbar.isHidden()
    assert second.last_folder.folder == tmp_path.resolve()
    assert second.theme_actions["dark"].isChecked()
    assert second.palette().color(QPalette.ColorRole.Window).lightness() < 100
    second.set_theme("system")


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2, 3]", b"\xff\xfe\x00garbage"])
def test_corrupt_settings_file_gives_defaults(qtbot, monkeypatch, caplog, content):
    path = settings_path()
    path.write_bytes(content)

    with caplog.at_level(logging.WARNING, logger="msgm_studio.settings_store"):
        window, errors = open_window(qtbot, monkeypatch)

    assert errors == []
    assert window.settings == StudioSettings()
    assert "is invalid" in caplog.text
    assert path.with_name(path.name + ".invalid").read_bytes() == content
    window.close()
    assert json.loads(path.read_text())["theme"] == "system"


def test_invalid_settings_values_are_replaced(qtbot, monkeypatch, caplog, tmp_path):
    settings_path().write_text(json.dumps({
        "theme": "purple", "recent_files": 5, "splitter_sizes": [-3], "last_folder": str(tmp_path),
        "moderation": {"method": "no-such-method", "steps": 12},
    }))

    with caplog.at_level(logging.WARNING):
        window, errors = open_window(qtbot, monkeypatch)

    assert errors == []
    assert window.settings.theme == "system"
    assert window.settings.recent_files == []
    assert window.last_folder.folder == tmp_path.resolve()
    assert window.job_panel.method_box.currentText() == "obtuse"
    assert "ignoring the saved moderation settings" in caplog.text


def test_saved_settings_out_of_range_are_shown_marked(qtbot, monkeypatch):
    settings_path().write_text(json.dumps({"moderation": {"method": "orthogonal", "forget_t_min": 0.9,
                                                          "forget_t_max": 0.5, "steps": 12}}))

    window, errors = open_window(qtbot, monkeypatch)

    form = window.job_panel.settings_form
    assert errors == []
    assert window.job_panel.method_box.currentText() == "orthogonal"
    assert window.job_panel.steps_box.value() == 12
    assert form.invalid_fields() == ["forget_t_min", "forget_t_max"]
    assert "forget time range" in form.problem_label.text()


# Menus, toolbar and shortcuts


def test_menus_and_toolbar(qtbot, monkeypatch):
    window, _ = open_window(qtbot, monkeypatch)

    assert [action.text() for action in window.menuBar().actions()] == ["&File", "&Edit", "&Run", "&View", "&Help"]
    assert window.open_action.shortcut().toString() == "Ctrl+O"
    assert window.save_project_action.shortcut().toString() == "Ctrl+S"
    assert window.export_action.shortcut().toString() == "Ctrl+E"
    assert window.start_action.shortcut().toString() == "Ctrl+Return"
    assert [key.toString() for key in window.pause_action.shortcuts()] == ["Space", "Ctrl+P"]
    assert window.cancel_action.shortcut().toString() == "Esc"
    assert window.undo_action.shortcut().toString() == "Ctrl+Z"
    assert "Ctrl+Shift+Z" in [key.toString() for key in window.redo_action.shortcuts()]
    for action in window.toolbar.actions():
        assert action.isSeparator() or not action.icon().isNull()
    assert not window.start_action.isEnabled()
    assert not window.pause_action.isEnabled()


def test_shortcuts_run_pause_and_cancel(qtbot, shown_window):
    window, errors = shown_window
    window.forget_panel.class_button("7").click()
    window.job_panel.steps_box.setValue(500)
    window.setFocus()

    qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.training_view.point_count("retain_loss") >= 1, timeout=TIMEOUT_MS)
    assert window.jobs.current.kind == "moderate"

    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.jobs.paused
    qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert not window.jobs.paused

    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.moderated is not None, timeout=TIMEOUT_MS)
    wait_idle(qtbot, window)
    assert errors == []
    assert window.moderated.history[-1]["cancelled"]


def test_shortcuts_undo_redo_and_tabs(qtbot, shown_window):
    window, _ = shown_window
    window.forget_panel.class_button("4").click()
    window.setFocus()

    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.forget_panel.forget_set.classes == []
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.forget_panel.forget_set.classes == [4]

    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == 1
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == 0


def test_shortcuts_save_project_and_export(qtbot, monkeypatch, shown_window, tmp_path):
    window, errors = shown_window
    window.forget_panel.class_button("7").click()
    window.job_panel.steps_box.setValue(1)
    window.start_moderation()
    qtbot.waitUntil(lambda: window.compare_panel.views["moderated"].has_images, timeout=TIMEOUT_MS)
    wait_idle(qtbot, window)
    project, exported = tmp_path / "session.msgmproj", tmp_path / "moderated.safetensors"
    targets = iter([project, exported])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(next(targets)), ""))
    window.setFocus()

    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, window)

    assert errors == []
    assert project.is_file()
    assert window.session.path == project
    assert not window.isWindowModified()
    assert load_checkpoint(exported).history[-1]["steps_done"] == 1


def test_open_shortcut_cancelled_dialog_changes_nothing(qtbot, monkeypatch, shown_window, base_checkpoint):
    window, errors = shown_window
    dialogs = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: dialogs.append(True) or ("", ""))
    window.setFocus()

    qtbot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)

    assert dialogs == [True]
    assert errors == []
    assert not window.jobs.busy
    assert window.checkpoint_path == base_checkpoint


# Palettes


def test_palette_switch_keeps_true_grey_values(qtbot, monkeypatch):
    window, _ = open_window(qtbot, monkeypatch)
    view = ImageGridView()
    qtbot.addWidget(view)
    view.resize(200, 100)
    greys = np.array([0, 77, 128, 255], dtype=np.uint8)
    view.set_images(np.repeat(greys, 16).reshape(4, 4, 4, 1), columns=4)

    lightness = {}
    for theme in ("dark", "light"):
        window.theme_actions[theme].trigger()
        # The application's palette reaches its widgets through posted events.
        QApplication.processEvents()
        lightness[theme] = window.palette().color(QPalette.ColorRole.Window).lightness()
        rendered = view.grab().toImage()
        for index, grey in enumerate(greys):
            centre = view.tile_rect(index).center().toPoint()
            assert rendered.pixelColor(centre).red() == grey
            assert rendered.pixelColor(centre).blue() == grey

    assert lightness["dark"] < 100
    assert lightness["light"] > 200
    assert load_settings().theme == "light"
    window.set_theme("system")


# Model panel


def test_model_panel_shows_details(qtbot, monkeypatch, base_checkpoint, base_model):
    window, _ = open_window(qtbot, monkeypatch, base_checkpoint)
    values = {key: label.text() for key, label in window.model_panel.values.items()}

    assert values["name"] == base_model.name
    assert values["file"] == f"{base_checkpoint.name}, {base_checkpoint.stat().st_size / 2**20:.1f} MiB"
    assert "32 base channels" in values["architecture"]
    assert values["parameters"] == f"{base_model.parameter_count():,}"
    assert values["provenance"].startswith("pre-trained 4,500 steps")
    assert values["device"] == "cpu"
    assert "beta from 0.1 to 20" in window.model_panel.values["sde"].toolTip()


def test_model_panel_describes_moderation_history():
    entry = {"kind": "moderation", "method": "obtuse", "settings": {"steps": 300}, "steps_done": 120,
             "cancelled": True, "forget_set": "bundled class 7", "date": "2026-12-04T10:00:00+0000"}

    assert history_line(entry) == "moderated (obtuse, 120 of 300 steps, cancelled) to forget bundled class 7, 2026-12-04"
    assert history_line({"kind": "pretrain", "steps": 4500, "exclude_classes": [7]}) == "pre-trained 4,500 steps without classes 7"
    assert history_line({"kind": "import"}) == "import"


def test_file_dialogs_open_where_the_user_chose_last(qtbot, monkeypatch, tmp_path, base_checkpoint):
    window, errors = open_window(qtbot, monkeypatch, base_checkpoint)
    retain = tmp_path / "retain"
    retain.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(retain))
    window.retain_panel.choose_folder()

    opened_in = []
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda parent, title, folder, *rest: opened_in.append(folder) or ([], ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda parent, title, folder, *rest: opened_in.append(folder) or ("", ""))
    window.forget_panel.add_files_button.click()
    window.inpaint_tab.picker.open_button.click()

    assert errors == []
    assert opened_in == [str(retain.resolve()), str(retain.resolve())]
    window.close()
    assert load_settings().last_folder == str(retain.resolve())


def test_window_fits_a_1280_pixel_wide_screen(qtbot, monkeypatch, base_checkpoint):
    window, errors = open_window(qtbot, monkeypatch, base_checkpoint)
    window.forget_panel.class_button("7").click()
    for tab in (window.inpaint_tab, window.reconstruct_tab):
        for label in tab.verdict_labels.values():
            label.setText("A long verdict that names its judge in full: " + "the bundled classifier, " * 6)
    window.show()
    qtbot.waitExposed(window)

    assert errors == []
    assert window.minimumSizeHint().width() <= 1280
    window.session.mark_clean()  # so that closing shows no unsaved-changes question
    window.close()
