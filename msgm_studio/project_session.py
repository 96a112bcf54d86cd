"""The window's project: saving and opening it, unsaved changes, and resuming an autosaved moderation.

A session is what the window shows: the original model, the forget set, the retain source, the
settings and the moderated model. Saved, it is a project file (msgm_studio.project). Project files
are read and written on the job engine. The GUI thread only captures the window's state before a
save and shows a project's state after an open. The one exception is a save chosen while the
window closes, which writes at once because the job engine stops with the window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QFileDialog, QMessageBox

from engine.errors import UserError
from engine.moderation import ModerationConfig
from engine.moderation_state import ModerationState
from engine.score_model import ScoreModel
from msgm_studio.autosave import Autosave, Recovery
from msgm_studio.forget_set import ForgetSet, ForgetSetState
from msgm_studio.project import PROJECT_SUFFIX, LoadedProject, Project, load_project, save_project
from msgm_studio.retain_source import RetainSource
from msgm_studio.tasks import call, open_model

if TYPE_CHECKING:
    from msgm_studio.main_window import MainWindow

log = logging.getLogger(__name__)

PROJECT_FILTER = f"MSGM Studio projects (*{PROJECT_SUFFIX});;All files (*)"
CHECKPOINT_FILTER = "Checkpoints (*.safetensors);;All files (*)"
SAVE, DISCARD, CANCEL = "save", "discard", "cancel"


@dataclass
class _Continuation:
    """Context of a project job: what the GUI thread does with the job's result."""

    handle: Callable[[object], None]


@dataclass
class OpenedProject:
    """A project file read on the job engine, with its original model when the checkpoint was found."""

    loaded: LoadedProject
    original: ScoreModel | None


def read_project(path: Path, device) -> OpenedProject:
    """Read a project and open the checkpoint it refers to, if that file exists (job engine work)."""
    loaded = load_project(path, device)
    original = open_model(loaded.project.checkpoint, device) if loaded.checkpoint_found else None
    return OpenedProject(loaded=loaded, original=original)


def read_recovery(autosave: Autosave, device) -> tuple[Recovery, ScoreModel | None]:
    """Read an autosaved run and open its checkpoint, if that file exists (job engine work)."""
    recovery = autosave.load(device)
    loaded = recovery.loaded
    original = open_model(loaded.project.checkpoint, device) if loaded.checkpoint_found else None
    return recovery, original


def retain_to_dict(source: RetainSource) -> dict:
    document = asdict(source)
    document["folder"] = str(source.folder) if source.folder is not None else None
    return document


def retain_from_dict(document: dict) -> RetainSource:
    known = {key: document[key] for key in RetainSource.__dataclass_fields__ if key in document}
    if known.get("folder") is not None:
        known["folder"] = Path(known["folder"])
    return RetainSource(**known)


class ProjectSession(QObject):
    """The window's project file (`path`, None until saved or opened) and whether it has unsaved changes."""

    def __init__(self, window: MainWindow, autosave: Autosave) -> None:
        super().__init__(window)
        self.window = window
        self.autosave = autosave
        self.path: Path | None = None
        self.dirty = False
        # While the window shows an opened project, its panels emit change signals that are not user edits.
        self._restoring = False
        self._when_idle: Callable[[], None] | None = None

        window.jobs.finished.connect(self._job_finished)
        window.jobs.cancelled.connect(self._moderation_ended)
        window.jobs.busy_changed.connect(self._busy_changed)
        window.forget_panel.changed.connect(self.mark_dirty)
        for signal in self._settings_signals():
            signal.connect(self.mark_dirty)

    # Unsaved changes

    def mark_dirty(self, *_args) -> None:
        if not self._restoring and self.window.original is not None and not self.dirty:
            self.dirty = True
            self.window.update_title()

    def start_new(self, checkpoint: Path) -> None:
        """Start a new, unsaved session on `checkpoint`, which the window has just shown by itself."""
        self.path = None
        self.window.remember_file(checkpoint)
        self.mark_clean()

    def mark_clean(self) -> None:
        self.dirty = False
        self.window.update_title()

    def ask_save_changes(self) -> str:
        """Ask whether to save unsaved changes; return SAVE, DISCARD or CANCEL. Tests replace this method."""
        name = self.path.name if self.path else "this session"
        answer = QMessageBox.question(
            self.window, "Unsaved changes",
            f"Save the changes to {name} as a project? Without saving, the forget set, the settings and the "
            "moderated model are lost.",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        return {QMessageBox.StandardButton.Save: SAVE, QMessageBox.StandardButton.Discard: DISCARD}.get(answer, CANCEL)

    def maybe_save_changes(self, then: Callable[[], None]) -> None:
        """Run `then` once unsaved changes are saved or discarded, as the user chooses.

        A window that is not shown (a script or a test drives it) has no user to ask, so it goes on
        without saving.
        """
        if not self.dirty or not self.window.isVisible():
            then()
            return
        answer = self.ask_save_changes()
        if answer == DISCARD:
            then()
        elif answer == SAVE:
            self.save(then=then)

    def confirm_close(self) -> bool:
        """Ask about unsaved changes before the window closes; False keeps the window open.

        A chosen save is written at once on the GUI thread, because the job engine stops with the window.
        """
        if not self.dirty or not self.window.isVisible():
            return True
        answer = self.ask_save_changes()
        if answer == CANCEL:
            return False
        if answer == DISCARD:
            return True
        path = self.path or self._ask_save_path()
        if path is None:
            return False
        try:
            saved = save_project(self.capture(), path)
        except UserError as error:
            self.window.show_error(f"The project was not saved: {error}")
            return False
        self._saved(saved)
        return True

    # Saving

    def capture_run(self, forget_set: ForgetSet, config: ModerationConfig, retain_source: RetainSource) -> Project:
        """Collect what restarts a moderation run, for its autosave: checkpoint, forget set, retain source, settings."""
        window = self.window
        return Project(
            checkpoint=window.checkpoint_path,
            forget_set=forget_set,
            retain=retain_to_dict(retain_source),
            settings={"moderation": config.to_dict(), "sample_seed": window.compare_panel.seed_box.value(),
                      "sample_count": window.sample_count},
        )

    def capture(self) -> Project:
        """Collect the window's state into a Project. Raises UserError when no model is open."""
        window = self.window
        if window.original is None or window.checkpoint_path is None:
            raise UserError("open a checkpoint first: a project refers to its original model's file")
        return Project(
            checkpoint=window.checkpoint_path,
            forget_set=window.forget_panel.forget_set.snapshot(),
            retain=retain_to_dict(window.retain_panel.retain_source()),
            settings={
                "moderation": window.moderation_settings(),
                "sample_seed": window.compare_panel.seed_box.value(),
                "sample_count": window.sample_count,
            },
            moderated=window.moderated,
            results={
                "summary": window.job_panel.result_label.text(),
                "forget_rates": {role: label.text() for role, label in window.compare_panel.rate_labels.items()},
                "training": window.training_view.history(),
            },
        )

    def save(self, path: str | Path | None = None, then: Callable[[], None] | None = None) -> None:
        """Save the project on the job engine: to `path`, to its file, or to a file chosen in a dialog."""
        try:
            project = self.capture()
        except UserError as error:
            self.window.show_error(f"The project cannot be saved: {error}.")
            return
        path = Path(path) if path is not None else (self.path or self._ask_save_path())
        if path is None:
            return

        def saved(written: Path) -> None:
            self._saved(written)
            if then is not None:
                then()

        self.window.jobs.submit("project-save", f"Saving project {path.name}",
                                lambda control: call(save_project, project, path), context=_Continuation(saved))

    def save_as(self) -> None:
        path = self._ask_save_path()
        if path is not None:
            self.save(path)

    def _ask_save_path(self) -> Path | None:
        window = self.window
        suggestion = self.path or window.last_folder / f"{window.original.name if window.original else 'project'}{PROJECT_SUFFIX}"
        chosen, _ = QFileDialog.getSaveFileName(window, "Save project", str(suggestion), PROJECT_FILTER)
        if not chosen:
            return None
        path = Path(chosen)
        return path if path.suffix else path.with_suffix(PROJECT_SUFFIX)

    def _saved(self, path: Path) -> None:
        self.path = path
        self.window.remember_file(path)
        self.mark_clean()
        self.window._show_status(f"Saved the project to {path}")

    # Opening

    def open(self, path: str | Path | None = None) -> None:
        """Read a project on the job engine, then ask about unsaved changes and show it. Without `path`, ask with a dialog.

        The file is read first so that a file that is no project gives its error before any question.
        """
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(self.window, "Open project", str(self.window.last_folder),
                                                    PROJECT_FILTER)
            if not chosen:
                return
            path = chosen
        path = Path(path)
        device = self.window.device
        self.window.jobs.submit("project-open", f"Opening project {path.name}",
                                lambda control: call(read_project, path, device),
                                context=_Continuation(lambda opened: self.maybe_save_changes(lambda: self._opened(opened, path))))

    def _opened(self, opened: OpenedProject, path: Path) -> None:
        project = opened.loaded.project
        if opened.original is not None:
            self.restore(project, opened.original, project.checkpoint, path)
            return
        self._locate_checkpoint(project.checkpoint, f"The project {path.name}",
                                lambda original, located: self.restore(project, original, located, path, located=True))

    def _locate_checkpoint(self, missing: Path, owner: str, then: Callable[[ScoreModel, Path], None]) -> bool:
        """Tell the user which checkpoint is missing and let them choose where it is now; open it, then call `then`.

        Returns False when the user cancelled the dialog.
        """
        window = self.window
        window.show_error(f"{owner} uses the checkpoint {missing}, which was not found. Choose where that file is now "
                          "in the next dialog.")
        folder = missing.parent if missing.parent.is_dir() else window.last_folder.folder
        chosen, _ = QFileDialog.getOpenFileName(window, f"Locate {missing.name}", str(folder / missing.name),
                                                CHECKPOINT_FILTER)
        if not chosen:
            window._show_status(f"{owner} was not opened, because its checkpoint {missing.name} was not located.")
            return False
        located = Path(chosen)
        device = window.device
        window.jobs.submit("project-checkpoint", f"Opening {located.name}", lambda control: call(open_model, located, device),
                           context=_Continuation(lambda original: then(original, located)))
        return True

    def restore(self, project: Project, original: ScoreModel, checkpoint: Path, path: Path | None,
                located: bool = False) -> None:
        """Show a project in the window: the original model, then the forget set, settings, moderated model and results."""
        window = self.window
        self._restoring = True
        try:
            settings = project.settings
            if isinstance(settings.get("sample_seed"), int):
                window.compare_panel.seed_box.setValue(settings["sample_seed"])
            if isinstance(settings.get("sample_count"), int) and settings["sample_count"] > 0:
                window.sample_count = settings["sample_count"]
            window._show_model(original, checkpoint)  # also samples the original model
            self._show_forget_set(project.forget_set)
            self._show_retain_source(project.retain)
            window.apply_moderation_settings(settings.get("moderation") or {})
            window.moderated = project.moderated
            window._share_models()
            training = project.results.get("training")
            if isinstance(training, dict):
                window.training_view.restore(training)
            if project.moderated is not None:
                window.job_panel.show_result(str(project.results.get("summary") or ""))
                window.compare_panel.show_placeholder("moderated", "Sampling…")
                moderated = project.moderated
                self.run_when_idle(lambda: window._sample({"moderated": moderated}))
        finally:
            self._restoring = False

        self.path = path
        if path is not None:
            window.remember_file(path)
        # A located checkpoint changes the project, so that saving it stores the new place.
        self.dirty = located
        window.update_title()
        window._update_actions()
        if path is not None:
            window._show_status(f"Opened the project {path.name}")

    def _show_forget_set(self, forget_set: ForgetSet) -> None:
        panel = self.window.forget_panel
        if forget_set.class_names != panel.forget_set.class_names and forget_set.classes:
            self.window.show_error(
                f"The project's forget set has the bundled classes {', '.join(forget_set.class_names[i] for i in forget_set.classes)}, "
                "but this model offers no such classes, so they were left out. Its other images were kept."
            )
            forget_set.classes = []
        # NOTE: the panel has no public method to show a whole forget set, so this uses the one its undo commands use.
        panel._show_state(ForgetSetState(classes=tuple(forget_set.classes), images=tuple(forget_set.entries)))

    def _show_retain_source(self, document: dict) -> None:
        panel = self.window.retain_panel
        try:
            source = retain_from_dict(document)
        except (TypeError, ValueError) as error:
            log.warning("ignoring the project's invalid retain source %r: %s", document, error)
            return
        if source.kind == "folder" and source.folder is not None:
            panel.set_folder(source.folder)
        elif source.kind == "samples":
            panel.samples_button.setChecked(True)
            panel.sample_count_box.setValue(source.sample_count)
        elif source.kind == "bundled" and panel.bundled_button.isEnabled():
            panel.bundled_button.setChecked(True)

    # Autosave recovery

    def offer_recovery(self, resume: bool | None = None) -> bool:
        """Offer to resume an autosaved moderation; return True when it resumes.

        `resume` is the user's choice, and None asks for it. Declining removes the autosave.
        """
        if not self.autosave.exists():
            return False
        if resume is None:
            resume = self.ask_resume(self.autosave.describe())
        if not resume:
            self.autosave.discard()
            self.window._show_status("Discarded the autosaved moderation.")
            return False
        device, autosave = self.window.device, self.autosave
        job = self.window.jobs.submit("recover", "Reading the autosaved moderation",
                                      lambda control: call(read_recovery, autosave, device),
                                      context=_Continuation(self._recovered))
        return job is not None

    def ask_resume(self, description: str) -> bool:
        """Ask whether to resume an autosaved moderation. Tests pass the choice to `offer_recovery` instead."""
        box = QMessageBox(QMessageBox.Icon.Question, "Resume moderation?",
                          f"{description}\n\nResume it from that step, or discard it?", parent=self.window)
        resume_button = box.addButton("Resume", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(resume_button)
        box.exec()
        return box.clickedButton() is resume_button

    def _recovered(self, result: tuple[Recovery, ScoreModel | None]) -> None:
        recovery, original = result
        project = recovery.loaded.project
        if original is not None:
            self._resume(project, recovery.state, original, project.checkpoint)
            return
        located = self._locate_checkpoint(
            project.checkpoint, "The autosaved moderation",
            lambda model, path: self._resume(project, recovery.state, model, path))
        if not located:
            self.window._show_status("The autosaved moderation is kept; the studio offers it again at the next start.")

    def _resume(self, project: Project, state: ModerationState, original: ScoreModel, checkpoint: Path) -> None:
        """Show the autosaved run's session, then continue its moderation once the original model's samples are drawn."""
        self.restore(project, original, checkpoint, path=None)
        self.dirty = True
        self.window.update_title()
        retain_source = retain_from_dict(project.retain)
        self.window._show_status(f"Resuming the moderation after step {state.step} of {state.config.steps}")
        self.run_when_idle(lambda: self.window.submit_moderation(state.config, retain_source, resume=state))

    # Job engine

    def run_when_idle(self, callback: Callable[[], None]) -> None:
        """Call `callback` once no job runs and every end-of-job handler has run. A later request replaces it."""
        self._when_idle = callback
        self._busy_changed(self.window.jobs.busy)

    def _busy_changed(self, busy: bool) -> None:
        if not busy and self._when_idle is not None:
            # Wait for the end-of-job handlers, which may start the next job (the samples of a model just opened).
            QTimer.singleShot(0, self._run_pending)

    def _run_pending(self) -> None:
        if self.window.jobs.busy or self._when_idle is None:
            return
        callback, self._when_idle = self._when_idle, None
        callback()

    def _job_finished(self, job, result: object, cancelled: bool) -> None:
        if isinstance(job.context, _Continuation):
            job.context.handle(result)
        elif job.kind == "moderate":
            self._moderation_ended(job)
            self.mark_dirty()

    def _moderation_ended(self, job) -> None:
        """Remove the autosave of a moderation that finished or was cancelled, unless the window is closing."""
        if job.kind == "moderate" and not self.window._closing.is_set():
            self.autosave.discard()

    def _settings_signals(self) -> list:
        """Signals of the widgets whose values a project stores, except the forget set."""
        window = self.window
        return [window.retain_panel.changed, window.compare_panel.seed_box.valueChanged, window.job_panel.settings_form.changed]
