"""The job engine runs engine generators on a worker thread and reports through Qt signals."""

import logging
import threading
import time

import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.data import bundled_tensors
from engine.errors import UserError
from engine.jobs import Progress
from engine.moderation import ModerationConfig, ModerationResult, iter_moderate
from engine.sampling import SamplerConfig, iter_sample
from msgm_studio.job_engine import JobEngine

TIMEOUT_MS = 60_000

# Small batches keep each moderation step short on a CPU.
SMALL = {"retain_batch_size": 8, "forget_batch_size": 8, "warmup": 1}


@pytest.fixture
def jobs(qtbot):
    engine = JobEngine()
    yield engine
    assert engine.shutdown()


@pytest.fixture(scope="module")
def digits():
    forget, _ = bundled_tensors(classes=[7])
    retain, _ = bundled_tensors(exclude=[7])
    return forget, retain


def weights(model) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in model.network.state_dict().items()}


def assert_same_weights(before: dict[str, torch.Tensor], model) -> None:
    after = model.network.state_dict()
    assert before.keys() == after.keys()
    changed = [key for key in before if not torch.equal(before[key], after[key])]
    assert changed == []


def endless_job(control):
    """A job that only stops when cancelled."""
    step = 0
    while True:
        control.checkpoint()
        step += 1
        yield Progress(step=step, total=0, elapsed=0.0)
        time.sleep(0.01)


def test_job_runs_on_worker_thread(qtbot, jobs, base_model):
    gui_thread = threading.get_ident()
    factory_threads = []
    progress = []

    def factory(control):
        factory_threads.append(threading.get_ident())
        return iter_sample(base_model, 2, 0, SamplerConfig(sampler="ddim", steps=3), control)

    started = []
    jobs.started.connect(started.append)
    jobs.progress.connect(lambda job, event: progress.append((event.step, event.total, threading.get_ident())))
    with qtbot.waitSignal(jobs.finished, timeout=TIMEOUT_MS) as blocker:
        job = jobs.submit("sample", "Sampling", factory)
        assert jobs.busy

    finished_job, images, cancelled = blocker.args
    assert started == [job]
    assert finished_job is job
    assert factory_threads[0] != gui_thread
    assert [(step, total) for step, total, _ in progress] == [(1, 3), (2, 3), (3, 3)]
    assert {thread for _, _, thread in progress} == {gui_thread}
    assert images.shape == (2, 1, 28, 28)
    assert not cancelled
    assert not jobs.busy


def test_cancel_keeps_state_and_original(qtbot, jobs, base_checkpoint, digits):
    forget, retain = digits
    config = ModerationConfig(steps=50, **SMALL)
    original = load_checkpoint(base_checkpoint)
    before = weights(original)
    progress_steps = []

    def cancel_on_first_step(job, event):
        progress_steps.append(event.step)
        if event.step == 1:
            jobs.cancel()

    jobs.progress.connect(cancel_on_first_step)
    with qtbot.waitSignal(jobs.finished, timeout=TIMEOUT_MS) as blocker:
        jobs.submit("moderate", "Moderation", lambda control: iter_moderate(original, forget, retain, config, control))

    _, result, cancelled = blocker.args
    assert cancelled
    assert isinstance(result, ModerationResult)
    assert result.cancelled
    assert 1 <= result.steps_done < 50
    assert result.steps_done == max(progress_steps)
    assert result.model.history[-1]["cancelled"]
    assert_same_weights(before, original)


def test_pause_then_resume_continues(qtbot, jobs, base_model, digits):
    forget, retain = digits
    config = ModerationConfig(steps=4, **SMALL)
    progress_steps = []
    paused = threading.Event()

    def factory(control):
        # Hold the worker after step 1 until the GUI thread has paused, so that the pause lands before step 2.
        for event in iter_moderate(base_model, forget, retain, config, control):
            yield event
            if isinstance(event, Progress) and event.step == 1:
                assert paused.wait(TIMEOUT_MS / 1000)

    def pause_on_first_step(job, event):
        progress_steps.append(event.step)
        if event.step == 1:
            jobs.pause()
            paused.set()

    jobs.progress.connect(pause_on_first_step)
    jobs.submit("moderate", "Moderation", factory)
    qtbot.waitUntil(lambda: bool(progress_steps), timeout=TIMEOUT_MS)
    assert jobs.paused

    qtbot.wait(1000)
    assert progress_steps == [1]
    assert jobs.busy

    with qtbot.waitSignal(jobs.finished, timeout=TIMEOUT_MS) as blocker:
        jobs.resume()
    _, result, cancelled = blocker.args
    assert not cancelled
    assert result.steps_done == 4
    assert progress_steps == [1, 2, 3, 4]


def test_cancel_without_result_emits_cancelled(qtbot, jobs):
    started = []
    jobs.progress.connect(lambda job, event: started.append(event.step))
    jobs.submit("endless", "Endless job", endless_job)
    qtbot.waitUntil(lambda: bool(started), timeout=TIMEOUT_MS)

    with qtbot.waitSignal(jobs.cancelled, timeout=TIMEOUT_MS) as blocker:
        jobs.cancel()
    assert blocker.args[0].kind == "endless"
    assert not jobs.busy


def test_cancel_while_paused_stops(qtbot, jobs):
    started = []
    jobs.progress.connect(lambda job, event: started.append(event.step))
    jobs.submit("endless", "Endless job", endless_job)
    qtbot.waitUntil(lambda: bool(started), timeout=TIMEOUT_MS)
    jobs.pause()

    with qtbot.waitSignal(jobs.cancelled, timeout=TIMEOUT_MS):
        jobs.cancel()
    assert not jobs.busy


def test_second_job_rejected_while_busy(qtbot, jobs):
    jobs.submit("endless", "Endless job", endless_job)

    with qtbot.waitSignal(jobs.rejected, timeout=TIMEOUT_MS) as blocker:
        second = jobs.submit("endless", "Second job", endless_job)
    assert second is None
    assert "Endless job is still running" in blocker.args[0]

    with qtbot.waitSignal(jobs.cancelled, timeout=TIMEOUT_MS):
        jobs.cancel()


def test_worker_exception_becomes_failed(qtbot, jobs, caplog):
    def broken(control):
        yield Progress(step=1, total=2, elapsed=0.0)
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="msgm_studio.job_engine"):
        with qtbot.waitSignal(jobs.failed, timeout=TIMEOUT_MS) as blocker:
            jobs.submit("broken", "Broken job", broken)

    assert blocker.args[0].kind == "broken"
    assert "RuntimeError: boom" in blocker.args[1]
    assert any(record.exc_info for record in caplog.records)
    assert not jobs.busy


def test_factory_exception_becomes_failed(qtbot, jobs):
    def factory(control):
        raise ValueError("bad factory")

    with qtbot.waitSignal(jobs.failed, timeout=TIMEOUT_MS) as blocker:
        jobs.submit("broken", "Broken job", factory)
    assert "ValueError: bad factory" in blocker.args[1]


def test_user_error_message_passes_through(qtbot, jobs, base_model, digits):
    _, retain = digits
    empty = torch.empty(0, 1, 28, 28)
    config = ModerationConfig(steps=2, **SMALL)

    with qtbot.waitSignal(jobs.failed, timeout=TIMEOUT_MS) as blocker:
        jobs.submit("moderate", "Moderation", lambda control: iter_moderate(base_model, empty, retain, config, control))
    assert blocker.args[1] == "the forget set is empty; add at least one image"


def test_engine_usable_after_failure(qtbot, jobs, base_model):
    def broken(control):
        raise UserError("first job fails")
        yield  # a generator function, so the error is raised on the worker thread

    with qtbot.waitSignal(jobs.failed, timeout=TIMEOUT_MS):
        jobs.submit("broken", "Broken job", broken)

    with qtbot.waitSignal(jobs.finished, timeout=TIMEOUT_MS) as blocker:
        jobs.submit("sample", "Sampling", lambda control: iter_sample(base_model, 1, 0, SamplerConfig(sampler="ddim", steps=2), control))
    assert blocker.args[1].shape == (1, 1, 28, 28)
