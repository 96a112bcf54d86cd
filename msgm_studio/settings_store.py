"""Per-user settings of the studio: window layout, last folder, recent files, theme, moderation settings. No Qt.

The settings live in one JSON file in the per-user config folder (`appdirs.user_config_dir`, or
the folder named by the environment variable MSGM_STUDIO_CONFIG_DIR). A missing file gives the
defaults. An unreadable or invalid file also gives the defaults: it is logged, renamed aside so that
nothing the user had is lost, and replaced at the next save.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import appdirs

from engine.checkpoint import atomic_write
from engine.errors import UserError

log = logging.getLogger(__name__)

CONFIG_DIR_VARIABLE = "MSGM_STUDIO_CONFIG_DIR"
SETTINGS_FILE = "settings.json"
RECENT_LIMIT = 10
THEMES = ("system", "light", "dark")


def config_dir() -> Path:
    """Return the per-user config folder, without creating it."""
    override = os.environ.get(CONFIG_DIR_VARIABLE)
    if override:
        return Path(override).expanduser()
    return Path(appdirs.user_config_dir("msgm-studio"))


@dataclass
class StudioSettings:
    """Everything the studio remembers between sessions."""

    # QMainWindow.saveGeometry() and saveState(), base64-encoded.
    window_geometry: str = ""
    window_state: str = ""
    splitter_sizes: list[int] = field(default_factory=list)
    last_folder: str = ""
    # Checkpoints and projects the user opened or saved, most recent first.
    recent_files: list[str] = field(default_factory=list)
    theme: str = "system"
    # The moderation settings of the last run the user started, as ModerationConfig fields.
    moderation: dict = field(default_factory=dict)

    def add_recent(self, path: str | Path) -> None:
        """Put `path` first in the recent files, without duplicates and at most RECENT_LIMIT of them."""
        entry = str(Path(path).resolve())
        self.recent_files = [entry] + [other for other in self.recent_files if other != entry]
        del self.recent_files[RECENT_LIMIT:]

    def prune_recent(self) -> list[str]:
        """Drop the recent files that no longer exist and return them."""
        missing = [entry for entry in self.recent_files if not Path(entry).is_file()]
        self.recent_files = [entry for entry in self.recent_files if entry not in missing]
        return missing


# Checks of each field's JSON value; a field that fails its check keeps its default.
_VALID = {
    "window_geometry": lambda value: isinstance(value, str),
    "window_state": lambda value: isinstance(value, str),
    "splitter_sizes": lambda value: isinstance(value, list) and all(isinstance(size, int) and size >= 0 for size in value),
    "last_folder": lambda value: isinstance(value, str),
    "recent_files": lambda value: isinstance(value, list) and all(isinstance(entry, str) for entry in value),
    "theme": lambda value: value in THEMES,
    "moderation": lambda value: isinstance(value, dict),
}


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def load_settings(path: Path | None = None) -> StudioSettings:
    """Read the settings file, or return the defaults when it is missing or invalid (see the module docstring)."""
    path = path or settings_path()
    if not path.exists():
        return StudioSettings()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise ValueError(f"expected a JSON object, found {type(document).__name__}")
    except (OSError, UnicodeDecodeError, ValueError) as error:
        _set_aside(path, error)
        return StudioSettings()

    settings = StudioSettings()
    for item in fields(StudioSettings):
        if item.name not in document:
            continue
        value = document[item.name]
        if _VALID[item.name](value):
            setattr(settings, item.name, value)
        else:
            log.warning("settings file %s: invalid value for %r (%r); using the default", path, item.name, value)
    del settings.recent_files[RECENT_LIMIT:]
    return settings


def save_settings(settings: StudioSettings, path: Path | None = None) -> bool:
    """Write the settings atomically. Return False, with a logged warning, when the file cannot be written."""
    path = path or settings_path()
    text = json.dumps(asdict(settings), indent=2)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))
    except (OSError, UserError) as error:
        log.warning("could not save the settings to %s: %s", path, error)
        return False
    return True


def _set_aside(path: Path, error: Exception) -> None:
    """Rename an invalid settings file to <name>.invalid, so that the next save does not destroy it."""
    aside = path.with_name(path.name + ".invalid")
    try:
        os.replace(path, aside)
        log.warning("settings file %s is invalid (%s); using the defaults. The file was renamed to %s",
                    path, error, aside.name)
    except OSError as rename_error:
        log.warning("settings file %s is invalid (%s) and could not be renamed (%s); using the defaults",
                    path, error, rename_error)
