"""The job panel: moderation settings, start, pause/resume, cancel, and the progress of any job and its device."""

from __future__ import annotations

import math

from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.jobs import Progress
from msgm_studio.settings_form import SettingsForm


def format_duration(seconds: float) -> str:
    """Format seconds as m:ss or h:mm:ss, or as an en dash while the time is not known yet."""
    if not math.isfinite(seconds):
        return "–"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def format_losses(values: dict[str, float]) -> str:
    parts = [f"{name.replace('_', ' ')} {values[name]:.4f}" for name in ("retain_loss", "forget_loss") if name in values]
    return ", ".join(parts)


class JobPanel(QGroupBox):
    """Moderation settings and the controls and progress of the job that runs."""

    def __init__(self, parent: QWidget | None = None, device: str = "") -> None:
        super().__init__("Moderation", parent)
        self.device = device  # shown with the progress, e.g. "cpu" or "cuda"
        layout = QVBoxLayout(self)

        self.settings_form = SettingsForm()
        # The two fields used most, also reachable from the panel.
        self.method_box = self.settings_form.method_box
        self.steps_box = self.settings_form.steps_box
        layout.addWidget(self.settings_form)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start moderation")
        self.start_button.setDefault(True)
        self.pause_button = QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the job. A cancelled moderation keeps the state it reached.")
        for button in (self.start_button, self.pause_button, self.cancel_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)

        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(True)
        layout.addWidget(self.progress_bar)
        self.status_label = QLabel("Idle")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self.loss_label = QLabel()
        layout.addWidget(self.loss_label)
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        layout.addWidget(self.result_label)
        # Warnings of the last moderation, e.g. a small retain folder. They stay until the next run.
        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #b35c00;")
        self.warning_label.hide()
        layout.addWidget(self.warning_label)
        self.set_running(None)

    def set_running(self, title: str | None) -> None:
        """Enable the controls for a running job called `title`, or for no job (None)."""
        running = title is not None
        self.start_button.setEnabled(not running)
        self.settings_form.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.cancel_button.setEnabled(running)
        self.set_paused(False)
        if running:
            self.progress_bar.setRange(0, 0)  # busy indicator until the first step arrives
            self.status_label.setText(f"{title}…")
        else:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("")

    def set_paused(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")

    def show_progress(self, title: str, progress: Progress) -> None:
        self.progress_bar.setRange(0, progress.total)
        self.progress_bar.setValue(progress.step)
        self.progress_bar.setFormat(f"{progress.phase}: %v / %m" if progress.phase else "%v / %m")
        device = f" on {self.device}" if self.device else ""
        stage = f", {progress.phase}" if progress.phase else ""
        self.status_label.setText(f"{title}{stage}: step {progress.step} of {progress.total}, "
                                  f"{format_duration(progress.eta)} left{device}")
        if progress.values:
            self.loss_label.setText(format_losses(progress.values))

    def show_status(self, text: str) -> None:
        self.status_label.setText(text)

    def clear_run(self) -> None:
        """Forget the loss readout, outcome and warnings of the previous moderation."""
        self.loss_label.clear()
        self.result_label.clear()
        self.warning_label.clear()
        self.warning_label.hide()

    def add_warning(self, text: str) -> None:
        """Show a warning of the running job below its progress until the next run starts."""
        current = self.warning_label.text()
        self.warning_label.setText(f"{current}\n{text}" if current else text)
        self.warning_label.show()

    def show_result(self, text: str) -> None:
        """Show the outcome of the last moderation. It stays while later jobs run."""
        self.result_label.setText(text)
