"""The loop autoencoder (issue 16): audio <-> a latent sequence the diffusion model works in.

No pretrained codec may be downloaded here, so it is a small convolutional waveform autoencoder
trained on the loops (agent/loops/autoencoder_train.py): residual blocks and strided convolutions
down to ``latent_channels`` per frame at ``frame_rate_hz`` (62.5 Hz at 16 kHz with the defaults), and
the mirror image up, ending in tanh. The training loss is ``mrstft_loss`` (spectral convergence and
log-magnitude distance at four FFT sizes) plus the waveform's mean absolute error.

A loop wraps, so ``loop_latents`` encodes it heard three times in a row and keeps the middle
repetition's frames (no frame sees the zero padding at the ends); ``loop_embedding`` summarises a
loop by the mean and spread of those frames per channel, the embedding the Fréchet distance of
issue 16 is measured in.

The folder holds model.safetensors (float16 on disk, float32 in memory), config.json (format,
model config, training, SHA-256 of the weights), README.md (card) and loss.png.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from agent.arranger.model_files import CONFIG_FILE, is_model_folder_of, load_checked_weights, read_model_config, write_model_folder
from agent.errors import AntiphonError
from agent.files import typed_config
from agent.loops.autoencoder_config import LoopAutoencoderConfig

FORMAT = "antiphon-loop-autoencoder"
FORMAT_VERSION = 1
LOSS_FFT_SIZES = (256, 512, 1024, 2048)


class _Residual(nn.Module):
    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ELU(), nn.Conv1d(channels, channels, 7, padding=3 * dilation, dilation=dilation),
                                  nn.ELU(), nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class LoopAutoencoder(nn.Module):
    def __init__(self, config: LoopAutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        s = config.stride
        widths = [min(config.base_channels * 2 ** i, config.max_channels) for i in range(config.levels + 1)]
        encoder: list[nn.Module] = [nn.Conv1d(1, widths[0], 7, padding=3)]
        for i in range(config.levels):
            encoder += [_Residual(widths[i], 1), _Residual(widths[i], 3), nn.ELU(),
                        nn.Conv1d(widths[i], widths[i + 1], 2 * s, stride=s, padding=s // 2)]
        encoder += [nn.ELU(), nn.Conv1d(widths[-1], config.latent_channels, 3, padding=1)]
        self.encoder = nn.Sequential(*encoder)
        decoder: list[nn.Module] = [nn.Conv1d(config.latent_channels, widths[-1], 7, padding=3)]
        for i in reversed(range(config.levels)):
            decoder += [nn.ELU(), nn.ConvTranspose1d(widths[i + 1], widths[i], 2 * s, stride=s, padding=s // 2),
                        _Residual(widths[i], 1), _Residual(widths[i], 3)]
        decoder += [nn.ELU(), nn.Conv1d(widths[0], 1, 7, padding=3), nn.Tanh()]
        self.decoder = nn.Sequential(*decoder)

    def forward(self, audio: torch.Tensor, latent_noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training's pass: (reconstruction [B, samples], latents) with ``latent_noise`` added to the
        latents before decoding (the shape of the latents: [B, latent_channels, samples / hop])."""
        z = self.encode(audio)
        return self.decode(z + latent_noise), z

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, samples] (a multiple of the hop) -> latents [B, latent_channels, frames]."""
        return self.encoder(audio[:, None])

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """[B, latent_channels, frames] -> audio [B, frames * hop]."""
        return self.decoder(latents)[:, 0]

    @torch.inference_mode()
    def encode_repeated(self, audio: np.ndarray, repeats: int) -> np.ndarray:
        """Latents [latent_channels, frames] of a loop heard ``repeats`` times in a row (zero-padded to a whole hop)."""
        return self.encode(torch.from_numpy(repeated(audio, repeats, self.config.hop_samples))[None])[0].numpy()

    @torch.inference_mode()
    def reconstruct_loop(self, audio: np.ndarray) -> np.ndarray:
        """A loop through the autoencoder as it wraps: three repetitions encoded and decoded, the middle kept."""
        y = self.decode(self.encode(torch.from_numpy(repeated(audio, 3, self.config.hop_samples))[None]))[0].numpy()
        return y[len(audio) : 2 * len(audio)]


def repeated(audio: np.ndarray, repeats: int, hop: int) -> np.ndarray:
    """``audio`` (float32) ``repeats`` times in a row, zero-padded to a whole number of hops."""
    tiled = np.tile(np.asarray(audio, dtype=np.float32), repeats)
    return np.pad(tiled, (0, (-len(tiled)) % hop))


def mrstft_loss(reference: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Mean over ``LOSS_FFT_SIZES`` of spectral convergence plus mean absolute log-magnitude difference ([B, samples] each)."""
    total = reference.new_zeros(())
    for n_fft in LOSS_FFT_SIZES:
        window = torch.hann_window(n_fft, device=reference.device)
        a = torch.stft(reference, n_fft, n_fft // 4, window=window, return_complex=True).abs()
        b = torch.stft(other, n_fft, n_fft // 4, window=window, return_complex=True).abs()
        total = total + torch.linalg.norm(a - b) / torch.linalg.norm(a).clamp_min(1e-6) + (torch.log(a + 1e-5) - torch.log(b + 1e-5)).abs().mean()
    return total / len(LOSS_FFT_SIZES)


@dataclass(frozen=True)
class AutoencoderBundle:
    path: Path
    config: LoopAutoencoderConfig
    model: LoopAutoencoder
    meta: dict[str, Any]

    def _check_rate(self, rate_hz: int) -> None:
        if rate_hz != self.config.sample_rate_hz:
            raise AntiphonError(f"{self.path}: this autoencoder works at {self.config.sample_rate_hz} Hz, the audio is at {rate_hz} Hz")

    def loop_latents(self, audio: np.ndarray, rate_hz: int) -> np.ndarray:
        """[latent_channels, frames] of a loop heard as it wraps (the middle of three repetitions);
        frames = round(len / hop), at least 1."""
        self._check_rate(rate_hz)
        z = self.model.encode_repeated(audio, 3)
        start = int(round(len(audio) / self.config.hop_samples))
        return z[:, start : start + max(1, start)]

    def loop_embedding(self, audio: np.ndarray, rate_hz: int) -> np.ndarray:
        """The mean and standard deviation over time of each latent channel ([2 * latent_channels])."""
        z = self.loop_latents(audio, rate_hz)
        return np.concatenate([z.mean(axis=1), z.std(axis=1)]).astype(np.float64)


def save_autoencoder(folder: Path, model: LoopAutoencoder, training: dict[str, Any]) -> None:
    """Write the weights (float16) and config.json with their hash."""
    write_model_folder(folder, model, FORMAT, FORMAT_VERSION, {"model": model.config.to_dict(), "training": training}, float16=True)


def is_autoencoder_folder(folder: Path) -> bool:
    return is_model_folder_of(folder, FORMAT, FORMAT_VERSION, "loop autoencoder")


def load_autoencoder(folder: Path) -> AutoencoderBundle:
    """Load a loop autoencoder folder, checking format, hash and tensors (one-line errors)."""
    folder = Path(folder)
    meta = read_model_config(folder, FORMAT, FORMAT_VERSION, "loop autoencoder", "loop autoencoder",
                             "train one with `antiphon train-loop-autoencoder`")
    config = typed_config(LoopAutoencoderConfig, meta.get("model"), str(folder / CONFIG_FILE), "model")
    model = load_checked_weights(folder, meta, LoopAutoencoder(config))
    return AutoencoderBundle(path=folder, config=config, model=model, meta=meta)
