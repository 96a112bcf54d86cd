"""The studio's main window: opens a model, builds a forget set, moderates, compares and exports.

All engine work (checkpoint loads, sampling, moderation, image loading, export) goes through one
`JobEngine`, so the GUI thread only sends requests and shows results.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QSplitter,
    QStyle,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from engine.checkpoint import save_checkpoint
from engine.data import IMAGE_SUFFIXES, LoadedImages, load_images, model_to_uint8, uint8_to_model
from engine.detector import Detector, DetectorConfig
from engine.device import pick_device
from engine.errors import UserError
from engine.jobs import Metrics, Preview, Progress, ScoreDiagnostic
from engine.moderation import ModerationConfig, ModerationResult
from engine.moderation_state import ModerationState
from engine.objectives import METHODS
from engine.score_model import ScoreModel
from msgm_studio.autosave import Autosave
from msgm_studio.compare_panel import ComparePanel
from msgm_studio.forget_set import bundled_class_examples
from msgm_studio.forget_set_panel import ForgetSetPanel
from msgm_studio.inpaint_tab import InpaintTab
from msgm_studio.job_engine import Job, JobEngine
from msgm_studio.job_panel import JobPanel, format_duration
from msgm_studio.last_folder import LastFolder
from msgm_studio.model_panel import ModelPanel
from msgm_studio.project import PROJECT_SUFFIX
from msgm_studio.project_session import ProjectSession
from msgm_studio.reconstruct_tab import ReconstructTab
from msgm_studio.retain_source import RetainSource
from msgm_studio.retain_source_panel import RetainSourcePanel
from msgm_studio.settings_store import THEMES, config_dir, load_settings, save_settings
from msgm_studio.tasks import SampleSet, bundled_classes, call, iter_sample_models, iter_studio_moderation, open_model
from msgm_studio.theme import THEME_TITLES, apply_theme
from msgm_studio.training_view import TrainingView
from msgm_studio.wheel_guard import guard_wheel
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
        # ModerationConfig fields set on top of the settings form, e.g. small batches in tests and benchmarks.
        self.moderation_overrides: dict = {}
        # Training settings of the forget detector for forget sets beyond bundled classes (None: the defaults).
        self.detector_config: DetectorConfig | None = None
        # The forget detector of the last moderation. It judges the samples until the forget set or model changes.
        self.forget_detector: Detector | None = None
        self.device = pick_device(device)

        self.original: ScoreModel | None = None
        self.moderated: ScoreModel | None = None
        self.checkpoint_path: Path | None = None
        self.last_folder = LastFolder()
        self.settings = load_settings()
        # Set while the window closes: a moderation stopped then keeps its autosave, to be resumed at the next start.
        self._closing = threading.Event()

        self.jobs = JobEngine(self)
        self.autosave = Autosave(config_dir() / "autosave")
        self._build_widgets()
        self._build_menus()
        self._connect()
        self.session = ProjectSession(self, self.autosave)
        self.setAcceptDrops(True)
        self.setWindowTitle(APP_NAME)
        self.resize(1200, 780)
        self._restore_settings()
        self._update_actions()

        if checkpoint is not None:
            self.open_checkpoint(checkpoint)

    # Layout

    def _build_widgets(self) -> None:
        self.model_panel = ModelPanel(str(self.device))
        self.forget_panel = ForgetSetPanel(last_folder=self.last_folder)
        self.retain_panel = RetainSourcePanel(last_folder=self.last_folder)
        self.job_panel = JobPanel(device=str(self.device))

        sidebar = QWidget()
        sidebar_layout = QVBoxLayout(sidebar)
        sidebar_layout.addWidget(self.model_panel)
        sidebar_layout.addWidget(self.forget_panel)
        sidebar_layout.addWidget(self.retain_panel)
        sidebar_layout.addWidget(self.job_panel)
        sidebar_layout.addStretch(1)
        self._sidebar = QScrollArea()
        self._sidebar.setWidget(sidebar)
        guard_wheel(sidebar)
        self._sidebar.setWidgetResizable(True)
        self._sidebar.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._fit_sidebar()

        # The work area: one tab per view. Each view lives in its own module and is added here.
        self.compare_panel = ComparePanel()
        self.training_view = TrainingView()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.compare_panel, "&Samples")
        self.tabs.addTab(self.training_view, "&Training")
        self.inpaint_tab = InpaintTab(self.jobs, last_folder=self.last_folder)
        self.reconstruct_tab = ReconstructTab(self.jobs, last_folder=self.last_folder)
        self.tabs.addTab(self.inpaint_tab, "&Inpainting")
        self.tabs.addTab(self.reconstruct_tab, "&Reconstruction")

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._sidebar)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 1)
        splitter.setCollapsible(0, False)
        self.setCentralWidget(splitter)
        # The job panel's progress can be scrolled out of sight in the sidebar, so the status bar repeats it.
        self.status_progress = QProgressBar()
        self.status_progress.setMaximumWidth(240)
        self.status_progress.hide()
        self.statusBar().addPermanentWidget(self.status_progress)

    def _fit_sidebar(self) -> None:
        """Widen the sidebar to its content, which grows when a model adds class buttons."""
        content = self._sidebar.widget()
        content.adjustSize()
        scrollbar = self._sidebar.verticalScrollBar().sizeHint().width()
        self._sidebar.setMinimumWidth(content.minimumSizeHint().width() + scrollbar + 2 * self._sidebar.frameWidth())

    def _build_menus(self) -> None:
        """Build the menus, the toolbar and their shortcuts. Every action's status tip shows in the status bar."""
        icon = self.style().standardIcon
        pixmap = QStyle.StandardPixmap

        file_menu = self.menuBar().addMenu("&File")
        self.open_action = self._action("&Open…", lambda: self.open_checkpoint(), QKeySequence.StandardKey.Open,
                                        "Open a .safetensors checkpoint as the original model", icon(pixmap.SP_DialogOpenButton))
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.open_project_action = self._action("Open &Project…", lambda: self.session.open(), None,
                                                f"Open a saved project ({PROJECT_SUFFIX})")
        self.save_project_action = self._action("&Save Project", lambda: self.session.save(), QKeySequence.StandardKey.Save,
                                                "Save the forget set, the settings and the moderated model as a project")
        self.save_project_as_action = self._action("Save Project &As…", lambda: self.session.save_as(), QKeySequence("Ctrl+Shift+S"),
                                                   "Save the project to a new file")
        self.export_action = self._action("&Export…", lambda: self.export_checkpoint(), QKeySequence("Ctrl+E"),
                                          "Save the moderated model as a .safetensors checkpoint",
                                          icon(pixmap.SP_DialogSaveButton))
        quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit, "Close the studio")
        file_menu.addAction(self.open_action)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        for action in (self.open_project_action, self.save_project_action, self.save_project_as_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)

        edit_menu = self.menuBar().addMenu("&Edit")
        self.undo_action, self.redo_action = self._undo_actions()
        self.undo_action.setIcon(icon(pixmap.SP_ArrowBack))
        self.redo_action.setIcon(icon(pixmap.SP_ArrowForward))
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)

        run_menu = self.menuBar().addMenu("&Run")
        self.start_action = self._action("&Start Moderation", self.start_moderation, QKeySequence("Ctrl+Return"),
                                         "Moderate the original model with the forget set and the settings",
                                         icon(pixmap.SP_MediaPlay))
        self.pause_action = self._action("&Pause or Resume", self.toggle_pause, None,
                                         "Pause the running job after its current step, or resume it",
                                         icon(pixmap.SP_MediaPause))
        self.pause_action.setShortcuts([QKeySequence(Qt.Key.Key_Space), QKeySequence("Ctrl+P")])
        self.cancel_action = self._action("&Cancel", self.jobs.cancel, QKeySequence(Qt.Key.Key_Escape),
                                          "Stop the running job. A cancelled moderation keeps the state it reached.",
                                          icon(pixmap.SP_MediaStop))
        for action in (self.start_action, self.pause_action, self.cancel_action):
            run_menu.addAction(action)

        view_menu = self.menuBar().addMenu("&View")
        # Nine tab actions exist from the start, so that their shortcuts work before the menu is first opened.
        self.tab_actions = []
        for index in range(9):
            action = self._action(f"Tab {index + 1}", lambda _checked=False, index=index: self.tabs.setCurrentIndex(index),
                                  QKeySequence(f"Ctrl+{index + 1}"), "")
            view_menu.addAction(action)
            self.tab_actions.append(action)
        view_menu.aboutToShow.connect(self._update_tab_actions)
        self._update_tab_actions()
        view_menu.addSeparator()
        theme_menu = view_menu.addMenu("&Theme")
        theme_group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for theme in THEMES:
            action = self._action(THEME_TITLES[theme], lambda _checked=False, theme=theme: self.set_theme(theme), None,
                                  "Follow the desktop's light or dark colour scheme" if theme == "system"
                                  else f"Use the {theme} palette")
            action.setCheckable(True)
            theme_group.addAction(action)
            theme_menu.addAction(action)
            self.theme_actions[theme] = action

        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("&About MSGM Studio", self._show_about, None, "What MSGM Studio does"))

        self.toolbar = QToolBar("Main toolbar", self)
        self.toolbar.setObjectName("main_toolbar")  # saveState() stores toolbars by object name
        for action in (self.open_action, self.export_action, None, self.undo_action, self.redo_action, None,
                       self.start_action, self.pause_action, self.cancel_action):
            if action is None:
                self.toolbar.addSeparator()
            else:
                self.toolbar.addAction(action)
        self.addToolBar(self.toolbar)
        view_menu.addSeparator()
        view_menu.addAction(self.toolbar.toggleViewAction())

    def _action(self, text: str, slot, shortcut, tip: str, icon=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        if icon is not None:
            action.setIcon(icon)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts of actions in a closed menu or a hidden toolbar still work
        return action

    def _undo_actions(self) -> tuple[QAction, QAction]:
        """Undo and redo of forget set edits, taken from the forget set panel's QUndoStack when it has one."""
        panel = self.forget_panel
        if hasattr(panel, "undo_action") and hasattr(panel, "redo_action"):
            # The panel's own actions already carry Ctrl+Z and Ctrl+Shift+Z; a second pair would make them ambiguous.
            return panel.undo_action, panel.redo_action
        if hasattr(panel, "undo_stack"):
            undo = panel.undo_stack.createUndoAction(self, "&Undo")
            redo = panel.undo_stack.createRedoAction(self, "&Redo")
        else:
            # NOTE: without an undo stack in the forget set panel, Undo and Redo stay disabled.
            undo, redo = QAction("&Undo", self), QAction("&Redo", self)
            undo.setEnabled(False)
            redo.setEnabled(False)
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo.setShortcut(QKeySequence("Ctrl+Shift+Z"))
        for action in (undo, redo):
            self.addAction(action)
        return undo, redo

    def _update_tab_actions(self) -> None:
        """Name the tab actions after the tabs that exist now and hide the rest."""
        for index, action in enumerate(self.tab_actions):
            exists = index < self.tabs.count()
            action.setVisible(exists)
            action.setEnabled(exists)
            if exists:
                title = self.tabs.tabText(index).replace("&", "")
                action.setText(f"&{index + 1} {title}")
                action.setStatusTip(f"Show the {title} tab")

    def _connect(self) -> None:
        self.jobs.started.connect(self._job_started)
        self.jobs.progress.connect(self._job_progress)
        self.jobs.preview.connect(self._job_preview)
        self.jobs.metrics.connect(self._job_metrics)
        self.jobs.score_diagnostic.connect(self._job_score_diagnostic)
        self.jobs.message.connect(self._job_message)
        self.jobs.finished.connect(self._job_finished)
        self.jobs.cancelled.connect(self._job_cancelled)
        self.jobs.failed.connect(self._job_failed)
        self.jobs.rejected.connect(self._show_status)
        self.jobs.busy_changed.connect(lambda _busy: self._update_actions())
        self.jobs.busy_changed.connect(lambda busy: self.status_progress.setVisible(busy))

        self.job_panel.start_button.clicked.connect(self.start_moderation)
        self.job_panel.pause_button.clicked.connect(self.toggle_pause)
        self.job_panel.cancel_button.clicked.connect(self.jobs.cancel)
        self.forget_panel.files_requested.connect(self.add_forget_files)
        self.forget_panel.changed.connect(self._forget_set_changed)
        self.forget_panel.notice.connect(self._show_status)
        self.compare_panel.sample_button.clicked.connect(self.sample_again)
        self.compare_panel.grid_size_changed.connect(self.set_sample_count)
        self.compare_panel.pick_requested.connect(self.forget_panel.add_picked)
        for tab in (self.inpaint_tab, self.reconstruct_tab):
            tab.error.connect(lambda text: self.show_error(text))

    # User actions

    def show_error(self, text: str) -> None:
        """Tell the user what went wrong and what to do. Tests replace this method to record the text."""
        log.warning("shown to the user: %s", text)
        QMessageBox.warning(self, APP_NAME, text)

    def open_checkpoint(self, path: str | Path | None = None) -> None:
        """Load a checkpoint on the job engine, then ask about unsaved changes and show it. Without `path`, ask with a dialog.

        The file is read first so that a file that is no checkpoint gives its error before any question.
        """
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", str(self.last_folder), CHECKPOINT_FILTER)
            if not chosen:
                return
            path = chosen
        path = Path(path)
        device = self.device
        self.jobs.submit("load", f"Opening {path.name}", lambda control: call(open_model, path, device), context=path)

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
        """Open dropped paths: one checkpoint or project file, or image files and folders for the forget set."""
        images = [path for path in paths if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES]
        checkpoints = [path for path in paths if path not in images]
        if checkpoints and (images or len(checkpoints) > 1):
            self.show_error("Drop one checkpoint file to open it, or image files and folders to add them to the "
                            "forget set, not several kinds at once.")
        elif checkpoints:
            self.open_file(checkpoints[0])
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
        # Previews use the Samples tab's seed and grid size, so that they line up with the original's samples.
        previews = {"preview_seed": self.compare_panel.seed_box.value(), "preview_count": self.sample_count}
        try:
            config = self.job_panel.settings_form.validated_config({**previews, **self.moderation_overrides})
        except UserError as error:
            self.show_error(f"The moderation settings are invalid: {error}")
            return
        retain_source = self.retain_panel.retain_source()
        try:
            retain_source.validate(bundled_available=bool(bundled_classes(self.original)))
        except UserError as error:
            self.show_error(f"The retain set cannot be built: {error}.")
            return

        self.submit_moderation(config, retain_source)

    def submit_moderation(self, config: ModerationConfig, retain_source: RetainSource,
                          resume: ModerationState | None = None) -> Job | None:
        """Run a moderation of the original model on the job engine, autosaving its state every `autosave.every` steps.

        With `resume` (an autosaved state), the run continues after the state's step; `config` must be
        the state's settings. A run stopped because the window closes saves its last state, so the next
        start can resume it from there.
        """
        original, snapshot, detector_config = self.original, self.forget_panel.forget_set.snapshot(), self.detector_config
        run = self.session.capture_run(snapshot, config, retain_source)
        autosave, closing = self.autosave, self._closing

        def moderation(control):
            def moderate(**autosave_options):
                return iter_studio_moderation(original, snapshot, retain_source, config, control, detector_config,
                                              **autosave_options)

            return autosave.iter_run(run, moderate, resume, closing)

        job = self.jobs.submit("moderate", "Moderation", moderation, context=config)
        if job is not None:
            self._remember_moderation_settings()
            self.moderated = None
            self._share_models()
            self.training_view.clear()
            self.job_panel.clear_run()
            self.compare_panel.show_placeholder("moderated", "Moderating…")
            self._update_actions()
        return job

    def toggle_pause(self) -> None:
        if self.jobs.paused:
            self.jobs.resume()
            self._show_status("Resumed")
        else:
            self.jobs.pause()
            self._show_status("Paused after the current step. The job keeps its state until you resume or cancel it.")
        self.job_panel.set_paused(self.jobs.paused)

    def set_sample_count(self, count: int) -> None:
        """Change the size of the sample grids and sample both models again from the same seed."""
        self.sample_count = count
        self.sample_again()

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
            suggestion = self.last_folder / f"{self.moderated.name}-moderated.safetensors"
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
        self.status_progress.setRange(0, 0)
        self.status_progress.setToolTip(job.title)

    def _job_progress(self, job: Job, progress: Progress) -> None:
        self.job_panel.show_progress(job.title, progress)
        self.status_progress.setRange(0, progress.total)
        self.status_progress.setValue(progress.step)
        self.status_progress.setFormat(self.job_panel.progress_bar.format())
        if job.kind == "moderate" and not progress.phase:
            self.training_view.add_progress(progress.step, progress.values)

    def _job_preview(self, job: Job, preview: Preview) -> None:
        seed = self.compare_panel.seed_box.value()
        self.compare_panel.show_samples("moderated", SampleSet(model_to_uint8(preview.images), None, seed))
        self.compare_panel.rate_labels["moderated"].setText(f"Preview at step {preview.step}")
        self.training_view.show_preview(preview.step, model_to_uint8(preview.images))

    def _job_metrics(self, job: Job, metrics: Metrics) -> None:
        self.training_view.add_metrics(metrics.step, metrics.values)

    def _job_score_diagnostic(self, job: Job, diagnostic: ScoreDiagnostic) -> None:
        self.training_view.add_score_diagnostic(diagnostic)

    def _job_message(self, text: str, level: str) -> None:
        self._show_status(text)
        if level == "warning":
            self.job_panel.add_warning(text)

    def _job_finished(self, job: Job, result: object, cancelled: bool) -> None:
        self.job_panel.set_running(None)
        self.job_panel.show_status(f"{job.title}: done")
        if job.kind == "load":
            self.session.maybe_save_changes(lambda: self._show_checkpoint(result, job.context))
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

    def _show_checkpoint(self, model: ScoreModel, path: Path) -> None:
        """Show a checkpoint opened by itself, which starts a new session."""
        self._show_model(model, path)
        self.session.start_new(path)

    def _show_model(self, model: ScoreModel, path: Path) -> None:
        self.original, self.moderated, self.checkpoint_path = model, None, path
        self.forget_detector = None
        self._share_models()
        if path.resolve().parent != BASE_MODEL.resolve().parent:
            self.last_folder.remember(path)
        self.setWindowTitle(f"{model.name} – {APP_NAME}")
        self.model_panel.show_model(model, path)
        class_names = bundled_classes(model)
        # open_model read the class examples on the job engine, so this call returns the cached ones.
        self.forget_panel.set_model(model.image, class_names, bundled_class_examples() if class_names else ())
        self.retain_panel.set_bundled_available(bool(class_names))
        self._fit_sidebar()
        self.training_view.clear()
        self.job_panel.clear_run()
        self.compare_panel.show_placeholder("moderated", "Moderate the model to see its samples here, from the same seed")
        self.compare_panel.show_placeholder("original", "Sampling…")
        self.job_panel.show_status(f"Opened {path.name}")
        self._sample({"original": model})

    def _share_models(self) -> None:
        """Hand the current original and moderated models to the tabs that run them."""
        for tab in (self.inpaint_tab, self.reconstruct_tab):
            tab.set_models(self.original, self.moderated)

    def _sample(self, models: dict[str, ScoreModel]) -> None:
        if not models:
            return
        count, seed, steps = self.sample_count, self.compare_panel.seed_box.value(), self.sampler_steps
        self.compare_panel.set_grid_size(count)
        names = " and ".join(f"{role} model" for role in models)
        self.jobs.submit("sample", f"Sampling the {names}",
                         lambda control: iter_sample_models(models, count, seed, steps, control), context=list(models))

    def _show_samples(self, samples: dict[str, SampleSet]) -> None:
        for role, sample_set in samples.items():
            self.compare_panel.show_samples(role, sample_set)
        self._update_forget_rates()
        for role in samples:
            self._show_detector_verdicts(role)

    def _show_moderation_result(self, result: ModerationResult, config: ModerationConfig) -> None:
        self.moderated = result.model
        self.forget_detector = result.judge if isinstance(result.judge, Detector) else None
        self._show_detector_verdicts("original")
        self._share_models()
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
            # The panel reports how many it added and how many duplicates it skipped.
            self.forget_panel.add_files(loaded.images, loaded.paths)
        if loaded.failures:
            listed = "\n".join(f"{path}: {reason}" for path, reason in loaded.failures[:10])
            more = f"\n… and {len(loaded.failures) - 10} more" if len(loaded.failures) > 10 else ""
            self.show_error(f"{len(loaded.failures)} item(s) could not be added to the forget set:\n{listed}{more}\n\n"
                            "Add PNG, JPEG, BMP, WebP or TIFF images, or folders that contain them.")

    def _show_detector_verdicts(self, role: str) -> None:
        """Judge the samples shown for `role` with the forget detector of the last moderation, if there is one."""
        samples = self.compare_panel.samples.get(role)
        if self.forget_detector is None or samples is None:
            return
        # A small network on at most 100 small images (about 40 ms on one busy CPU core), so it runs here.
        images = uint8_to_model(samples.images.transpose(0, 3, 1, 2))
        self.compare_panel.show_verdicts(role, self.forget_detector.probability(images).numpy(), self.forget_detector.name)

    def _forget_set_changed(self) -> None:
        self.forget_detector = None
        self._update_forget_rates()

    def _update_forget_rates(self) -> None:
        forget_set = self.forget_panel.forget_set
        self.compare_panel.update_forget_rates(forget_set.classes, forget_set.class_names, forget_set.image_count)

    def _update_actions(self) -> None:
        busy = self.jobs.busy
        self.open_action.setEnabled(not busy)
        self.export_action.setEnabled(not busy and self.moderated is not None)
        self.job_panel.start_button.setEnabled(not busy and self.original is not None)
        self.compare_panel.sample_button.setEnabled(not busy and self.original is not None)
        self.compare_panel.grid_size_box.setEnabled(not busy and self.original is not None)
        for action in (self.recent_menu.menuAction(), self.open_project_action):
            action.setEnabled(not busy)
        for action in (self.save_project_action, self.save_project_as_action):
            action.setEnabled(not busy and self.original is not None)
        self.start_action.setEnabled(not busy and self.original is not None)
        self.pause_action.setEnabled(busy)
        self.cancel_action.setEnabled(busy)

    def _show_status(self, text: str) -> None:
        self.statusBar().showMessage(text, STATUS_TIMEOUT_MS)

    def _show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}",
                          "MSGM Studio moderates score-based generative models: it fine-tunes a model so that it "
                          "stops generating a forget set while it keeps the rest of what it learned.")

    # Settings, recent files and theme

    def moderation_settings(self) -> dict:
        """Return the moderation settings chosen in the window as ModerationConfig fields, without `moderation_overrides`."""
        return self.job_panel.settings_form.config().to_dict()

    def _remember_moderation_settings(self) -> None:
        try:
            self.settings.moderation = self.moderation_settings()
        except UserError as error:
            log.warning("the moderation settings were not remembered: %s", error)
            return
        save_settings(self.settings)

    def apply_moderation_settings(self, settings: dict) -> None:
        """Show saved moderation settings in the window.

        Values out of range are shown marked, so that the user sees and corrects them. Settings of the
        wrong type or with an unknown method are logged and left out.
        """
        defaults = ModerationConfig().to_dict()
        config = ModerationConfig.from_dict({**defaults, **settings})
        wrong_types = [name for name, default in defaults.items() if not _same_type(getattr(config, name), default)]
        if wrong_types or config.method not in METHODS:
            log.warning("ignoring the saved moderation settings %r: unknown method or wrong types of %s",
                        settings, ", ".join(wrong_types) or "none")
            return
        self.job_panel.settings_form.set_config(config)

    def remember_file(self, path: Path) -> None:
        """Put a checkpoint or project first in File > Open Recent. The bundled model is always at hand, so it is left out."""
        if Path(path).resolve() == BASE_MODEL.resolve():
            return
        self.settings.add_recent(path)
        save_settings(self.settings)

    def open_file(self, path: str | Path) -> None:
        """Open a project (.msgmproj) or a checkpoint, chosen by the file's suffix."""
        path = Path(path)
        if path.suffix.lower() == PROJECT_SUFFIX:
            self.session.open(path)
        else:
            self.open_checkpoint(path)

    def open_recent(self, path: str | Path) -> None:
        if not Path(path).is_file():
            self.settings.prune_recent()
            save_settings(self.settings)
            self.show_error(f"{path} no longer exists, so it was removed from File > Open Recent.")
            return
        self.open_file(path)

    def _fill_recent_menu(self) -> None:
        self._prune_recent()
        self.recent_menu.clear()
        for index, entry in enumerate(self.settings.recent_files):
            label = f"&{index + 1} {Path(entry).name}" if index < 9 else Path(entry).name
            action = self.recent_menu.addAction(label)
            action.setStatusTip(entry)
            action.triggered.connect(lambda _checked=False, entry=entry: self.open_recent(entry))
        if not self.settings.recent_files:
            self.recent_menu.addAction("No recent files").setEnabled(False)
            return
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("&Clear List", self._clear_recent)

    def _prune_recent(self) -> None:
        """Drop recent files that no longer exist and name them in the status bar."""
        missing = self.settings.prune_recent()
        if missing:
            save_settings(self.settings)
            names = ", ".join(Path(entry).name for entry in missing)
            self._show_status(f"Removed {len(missing)} missing file(s) from File > Open Recent: {names}")

    def _clear_recent(self) -> None:
        self.settings.recent_files = []
        save_settings(self.settings)

    def set_theme(self, theme: str) -> None:
        """Use the system, light or dark palette, and remember the choice."""
        apply_theme(theme)
        self.settings.theme = theme
        self.theme_actions[theme].setChecked(True)
        save_settings(self.settings)

    def _system_scheme_changed(self, _scheme) -> None:
        if self.settings.theme == "system":
            apply_theme("system")

    def update_title(self) -> None:
        """Show the project's name (or the model's, for an unsaved session) and a * for unsaved changes."""
        if self.session.path is not None:
            name = self.session.path.stem
        elif self.original is not None:
            name = self.original.name
        else:
            name = ""
        self.setWindowTitle(f"{name}[*] – {APP_NAME}" if name else APP_NAME)
        self.setWindowModified(self.session.dirty)

    def _restore_settings(self) -> None:
        """Restore what the settings file remembers: layout, last folder, theme, moderation settings, recent files."""
        settings = self.settings
        if settings.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(settings.window_geometry.encode("ascii")))
        if settings.window_state:
            self.restoreState(QByteArray.fromBase64(settings.window_state.encode("ascii")))
        splitter = self.centralWidget()
        if isinstance(splitter, QSplitter) and len(settings.splitter_sizes) == splitter.count():
            splitter.setSizes(settings.splitter_sizes)
        if settings.last_folder:
            self.last_folder.remember(settings.last_folder)
        if settings.moderation:
            self.apply_moderation_settings(settings.moderation)
        self.theme_actions[settings.theme].setChecked(True)
        apply_theme(settings.theme)
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):  # Qt 6.5 and later
            hints.colorSchemeChanged.connect(self._system_scheme_changed)
        self._prune_recent()

    def _save_settings(self) -> None:
        settings = self.settings
        settings.window_geometry = self.saveGeometry().toBase64().data().decode("ascii")
        settings.window_state = self.saveState().toBase64().data().decode("ascii")
        splitter = self.centralWidget()
        if isinstance(splitter, QSplitter):
            settings.splitter_sizes = splitter.sizes()
        settings.last_folder = str(self.last_folder)
        try:
            settings.moderation = self.moderation_settings()
        except UserError as error:
            log.info("keeping the moderation settings of the last run, because the form is invalid: %s", error)
        save_settings(settings)

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
        """Ask about a running moderation and unsaved changes, then save the window's settings and stop the job engine.

        A moderation stopped here keeps its autosave, with the state of its last step, and the next
        start of the studio offers to resume it. Other jobs (loading, sampling, exporting) stop without
        a question, because they take seconds and an interrupted write leaves no partial file.
        """
        job = self.jobs.current
        if job is not None and job.kind == "moderate" and self.isVisible() and not self.ask_stop_job(job):
            event.ignore()
            return
        if not self.session.confirm_close():
            event.ignore()
            return
        self._closing.set()
        self._save_settings()
        self.jobs.shutdown()
        # The stopped job's end still arrives as a queued signal; the closed window must not react to it.
        self.jobs.blockSignals(True)
        super().closeEvent(event)

    def ask_stop_job(self, job: Job) -> bool:
        """Ask whether to stop the running moderation and close the window. Tests replace this method."""
        text = ("A moderation is running. Stop it and close the studio?\n\nIts progress is autosaved, and the "
                "studio offers to resume it at the next start.")
        answer = QMessageBox.question(self, APP_NAME, text)
        return answer == QMessageBox.StandardButton.Yes


def _same_type(value: object, default: object) -> bool:
    """Tell whether a saved setting has the type of its default; an int may stand for a float."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))
