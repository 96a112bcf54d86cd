"""Autosave of a running moderation and its recovery after a crash or a closed window."""

import re
from pathlib import Path

import torch

from engine.data import bundled_tensors
from engine.moderation import moderate
from engine.moderation_state import load_state
from msgm_studio.autosave import Autosave
from msgm_studio.main_window import MainWindow
from msgm_studio.project_session import DISCARD
from tests.studio_helpers import FAST_MODERATION, TIMEOUT_MS, wait_idle
from tests.studio_helpers import open_window as open_test_window

FAST_RUN = FAST_MODERATION
STEPS = 10


def open_window(qtbot, monkeypatch, checkpoint: Path | None) -> tuple[MainWindow, list[str]]:
    """Create a test window that autosaves every step and records the errors it shows."""
    window, errors = open_test_window(qtbot, monkeypatch, checkpoint)
    window.autosave.every = 1
    return window, errors


def start_moderation(qtbot, window: MainWindow, steps: int) -> None:
    """Start a moderation of class 7 and wait until its state was autosaved at least once."""
    window.forget_panel.class_button("7").click()
    window.job_panel.steps_box.setValue(steps)
    window.start_moderation()
    qtbot.waitUntil(window.autosave.exists, timeout=TIMEOUT_MS)


def record_steps(window: MainWindow) -> list[int]:
    steps: list[int] = []
    window.jobs.progress.connect(lambda job, progress: steps.append(progress.step) if job.kind == "moderate" else None)
    return steps


def test_resume_after_crash_finishes_the_run(qtbot, monkeypatch, base_checkpoint, base_model):
    crashed, _ = open_window(qtbot, monkeypatch, base_checkpoint)
    crashed_steps = record_steps(crashed)
    crashed.jobs.progress.connect(
        lambda job, progress: crashed.jobs.pause() if job.kind == "moderate" and progress.step == 2 else None)
    start_moderation(qtbot, crashed, steps=STEPS)
    qtbot.waitUntil(lambda: crashed.jobs.paused, timeout=TIMEOUT_MS)
    # A crash leaves the autosave behind: stop the run without the clean-up of a normal cancel.
    monkeypatch.setattr(crashed.autosave, "discard", lambda: None)
    crashed.jobs.cancel()
    wait_idle(qtbot, crashed)
    saved = load_state(crashed.autosave.state_path)
    assert 2 <= saved.step < STEPS
    assert saved.step == crashed_steps[-1]

    window, errors = open_window(qtbot, monkeypatch, None)
    steps = record_steps(window)
    assert window.session.offer_recovery(resume=True)
    qtbot.waitUntil(lambda: window.compare_panel.views["moderated"].has_images or bool(errors), timeout=TIMEOUT_MS)
    wait_idle(qtbot, window)

    assert errors == []
    assert window.checkpoint_path == base_checkpoint
    assert window.forget_panel.forget_set.classes == [7]
    assert steps[0] == saved.step + 1
    assert steps[-1] == STEPS
    assert window.moderated.history[-1]["steps_done"] == STEPS
    assert not window.moderated.history[-1]["cancelled"]
    assert not window.autosave.exists()
    assert not window.autosave.run_path.exists()

    # On the CPU a resumed run ends with the weights of a run that was never interrupted.
    retain_images, _ = bundled_tensors(exclude=[7])
    forget_images, _ = bundled_tensors(classes=[7])
    uninterrupted = moderate(base_model, forget_images, retain_images, saved.config)
    for key, tensor in uninterrupted.model.network.state_dict().items():
        assert torch.equal(window.moderated.network.state_dict()[key], tensor)


def test_closing_during_moderation_keeps_its_progress(qtbot, monkeypatch, base_checkpoint):
    first, _ = open_window(qtbot, monkeypatch, base_checkpoint)
    first.autosave.every = 1000  # no autosave by steps: only the close saves the state
    first.forget_panel.class_button("7").click()
    first.job_panel.steps_box.setValue(500)
    steps = record_steps(first)
    first.start_moderation()
    qtbot.waitUntil(lambda: len(steps) >= 2, timeout=TIMEOUT_MS)

    first.close()

    assert first.autosave.exists()
    saved = load_state(first.autosave.state_path)
    assert saved.step >= 2
    assert saved.config.steps == 500

    second, errors = open_window(qtbot, monkeypatch, None)
    assert not second.session.offer_recovery(resume=False)
    assert errors == []
    assert not second.autosave.exists()
    assert second.original is None


def test_close_asks_before_stopping_a_moderation(qtbot, monkeypatch, base_checkpoint):
    window, _ = open_window(qtbot, monkeypatch, base_checkpoint)
    window.show()
    answers = [False]
    monkeypatch.setattr(window, "ask_stop_job", lambda job: answers[0])
    monkeypatch.setattr(window.session, "ask_save_changes", lambda: DISCARD)
    start_moderation(qtbot, window, steps=500)

    assert not window.close()
    assert window.isVisible()
    assert window.jobs.busy

    answers[0] = True
    assert window.close()
    assert window.autosave.exists()


def test_cancelled_moderation_removes_autosave(qtbot, monkeypatch, base_checkpoint):
    window, errors = open_window(qtbot, monkeypatch, base_checkpoint)
    start_moderation(qtbot, window, steps=500)

    window.cancel_action.trigger()
    qtbot.waitUntil(lambda: window.compare_panel.views["moderated"].has_images or bool(errors), timeout=TIMEOUT_MS)
    wait_idle(qtbot, window)

    assert errors == []
    assert not window.autosave.exists()
    assert not window.autosave.run_path.exists()


def test_no_autosave_means_no_offer(qtbot, monkeypatch):
    window, errors = open_window(qtbot, monkeypatch, None)

    assert not window.session.offer_recovery()
    assert errors == []
    assert not window.jobs.busy


def test_damaged_autosave_shows_error(qtbot, monkeypatch, config_dir):
    autosave = Autosave(config_dir / "autosave")
    autosave.folder.mkdir()
    autosave.run_path.write_bytes(b"not a project")
    autosave.state_path.write_bytes(b"not a state")
    window, errors = open_window(qtbot, monkeypatch, None)

    assert window.session.offer_recovery(resume=True)
    wait_idle(qtbot, window)

    assert len(errors) == 1
    assert "autosaved moderation failed" in errors[0]
    assert window.original is None


def test_autosave_describes_the_saved_run(qtbot, monkeypatch, base_checkpoint):
    window, _ = open_window(qtbot, monkeypatch, base_checkpoint)
    start_moderation(qtbot, window, steps=500)
    window.jobs.pause()

    text = window.autosave.describe()

    assert "obtuse" in text
    assert "bundled class 7" in text
    assert re.search(r"after step [1-9]\d* of 500", text)
    window.jobs.cancel()
    wait_idle(qtbot, window)


def test_unwritable_autosave_folder_warns_and_runs(qtbot, monkeypatch, base_checkpoint, tmp_path):
    window, errors = open_window(qtbot, monkeypatch, base_checkpoint)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the autosave folder should be")
    window.autosave.folder = blocker / "autosave"
    messages: list[str] = []
    window.jobs.message.connect(lambda text, level: messages.append(text))
    window.forget_panel.class_button("7").click()
    window.job_panel.steps_box.setValue(2)

    window.start_moderation()
    qtbot.waitUntil(lambda: window.compare_panel.views["moderated"].has_images or bool(errors), timeout=TIMEOUT_MS)
    wait_idle(qtbot, window)

    assert errors == []
    assert any("Autosave is off" in message for message in messages)
    assert window.moderated.history[-1]["steps_done"] == 2
