"""The folder every file dialog of the window opens in: the one the user chose a file or folder in last."""

from __future__ import annotations

from pathlib import Path


class LastFolder:
    """Shared by the window's panels, so that a file chosen in one dialog sets where the next dialog opens."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path.home()
        if folder:
            self.remember(folder)

    def remember(self, path: str | Path) -> None:
        """Note the folder of `path` (or `path` itself when it is a folder), if it exists."""
        path = Path(path)
        folder = path if path.is_dir() else path.parent
        if folder.is_dir():
            self.folder = folder.resolve()

    def __str__(self) -> str:
        return str(self.folder)

    def __truediv__(self, name: str) -> Path:
        return self.folder / name
