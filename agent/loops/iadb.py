"""Iterative alpha-(de)blending (IADB, Heitz et al. 2023) with classifier-free guidance: the loop
generator's diffusion mathematics (issue 16), apart from any network.

Blending: a noise sample x0 ~ N(0, I) and a data sample x1 mix as x_a = (1 - a) x0 + a x1 for a in
[0, 1]. The denoiser D(x_a, a, c) is trained to predict x1 - x0 (mean squared error, a drawn
uniformly); with probability ``drop_prob`` the condition c is replaced by the null condition, so the
same network also learns the unconditional prediction.

Sampling is deterministic: from x = x0 at a_0 = 0, each step moves x <- x + (a_{t+1} - a_t) D(x, a_t),
the denoiser evaluated at the alpha the current x belongs to (a_t, as in Heitz et al.'s own
sampler; issue 16 reports that the loop paper's published code evaluates it at the wrong one).
With guidance weight w the step uses the guided prediction D_u + w (D_c - D_u): w = 0 is the
unconditional model, w = 1 the conditional one without guidance, w > 1 pushes the sample toward
the condition (issue 16: that code drops the condition in training but never mixes the two
predictions at sampling).

With the ideal denoiser E[x1 - x0 | x_a] these steps follow the ODE that carries the noise
distribution onto the data distribution (tests/loops/test_iadb.py checks it on closed forms).
"""

from __future__ import annotations

from typing import Callable, Protocol

import torch

from agent.errors import AntiphonError


class Denoiser(Protocol):
    """D(x_a, a, condition, keep): the predicted x1 - x0; ``keep`` [B] bool: False where the condition is dropped."""

    def __call__(self, x: torch.Tensor, alpha: torch.Tensor, condition: torch.Tensor, keep: torch.Tensor) -> torch.Tensor: ...


def blend(x0: torch.Tensor, x1: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """x_a = (1 - a) x0 + a x1, ``alpha`` [B] broadcast over the other axes."""
    a = alpha.reshape(-1, *([1] * (x0.dim() - 1)))
    return (1 - a) * x0 + a * x1


def training_loss(denoiser: Denoiser, x1: torch.Tensor, condition: torch.Tensor, drop_prob: float,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """The IADB loss of a batch of data ``x1`` under its ``condition``: noise and alpha drawn, the
    condition dropped for a ``drop_prob`` share of the batch, MSE of D against x1 - x0."""
    if not 0.0 <= drop_prob <= 1.0:
        raise AntiphonError(f"drop_prob must be in [0, 1], got {drop_prob}")
    b = x1.shape[0]
    x0 = torch.randn(x1.shape, generator=generator, dtype=x1.dtype, device=x1.device)  # a generator must live on x1's device
    alpha = torch.rand(b, generator=generator, dtype=x1.dtype, device=x1.device)
    keep = torch.rand(b, generator=generator, device=x1.device) >= drop_prob
    prediction = denoiser(blend(x0, x1, alpha), alpha, condition, keep)
    return torch.mean((prediction - (x1 - x0)) ** 2)


def guided(denoiser: Denoiser, x: torch.Tensor, alpha: torch.Tensor, condition: torch.Tensor, guidance: float) -> torch.Tensor:
    """D_u + w (D_c - D_u) at (x, alpha); w = 0 and w = 1 are the plain unconditional and conditional
    predictions (one pass of the network each; both passes only when guidance mixes them)."""
    b = x.shape[0]
    keep, drop = torch.ones(b, dtype=torch.bool, device=x.device), torch.zeros(b, dtype=torch.bool, device=x.device)
    if guidance == 0.0:
        return denoiser(x, alpha, condition, drop)
    conditional = denoiser(x, alpha, condition, keep)
    if guidance == 1.0:
        return conditional
    unconditional = denoiser(x, alpha, condition, drop)
    return unconditional + guidance * (conditional - unconditional)


def alpha_schedule(steps: int) -> torch.Tensor:
    """The ``steps`` + 1 alphas from 0 to 1, evenly spaced."""
    if steps < 1:
        raise AntiphonError(f"steps must be at least 1, got {steps}")
    return torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)


@torch.no_grad()
def sample(denoiser: Denoiser, x0: torch.Tensor, condition: torch.Tensor, steps: int, guidance: float = 1.0,
           progress: Callable[[int], None] | None = None) -> torch.Tensor:
    """Deterministic IADB sampling from the noise ``x0``: ``steps`` steps of
    x <- x + (a_{t+1} - a_t) D_w(x, a_t); ``progress(t)`` after each step."""
    alphas = alpha_schedule(steps)
    x = x0.clone()
    b = x.shape[0]
    for t in range(steps):
        a_now, a_next = float(alphas[t]), float(alphas[t + 1])
        d = guided(denoiser, x, torch.full((b,), a_now, dtype=x.dtype, device=x.device), condition, guidance)
        x = x + (a_next - a_now) * d
        if progress is not None:
            progress(t)
    return x
