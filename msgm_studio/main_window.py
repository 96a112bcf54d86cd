"""The studio's main window: opens a model, builds a forget set, moderates, compares and exports.

All engine work (checkpoint loads, sampling, moderation, image loading, export) goes through one
`JobEngine`, so the GUI thread only sends requests and shows results.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.data import IMAGE_SUFFIXES, LoadedImages, load_images, model_to_uint8
from engine.device import pick_device
from engine.errors import UserError
from engine.jobs import Preview, Progress
from engine.moderation import ModerationConfig, ModerationResult
from engine.score_model import ScoreModel
from msgm_studio.compare_panel import ComparePanel
from msgm_studio.forget_set_panel import ForgetSetPanel
from msgm_studio.job_engine import Job, JobEngine
from msgm_studio.job_panel import JobPanel, format_duration
from msgm_studio.loss_plot import LossPlot
from msgm_studio.model_panel import ModelPanel
from msgm_studio.tasks import SampleSet, bundled_classes, call, iter_sample_models, iter_studio_moderation
from resources import BASE_MODEL

log = logging.getLogger(__name__)

APP_NAME = "MSGM Studio"
CHECKPOINT_FILTER = "Checkpoints (*.safetensors);;All files (*)"
STATUS_TIMEOUT_MS = 10_000


class MainWindow(QMainWindow):
    """One studio window: an original model, a forget set and at most one moderated model."""

    def __init__(self, checkpoint: str | Path | None = BASE_MODEL, device: str | None = None) -> None:
        super().__init__()
        # Size of the sample grids and the number of DDIM steps per sample.
        self.sample_count = 16
        self.sampler_steps = 25
        # ModerationConfig fields set on top of the defaults and the method and steps chosen in the window.
        self.moderation_overrides: dict = {}
        self.device = pick_device(device)

        self.original: ScoreModel | None = None
        self.moderated: ScoreModel | None = None
        self.checkpoint_path: Path | None = None
        self._last_folder = Path.home()

        self.jobs = JobEngine(self)
        self._build_widgets()
        self._build_menus()
        self._connect()
        self.setAcceptDrops(True)
        self.setWindowTitle(APP_NAME)
        self.resize(1200, 780)
        self._update_actions()

        if checkpoint is not None:
            self.open_checkpoint(checkpoint)

    # Layout

    def _build_widgets(self) -> None:
        self.model_panel = ModelPanel(str(self.device))
        self.forget_panel = ForgetSetPanel()
        self.job_panel = JobPanel()

        sidebar = QWidget()
        sidebar_layout = QVBoxLayout(sidebar)
        sidebar_layout.addWidget(self.model_panel)
        sidebar_layout.addWidget(self.forget_panel)
        sidebar_layout.addWidget(self.job_panel)
        sidebar_layout.addStretch(1)
        self._sidebar = QScrollArea()
        self._sidebar.setWidget(sidebar)
        self._sidebar.setWidgetResizable(True)
        self._sidebar.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._fit_sidebar()

        # The work area: one tab per view. Each view lives in its own module and is added here.
        self.compare_panel = ComparePanel()
        self.loss_plot = LossPlot()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.compare_panel, "&Samples")
        self.tabs.addTab(self.loss_plot, "&Training")

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._sidebar)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 1)
        splitter.setCollapsible(0, False)
        self.setCentralWidget(splitter)
        self.statusBar()

    def _fit_sidebar(self) -> None:
        """Widen the sidebar to its content, which grows when a model adds class buttons."""
        content = self._sidebar.widget()
        content.adjustSize()
        scrollbar = self._sidebar.verticalScrollBar().sizeHint().width()
        self._sidebar.setMinimumWidth(content.minimumSizeHint().width() + scrollbar + 2 * self._sidebar.frameWidth())

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = QAction("&Open…", self, shortcut=QKeySequence.StandardKey.Open)
        self.open_action.setStatusTip("Open a .safetensors checkpoint as the original model")
        self.open_action.triggered.connect(lambda: self.open_checkpoint())
        file_menu.addAction(self.open_action)
        self.export_action = QAction("&Export…", self, shortcut=QKeySequence("Ctrl+E"))
        self.export_action.setStatusTip("Save the moderated model as a .safetensors checkpoint")
        self.export_action.triggered.connect(lambda: self.export_checkpoint())
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        help_menu = self.menuBar().addMenu("&Help")
        about_action = QAction("&About MSGM Studio", self)
        about_action.triggered.connect(self._show_about)
        help_menu.addAction(about_action)

    def _connect(self) -> None:
        self.jobs.started.connect(self._job_started)
        self.jobs.progress.connect(self._job_progress)
        self.jobs.preview.connect(self._job_preview)
        self.jobs.message.connect(self._job_message)
        self.jobs.finished.connect(self._job_finished)
        self.jobs.cancelled.connect(self._job_cancelled)
        self.jobs.failed.connect(self._job_failed)
        self.jobs.rejected.connect(self._show_status)
        self.jobs.busy_changed.connect(lambda _busy: self._update_actions())

        self.job_panel.start_button.clicked.connect(self.start_moderation)
        self.job_panel.pause_button.clicked.connect(self.toggle_pause)
        self.job_panel.cancel_button.clicked.connect(self.jobs.cancel)
        self.forget_panel.files_requested.connect(self.add_forget_files)
        self.forget_panel.changed.connect(self._update_forget_rates)
        self.compare_panel.sample_button.clicked.connect(self.sample_again)

    # User actions

    def show_error(self, text: str) -> None:
        """Tell the user what went wrong and what to do. Tests replace this method to record the text."""
        log.warning("shown to the user: %s", text)
        QMessageBox.warning(self, APP_NAME, text)

    def open_checkpoint(self, path: str | Path | None = None) -> None:
        """Load a checkpoint on the job engine. Without `path`, ask for one with a file dialog."""
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", str(self._last_folder), CHECKPOINT_FILTER)
            if not chosen:
                return
            path = chosen
        path = Path(path)
        device = self.device
        self.jobs.submit("load", f"Opening {path.name}", lambda control: call(load_checkpoint, path, device), context=path)

    def add_forget_files(self, paths: list[Path]) -> None:
        """Read image files and folders on the job engine and add them to the forget set."""
        if self.original is None:
            self.show_error("Open a checkpoint before adding images: the images are converted to its size.")
            return
        spec = self.original.image
        count = f"{len(paths)} item{'s' if len(paths) > 1 else ''}"
        self.jobs.submit("images", f"Reading {count} for the forget set",
                         lambda control: call(load_images, list(paths), spec), context=list(paths))

    def open_paths(self, paths: list[Path]) -> None:
        """Open dropped paths: one checkpoint file, or image files and folders for the forget set."""
        images = [path for path in paths if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES]
        checkpoints = [path for path in paths if path not in images]
        if checkpoints and (images or len(checkpoints) > 1):
            self.show_error("Drop one checkpoint file to open it, or image files and folders to add them to the "
                            "forget set, not several kinds at once.")
        elif checkpoints:
            self.open_checkpoint(checkpoints[0])
        elif images:
            self.add_forget_files(images)

    def start_moderation(self) -> None:
        """Check the settings and the forget set, then run moderation of the original model on the job engine."""
        if self.original is None:
            self.show_error("No model is open. Open a checkpoint with File > Open… first.")
            return
        forget_set = self.forget_panel.forget_set
        if forget_set.is_empty():
            self.show_error("The forget set is empty. Choose a class or add images of what the model must stop "
                            "generating, then start again.")
            return
        settings = {"method": self.job_panel.method_box.currentText(), "steps": self.job_panel.steps_box.value()}
        try:
            config = replace(ModerationConfig(), **{**settings, **self.moderation_overrides})
            config.validate()
        except UserError as error:
            self.show_error(f"The moderation settings are invalid: {error}")
            return

        original, snapshot = self.original, forget_set.snapshot()
        job = self.jobs.submit("moderate", "Moderation",
                               lambda control: iter_studio_moderation(original, snapshot, config, control), context=config)
        if job is not None:
            self.moderated = None
            self.loss_plot.clear_points()
            self.job_panel.clear_run()
            self.compare_panel.show_placeholder("moderated", "Moderating…")
            self._update_actions()

    def toggle_pause(self) -> None:
        if self.jobs.paused:
            self.jobs.resume()
            self._show_status("Resumed")
        else:
            self.jobs.pause()
            self._show_status("Paused after the current step. The job keeps its state until you resume or cancel it.")
        self.job_panel.set_paused(self.jobs.paused)

    def sample_again(self) -> None:
        """Sample the original and, if there is one, the moderated model from the seed in the seed box."""
        models = {"original": self.original, "moderated": self.moderated}
        self._sample({role: model for role, model in models.items() if model is not None})

    def export_checkpoint(self, path: str | Path | None = None) -> None:
        """Save the moderated model on the job engine. Without `path`, ask for one with a save dialog."""
        if self.moderated is None:
            self.show_error("There is no moderated model to export yet. Run a moderation first.")
            return
        if path is None:
            suggestion = self._last_folder / f"{self.moderated.name}-moderated.safetensors"
            chosen, _ = QFileDialog.getSaveFileName(self, "Export moderated checkpoint", str(suggestion), CHECKPOINT_FILTER)
            if not chosen:
                return
            path = chosen
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".safetensors")
        model = self.moderated
        self.jobs.submit("export", f"Exporting {path.name}", lambda control: call(save_checkpoint, model, path), context=path)

    # Job engine signals

    def _job_started(self, job: Job) -> None:
        self.job_panel.set_running(job.title)

    def _job_progress(self, job: Job, progress: Progress) -> None:
        self.job_panel.show_progress(job.title, progress)
        if job.kind == "moderate":
            self.loss_plot.add_point(progress.step, progress.values)

    def _job_preview(self, job: Job, preview: Preview) -> None:
        seed = self.compare_panel.seed_box.value()
        self.compare_panel.show_samples("moderated", SampleSet(model_to_uint8(preview.images), None, seed))
        self.compare_panel.rate_labels["moderated"].setText(f"Preview at step {preview.step}")

    def _job_message(self, text: str, level: str) -> None:
        self._show_status(text)

    def _job_finished(self, job: Job, result: object, cancelled: bool) -> None:
        self.job_panel.set_running(None)
        self.job_panel.show_status(f"{job.title}: done")
        if job.kind == "load":
            self._show_model(result, job.context)
        elif job.kind == "sample":
            self._show_samples(result)
        elif job.kind == "moderate":
            self._show_moderation_result(result, job.context)
        elif job.kind == "images":
            self._add_loaded_images(result)
        elif job.kind == "export":
            self.job_panel.show_status(f"Exported the moderated model to {job.context}")
            self._show_status(f"Exported the moderated model to {job.context}")
        self._update_actions()

    def _job_cancelled(self, job: Job) -> None:
        self.job_panel.set_running(None)
        self.job_panel.show_status(f"{job.title} cancelled")
        self._reset_placeholders(job, "cancelled")

    def _job_failed(self, job: Job, message: str) -> None:
        self.job_panel.set_running(None)
        self.job_panel.show_status(f"{job.title} failed")
        self._reset_placeholders(job, "failed")
        self.show_error(f"{job.title} failed: {message}")

    def _reset_placeholders(self, job: Job, outcome: str) -> None:
        """Replace the "Sampling…" or "Moderating…" placeholder of a job that ended without a result."""
        if job.kind == "sample":
            for role in job.context:
                if role not in self.compare_panel.samples:
                    self.compare_panel.show_placeholder(role, f"Sampling {outcome}. Press Sample again to retry.")
        elif job.kind == "moderate":
            self.compare_panel.show_placeholder("moderated", f"Moderation {outcome}")

    # Results

    def _show_model(self, model: ScoreModel, path: Path) -> None:
        self.original, self.moderated, self.checkpoint_path = model, None, path
        if path.resolve().parent != BASE_MODEL.resolve().parent:
            self._last_folder = path.resolve().parent
        self.setWindowTitle(f"{model.name} – {APP_NAME}")
        self.model_panel.show_model(model, path)
        self.forget_panel.set_classes(bundled_classes(model))
        self._fit_sidebar()
        self.loss_plot.clear_points()
        self.job_panel.clear_run()
        self.compare_panel.show_placeholder("moderated", "Moderate the model to see its samples here, from the same seed")
        self.compare_panel.show_placeholder("original", "Sampling…")
        self.job_panel.show_status(f"Opened {path.name}")
        self._sample({"original": model})

    def _sample(self, models: dict[str, ScoreModel]) -> None:
        if not models:
            return
        count, seed, steps = self.sample_count, self.compare_panel.seed_box.value(), self.sampler_steps
        names = " and ".join(f"{role} model" for role in models)
        self.jobs.submit("sample", f"Sampling the {names}",
                         lambda control: iter_sample_models(models, count, seed, steps, control), context=list(models))

    def _show_samples(self, samples: dict[str, SampleSet]) -> None:
        for role, sample_set in samples.items():
            self.compare_panel.show_samples(role, sample_set)
        self._update_forget_rates()

    def _show_moderation_result(self, result: ModerationResult, config: ModerationConfig) -> None:
        self.moderated = result.model
        if result.cancelled:
            text = (f"Moderation ({config.method}) cancelled after {result.steps_done} of {config.steps} steps. "
                    "The moderated model keeps the state it reached.")
        else:
            text = (f"Moderation ({config.method}) finished: {result.steps_done} steps in "
                    f"{format_duration(result.seconds)}.")
        self.job_panel.show_result(text)
        self._show_status(text)
        self.compare_panel.show_placeholder("moderated", "Sampling…")
        self._sample({"moderated": result.model})

    def _add_loaded_images(self, loaded: LoadedImages) -> None:
        if len(loaded.paths):
            self.forget_panel.add_files(loaded.images, loaded.paths)
            self._show_status(f"Added {len(loaded.paths)} image(s) to the forget set")
        if loaded.failures:
            listed = "\n".join(f"{path}: {reason}" for path, reason in loaded.failures[:10])
            more = f"\n… and {len(loaded.failures) - 10} more" if len(loaded.failures) > 10 else ""
            self.show_error(f"{len(loaded.failures)} item(s) could not be added to the forget set:\n{listed}{more}\n\n"
                            "Add PNG, JPEG, BMP, WebP or TIFF images, or folders that contain them.")

    def _update_forget_rates(self) -> None:
        forget_set = self.forget_panel.forget_set
        self.compare_panel.update_forget_rates(forget_set.classes, forget_set.class_names)

    def _update_actions(self) -> None:
        busy = self.jobs.busy
        self.open_action.setEnabled(not busy)
        self.export_action.setEnabled(not busy and self.moderated is not None)
        self.job_panel.start_button.setEnabled(not busy and self.original is not None)
        self.compare_panel.sample_button.setEnabled(not busy and self.original is not None)

    def _show_status(self, text: str) -> None:
        self.statusBar().showMessage(text, STATUS_TIMEOUT_MS)

    def _show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}",
                          "MSGM Studio moderates score-based generative models: it fine-tunes a model so that it "
                          "stops generating a forget set while it keeps the rest of what it learned.")

    # Drag and drop, closing

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def closeEvent(self, event) -> None:
        # NOTE: closing cancels a running moderation and loses its state, because there is no autosave yet.
        self.jobs.shutdown()
        super().closeEvent(event)
