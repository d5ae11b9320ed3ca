"""The diffusion model's tempo condition (a phase signal with known values), the kind's one-hot,
and the UNet's contract: shapes, the kind heard, and that the dropped condition is ignored entirely."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agent.loops.diffusion_config import LoopDiffusionConfig
from agent.loops.unet import CONDITION_CHANNELS, LoopUNet, kind_channels, tempo_condition


def test_the_phase_marks_beats_and_bars() -> None:
    # 120 bpm at 16 kHz with a hop of 250 samples: a beat every 32 frames; frame middles at 125 + 250 k
    c = tempo_condition(256, 250, 16_000, 120.0, first_sample=-125.0)  # frame 0's middle on the downbeat
    assert c.shape == (CONDITION_CHANNELS, 256)
    beats = np.arange(0, 256, 32)
    assert np.allclose(c[0, beats], 0.0, atol=1e-9)  # the sawtooth restarts on every beat
    assert np.allclose(c[0, 16], 0.5)  # half way between beats
    assert np.allclose(c[2, beats], 1.0) and np.allclose(c[1, beats], 0.0, atol=1e-9)  # cos / sin of the beat phase
    bars = np.arange(0, 256, 128)
    assert np.allclose(c[4, bars], 1.0) and np.allclose(c[4, 64], -1.0)  # the bar's phase: half a bar later, opposite
    assert np.all(c[5] == 1.0)  # the presence flag
    later = tempo_condition(256, 250, 16_000, 120.0, first_sample=-125.0 + 8 * 250)
    assert np.allclose(later[:, :-8], c[:, 8:], atol=1e-6)  # a window starting later sees the same grid, shifted


def test_a_faster_tempo_has_more_beats() -> None:
    slow = tempo_condition(1000, 256, 16_000, 90.0, 0.0)[0]
    fast = tempo_condition(1000, 256, 16_000, 135.0, 0.0)[0]
    assert np.sum(np.diff(fast) < 0) == pytest.approx(1.5 * np.sum(np.diff(slow) < 0), abs=1)


def test_the_unet_keeps_the_shape_and_ignores_a_dropped_condition() -> None:
    torch.manual_seed(0)
    model = LoopUNet(LoopDiffusionConfig(latent_channels=4, width=8, max_width=16, levels=2, blocks=1))
    for p in model.parameters():  # the head starts at zero; give it weights so the output depends on everything
        torch.nn.init.normal_(p, std=0.1)
    x, alpha = torch.randn(2, 4, 32), torch.tensor([0.2, 0.7])
    c1, c2 = torch.randn(2, CONDITION_CHANNELS, 32), torch.randn(2, CONDITION_CHANNELS, 32)
    keep, drop = torch.ones(2, dtype=torch.bool), torch.zeros(2, dtype=torch.bool)
    assert model(x, alpha, c1, keep).shape == x.shape
    assert torch.allclose(model(x, alpha, c1, drop), model(x, alpha, c2, drop))
    assert not torch.allclose(model(x, alpha, c1, keep), model(x, alpha, c2, keep))
    with pytest.raises(ValueError, match="multiple of 4"):
        model(torch.randn(1, 4, 30), alpha[:1], torch.randn(1, CONDITION_CHANNELS, 30), keep[:1])


def test_the_kind_is_a_one_hot_or_nothing() -> None:
    assert np.array_equal(kind_channels(2, 3, 4), np.array([[0] * 4, [0] * 4, [1] * 4], dtype=np.float32))
    assert not kind_channels(None, 3, 4).any()
    with pytest.raises(ValueError, match="kind index 3 outside 0..2"):
        kind_channels(3, 3, 4)


def test_a_kind_conditioned_unet_hears_the_kind_unless_the_condition_is_dropped() -> None:
    torch.manual_seed(0)
    model = LoopUNet(LoopDiffusionConfig(latent_channels=4, width=8, max_width=16, levels=2, blocks=1, kind_count=3))
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    x, alpha = torch.randn(2, 4, 32), torch.tensor([0.2, 0.7])
    tempo = torch.from_numpy(np.stack([tempo_condition(32, 256, 16_000, 120.0, 0.0)] * 2))

    def with_kind(k: int | None) -> torch.Tensor:
        return torch.cat([tempo, torch.from_numpy(np.stack([kind_channels(k, 3, 32)] * 2))], dim=1)

    keep, drop = torch.ones(2, dtype=torch.bool), torch.zeros(2, dtype=torch.bool)
    assert not torch.allclose(model(x, alpha, with_kind(0), keep), model(x, alpha, with_kind(1), keep))
    assert torch.allclose(model(x, alpha, with_kind(0), drop), model(x, alpha, with_kind(2), drop))
    assert model.kind_embed is not None and model.kind_embed.in_features == 3
    with pytest.raises(ValueError, match="condition has 6 channels, this model hears 9"):
        model(x, alpha, tempo, keep)
    plain = LoopUNet(LoopDiffusionConfig(latent_channels=4, width=8, max_width=16, levels=2, blocks=1))
    assert plain.kind_embed is None and not any("kind" in name for name in plain.state_dict())  # a tempo-only model's tensors are as before
