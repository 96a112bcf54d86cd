"""What the studio tests share: small moderation settings and file drops."""

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

# Moderation overrides that keep a studio test run to a second or two: tiny batches, no live
# measurements and no previews. Tests of those views turn them back on.
FAST_MODERATION = {"retain_batch_size": 8, "forget_batch_size": 8, "warmup": 1, "monitor_every": 0, "preview_every": 0}


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
