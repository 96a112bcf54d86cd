"""What the studio tests share: small moderation settings, a test window, a Studio driver and file drops."""

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from engine.detector import DetectorConfig
from msgm_studio.image_view import ImageGridView
from msgm_studio.main_window import MainWindow

# Moderation overrides that keep a studio test run to a second or two: tiny batches, no live
# measurements and no previews. Tests of those views turn them back on.
FAST_MODERATION = {"retain_batch_size": 8, "forget_batch_size": 8, "warmup": 1, "monitor_every": 0, "preview_every": 0}
# Image forget sets train a forget detector first; a few steps keep the tests fast.
FAST_DETECTOR = DetectorConfig(steps=40, rounds=1)


def send_drop(widget: QWidget, paths: list[Path]) -> tuple[bool, bool]:
    """Send a drag-enter and, if accepted, a drop of `paths`; return whether each was accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    rest = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    # The drag-enter event takes an integer position and the drop event a floating-point one.
    enter = QDragEnterEvent(QPoint(10, 10), *rest)
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False, False
    drop = QDropEvent(QPointF(10, 10), *rest)
    QApplication.sendEvent(widget, drop)
    return True, drop.isAccepted()


TIMEOUT_MS = 120_000


def open_window(qtbot, monkeypatch, checkpoint: Path | None = None) -> tuple[MainWindow, list[str]]:
    """Create a window with small sample grids that records the errors it shows, opened on `checkpoint`."""
    window = MainWindow(checkpoint=None, device="cpu")
    qtbot.addWidget(window)
    window.sample_count = 4
    window.sampler_steps = 5
    window.moderation_overrides = dict(FAST_MODERATION)
    errors: list[str] = []
    monkeypatch.setattr(window, "show_error", errors.append)
    if checkpoint is not None:
        window.open_checkpoint(checkpoint)
        wait_idle(qtbot, window)
    return window, errors


def wait_idle(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: not window.jobs.busy, timeout=TIMEOUT_MS)


class Studio:
    """A window opened on `checkpoint` as `open_window` makes it, with a fast detector, and the errors and job
    messages it showed."""

    def __init__(self, qtbot, monkeypatch, checkpoint: Path) -> None:
        self.qtbot = qtbot
        self.window, self.errors = open_window(qtbot, monkeypatch, checkpoint)
        self.window.detector_config = FAST_DETECTOR
        self.messages: list[str] = []
        self.window.jobs.message.connect(lambda text, _level: self.messages.append(text))

    def wait_idle(self) -> None:
        wait_idle(self.qtbot, self.window)

    def view(self, role: str) -> ImageGridView:
        return self.window.compare_panel.views[role]

    def moderate(self, steps: int) -> None:
        """Start a moderation of `steps` steps from the job panel and wait until it and the sampling after it end."""
        self.window.job_panel.steps_box.setValue(steps)
        self.window.job_panel.start_button.click()
        self.qtbot.waitUntil(lambda: self.window.moderated is not None or bool(self.errors), timeout=TIMEOUT_MS)
        if not self.errors:
            self.qtbot.waitUntil(lambda: self.view("moderated").has_images, timeout=TIMEOUT_MS)
        self.wait_idle()
