"""IADB on closed forms: the ideal denoiser of a known data distribution carries noise onto it, and
guidance mixes the conditional and unconditional predictions as D_u + w (D_c - D_u)."""

from __future__ import annotations

import pytest
import torch

from agent.errors import AntiphonError
from agent.loops.iadb import alpha_schedule, blend, guided, sample, training_loss


def gaussian_denoiser(mean: torch.Tensor, std: float):
    """E[x1 - x0 | x_a] for x0 ~ N(0, 1) and x1 ~ N(mean, std^2), independent, per coordinate."""

    def denoise(x: torch.Tensor, alpha: torch.Tensor, condition: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        a = alpha.reshape(-1, *([1] * (x.dim() - 1)))
        variance = (1 - a) ** 2 + a**2 * std**2
        covariance = a * std**2 - (1 - a)  # Cov(x1 - x0, x_a)
        return mean + covariance / variance * (x - a * mean)

    return denoise


def test_a_point_target_is_reached_exactly_whatever_the_steps() -> None:
    """For x1 = c the ideal denoiser is (c - x) / (1 - a); its last step lands on c."""
    c = torch.tensor([[0.5, -2.0, 3.0]], dtype=torch.float64)

    def denoise(x, alpha, condition, keep):
        return (c - x) / (1 - alpha.reshape(-1, 1))

    x0 = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for steps in (1, 3, 50):
        assert torch.allclose(sample(denoise, x0, torch.zeros(4), steps, guidance=1.0), c.expand(4, 3))


def test_sampling_carries_noise_onto_a_gaussian() -> None:
    """The deterministic flow of the ideal Gaussian denoiser maps N(0, 1) samples to N(mean, std^2)."""
    mean, std = torch.tensor([2.0, -1.0], dtype=torch.float64), 0.3
    x0 = torch.randn(20_000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x = sample(gaussian_denoiser(mean, std), x0, torch.zeros(20_000), steps=200)
    assert torch.allclose(x.mean(0), mean, atol=0.02) and torch.allclose(x.std(0), torch.full((2,), std, dtype=torch.float64), atol=0.02)
    few = sample(gaussian_denoiser(mean, std), x0, torch.zeros(20_000), steps=4)
    assert (few.std(0) - std).abs().max() > 0.02  # a coarse schedule is visibly off: the test can tell


def test_the_denoiser_is_asked_at_the_alpha_of_the_current_x() -> None:
    asked: list[float] = []

    def denoise(x, alpha, condition, keep):
        asked.append(float(alpha[0]))
        return torch.zeros_like(x)

    sample(denoise, torch.zeros(1, 1), torch.zeros(1), steps=4)
    assert asked == pytest.approx([0.0, 0.25, 0.5, 0.75])  # never 1.0, where the blend holds no noise left to undo


def test_guidance_mixes_unconditional_and_conditional_predictions() -> None:
    def denoise(x, alpha, condition, keep):
        return torch.where(keep.reshape(-1, 1), condition.reshape(-1, 1) + x, -x)

    x, alpha, cond = torch.tensor([[1.0], [2.0]]), torch.tensor([0.3, 0.3]), torch.tensor([10.0, 20.0])
    unconditional, conditional = -x, cond.reshape(-1, 1) + x
    assert torch.equal(guided(denoise, x, alpha, cond, 0.0), unconditional)
    assert torch.equal(guided(denoise, x, alpha, cond, 1.0), conditional)
    assert torch.allclose(guided(denoise, x, alpha, cond, 3.0), unconditional + 3.0 * (conditional - unconditional))


def test_the_training_loss_drops_the_condition_for_its_share_and_is_zero_for_the_ideal_target() -> None:
    kept: list[torch.Tensor] = []

    def perfect(x, alpha, condition, keep):  # knows x1 (held in the condition) and so x1 - x0 exactly
        kept.append(keep)
        a = alpha.reshape(-1, 1)
        x0 = (x - a * condition) / (1 - a)
        return condition - x0

    x1 = torch.randn(4096, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    loss = training_loss(perfect, x1, x1, drop_prob=0.25, generator=torch.Generator().manual_seed(3))
    assert float(loss) < 1e-12 and abs(float((~kept[0]).double().mean()) - 0.25) < 0.03
    assert torch.equal(blend(torch.zeros(2, 1), torch.ones(2, 1), torch.tensor([0.0, 1.0])), torch.tensor([[0.0], [1.0]]))
    with pytest.raises(AntiphonError, match="drop_prob"):
        training_loss(perfect, x1, x1, drop_prob=1.5)
    with pytest.raises(AntiphonError, match="steps must be at least 1"):
        alpha_schedule(0)


def test_sampling_follows_the_guidance_weight() -> None:
    """Conditional target c, unconditional u: the guided ideal denoiser aims at u + w (c - u)."""
    c, u = torch.tensor([[4.0]], dtype=torch.float64), torch.tensor([[-2.0]], dtype=torch.float64)

    def denoise(x, alpha, condition, keep):
        target = torch.where(keep.reshape(-1, 1), c, u)
        return (target - x) / (1 - alpha.reshape(-1, 1))

    x0 = torch.randn(3, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    for w in (0.0, 1.0, 3.0):
        assert torch.allclose(sample(denoise, x0, torch.zeros(3), steps=7, guidance=w), (u + w * (c - u)).expand(3, 1)), w


def test_training_draws_alpha_uniformly() -> None:
    seen: list[torch.Tensor] = []

    def record(x, alpha, condition, keep):
        seen.append(alpha)
        return torch.zeros_like(x)

    training_loss(record, torch.zeros(20_000, 1), torch.zeros(20_000), drop_prob=0.0, generator=torch.Generator().manual_seed(5))
    alpha = seen[0]
    assert abs(float(alpha.mean()) - 0.5) < 0.01 and abs(float((alpha < 0.25).float().mean()) - 0.25) < 0.01 and float(alpha.max()) < 1.0

