"""Job control and progress events shared by every long engine operation.

A long operation is a generator that yields events between steps and calls `control.checkpoint()`
so that a user can pause, resume or cancel it from another thread. The GUI, the command line and
torchrun all drive the same generators; only the consumer of the events differs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


class Cancelled(Exception):
    """Raised inside a job when the user cancelled it."""


class JobControl:
    """Thread-safe pause, resume and cancel switches, checked by the job between steps."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def cancel(self) -> None:
        self._cancelled.set()
        self._running.set()  # a paused job must wake up to notice the cancel

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def checkpoint(self) -> None:
        """Block while paused; raise `Cancelled` when cancelled."""
        self._running.wait()
        if self._cancelled.is_set():
            raise Cancelled()


@dataclass
class Progress:
    """One step of a job: the step reached, the loss terms and the timing."""

    step: int
    total: int
    elapsed: float
    values: dict[str, float] = field(default_factory=dict)
    phase: str = ""  # names a preparatory stage (e.g. "training the forget detector"); empty for the job's main work

    @property
    def eta(self) -> float:
        if self.step <= 0:
            return float("nan")
        return self.elapsed / self.step * (self.total - self.step)


@dataclass
class Metrics:
    """Measurements of the model at a given step, e.g. {"forget_rate": 0.06, "quality": 0.81} (shares in [0, 1])."""

    step: int
    values: dict[str, float] = field(default_factory=dict)


@dataclass
class ScoreDiagnostic:
    """Cosine between the moderated and the original model's predicted noise at a given step.

    `forget[i]` and `retain[i]` are the mean cosines on noised forget and retain images at time
    `times[i]`. `forget` is empty when the run has no forget images.
    """

    step: int
    times: list[float]
    forget: list[float]
    retain: list[float]


@dataclass
class Preview:
    """Images in [-1, 1] sampled from fixed seeds at a given step."""

    step: int
    images: Any  # torch.Tensor (N, C, H, W)


@dataclass
class Message:
    text: str
    level: str = "info"


@dataclass
class Finished:
    """Last event of a job: its result and whether it ran to the end."""

    result: Any
    cancelled: bool = False


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start
