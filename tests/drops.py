"""Delivering a drop of local files to a widget, as a file manager would."""

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget


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
