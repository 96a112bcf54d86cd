"""Render every view of the studio to docs/images/, as a user sees it after a short moderation of digit 7.

    python docs/screenshots.py     # Qt's offscreen platform unless QT_QPA_PLATFORM names another
    python docs/screenshots.py --steps 300    # the default length of a moderation, whose effect shows

One run opens the bundled model, moderates digit 7 (40 steps unless --steps says otherwise) with live
measurements and previews, and then writes:

    studio.png          the whole window on the Samples tab
    samples-wipe.png    the Samples tab in the wipe view, with the classifier's forget marks
    training.png        the Training tab after the run
    inpainting.png      the Inpainting tab: a bundled 7 with the bottom half masked, filled by both models
    reconstruction.png  the Reconstruction tab: a bundled 7 passed through both models
    draw.png            the drawing dialog with a drawn 7

The window is driven from a QTimer that checks, every `POLL_MS`, whether the current stage's
condition holds, so the GUI thread never blocks. If a stage is still waiting when the time limit
(`LIMIT_S` plus `LIMIT_S_PER_STEP` per moderation step) runs out, the window as it is then goes
into the next file not yet written, and the script exits with status 1. The studio's settings and autosaves go to a temporary folder, never to the user's.
With 40 steps it took about 110 s on 2 CPU cores shared with another job.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Both must be set before Qt and the studio are imported.
CONFIG_DIR = Path(tempfile.mkdtemp(prefix="msgm-screenshots-"))
os.environ["MSGM_STUDIO_CONFIG_DIR"] = str(CONFIG_DIR)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QImage, QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from msgm_studio.main_window import MainWindow  # noqa: E402

IMAGES = Path(__file__).resolve().parent / "images"
WINDOW_SIZE = (1400, 860)
DEFAULT_STEPS = 40
# Live measurement and previews every 8 steps, so the Training tab has curves after a short run.
MODERATION_OVERRIDES = {"monitor_every": 8, "monitor_count": 32, "preview_every": 8}
SAMPLE_COUNT = 36
FORGET_CLASS = "7"
# Index of the bundled 7 that the Inpainting and Reconstruction tabs take as input.
DIGIT_INDEX = 3
POLL_MS = 200
# Time given to layouts and the training plots' redraw timer after a view changes, before it is grabbed.
SETTLE_S = 0.5
# Time limit of the whole run: a fixed part plus a part per moderation step.
LIMIT_S = 600
LIMIT_S_PER_STEP = 5
# Colours per PNG. A UI screenshot has few colours, and a palette image is a fraction of the RGB one's size.
PALETTE_COLOURS = 128
# A hand-drawn 7: strokes of (x, y) points in image pixels of a 28x28 canvas.
DRAWN_SEVEN = [[(6.5, 7.5), (12, 6.8), (17, 6.6), (21.5, 7)], [(21.5, 7), (18.5, 12.5), (15.5, 18), (13, 23.5)],
               [(11, 15), (15, 14.7), (19, 14.5)]]


def save_png(widget: QWidget, name: str) -> Path:
    """Grab `widget` as the screen shows it and write it as a palette PNG to docs/images/`name`."""
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
    pixels = rows[:, : 3 * image.width()].reshape(image.height(), image.width(), 3)
    picture = Image.fromarray(pixels).quantize(PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    IMAGES.mkdir(exist_ok=True)
    path = IMAGES / name
    picture.save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    return path


def draw_strokes(canvas: QWidget, strokes: list[list[tuple[float, float]]]) -> None:
    """Paint `strokes` on a paint canvas with left-button mouse events, as a user's drags would."""
    rect = canvas.image_rect()
    height, width = canvas.shape

    def send(kind: QEvent.Type, point: tuple[float, float], buttons: Qt.MouseButton) -> None:
        position = QPointF(rect.left() + point[0] * rect.width() / width, rect.top() + point[1] * rect.height() / height)
        button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
        event = QMouseEvent(kind, position, canvas.mapToGlobal(position), button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(canvas, event)

    for stroke in strokes:
        send(QEvent.Type.MouseButtonPress, stroke[0], Qt.MouseButton.LeftButton)
        # Intermediate points, so that the stroke follows the polyline as a drag of the mouse would.
        for start, end in zip(stroke, stroke[1:]):
            for fraction in np.linspace(0.25, 1.0, 4):
                point = (start[0] + fraction * (end[0] - start[0]), start[1] + fraction * (end[1] - start[1]))
                send(QEvent.Type.MouseMove, point, Qt.MouseButton.LeftButton)
        send(QEvent.Type.MouseButtonRelease, stroke[-1], Qt.MouseButton.NoButton)


@dataclass
class Stage:
    """One step of the run: wait until `ready()` holds, then `act()`. `writes` names the PNG that `act` writes."""

    waits_for: str
    ready: Callable[[], bool]
    act: Callable[[], None]
    writes: str | None = None


class Director:
    """The driver of the stages: runs them one after another from a polling timer and gives up after `limit_s`."""

    def __init__(self, app: QApplication, window: MainWindow, steps: int) -> None:
        self.app = app
        self.window = window
        self.steps = steps
        self.limit_s = LIMIT_S + LIMIT_S_PER_STEP * steps
        self.stages = self._stages()
        self.index = 0
        self.started = time.monotonic()
        self.last_action = self.started
        self.timer = QTimer()
        self.timer.timeout.connect(self.poll)

    def start(self) -> None:
        self.timer.start(POLL_MS)

    def poll(self) -> None:
        now = time.monotonic()
        if now - self.started > self.limit_s:
            self.give_up()
            return
        if now - self.last_action < SETTLE_S:
            return
        stage = self.stages[self.index]
        if not stage.ready():
            return
        stage.act()
        self.index += 1
        self.last_action = time.monotonic()
        if self.index == len(self.stages):
            self.timer.stop()
            print(f"done in {self.last_action - self.started:.0f} s")
            self.app.exit(0)

    def give_up(self) -> None:
        self.timer.stop()
        stage = self.stages[self.index]
        unwritten = [later.writes for later in self.stages[self.index :] if later.writes]
        print(f"timed out after {self.limit_s} s while waiting for {stage.waits_for}", file=sys.stderr)
        if unwritten:
            save_png(self.window, unwritten[0])
            print(f"{unwritten[0]} shows the window as it was then", file=sys.stderr)
        self.app.exit(1)

    def _stages(self) -> list[Stage]:
        window = self.window
        inpaint, reconstruct = window.inpaint_tab, window.reconstruct_tab
        idle = lambda: not window.jobs.busy  # noqa: E731

        def moderate() -> None:
            window.forget_panel.class_button(FORGET_CLASS).click()
            window.job_panel.steps_box.setValue(self.steps)
            window.moderation_overrides = dict(MODERATION_OVERRIDES)
            window.job_panel.start_button.click()

        def show_wipe() -> None:
            save_png(window, "studio.png")
            window.compare_panel.show_wipe(True)

        def show_training() -> None:
            save_png(window.tabs, "samples-wipe.png")
            window.compare_panel.show_wipe(False)
            window.tabs.setCurrentWidget(window.training_view)

        def show_inpainting() -> None:
            save_png(window.tabs, "training.png")
            window.tabs.setCurrentWidget(inpaint)
            inpaint.picker.pick_digit(int(FORGET_CLASS), DIGIT_INDEX)

        def inpaint_bottom_half() -> None:
            inpaint.apply_preset("bottom")
            inpaint.run_button.click()

        def show_reconstruction() -> None:
            save_png(window.tabs, "inpainting.png")
            window.tabs.setCurrentWidget(reconstruct)
            reconstruct.picker.pick_digit(int(FORGET_CLASS), DIGIT_INDEX)

        def draw() -> None:
            save_png(window.tabs, "reconstruction.png")
            window.tabs.setCurrentWidget(window.compare_panel)
            window.forget_panel.open_draw_dialog()
            draw_strokes(window.forget_panel.draw_dialog.canvas, DRAWN_SEVEN)

        def finish() -> None:
            dialog = window.forget_panel.draw_dialog
            save_png(dialog, "draw.png")
            dialog.close()

        moderated = lambda: window.moderated is not None and "moderated" in window.compare_panel.samples  # noqa: E731
        return [
            Stage("the original model's samples", lambda: idle() and "original" in window.compare_panel.samples, moderate),
            Stage("the moderation and the moderated model's samples", lambda: idle() and moderated(), show_wipe,
                  "studio.png"),
            Stage("the wipe view", lambda: True, show_training, "samples-wipe.png"),
            Stage("the Training tab", lambda: True, show_inpainting, "training.png"),
            Stage("the inpainting input image", lambda: idle() and inpaint.picker.image is not None, inpaint_bottom_half),
            Stage("the inpainting results", lambda: idle() and inpaint.result is not None, show_reconstruction,
                  "inpainting.png"),
            Stage("the reconstruction input image", lambda: idle() and reconstruct.picker.image is not None,
                  reconstruct.run_button.click),
            Stage("the reconstruction results", lambda: idle() and reconstruct.result is not None, draw,
                  "reconstruction.png"),
            Stage("the drawing dialog", lambda: True, finish, "draw.png"),
        ]


def render(steps: int) -> int:
    app = QApplication(sys.argv[:1])
    window = MainWindow()
    window.resize(*WINDOW_SIZE)
    window.sample_count = SAMPLE_COUNT
    window.show()
    director = Director(app, window, steps)
    director.start()
    status = app.exec()

    # A hidden window closes without asking about unsaved changes or the running job.
    window.hide()
    window.close()
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description="Render every view of the studio to docs/images/.")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help=f"moderation steps before the screenshots (default {DEFAULT_STEPS})")
    try:
        args = parser.parse_args()
        return render(args.steps)
    finally:
        shutil.rmtree(CONFIG_DIR, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
