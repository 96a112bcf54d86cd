import math

import pytest
import torch

from engine.sde import SDEConfig, build_sde

TIMES = torch.tensor([1e-5, 0.1, 0.37, 0.5, 0.9, 1.0], dtype=torch.float64)


def vp_log_mean(t, beta_min=0.1, beta_max=20.0):
    return -0.25 * t**2 * (beta_max - beta_min) - 0.5 * t * beta_min


def test_vp_marginal_closed_form():
    sde = build_sde(SDEConfig(kind="vp"))
    for t in TIMES.tolist():
        mean = math.exp(vp_log_mean(t))
        assert sde.mean_coeff(torch.tensor(t)).item() == pytest.approx(mean, rel=1e-6)
        assert sde.sigma(torch.tensor(t)).item() == pytest.approx(math.sqrt(1 - mean**2), rel=1e-6)


def test_subvp_marginal_closed_form():
    sde = build_sde(SDEConfig(kind="subvp"))
    for t in TIMES.tolist():
        mean = math.exp(vp_log_mean(t))
        assert sde.sigma(torch.tensor(t)).item() == pytest.approx(1 - mean**2, rel=1e-6)
        beta = 0.1 + t * 19.9
        g2 = beta * (1 - math.exp(-2 * 0.1 * t - 19.9 * t**2))
        assert sde.diffusion(torch.tensor(t)).item() ** 2 == pytest.approx(g2, rel=1e-6)


def test_ve_marginal_closed_form():
    sde = build_sde(SDEConfig(kind="ve", sigma_min=0.01, sigma_max=50.0))
    for t in TIMES.tolist():
        sigma = 0.01 * (50.0 / 0.01) ** t
        assert sde.mean_coeff(torch.tensor(t)).item() == 1.0
        assert sde.sigma(torch.tensor(t)).item() == pytest.approx(sigma, rel=1e-6)
        assert sde.diffusion(torch.tensor(t)).item() == pytest.approx(sigma * math.sqrt(2 * math.log(5000.0)), rel=1e-6)


@pytest.mark.parametrize("kind", ["vp", "subvp", "ve"])
def test_marginal_variance_matches_forward_sde(kind):
    """d/dt Var[x_t] = 2 f-coefficient * Var + g^2 for x0 = 0, checked by finite differences."""
    sde = build_sde(SDEConfig(kind=kind))
    t = torch.tensor([0.3], dtype=torch.float64)
    h = 1e-5
    variance = lambda time: sde.sigma(time) ** 2  # noqa: E731
    derivative = (variance(t + h) - variance(t - h)) / (2 * h)
    drift_coefficient = sde.drift(torch.ones(1, 1, 1, 1, dtype=torch.float64), t).flatten()
    expected = 2 * drift_coefficient * variance(t) + sde.diffusion(t) ** 2
    assert derivative.item() == pytest.approx(expected.item(), rel=1e-4)


def test_marginal_perturbs_with_given_noise():
    sde = build_sde(SDEConfig(kind="vp"))
    x0 = torch.ones(2, 1, 4, 4)
    z = torch.full_like(x0, 2.0)
    t = torch.tensor([0.0001, 1.0])
    xt = sde.marginal(x0, t, z)
    assert torch.allclose(xt[0], x0[0], atol=1e-2)
    assert torch.allclose(xt[1], sde.mean_coeff(t[1]) + 2.0 * sde.sigma(t[1]))


def test_unknown_kind_rejected():
    with pytest.raises(ValueError, match="unknown SDE kind"):
        build_sde(SDEConfig(kind="edm"))
