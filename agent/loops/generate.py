"""Generating loops (issue 16): "eight new 2-bar loops at 124 bpm" from a trained diffusion model.

For ``bars`` bars at ``bpm``, the sampler makes one stretch of latents that starts a beat early
(a pre-roll) and runs a beat past the loop's end, its tempo phase placing the loop's first sample
on a downbeat; it is decoded, the loop cut out, and the beat after the loop's end is crossfaded
(equal power, ``crossfade_ms``) over the loop's start. So the wrap continues the music as the model
made it: level and spectrum do not jump there (bench/loop_generator.py measures the seam).

Sampling is IADB's deterministic sampler (agent/loops/iadb.py) with classifier-free guidance
``guidance`` (w = 0 unconditional, 1 conditional, more pushes toward the tempo) and ``steps``
steps; the noise of loop i comes from ``seed`` and i, so a request gives the same loops again.
A model that hears the loops' kind plays the request's ``kind`` or, when it names none, a kind
drawn for loop i (from ``seed`` and i) by the shares of the training loops.

``write_loops`` writes ``<prefix>-NN-<bpm>bpm.wav`` and a JSON sidecar per loop; ``add_to_corpus``
builds or extends a corpus (agent/corpus) from them, so an agent can play them or answer with them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from agent.audio_io import write_audio
from agent.errors import AntiphonError
from agent.files import write_json
from agent.loops.diffusion_checkpoint import DiffusionBundle
from agent.loops.iadb import sample
from agent.loops.loop_request import LoopRequest, loop_plan
from agent.loops.unet import loop_condition

log = logging.getLogger(__name__)

PEAK = 0.98


def close_loop(audio: np.ndarray, pre: int, n: int, crossfade: int) -> np.ndarray:
    """The loop ``audio[pre : pre + n]`` with what follows its end crossfaded (equal power) over its start."""
    loop = audio[pre : pre + n].astype(np.float32).copy()
    x = min(crossfade, n, len(audio) - pre - n)
    if x > 0:
        t = (np.arange(x, dtype=np.float32) + 0.5) / x
        loop[:x] = loop[:x] * np.sin(0.5 * np.pi * t) + audio[pre + n : pre + n + x] * np.cos(0.5 * np.pi * t)
    return loop


def noise_for(request: LoopRequest, index: int, shape: tuple[int, ...]) -> torch.Tensor:
    """The starting noise of loop ``index`` of a request (seeded by the seed and the index)."""
    generator = torch.Generator().manual_seed(request.seed * 1_000_003 + index)
    return torch.randn(shape, generator=generator)


def check_kind(bundle: DiffusionBundle, request: LoopRequest) -> None:
    """Refuse, in one line, a kind the model does not know (or any kind, for a model that hears none)."""
    if request.kind is None or request.kind in bundle.kinds:
        return
    if not bundle.kinds:
        raise AntiphonError(f"{bundle.path}: this model hears no kind (tempo only); generate without a kind")
    raise AntiphonError(f"{bundle.path}: unknown kind {request.kind!r}; this model knows {', '.join(bundle.kinds)}")


def loop_kinds(bundle: DiffusionBundle, request: LoopRequest) -> list[str | None]:
    """The kind of each loop of a request: the asked one, or one drawn per loop (seed and index) by
    the training loops' shares; None for a model that hears no kind."""
    check_kind(bundle, request)
    if not bundle.kinds:
        return [None] * request.count
    if request.kind is not None:
        return [request.kind] * request.count
    shares = np.asarray(bundle.kind_shares, dtype=np.float64)
    return [bundle.kinds[int(np.random.default_rng([request.seed, i]).choice(len(shares), p=shares / shares.sum()))]
            for i in range(request.count)]


def generate_loops(bundle: DiffusionBundle, request: LoopRequest, progress: Callable[[int, int], None] | None = None,
                   batch: int = 8) -> list[np.ndarray]:
    """``request.count`` loops (float32 at the autoencoder's rate); ``progress(done, total)`` after each sampler step."""
    ae = bundle.autoencoder.config
    rate, hop = ae.sample_rate_hz, ae.hop_samples
    low, high = bundle.bpm_range
    if not low <= request.bpm <= high:
        log.warning("%g bpm is outside the %g..%g bpm the model was trained on: expect a looser tempo", request.bpm, low, high)
    pre, n, frames = loop_plan(request, rate, hop, bundle.config.frame_multiple)
    kinds = loop_kinds(bundle, request)

    def condition_of(i: int) -> torch.Tensor:
        index = bundle.kinds.index(kinds[i]) if kinds[i] is not None else None
        return torch.from_numpy(loop_condition(frames, hop, rate, request.bpm, -pre, index, len(bundle.kinds)))

    crossfade = int(round(request.crossfade_ms / 1000.0 * rate))
    out: list[np.ndarray] = []
    total = math.ceil(request.count / batch) * request.steps
    done = 0
    for first in range(0, request.count, batch):
        b = min(batch, request.count - first)
        x0 = torch.stack([noise_for(request, first + i, (bundle.config.latent_channels, frames)) for i in range(b)])

        def step(_t: int) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, total)

        with torch.inference_mode():
            condition = torch.stack([condition_of(first + i) for i in range(b)])
            z = sample(bundle.model, x0, condition, request.steps, request.guidance, progress=step)
            latents = bundle.model.to_latents(z)
        for one in latents:  # one loop at a time: a long loop's decoder activations are large
            with torch.inference_mode():
                row = bundle.autoencoder.model.decode(one[None])[0].numpy()
            loop = close_loop(row, pre, n, crossfade)
            peak = float(np.max(np.abs(loop))) if len(loop) else 0.0
            out.append(loop * (PEAK / peak) if peak > PEAK else loop)
    return out


def loop_file_name(prefix: str, index: int, bpm: float) -> str:
    return f"{prefix}-{index:02d}-{bpm:g}bpm"


def write_loops(out_dir: Path, loops: list[np.ndarray], request: LoopRequest, bundle: DiffusionBundle, prefix: str = "loop",
                made_by: str = "antiphon generate-loops") -> list[Path]:
    """WAV + JSON sidecar per loop (tempo in the name and the sidecar; ``made_by``: the command or address that asked); returns the WAV paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rate = bundle.autoencoder.config.sample_rate_hz
    if len(loops) > request.count:
        raise AntiphonError(f"{len(loops)} loops for a request of {request.count}")
    kinds = loop_kinds(bundle, request)
    paths = []
    for i, loop in enumerate(loops):
        name = loop_file_name(prefix, i, request.bpm)
        path = out_dir / f"{name}.wav"
        write_audio(path, loop, rate)
        sidecar: dict[str, Any] = {
            "name": name, **({"kind": kinds[i]} if kinds[i] is not None else {}), "bpm": request.bpm, "bars": request.bars, "index": i, "sample_rate_hz": rate,
            "seconds": round(len(loop) / rate, 4), "request": asdict(request),
            "model": str(bundle.path), "autoencoder": str(bundle.autoencoder.path), "generated_by": made_by,
        }
        write_json(out_dir / f"{name}.json", sidecar)
        paths.append(path)
    return paths


def free_prefix(out_dir: Path, wanted: str) -> str:
    """``wanted``, or ``wanted-2``, ``wanted-3``... so that no file already in ``out_dir`` is overwritten."""
    out_dir = Path(out_dir)
    candidate, k = wanted, 1
    while out_dir.is_dir() and any(out_dir.glob(f"{candidate}-[0-9][0-9]-*bpm.wav")):
        k += 1
        candidate = f"{wanted}-{k}"
        if k > 10_000:
            raise AntiphonError(f"{out_dir}: no free file prefix for {wanted}")
    return candidate
