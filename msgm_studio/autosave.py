"""Autosave of the running moderation, so that a crash or a closed window loses at most a few steps. No Qt.

The autosave is a folder `autosave` in the per-user config folder with two files, each written
atomically:

- `run.msgmproj`: a project (msgm_studio.project) with what restarts the run: the original model's
  checkpoint path, the forget set, the retain source and the moderation settings. It is written
  when the run starts.
- `state.safetensors`: the run's `ModerationState` (engine.moderation_state), rewritten every
  `every` steps by the callback that `iter_moderate(autosave=...)` calls.

A run that finishes or is cancelled removes both files. A crash, or a window closed during the
run, leaves them, and the next start of the studio offers to resume the run from the saved step.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from engine.errors import UserError
from engine.jobs import Finished, Message
from engine.moderation_state import METADATA_KEY as STATE_METADATA_KEY
from engine.moderation_state import ModerationState, load_state, save_state
from msgm_studio.project import LoadedProject, Project, load_project, save_project

log = logging.getLogger(__name__)

DEFAULT_EVERY = 25
RUN_FILE = "run.msgmproj"
STATE_FILE = "state.safetensors"


@dataclass
class Recovery:
    """An autosaved run read back: the project that restarts it and the state to resume from."""

    loaded: LoadedProject
    state: ModerationState


class Autosave:
    """The autosave files of one moderation run in `folder`, written every `every` steps."""

    def __init__(self, folder: Path, every: int = DEFAULT_EVERY) -> None:
        self.folder = Path(folder)
        self.every = every

    @property
    def run_path(self) -> Path:
        return self.folder / RUN_FILE

    @property
    def state_path(self) -> Path:
        return self.folder / STATE_FILE

    def exists(self) -> bool:
        """Tell whether a run left a state to resume (a run stopped before its first autosave left none)."""
        return self.run_path.is_file() and self.state_path.is_file()

    def start(self, run: Project, keep_state: bool = False) -> None:
        """Record a new run. Call it on the job thread, because it writes the forget set's images.

        A resumed run passes `keep_state=True`, so that its state stays until the next autosave replaces it.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        if not keep_state:
            self.state_path.unlink(missing_ok=True)
        save_project(run, self.run_path)

    def iter_run(self, run: Project, moderate: Callable[..., Iterator], resume: ModerationState | None,
                 stopping: threading.Event) -> Iterator:
        """Record `run`, then pass on the events of `moderate(autosave=..., autosave_every=..., resume=resume)`.

        Runs on the job thread. When the autosave folder cannot be written, the run goes on without
        autosave after a warning Message. When the run ends cancelled while `stopping` is set (the
        window closes), its last state is saved, so that resuming loses no step.
        """
        options = {"autosave": self.save, "autosave_every": self.every, "resume": resume}
        try:
            self.start(run, keep_state=resume is not None)
        except (UserError, OSError) as error:
            log.warning("autosave is off for this run: %s", error)
            yield Message(f"Autosave is off for this run, because {self.folder} cannot be written: {error}", "warning")
            options.update(autosave=None, autosave_every=0)

        for event in moderate(**options):
            if isinstance(event, Finished) and event.cancelled and stopping.is_set() and options["autosave"]:
                try:
                    self.save(event.result.state)
                except (UserError, OSError) as error:
                    log.warning("the last state of the stopped moderation was not autosaved: %s", error)
            yield event

    def save(self, state: ModerationState) -> None:
        """Write the state of the running moderation (the `autosave` callback of `iter_moderate`)."""
        save_state(self.state_path, state)

    def load(self, device: str | torch.device = "cpu") -> Recovery:
        """Read the autosaved run. Raises a UserError when a file is damaged."""
        return Recovery(loaded=load_project(self.run_path, device), state=load_state(self.state_path))

    def describe(self) -> str:
        """Describe the autosaved run in one sentence for the offer to resume it, from the state file's header."""
        saved = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.state_path.stat().st_mtime))
        try:
            with safe_open(str(self.state_path), framework="pt") as handle:
                document = json.loads((handle.metadata() or {})[STATE_METADATA_KEY])
            config = document["config"]
            return (f"A moderation ({config['method']}, forget set: {document.get('forget_summary') or 'unknown'}) "
                    f"stopped after step {document['step']} of {config['steps']}. It was autosaved at {saved}.")
        except (SafetensorError, OSError, ValueError, KeyError, TypeError) as error:
            log.warning("could not read the autosave header of %s: %s", self.state_path, error)
            return f"A moderation was autosaved at {saved}."

    def discard(self) -> None:
        """Remove the autosave files, when the run finished, was cancelled or the user declined to resume it."""
        for path in (self.state_path, self.run_path):
            try:
                path.unlink(missing_ok=True)
            except OSError as error:
                log.warning("could not remove the autosave file %s: %s", path, error)
