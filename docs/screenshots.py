"""Render the studio window to docs/images/studio.png, as a user sees it after a short moderation.

    xvfb-run -a python docs/screenshots.py            # or QT_QPA_PLATFORM=offscreen python docs/screenshots.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from msgm_studio.main_window import MainWindow

OUT = Path(__file__).resolve().parent / "images" / "studio.png"
STEPS = 40
LIMIT_MS = 240_000


def main() -> int:
    app = QApplication(sys.argv)
    window = MainWindow()
    window.resize(1280, 800)
    window.sample_count = 36
    window.show()
    stage = {"started": False}

    def poll() -> None:
        if window.jobs.busy:
            return
        if not stage["started"] and window.compare_panel.views["original"].has_images:
            stage["started"] = True
            window.forget_panel.class_button("7").click()
            window.job_panel.steps_box.setValue(STEPS)
            window.start_moderation()
            return
        if stage["started"] and window.compare_panel.views["moderated"].has_images:
            OUT.parent.mkdir(exist_ok=True)
            window.grab().save(str(OUT))
            print(f"wrote {OUT}")
            app.quit()

    def give_up() -> None:
        OUT.parent.mkdir(exist_ok=True)
        window.grab().save(str(OUT))
        print(f"the moderation did not finish in time; wrote the window as it was to {OUT}")
        app.exit(1)

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(200)
    QTimer.singleShot(LIMIT_MS, give_up)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
