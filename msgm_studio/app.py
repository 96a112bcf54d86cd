"""Starting the studio: the Qt application and its main window on the bundled model."""

from __future__ import annotations

import logging
import sys

from PySide6.QtWidgets import QApplication

from msgm_studio.main_window import APP_NAME, MainWindow
from resources import BASE_MODEL


def run_studio(argv: list[str] | None = None) -> int:
    """Open the studio window on the bundled model and return the exit code of the Qt event loop."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1] + list(argv or []))
    app.setApplicationName(APP_NAME)
    app.setOrganizationName("MSGM Studio")

    window = MainWindow(checkpoint=BASE_MODEL)
    window.show()
    return app.exec()
