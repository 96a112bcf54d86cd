import threading

import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.data import bundled_tensors
from engine.errors import UserError
from engine.jobs import Finished, JobControl, Progress
from engine.moderation import ModerationConfig, iter_moderate, moderate, preset
from resources import BASE_MODEL


@pytest.fixture(scope="module")
def bundled():
    return load_checkpoint(BASE_MODEL)


@pytest.fixture(scope="module")
def digits():
    forget, _ = bundled_tensors(classes=[7])
    retain, _ = bundled_tensors(exclude=[7])
    return forget[:64], retain[:256]


def small(**overrides):
    settings = {"steps": 3, "retain_batch_size": 8, "forget_batch_size": 8, **overrides}
    return ModerationConfig(**settings)


def weights(model):
    return {key: value.clone() for key, value in model.network.state_dict().items()}


@pytest.mark.parametrize("method", ["obtuse", "orthogonal", "orthogonal-elementwise", "retain-only"])
def test_moderation_changes_copy_only(bundled, digits, method):
    before = weights(bundled)
    result = moderate(bundled, *digits, small(method=method, ema_decay=0.0))
    assert result.steps_done == 3
    assert not result.cancelled
    changed = any(not torch.equal(before[key], value) for key, value in result.model.network.state_dict().items())
    assert changed
    assert all(torch.equal(before[key], value) for key, value in bundled.network.state_dict().items())
    entry = result.model.history[-1]
    assert entry["kind"] == "moderation"
    assert entry["method"] == method
    assert entry["steps_done"] == 3


def test_forget_loss_reported_every_period(bundled, digits):
    losses = [event.values for event in iter_moderate(bundled, *digits, small(forget_period=2, steps=4)) if isinstance(event, Progress)]
    assert ["forget_loss" in values for values in losses] == [False, True, False, True]
    assert all("retain_loss" in values for values in losses)


def test_same_seed_same_result(bundled, digits):
    first = moderate(bundled, *digits, small(seed=4)).model
    second = moderate(bundled, *digits, small(seed=4)).model
    for (key, a), b in zip(first.network.state_dict().items(), second.network.state_dict().values()):
        assert torch.equal(a, b), key


def test_cancel_mid_run_keeps_original(bundled, digits):
    before = weights(bundled)
    control = JobControl()
    finished = None
    for event in iter_moderate(bundled, *digits, small(steps=50), control=control):
        if isinstance(event, Progress) and event.step == 2:
            control.cancel()
        if isinstance(event, Finished):
            finished = event
    assert finished.cancelled
    assert finished.result.steps_done == 2
    assert finished.result.model.history[-1]["cancelled"] is True
    assert all(torch.equal(before[key], value) for key, value in bundled.network.state_dict().items())


def test_pause_blocks_until_resume(bundled, digits):
    control = JobControl()
    steps = []
    job = iter_moderate(bundled, *digits, small(steps=3), control=control)

    def consume():
        for event in job:
            if isinstance(event, Progress):
                steps.append(event.step)
                if event.step == 1:
                    control.pause()

    worker = threading.Thread(target=consume)
    worker.start()
    worker.join(timeout=20)
    assert worker.is_alive()
    assert steps == [1]
    control.resume()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert steps == [1, 2, 3]


def test_empty_forget_set_rejected(bundled, digits):
    with pytest.raises(UserError, match="forget set is empty"):
        moderate(bundled, digits[0][:0], digits[1], small())


def test_wrong_image_shape_rejected(bundled, digits):
    with pytest.raises(UserError, match="model needs"):
        moderate(bundled, torch.zeros(4, 3, 32, 32), digits[1], small())


def test_invalid_settings_rejected():
    with pytest.raises(UserError, match="forget time range"):
        ModerationConfig(forget_t_min=0.5, forget_t_max=0.2).validate()
    with pytest.raises(UserError, match="unknown method"):
        ModerationConfig(method="ascent").validate()
    with pytest.raises(UserError, match="precision must be one of"):
        ModerationConfig(precision="fp16").validate()


def test_paper_preset_weights():
    config = preset("paper")
    assert (config.retain_weight, config.forget_weight, config.forget_period) == (0.99, 0.01, 4)
