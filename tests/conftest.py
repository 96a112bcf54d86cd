"""Shared test setup: Qt without a display, a private config folder, and the checkpoint the studio tests open."""

import gc
import os

# Must be set before the first Qt import, which pytest-qt does while loading its plugin.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from engine.checkpoint import load_checkpoint  # noqa: E402
from engine.score_model import ScoreModel  # noqa: E402
from resources import BASE_MODEL  # noqa: E402


@pytest.fixture(autouse=True)
def collect_cycles_on_main_thread():
    """Free each test's windows and widgets on the main thread, before the next test starts jobs.

    The studio turns automatic cycle collection off (see msgm_studio/job_engine.py), so without this
    the widgets of every test would stay alive until the end of the run.
    """
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def no_modal_dialogs(monkeypatch):
    """Fail a test that opens a modal message box, which would wait forever for a click without a display.

    Tests that expect a question replace the window's asking method (e.g. `ask_save_changes`) or `show_error`.
    """
    from PySide6.QtWidgets import QMessageBox

    def reject(*args, **kwargs):
        texts = [arg for arg in args if isinstance(arg, str)]
        raise AssertionError(f"a modal message box opened in a test and would wait for a click: {texts}")

    for name in ("exec", "warning", "question", "information", "critical", "about"):
        monkeypatch.setattr(QMessageBox, name, reject)


@pytest.fixture(autouse=True)
def config_dir(tmp_path_factory, monkeypatch) -> Path:
    """A fresh per-user config folder for every test, so that no test reads or writes the real one."""
    folder = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("MSGM_STUDIO_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def base_checkpoint() -> Path:
    """The bundled model file that the studio opens by default."""
    assert BASE_MODEL.exists(), f"{BASE_MODEL} is missing. Create it with `msgm-studio pretrain --out {BASE_MODEL}`."
    return BASE_MODEL


@pytest.fixture(scope="session")
def base_model(base_checkpoint) -> ScoreModel:
    """The base model, shared by tests that only read it. Moderation and sampling never change its weights."""
    return load_checkpoint(base_checkpoint)
