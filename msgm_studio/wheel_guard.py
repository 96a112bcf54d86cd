"""Keep the mouse wheel scrolling a panel instead of changing the fields it passes over."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QWidget


class _WheelGuard(QObject):
    """Event filter: a combo box or spin box takes wheel events only while it has keyboard focus."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            # Ignored, the event goes on to the scroll area around the field.
            event.ignore()
            return True
        return False


def guard_wheel(container: QWidget) -> None:
    """Stop unfocused combo boxes and spin boxes inside `container` from taking the wheel.

    Without this, scrolling the sidebar changes whatever field slides under the pointer, for example
    the moderation method, without the user noticing. A field still reacts to the wheel once clicked.
    """
    guard = container.findChild(_WheelGuard) or _WheelGuard(container)
    for field in container.findChildren(QComboBox) + container.findChildren(QAbstractSpinBox):
        field.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        field.installEventFilter(guard)
