import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.sampling import SAMPLERS, SamplerConfig, sample
from resources import BASE_MODEL


@pytest.fixture(scope="module")
def bundled():
    return load_checkpoint(BASE_MODEL)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_same_seed_same_samples(bundled, sampler):
    config = SamplerConfig(sampler=sampler, steps=4)
    first = sample(bundled, 3, seed=5, config=config)
    second = sample(bundled, 3, seed=5, config=config)
    assert first.shape == (3, 1, 28, 28)
    assert torch.equal(first, second)
    assert first.min() >= -1
    assert first.max() <= 1


def test_different_seed_different_samples(bundled):
    config = SamplerConfig(sampler="em", steps=4)
    assert not torch.equal(sample(bundled, 2, seed=0, config=config), sample(bundled, 2, seed=1, config=config))


def test_batch_size_does_not_change_samples(bundled):
    whole = sample(bundled, 4, seed=3, config=SamplerConfig(sampler="pc", steps=3, batch_size=4))
    pieces = sample(bundled, 4, seed=3, config=SamplerConfig(sampler="pc", steps=3, batch_size=1))
    assert torch.allclose(whole, pieces, atol=1e-5)


def test_same_noise_for_another_model_of_same_shape(bundled):
    """Two different models see identical starting noise, so their samples are comparable."""
    other = bundled.copy()
    with torch.no_grad():
        for parameter in other.network.parameters():
            parameter.mul_(0.0)
    config = SamplerConfig(sampler="ddim", steps=1, eta=0.0, denoise=False)
    # With eps = 0 one DDIM step from t=1 rescales the starting noise by m(t_end)/m(1).
    samples = sample(other, 2, seed=9, config=config)
    noise = torch.randn((2, 1, 28, 28), generator=torch.Generator().manual_seed(9))
    sde = other.sde
    scale = sde.mean_coeff(torch.tensor(1e-3)) / sde.mean_coeff(torch.tensor(1.0))
    assert torch.allclose(samples, (noise * scale).clamp(-1, 1), atol=1e-4)


def test_unknown_sampler_rejected(bundled):
    with pytest.raises(ValueError, match="unknown sampler"):
        sample(bundled, 1, config=SamplerConfig(sampler="rk45"))


@pytest.mark.parametrize("sampler", ["pc", "em"])
def test_last_step_leaves_no_speckle(bundled, sampler):
    # Faint grey dots on the black background (values between -0.95 and -0.6) come from noise added
    # at the last step. Without it a stochastic sampler leaves as few as the deterministic DDIM one.
    images = sample(bundled, 16, 0, SamplerConfig(sampler=sampler, steps=100))
    reference = sample(bundled, 16, 0, SamplerConfig(sampler="ddim", steps=25))

    def faint(batch):
        return float(((batch > -0.95) & (batch < -0.6)).float().mean())

    assert faint(images) < 1.5 * faint(reference)
