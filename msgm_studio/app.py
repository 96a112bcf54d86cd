"""Starting the studio: the Qt application, its main window, and then the bundled model or an autosaved run.

Start-up keeps the GUI thread light: the first model is opened on the job engine, so the window
appears while the checkpoint and the bundled digits load.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from msgm_studio.main_window import APP_NAME, MainWindow
from resources import BASE_MODEL


def run_studio(argv: list[str] | None = None, path: Path | None = None) -> int:
    """Open the studio window and return the exit code of the Qt event loop.

    When a moderation was autosaved because the studio was closed or stopped during a run, the
    studio offers to resume it. Otherwise, or when the user declines, it opens `path` (a checkpoint
    or project) or else the bundled model.
    """
    if _no_display():
        print("msgm-studio: error: no display found (DISPLAY and WAYLAND_DISPLAY are unset); run it on a desktop, "
              "under xvfb-run, or use the command line: msgm-studio --help", file=sys.stderr)
        return 2
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1] + list(argv or []))
    app.setApplicationName(APP_NAME)
    app.setOrganizationName("MSGM Studio")

    window = MainWindow(checkpoint=None)
    if window.autosave.exists():
        # Ask once the window is on screen, so that the question has a window to belong to.
        QTimer.singleShot(0, lambda: open_first_model(window, path))
    else:
        # The job engine loads the model while the GUI thread shows the window.
        window.open_file(path or BASE_MODEL)
    window.show()
    return app.exec()


def open_first_model(window: MainWindow, path: Path | None = None) -> None:
    """Resume an autosaved moderation if the user wants to, else open `path` or the bundled model."""
    if not window.session.offer_recovery():
        window.open_file(path or BASE_MODEL)


def _no_display() -> bool:
    """Tell whether Qt would abort for lack of a display: Linux with no X11 or Wayland display and no platform set."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
