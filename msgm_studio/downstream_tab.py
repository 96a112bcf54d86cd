"""The common part of the inpainting and reconstruction tabs: models, input image, Run, results and verdicts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.data import IMAGE_SUFFIXES
from engine.jobs import JobControl
from engine.score_model import ScoreModel
from msgm_studio.downstream_tasks import DownstreamResult
from msgm_studio.image_picker import ImagePicker
from msgm_studio.job_engine import Job, JobEngine
from msgm_studio.last_folder import LastFolder
from msgm_studio.tasks import bundled_classes
from msgm_studio.wipe_view import WipeView

ROLES = ("original", "moderated")
TITLES = {"original": "Original", "moderated": "Moderated"}
NO_MODERATED_TEXT = "Moderated model: none yet. Moderate the model to compare."


class DownstreamTab(QWidget):
    """A tab that runs one task on the original and, if there is one, the moderated model from the same seed.

    Subclasses lay out their widgets and build the job in `make_job`. The tab submits it to the job
    engine, whose progress the window's job panel shows, and shows both results in a wipe view with
    the bundled classifier's verdict on each. A drop of one image file makes it the input.
    """

    error = Signal(str)  # a message for the user: what is wrong and what to do

    task_name = "Task"  # "Inpainting", "Reconstruction": job titles and placeholders
    job_kind = "downstream"

    def __init__(self, jobs: JobEngine, parent: QWidget | None = None, last_folder: LastFolder | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.original: ScoreModel | None = None
        self.moderated: ScoreModel | None = None
        self.result: DownstreamResult | None = None
        self._job: Job | None = None

        self.picker = ImagePicker(jobs, last_folder=last_folder)
        self.picker.error.connect(self.error)
        self.picker.image_changed.connect(self.image_changed)

        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, 2**31 - 1)
        self.seed_box.setToolTip("Seed of the sampler's noise. Both models start from the same noise.")
        self.steps_box = QSpinBox()
        self.steps_box.setRange(1, 5000)
        self.run_button = QPushButton(f"Run {self.task_name.lower()}")
        self.run_button.setToolTip("Run the original and the moderated model on the input image, from the same seed")
        self.run_button.clicked.connect(self.run)

        self.wipe_view = WipeView()
        self.verdict_labels: dict[str, QLabel] = {}
        for role in ROLES:
            label = QLabel()
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setWordWrap(True)  # a long verdict wraps rather than widening the window
            self.verdict_labels[role] = label
        self.clear_result(f"Choose an input image and press Run to see the {self.task_name.lower()} of both models here.")

        self.setAcceptDrops(True)
        jobs.finished.connect(self._job_finished)
        jobs.failed.connect(lambda job, message: self._job_ended(job, "failed"))
        jobs.cancelled.connect(lambda job: self._job_ended(job, "cancelled"))
        jobs.busy_changed.connect(lambda busy: self._update_run_button())
        self._update_run_button()

    # For subclasses

    def make_job(self, models: dict[str, ScoreModel]) -> Callable[[JobControl], Iterator] | None:
        """Return the job factory for `models`, or None after emitting `error` when the input cannot run."""
        raise NotImplementedError

    def image_changed(self) -> None:
        """Show the new input image; called when the picker's image changes."""

    def run_controls(self) -> QGroupBox:
        """Return a group with the seed, the step count and the Run button."""
        group = QGroupBox("Run")
        form = QFormLayout(group)
        form.addRow("Seed:", self.seed_box)
        form.addRow("Steps:", self.steps_box)
        form.addRow(self.run_button)
        return group

    def results_widget(self) -> QWidget:
        """Return the wipe view with the verdict on each model's result under it."""
        widget = QWidget()
        layout = QVBoxLayout(widget)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Results (drag the line to compare)")
        title.setWordWrap(True)
        layout.addWidget(title)
        layout.addWidget(self.wipe_view, 1)
        for role in ROLES:
            layout.addWidget(self.verdict_labels[role])
        return widget

    # Models and running

    def set_models(self, original: ScoreModel | None, moderated: ScoreModel | None) -> None:
        """Use these models from now on. A change of either model drops the results shown."""
        if original is self.original and moderated is self.moderated:
            return
        self.original, self.moderated = original, moderated
        self.picker.set_model(original.image if original is not None else None,
                              bundled=original is not None and bool(bundled_classes(original)))
        self.clear_result(f"Press Run to see the {self.task_name.lower()} of "
                          f"{'both models' if moderated is not None else 'the original model'} here.")
        self._update_run_button()

    def run(self) -> None:
        """Check the input, then run the task on every model on the job engine."""
        if self.original is None:
            self.error.emit("No model is open. Open a checkpoint with File > Open… first.")
            return
        if self.picker.image is None:
            self.error.emit("There is no input image. Open an image, drop one onto this tab, or choose a bundled "
                            "digit, then press Run again.")
            return
        models = {"original": self.original}
        if self.moderated is not None:
            models["moderated"] = self.moderated
        factory = self.make_job(models)
        if factory is None:
            return
        names = " and ".join(f"{role} model" for role in models)
        job = self.jobs.submit(self.job_kind, f"{self.task_name} with the {names}", factory)
        if job is not None:
            self._job = job
            self.clear_result(f"{self.task_name}…")

    def clear_result(self, text: str) -> None:
        self.result = None
        self.wipe_view.set_placeholder(text)
        for label in self.verdict_labels.values():
            label.setText("")

    def show_result(self, result: DownstreamResult) -> None:
        self.result = result
        moderated = result.images.get("moderated")
        self.wipe_view.set_images(result.images["original"], moderated)
        self.wipe_view.set_labels(TITLES["original"], TITLES["moderated"] if moderated is not None else "")
        for role, label in self.verdict_labels.items():
            verdict = result.verdicts.get(role)
            if role not in result.images:
                label.setText(NO_MODERATED_TEXT)
            elif verdict is None:
                label.setText(f"{TITLES[role]} model")
            else:
                label.setText(f"{TITLES[role]} model: {verdict.text()}")

    # Job engine signals

    def _job_finished(self, job: Job, result: object, cancelled: bool) -> None:
        if job is not self._job:
            return
        self._job = None
        self.show_result(result)

    def _job_ended(self, job: Job, outcome: str) -> None:
        if job is not self._job:
            return
        self._job = None
        # The window shows the reason of a failure.
        self.clear_result(f"{self.task_name} {outcome}. Press Run to try again.")

    def _update_run_button(self) -> None:
        self.run_button.setEnabled(not self.jobs.busy and self.original is not None)

    # Drag and drop

    def dragEnterEvent(self, event) -> None:
        # Anything but image files (a checkpoint, a folder) is left to the window.
        if _dropped_images(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        paths = _dropped_images(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        if len(paths) > 1:
            self.error.emit(f"{len(paths)} images were dropped, but {self.task_name.lower()} takes one input image. "
                            "Drop one image.")
            return
        self.picker.open_file(paths[0])


def _dropped_images(mime) -> list[Path]:
    """Return the dropped paths when they are all image files by suffix, else []."""
    if not mime.hasUrls():
        return []
    paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    if not paths or len(paths) != len(mime.urls()):
        return []
    if any(path.suffix.lower() not in IMAGE_SUFFIXES or path.is_dir() for path in paths):
        return []
    return paths
