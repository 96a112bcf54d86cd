"""Starting the studio: the Qt application and its main window on the bundled model."""

from __future__ import annotations

import logging
import os
import sys

from PySide6.QtWidgets import QApplication

from msgm_studio.main_window import APP_NAME, MainWindow
from resources import BASE_MODEL


def run_studio(argv: list[str] | None = None) -> int:
    """Open the studio window on the bundled model and return the exit code of the Qt event loop."""
    if _no_display():
        print("msgm-studio: error: no display found (DISPLAY and WAYLAND_DISPLAY are unset); run it on a desktop, "
              "under xvfb-run, or use the command line: msgm-studio --help", file=sys.stderr)
        return 2
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1] + list(argv or []))
    app.setApplicationName(APP_NAME)
    app.setOrganizationName("MSGM Studio")

    window = MainWindow(checkpoint=BASE_MODEL)
    window.show()
    return app.exec()


def _no_display() -> bool:
    """Tell whether Qt would abort for lack of a display: Linux with no X11 or Wayland display and no platform set."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
