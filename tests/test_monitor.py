"""Live measurements during moderation, and autosave and resume of a run."""

import pytest
import torch

from engine.checkpoint import save_checkpoint
from engine.data import bundled_tensors
from engine.detector import ClassJudge
from engine.errors import UserError
from engine.jobs import Finished, JobControl, Message, Metrics, Progress, ScoreDiagnostic
from engine.moderation import ModerationConfig, iter_moderate, moderate
from engine.moderation_state import load_state, save_state
from engine.monitor import SCORE_TIMES, Monitor, ScoreProbe
from engine.sampling import run
from engine.score_model import ImageSpec, ScoreModel
from engine.sde import SDEConfig
from engine.unet import UNetConfig


@pytest.fixture(scope="module")
def digits():
    forget, _ = bundled_tensors(classes=[7])
    retain, _ = bundled_tensors(exclude=[7])
    return forget[:64], retain[:256]


def small(**overrides) -> ModerationConfig:
    settings = {"steps": 4, "retain_batch_size": 8, "forget_batch_size": 8, "monitor_count": 4, **overrides}
    return ModerationConfig(**settings)


def weights(model) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in model.network.state_dict().items()}


def events_of(job, kind) -> list:
    return [event for event in job if isinstance(event, kind)]


def tiny_model(dropout: float = 0.0) -> ScoreModel:
    """A 16x16 model with random weights: not the bundled digits' shape."""
    torch.manual_seed(0)
    config = UNetConfig(image_size=16, channels=1, base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
                        attention_resolutions=(), dropout=dropout, groups=4)
    return ScoreModel.create(config, SDEConfig(), ImageSpec(channels=1, size=16), name="tiny")


# Measurements


def test_metrics_every_n_steps_and_last(base_model, digits):
    before = weights(base_model)
    job = iter_moderate(base_model, *digits, small(steps=4, monitor_every=3), judge=ClassJudge([7]))
    events = [event for event in job if isinstance(event, (Metrics, ScoreDiagnostic))]

    metrics = [event for event in events if isinstance(event, Metrics)]
    diagnostics = [event for event in events if isinstance(event, ScoreDiagnostic)]
    assert [event.step for event in metrics] == [0, 3, 4]
    assert [event.step for event in diagnostics] == [0, 3, 4]
    for event in metrics:
        assert set(event.values) == {"forget_rate", "quality"}
        assert 0.0 <= event.values["forget_rate"] <= 1.0
        assert 0.0 <= event.values["quality"] <= 1.0
    for event in diagnostics:
        assert event.times == list(SCORE_TIMES)
        assert len(event.forget) == len(SCORE_TIMES)
        assert len(event.retain) == len(SCORE_TIMES)
        assert all(-1.0 <= value <= 1.0 for value in event.forget + event.retain)
    assert all(torch.equal(before[key], value) for key, value in base_model.network.state_dict().items())


def test_no_metrics_when_monitor_off(base_model, digits):
    events = list(iter_moderate(base_model, *digits, small(steps=2, monitor_every=0), judge=ClassJudge([7])))
    assert not any(isinstance(event, (Metrics, ScoreDiagnostic)) for event in events)


def test_score_cosine_one_for_unmodified_copy(base_model, digits):
    probe = ScoreProbe(base_model, *digits)
    forget, retain = probe.cosines(base_model.copy())
    assert forget == pytest.approx([1.0] * len(SCORE_TIMES), abs=1e-5)
    assert retain == pytest.approx([1.0] * len(SCORE_TIMES), abs=1e-5)


def test_score_cosine_minus_one_for_opposite_noise(base_model, digits):
    # Negating the output layer makes the copy predict exactly the opposite noise: the score turned by 180°.
    opposite = base_model.copy()
    with torch.no_grad():
        opposite.network.conv_out.weight.neg_()
        opposite.network.conv_out.bias.neg_()
    forget, retain = ScoreProbe(base_model, *digits).cosines(opposite)
    assert forget == pytest.approx([-1.0] * len(SCORE_TIMES), abs=1e-5)
    assert retain == pytest.approx([-1.0] * len(SCORE_TIMES), abs=1e-5)


def test_metrics_without_judge_has_quality_only(base_model, digits):
    monitor = Monitor(base_model, *digits, judge=None, count=4)
    metrics, diagnostic = list(monitor.measure(base_model, 0))
    assert set(metrics.values) == {"quality"}
    assert diagnostic.step == 0


def test_metrics_of_other_shape_model_are_empty():
    model = tiny_model()
    images = torch.rand(8, 1, 16, 16) * 2 - 1
    metrics, diagnostic = list(Monitor(model, images, images, judge=None, count=2).measure(model, 5))
    assert metrics.values == {}
    assert metrics.step == 5
    assert len(diagnostic.retain) == len(SCORE_TIMES)


def test_retain_only_without_forget_images(base_model, digits):
    empty = digits[0][:0]
    config = small(method="retain-only", steps=1, monitor_every=1)
    diagnostics = events_of(iter_moderate(base_model, empty, digits[1], config), ScoreDiagnostic)
    assert [event.forget for event in diagnostics] == [[], []]
    assert all(len(event.retain) == len(SCORE_TIMES) for event in diagnostics)


def test_negative_monitor_interval_rejected():
    with pytest.raises(UserError, match="the measurement interval cannot be negative"):
        ModerationConfig(monitor_every=-1).validate()
    with pytest.raises(UserError, match="the measured sample count must be at least 1"):
        ModerationConfig(monitor_count=0).validate()


# Autosave and resume


def assert_same_weights(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> None:
    assert first.keys() == second.keys()
    differing = [key for key in first if not torch.equal(first[key], second[key])]
    assert differing == []


def test_resume_gives_same_weights(base_model, digits, tmp_path):
    config = small(steps=6)
    uninterrupted = moderate(base_model, *digits, config)

    first_half = run(iter_moderate(base_model, *digits, small(steps=3)))
    path = save_state(tmp_path / "run.safetensors", first_half.state)
    state = load_state(path)
    resumed = run(iter_moderate(base_model, *digits, config, resume=state))

    assert state.step == 3
    assert resumed.steps_done == 6
    assert_same_weights(uninterrupted.model.network.state_dict(), resumed.model.network.state_dict())
    assert_same_weights(uninterrupted.state.network, resumed.state.network)
    assert uninterrupted.state.optimizer["state"][0]["exp_avg"].equal(resumed.state.optimizer["state"][0]["exp_avg"])
    assert [path.name for path in tmp_path.iterdir()] == ["run.safetensors"]


def test_resume_with_dropout_gives_same_weights(tmp_path):
    model = tiny_model(dropout=0.3)
    forget = torch.rand(6, 1, 16, 16) * 2 - 1
    retain = torch.rand(12, 1, 16, 16) * 2 - 1
    config = small(steps=4, precision="fp32")
    uninterrupted = moderate(model, forget, retain, config)

    saved = []
    run(iter_moderate(model, forget, retain, config, autosave=saved.append, autosave_every=2))
    path = save_state(tmp_path / "run.safetensors", saved[0])
    resumed = run(iter_moderate(model, forget, retain, config, resume=load_state(path)))

    assert [state.step for state in saved] == [2, 4]
    assert_same_weights(uninterrupted.model.network.state_dict(), resumed.model.network.state_dict())


def test_autosave_failure_warns_and_run_continues(base_model, digits, tmp_path):
    def save_to_missing_folder(state):
        save_state(tmp_path / "missing" / "run.safetensors", state)

    events = list(iter_moderate(base_model, *digits, small(steps=3), autosave=save_to_missing_folder, autosave_every=1))

    warnings = [event for event in events if isinstance(event, Message) and event.level == "warning"]
    assert len(warnings) == 1
    assert "autosave failed at step 1" in warnings[0].text
    assert [event.step for event in events if isinstance(event, Progress)] == [1, 2, 3]
    assert events[-1].result.steps_done == 3
    assert list(tmp_path.iterdir()) == []


def test_cancelled_run_state_resumes(base_model, digits):
    control = JobControl()
    result = None
    for event in iter_moderate(base_model, *digits, small(steps=5), control=control):
        if isinstance(event, Progress) and event.step == 2:
            control.cancel()
        if isinstance(event, Finished):
            result = event.result
    assert result.cancelled
    assert result.state.step == 2

    resumed = run(iter_moderate(base_model, *digits, small(steps=5), resume=result.state))
    uninterrupted = moderate(base_model, *digits, small(steps=5))
    assert_same_weights(uninterrupted.model.network.state_dict(), resumed.model.network.state_dict())


def test_resume_with_other_images_rejected(base_model, digits):
    state = run(iter_moderate(base_model, *digits, small(steps=1))).state
    with pytest.raises(UserError, match="64 forget and 256 retain images, but 63 and 256"):
        run(iter_moderate(base_model, digits[0][:63], digits[1], small(steps=2), resume=state))


def test_resume_with_other_settings_rejected(base_model, digits):
    state = run(iter_moderate(base_model, *digits, small(steps=1))).state
    with pytest.raises(UserError, match="run with lr 0.0002, but 0.001 was given"):
        run(iter_moderate(base_model, *digits, small(steps=2, lr=1e-3), resume=state))


def test_resume_on_other_model_rejected(digits):
    model = tiny_model()
    forget = torch.rand(4, 1, 16, 16) * 2 - 1
    state = run(iter_moderate(model, forget, forget, small(steps=1))).state
    other = ScoreModel.create(UNetConfig(image_size=16, channels=1, base_channels=16, channel_mults=(1, 2),
                                         num_res_blocks=1, attention_resolutions=(), groups=4),
                              SDEConfig(), ImageSpec(channels=1, size=16), name="wider")
    with pytest.raises(UserError, match="do not fit the model 'wider'"):
        run(iter_moderate(other, forget, forget, small(steps=2), resume=state))


def test_load_state_rejects_checkpoint_and_garbage(base_model, tmp_path):
    checkpoint = save_checkpoint(base_model, tmp_path / "model.safetensors")
    with pytest.raises(UserError, match="is not a saved moderation state"):
        load_state(checkpoint)

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file at all")
    with pytest.raises(UserError, match="damaged or not a safetensors file"):
        load_state(garbage)

    with pytest.raises(UserError, match="not found"):
        load_state(tmp_path / "nowhere.safetensors")
