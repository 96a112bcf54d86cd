"""A one-line terminal progress bar for the command line (plain log lines when not on a terminal)."""

from __future__ import annotations

import math
import sys
import time

from engine.jobs import Progress


def _format_seconds(seconds: float) -> str:
    if math.isnan(seconds) or math.isinf(seconds):
        return "--:--"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes:d}:{secs:02d}"


class ProgressBar:
    def __init__(self, label: str, stream=None, width: int = 30):
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_line = 0.0

    def update(self, event: Progress) -> None:
        done = event.step / max(event.total, 1)
        filled = int(done * self.width)
        figures = "  ".join(f"{key} {value:.4f}" for key, value in event.values.items() if key.endswith("loss"))
        text = (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {event.step}/{event.total} "
                f"{_format_seconds(event.elapsed)} elapsed, {_format_seconds(event.eta)} left  {figures}")
        if self.tty:
            self.stream.write("\r" + text[:200])
            if event.step == event.total:
                self.stream.write("\n")
        elif event.step == event.total or time.monotonic() - self._last_line > 10:
            # Off a terminal (CI logs, pipes) print a line every 10 s instead of redrawing one.
            self._last_line = time.monotonic()
            self.stream.write(text + "\n")
        self.stream.flush()
