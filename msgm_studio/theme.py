"""Light and dark palettes for the studio, and following the system's colour scheme.

The studio uses Qt's Fusion style, which draws every widget from the palette, so both palettes
look the same on every platform. Image views draw model images as they are (a grey value of 128
stays 128), so only the frames around the images change with the theme.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from msgm_studio.settings_store import THEMES

log = logging.getLogger(__name__)

STYLE = "Fusion"
THEME_TITLES = {"system": "&System", "light": "&Light", "dark": "&Dark"}

Role = QPalette.ColorRole
Group = QPalette.ColorGroup

_LIGHT = {
    Role.Window: "#efefef", Role.WindowText: "#000000", Role.Base: "#ffffff", Role.AlternateBase: "#f7f7f7",
    Role.ToolTipBase: "#ffffdc", Role.ToolTipText: "#000000", Role.PlaceholderText: "#808080",
    Role.Text: "#000000", Role.Button: "#efefef", Role.ButtonText: "#000000", Role.BrightText: "#ffffff",
    Role.Light: "#ffffff", Role.Midlight: "#e3e3e3", Role.Mid: "#a0a0a0", Role.Dark: "#9f9f9f",
    Role.Shadow: "#767676", Role.Highlight: "#308cc6", Role.HighlightedText: "#ffffff",
    Role.Link: "#0000ff", Role.LinkVisited: "#ff00ff",
}
_LIGHT_DISABLED = {Role.WindowText: "#bebebe", Role.Text: "#bebebe", Role.ButtonText: "#bebebe",
                   Role.Base: "#efefef", Role.Highlight: "#919191"}

_DARK = {
    Role.Window: "#353535", Role.WindowText: "#f0f0f0", Role.Base: "#252525", Role.AlternateBase: "#2f2f2f",
    Role.ToolTipBase: "#454545", Role.ToolTipText: "#f0f0f0", Role.PlaceholderText: "#8a8a8a",
    Role.Text: "#f0f0f0", Role.Button: "#3c3c3c", Role.ButtonText: "#f0f0f0", Role.BrightText: "#ff5555",
    Role.Light: "#505050", Role.Midlight: "#444444", Role.Mid: "#2a2a2a", Role.Dark: "#202020",
    Role.Shadow: "#141414", Role.Highlight: "#2a82da", Role.HighlightedText: "#ffffff",
    Role.Link: "#6cb4ff", Role.LinkVisited: "#c58af9",
}
_DARK_DISABLED = {Role.WindowText: "#7f7f7f", Role.Text: "#7f7f7f", Role.ButtonText: "#7f7f7f",
                  Role.Base: "#303030", Role.Highlight: "#505050"}


def _palette(colours: dict, disabled: dict) -> QPalette:
    palette = QPalette()
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role, colour in disabled.items():
        palette.setColor(Group.Disabled, role, QColor(colour))
    return palette


def light_palette() -> QPalette:
    return _palette(_LIGHT, _LIGHT_DISABLED)


def dark_palette() -> QPalette:
    return _palette(_DARK, _DARK_DISABLED)


def system_prefers_dark() -> bool:
    """Tell whether the desktop prefers a dark colour scheme. Qt 6.5 and later report it, and Unknown counts as light."""
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    return scheme is not None and scheme() == Qt.ColorScheme.Dark


def resolve_theme(theme: str) -> str:
    """Return "light" or "dark" for a theme setting, where "system" follows the desktop's colour scheme."""
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r}; expected one of {', '.join(THEMES)}")
    if theme == "system":
        return "dark" if system_prefers_dark() else "light"
    return theme


def apply_theme(theme: str, application: QApplication | None = None) -> str:
    """Give the application the Fusion style and the palette of `theme`, and return "light" or "dark"."""
    application = application or QApplication.instance()
    effective = resolve_theme(theme)
    if application.style().name().lower() != STYLE.lower():
        application.setStyle(STYLE)
    application.setPalette(dark_palette() if effective == "dark" else light_palette())
    log.info("theme %s (%s palette)", theme, effective)
    return effective
