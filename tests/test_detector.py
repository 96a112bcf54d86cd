"""Forget judges: the bundled-class judge, a detector trained on ten drawn-like examples, retain filtering."""

import pytest
import torch

from engine.data import bundled_tensors
from engine.detector import ClassJudge, DetectorConfig, filter_retain, iter_model_retain, iter_train_detector
from engine.errors import UserError
from engine.jobs import Message
from engine.sampling import run


@pytest.fixture(scope="module")
def digits():
    return bundled_tensors()


@pytest.fixture(scope="module")
def ten_sevens_detector(digits):
    images, labels = digits
    sevens = images[labels == 7]
    forget = sevens[torch.randperm(len(sevens), generator=torch.Generator().manual_seed(2))[:10]]
    events = list(iter_train_detector(forget, images, DetectorConfig(steps=150)))
    return events


def test_class_judge_flags_its_class(digits):
    images, labels = digits
    verdicts = ClassJudge([7]).verdicts(images)
    assert verdicts[labels == 7].float().mean() > 0.95
    assert verdicts[labels != 7].float().mean() < 0.02


def test_class_judge_needs_a_class():
    with pytest.raises(UserError, match="at least one forget class"):
        ClassJudge([])


def test_detector_from_ten_examples_finds_the_class(digits, ten_sevens_detector):
    images, labels = digits
    detector = ten_sevens_detector[-1].result
    flagged = detector.verdicts(images)
    assert flagged[labels == 7].float().mean() > 0.5
    assert flagged[labels != 7].float().mean() < 0.05


def test_detector_reports_held_out_accuracy(ten_sevens_detector):
    detector = ten_sevens_detector[-1].result
    messages = [event.text for event in ten_sevens_detector if isinstance(event, Message)]
    assert set(detector.accuracy) == {"forget", "retain"}
    assert any("held-out forget images" in text for text in messages)


def test_filter_retain_drops_forget_like_images(digits, ten_sevens_detector):
    images, labels = digits
    kept = filter_retain(images, ten_sevens_detector[-1].result)
    sevens_left = ClassJudge([7]).verdicts(kept).sum()
    assert len(kept) > 0.8 * len(images)
    assert sevens_left < 0.4 * (labels == 7).sum()


def test_detector_rejects_mismatched_shapes():
    with pytest.raises(UserError, match="differ in shape"):
        run(iter_train_detector(torch.zeros(3, 1, 28, 28), torch.zeros(3, 3, 32, 32)))


def test_detector_rejects_empty_retain_set():
    with pytest.raises(UserError, match="forget images and retain images"):
        run(iter_train_detector(torch.zeros(3, 1, 28, 28), torch.zeros(0, 1, 28, 28)))


def test_model_retain_leaves_out_forget_samples(base_model):
    events = list(iter_model_retain(base_model, 24, seed=0, judge=ClassJudge([1]), steps=10))
    kept = events[-1].result
    assert 0 < len(kept) <= 24
    assert not ClassJudge([1]).verdicts(kept, threshold=0.2).any()


@pytest.mark.parametrize("setting", [{"rounds": 0}, {"steps": 0}, {"held_out": 1.0}, {"batch_size": 1}])
def test_detector_rejects_settings_out_of_range(setting):
    forget = torch.zeros(3, 1, 28, 28)
    retain = torch.zeros(6, 1, 28, 28)
    with pytest.raises(UserError, match="detector"):
        next(iter_train_detector(forget, retain, DetectorConfig(**setting)))
