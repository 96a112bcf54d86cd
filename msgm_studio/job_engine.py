"""The studio's one job engine: runs engine generators on a worker QThread and reports through signals.

A job is a factory `factory(control) -> Iterator[event]` that is called on the worker thread, so
building the generator (and any work done before its first yield) never runs on the GUI thread. The
worker iterates the generator, forwards Progress, Preview, Metrics, ScoreDiagnostic and Message
events, and ends each job with exactly one of three signals:

- `finished(job, result, cancelled)`: the generator yielded `Finished`. A moderation that was
  cancelled also ends here, with the model state reached and `cancelled=True`.
- `cancelled(job)`: the user cancelled the job before it produced a result (the engine raised
  `Cancelled`), for example a sampling run.
- `failed(job, message)`: the job raised. The message is the `UserError` text, or a short
  description of an unexpected error whose traceback goes to the log.

Policy for a second job: one job runs at a time, and `submit` rejects a job while another runs. It
returns None and emits `rejected(message)` so that the window can tell the user to wait or cancel.
Every signal is emitted on the GUI thread (the thread that created the engine).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pyqtgraph.util.garbage_collector import GarbageCollector
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from engine.errors import UserError
from engine.jobs import Cancelled, Finished, JobControl, Message, Metrics, Preview, Progress, ScoreDiagnostic

log = logging.getLogger(__name__)

JobFactory = Callable[[JobControl], Iterator[Any]]

_job_ids = itertools.count(1)

# The one collector of reference cycles, started with the first job engine (see _collect_on_gui_thread).
_gui_thread_collector: GarbageCollector | None = None


def _collect_on_gui_thread() -> None:
    """Move Python's cycle collection onto the GUI thread, once per process.

    Left automatic, a collection can start on the worker thread while a job allocates and free a Qt
    object there. Its destructor then waits for the GIL while it keeps a Qt lock that the GUI thread
    needs, so both threads hang (gdb showed this in a hung test run). pyqtgraph's GarbageCollector turns
    automatic collection off and collects on a 1 s GUI-thread timer instead.
    """
    global _gui_thread_collector
    if _gui_thread_collector is None:
        _gui_thread_collector = GarbageCollector(interval=1.0)


@dataclass(eq=False)
class Job:
    """One unit of engine work: what it is, how to start it and the switches that steer it."""

    kind: str  # what the window does with the result: "load", "sample", "moderate", ...
    title: str  # shown to the user, e.g. "Opening mnist_vp.safetensors"
    factory: JobFactory
    control: JobControl = field(default_factory=JobControl)
    context: Any = None  # data the submitter needs back with the result
    id: int = field(default_factory=lambda: next(_job_ids))


class _Worker(QObject):
    """Lives on the worker thread and drives one job generator at a time."""

    event = Signal(object, object)  # job, Progress | Preview | Metrics | ScoreDiagnostic | Message
    ended = Signal(object, str, object)  # job, "finished" | "cancelled" | "failed", Finished | str | None

    @Slot(object)
    def run(self, job: Job) -> None:
        events = None
        try:
            events = job.factory(job.control)
            for event in events:
                if isinstance(event, Finished):
                    self.ended.emit(job, "finished", event)
                    return
                self.event.emit(job, event)
            log.error("job %d (%s) ended without a Finished event", job.id, job.title)
            self.ended.emit(job, "failed", "the job ended without a result. The log has the details.")
        except Cancelled:
            log.info("job %d (%s) cancelled", job.id, job.title)
            self.ended.emit(job, "cancelled", None)
        except UserError as error:
            log.info("job %d (%s) failed: %s", job.id, job.title, error)
            self.ended.emit(job, "failed", str(error))
        except Exception as error:  # the worker must outlive any bug in a job
            log.exception("job %d (%s) failed with an unexpected error", job.id, job.title)
            self.ended.emit(job, "failed", f"unexpected error: {type(error).__name__}: {error}. The log has the details.")
        finally:
            if events is not None and hasattr(events, "close"):
                events.close()


class JobEngine(QObject):
    """Runner of one job at a time on a worker thread, with pause, resume and cancel for the running job."""

    started = Signal(object)  # job
    progress = Signal(object, object)  # job, engine.jobs.Progress
    preview = Signal(object, object)  # job, engine.jobs.Preview
    metrics = Signal(object, object)  # job, engine.jobs.Metrics
    score_diagnostic = Signal(object, object)  # job, engine.jobs.ScoreDiagnostic
    message = Signal(str, str)  # text, level ("info", "warning", "error")
    finished = Signal(object, object, bool)  # job, result, cancelled
    cancelled = Signal(object)  # job
    failed = Signal(object, str)  # job, message for the user
    rejected = Signal(str)  # why a submitted job did not start
    busy_changed = Signal(bool)

    _run = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        _collect_on_gui_thread()
        self._current: Job | None = None
        self._thread = QThread()
        self._thread.setObjectName("msgm-studio-jobs")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._run.connect(self._worker.run)
        self._worker.event.connect(self._forward_event)
        self._worker.ended.connect(self._end_job)
        self._thread.start()
        application = QCoreApplication.instance()
        if application is not None:
            # A running QThread that is destroyed at exit aborts the process, so stop it first.
            application.aboutToQuit.connect(self.shutdown)

    @property
    def busy(self) -> bool:
        return self._current is not None

    @property
    def current(self) -> Job | None:
        return self._current

    @property
    def paused(self) -> bool:
        return self._current is not None and self._current.control.paused

    @property
    def thread(self) -> QThread:
        return self._thread

    def submit(self, kind: str, title: str, factory: JobFactory, context: Any = None) -> Job | None:
        """Start a job on the worker thread and return it. While another job runs, emit `rejected` and return None."""
        if self._current is not None:
            text = (f"{self._current.title} is still running, so “{title}” did not start. "
                    "Wait for it to finish or cancel it, then try again.")
            log.info("rejected job %r: %s is running", title, self._current.title)
            self.rejected.emit(text)
            return None
        if not self._thread.isRunning():
            raise RuntimeError("the job engine was shut down")

        job = Job(kind=kind, title=title, factory=factory, context=context)
        self._current = job
        log.info("job %d started: %s", job.id, title)
        self.busy_changed.emit(True)
        self.started.emit(job)
        self._run.emit(job)
        return job

    def pause(self) -> None:
        if self._current is not None:
            self._current.control.pause()

    def resume(self) -> None:
        if self._current is not None:
            self._current.control.resume()

    def cancel(self) -> None:
        """Ask the running job to stop before its next step. It then ends with `finished` or `cancelled`."""
        if self._current is not None:
            log.info("job %d cancel requested", self._current.id)
            self._current.control.cancel()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel the running job and stop the worker thread. Return False when it did not stop in time."""
        self.cancel()
        self._thread.quit()
        stopped = self._thread.wait(timeout_ms)
        if not stopped:
            log.warning("the job thread did not stop within %d ms", timeout_ms)
        return stopped

    @Slot(object, object)
    def _forward_event(self, job: Job, event: object) -> None:
        if job is not self._current:
            return
        if isinstance(event, Progress):
            self.progress.emit(job, event)
        elif isinstance(event, Preview):
            self.preview.emit(job, event)
        elif isinstance(event, Metrics):
            self.metrics.emit(job, event)
        elif isinstance(event, ScoreDiagnostic):
            self.score_diagnostic.emit(job, event)
        elif isinstance(event, Message):
            self.message.emit(event.text, event.level)

    @Slot(object, str, object)
    def _end_job(self, job: Job, outcome: str, payload: object) -> None:
        if job is not self._current:
            return
        # Clear the busy state before the end signals, so that their handlers can submit the next job.
        self._current = None
        self.busy_changed.emit(False)
        log.info("job %d %s: %s", job.id, outcome, job.title)
        if outcome == "finished":
            self.finished.emit(job, payload.result, bool(payload.cancelled))
        elif outcome == "cancelled":
            self.cancelled.emit(job)
        else:
            self.failed.emit(job, str(payload))
