"""The loop autoencoder: shapes, the wrap-aware latents, its loss, and its folder (float16 weights
read back, corrupt or foreign files refused in one line)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.errors import AntiphonError
from agent.loops.autoencoder import LoopAutoencoder, load_autoencoder, mrstft_loss
from agent.loops.autoencoder_config import LoopAutoencoderConfig
from tests.loops.tiny_loop_models import TINY_AE, click_loop


def test_shapes_follow_the_hop() -> None:
    model = LoopAutoencoder(TINY_AE)
    assert TINY_AE.hop_samples == 256 and TINY_AE.frame_rate_hz == 62.5
    z = model.encode(torch.zeros(2, 256 * 10))
    assert z.shape == (2, TINY_AE.latent_channels, 10)
    assert model.decode(z).shape == (2, 256 * 10)


def test_the_loss_is_zero_only_for_the_same_audio() -> None:
    x = torch.from_numpy(click_loop(120, 1, 220.0))[None]
    assert float(mrstft_loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(mrstft_loss(x, 0.5 * x)) > 0.3  # half the level: log magnitudes differ by log 2
    assert float(mrstft_loss(x, torch.roll(x, 400, dims=1))) > float(mrstft_loss(x, 0.9 * x))


def test_a_saved_autoencoder_loads_and_its_loop_latents_wrap(tiny_loop_models: tuple[Path, Path, Path]) -> None:
    _, folder, _ = tiny_loop_models
    bundle = load_autoencoder(folder)
    loop = click_loop(120, 1, 220.0)  # 32000 samples: 125 frames
    z = bundle.loop_latents(loop, 16_000)
    assert z.shape == (TINY_AE.latent_channels, 125)
    # the loop heard as it wraps: rotating it by whole frames rotates its latents
    rolled = bundle.loop_latents(np.roll(loop, 256 * 25), 16_000)
    assert np.allclose(np.roll(z, 25, axis=1), rolled, atol=1e-4)
    assert bundle.loop_embedding(loop, 16_000).shape == (2 * TINY_AE.latent_channels,)
    with pytest.raises(AntiphonError, match="works at 16000 Hz, the audio is at 44100 Hz"):
        bundle.loop_latents(loop, 44_100)
    meta = json.loads((folder / "config.json").read_text())
    assert meta["training"]["status"] == "done" and meta["training"]["heldout"]["loops"] == 1
    card = (folder / "README.md").read_text()
    assert "MR-STFT distance of the reconstructions" in card and "tempo heard right in the reconstructions" in card
    from safetensors.torch import load_file

    assert {t.dtype for t in load_file(str(folder / "model.safetensors")).values()} == {torch.float16}


def test_bad_autoencoder_folders_are_refused_in_one_line(tiny_loop_models: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, folder, _ = tiny_loop_models
    with pytest.raises(AntiphonError, match="does not exist"):
        load_autoencoder(tmp_path / "none")
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(AntiphonError, match="checksum does not match"):
        load_autoencoder(broken)
    foreign = tmp_path / "foreign"
    shutil.copytree(folder, foreign)
    meta = json.loads((foreign / "config.json").read_text())
    (foreign / "config.json").write_text(json.dumps({**meta, "format": "antiphon-texture"}))
    with pytest.raises(AntiphonError, match="not an Antiphon loop autoencoder"):
        load_autoencoder(foreign)


def test_configs_refuse_bad_values_in_one_line() -> None:
    with pytest.raises(AntiphonError, match="stride must be 2, 4 or 8"):
        LoopAutoencoderConfig(stride=3)
