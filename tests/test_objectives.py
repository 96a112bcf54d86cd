"""The forget objectives must push the score in the direction their name promises."""

import pytest
import torch
from torch.nn import functional as F

from engine.objectives import dsm_loss, forget_loss


def toy_problem(seed=0):
    """A linear eps-predictor that starts aligned with the noise, as a trained model is."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(32, 1, 4, 4, generator=generator)
    weight = torch.nn.Parameter(torch.eye(16) + 0.1 * torch.randn(16, 16, generator=generator))
    return z, weight


def eps_of(weight, z):
    return (z.flatten(1) @ weight.T).reshape(z.shape)


def cosine(weight, z):
    return F.cosine_similarity(eps_of(weight, z).flatten(1), z.flatten(1)).mean().item()


def inner(weight, z):
    return (eps_of(weight, z) * z).flatten(1).sum(1).abs().mean().item()


def one_step(method, weight, z, lr=0.05):
    optimizer = torch.optim.SGD([weight], lr=lr)
    loss = forget_loss(method, eps_of(weight, z), z)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def test_obtuse_step_lowers_cosine_to_original_score():
    z, weight = toy_problem()
    before = cosine(weight, z)
    one_step("obtuse", weight, z)
    # cos(s, c) = cos(eps, z) because s = -eps/sigma and c = -z/sigma.
    assert cosine(weight, z) < before


@pytest.mark.parametrize("method", ["orthogonal", "orthogonal-elementwise"])
def test_orthogonal_step_shrinks_inner_product(method):
    z, weight = toy_problem()
    before = inner(weight, z)
    one_step(method, weight, z, lr=0.5)
    assert inner(weight, z) < before


def test_obtuse_is_bounded_and_zero_when_obtuse():
    z = torch.randn(8, 1, 4, 4)
    assert forget_loss("obtuse", z, z).item() == pytest.approx(1.1)
    assert forget_loss("obtuse", -z, z).item() == 0.0


def test_dsm_zero_for_perfect_prediction():
    z = torch.randn(4, 1, 4, 4)
    assert dsm_loss(z, z).item() == 0.0
    assert dsm_loss(torch.zeros_like(z), z).item() == pytest.approx(z.pow(2).mean().item())


def test_unknown_forget_method_rejected():
    z = torch.randn(2, 1, 4, 4)
    with pytest.raises(ValueError, match="unknown forget method"):
        forget_loss("gradient-ascent", z, z)
