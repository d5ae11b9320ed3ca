"""A tiny loop folder (synthetic click-and-tone loops of known tempo, written in a blink) and tiny
loop autoencoder and diffusion models trained on it for real, saved to disk like the shipped ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from agent.audio_io import write_audio
from agent.loops.autoencoder_config import AutoencoderTrainConfig, LoopAutoencoderConfig
from agent.loops.diffusion_config import DiffusionTrainConfig, LoopDiffusionConfig

RATE = 16_000
TINY_AE = LoopAutoencoderConfig(base_channels=4, max_channels=8, latent_channels=4)
FAST_AE = AutoencoderTrainConfig(steps=4, batch_size=2, window_s=0.256, warmup_steps=1, eval_every=2, validation_loops=2, threads=1)
TINY_DIFFUSION = LoopDiffusionConfig(width=8, max_width=16, levels=2, blocks=1)
FAST_DIFFUSION = DiffusionTrainConfig(steps=4, batch_size=2, crop_frames=32, warmup_steps=1, eval_every=2, validation_loops=2, threads=1)


def click_loop(bpm: float, bars: int, pitch_hz: float) -> np.ndarray:
    """A click on every beat over a tone on the downbeats: ``bars`` bars of 4/4 exactly."""
    n = int(round(bars * 4 * 60.0 / bpm * RATE))
    t = np.arange(n) / RATE
    beat = 60.0 / bpm
    since = np.mod(t, beat)
    audio = 0.5 * np.exp(-since / 0.01) * np.sin(2 * np.pi * 2000 * t)
    audio += 0.2 * np.exp(-np.mod(t, 4 * beat) / 0.3) * np.sin(2 * np.pi * pitch_hz * t)
    return audio.astype(np.float32)


def write_click_loops(folder: Path, count: int = 14) -> Path:  # click-13 is held out (SHA-1 rule)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        bpm = 100 + 3 * i
        write_audio(folder / f"click-{i:02d}-{bpm}bpm.wav", click_loop(bpm, 1, 110.0 * (1 + i % 3)), RATE)
    return folder


def train_tiny_models(root: Path) -> tuple[Path, Path, Path]:
    """(loop folder, autoencoder folder, diffusion folder), trained for a few steps."""
    from agent.loops.autoencoder_train import train_autoencoder
    from agent.loops.diffusion_train import train_diffusion

    loops = write_click_loops(root / "loops")
    autoencoder = train_autoencoder(loops, root / "loop-autoencoder", TINY_AE, FAST_AE)
    diffusion = train_diffusion(loops, autoencoder, root / "loop-diffusion", TINY_DIFFUSION, FAST_DIFFUSION)
    return loops, autoencoder, diffusion


def write_kind_sidecars(loops: Path, kinds: tuple[str, ...] = ("low", "high")) -> Path:
    """Give each click loop but the first a sidecar naming its kind (alternating over ``kinds``), as
    make-loops writes them; the first has none (a loop of no known kind trains beside them)."""
    for i, wav in enumerate(sorted(loops.glob("*.wav"))[1:], start=1):
        (wav.with_suffix(".json")).write_text(json.dumps({"kind": kinds[i % len(kinds)], "name": wav.stem}), encoding="utf-8")
    return loops


def train_tiny_kind_diffusion(root: Path, loops: Path, autoencoder: Path) -> tuple[Path, Path]:
    """(loop folder with kind sidecars, diffusion folder conditioned on the kind), on the tiny autoencoder."""
    import shutil

    from agent.loops.diffusion_train import train_diffusion

    kind_loops = write_kind_sidecars(Path(shutil.copytree(loops, root / "kind-loops")))
    return kind_loops, train_diffusion(kind_loops, autoencoder, root / "kind-diffusion", TINY_DIFFUSION, FAST_DIFFUSION)
