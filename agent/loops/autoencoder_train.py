"""Training the loop autoencoder (agent/loops/autoencoder.py) on a folder of loops.

Loops: a loop set (``antiphon make-loops``) or a user's folder (tempo in each name or tempo.csv);
the held-out loops (SHA-1 of the name % 10 == 0, the loop set's rule) are read only at the end, to
score the kept weights; ``validation_loops`` training loops, drawn by the seed, choose them.
Each step reconstructs ``batch_size`` windows of ``window_s`` cut at random from the training loops
heard as they wrap, at a random gain of -12..0 dB.

The card reports, on the held-out loops, the multi-resolution STFT distance of the reconstructions
(agent/loops/loop_metrics.py; with white noise of the loop's level as a reference), and how many of
them a beat tracker hears at the right tempo, against the originals.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agent.audio_io import read_mono
from agent.distributed import barrier, join_process_group, leave_process_group
from agent.errors import AntiphonError
from agent.files import check_output_place, check_replaceable
from agent.loops.autoencoder import AutoencoderBundle, LoopAutoencoder, is_autoencoder_folder, load_autoencoder, mrstft_loss, save_autoencoder
from agent.loops.autoencoder_config import AutoencoderTrainConfig, LoopAutoencoderConfig
from agent.loops.loop_metrics import stft_distance
from agent.loops.loop_set import fit_validation_split, split_loop_folder
from agent.loops.step_training import RESUME_DIR, StepPlan, train_steps
from agent.loops.tempo import loop_tempo, tempo_is_right
from agent.plots import line_panels

log = logging.getLogger(__name__)

Loop = tuple[str, np.ndarray, float]  # name, audio at the model's rate, bpm


def read_loops(items: list[tuple[Path, float]], rate_hz: int) -> list[Loop]:
    return [(path.stem, read_mono(path, rate_hz)[0], bpm) for path, bpm in items]


def open_output(out_dir: Path, resume: bool, force: bool, owns: Any, what: str) -> None:
    """Refuse, in one line, an output folder the run may not write (before any work)."""
    check_output_place(out_dir)
    if resume:
        if not (out_dir / RESUME_DIR).is_dir():
            raise AntiphonError(f"{out_dir}: nothing to resume ({RESUME_DIR}/ is missing); start without --resume")
        return
    if out_dir.exists() and any(out_dir.iterdir()):
        if not force:
            raise AntiphonError(f"{out_dir} exists and is not empty; pass --force to replace a {what} there, or --resume to continue its training")
        check_replaceable(out_dir, owns, what, f"config.json of a {what}")


def random_windows(loops: list[Loop], count: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` windows of ``length`` samples at random places of random loops heard as they wrap, at -12..0 dB."""
    picks = torch.randint(len(loops), (count,), generator=generator).tolist()
    out = np.zeros((count, length), dtype=np.float32)
    for row, k in enumerate(picks):
        audio = loops[k][1]
        start = int(torch.randint(len(audio), (1,), generator=generator))
        tiled = np.tile(audio, 2 + length // max(len(audio), 1))
        out[row] = tiled[start : start + length]
    gain = 10 ** (-12 * torch.rand(count, 1, generator=generator) / 20)
    return torch.from_numpy(out) * gain


def whole_loop_loss(model: LoopAutoencoder, audio: np.ndarray) -> float:
    """MR-STFT loss of a loop's reconstruction, the loop heard as it wraps (middle of three)."""
    return float(mrstft_loss(torch.from_numpy(np.asarray(audio, dtype=np.float32))[None], torch.from_numpy(model.reconstruct_loop(audio))[None]))


def score_heldout(bundle: AutoencoderBundle, loops: list[Loop], seed: int) -> dict[str, Any]:
    """Held-out reconstruction figures: MR-STFT distance (and noise's), tempo right (and the originals')."""
    rng = np.random.default_rng(seed)
    distances, noise_distances, right, right_orig = [], [], 0, 0
    rate = bundle.config.sample_rate_hz
    for _, audio, bpm in loops:
        y = bundle.model.reconstruct_loop(audio)
        distances.append(stft_distance(audio, y))
        noise_distances.append(stft_distance(audio, rng.normal(scale=float(np.std(audio)) + 1e-6, size=len(audio)).astype(np.float32)))
        right += tempo_is_right(loop_tempo(y, rate), bpm)
        right_orig += tempo_is_right(loop_tempo(audio, rate), bpm)
    return {"loops": len(loops), "stft_distance": round(float(np.mean(distances)), 4),
            "stft_distance_white_noise": round(float(np.mean(noise_distances)), 4),
            "tempo_right_reconstructions": right, "tempo_right_originals": right_orig}


def train_autoencoder(loop_folder: Path, out_dir: Path, model_config: LoopAutoencoderConfig, config: AutoencoderTrainConfig,
                      resume: bool = False, force: bool = False, command: str = "") -> Path:
    """Train, keep the best validation weights, score them on the held-out loops; write the folder."""
    loop_folder, out_dir = Path(loop_folder), Path(out_dir)
    open_output(out_dir, resume, force, is_autoencoder_folder, "loop autoencoder")
    rank, world = join_process_group()
    barrier(world)  # no rank may look at the folder while rank 0 empties it
    training_items, heldout_items = split_loop_folder(loop_folder)
    fit_items, val_items = fit_validation_split(training_items, config.validation_loops, config.seed)
    if not fit_items:
        raise AntiphonError(f"{loop_folder}: too few training loops ({len(training_items)}) to train an autoencoder")
    rate = model_config.sample_rate_hz
    fit, val = read_loops(fit_items, rate), read_loops(val_items, rate)
    if rank == 0:
        log.info("loop autoencoder: %d fit, %d validation, %d held-out loops; %d process(es)", len(fit), len(val), len(heldout_items), world)
        if not resume and out_dir.exists() and force:
            shutil.rmtree(out_dir)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    model = LoopAutoencoder(model_config)
    length = int(round(config.window_s * rate / model_config.hop_samples)) * model_config.hop_samples

    def batch_loss(net: torch.nn.Module, generator: torch.Generator) -> torch.Tensor:
        x = random_windows(fit, config.batch_size, length, generator)
        noise = config.latent_noise * torch.randn((len(x), model_config.latent_channels, length // model_config.hop_samples), generator=generator)
        y, z = net(x, noise)  # through DDP's forward, so that its gradients are averaged
        return mrstft_loss(x, y) + (x - y).abs().mean() + config.latent_penalty * z.pow(2).mean()

    def validate(net: torch.nn.Module) -> float:
        return float(np.mean([whole_loop_loss(net, audio) for _, audio, _ in val]))

    def keep_best(net: torch.nn.Module, state: dict[str, Any]) -> None:
        save_autoencoder(out_dir, net, {"status": "training", "best_step": state["best_step"]})

    expect = {"model": model_config.to_dict(), "train": asdict(config), "fit_loops": [n for n, _, _ in fit]}
    plan = StepPlan(config.steps, config.eval_every, config.learning_rate, config.warmup_steps, config.seed)
    t0 = time.perf_counter()
    state = train_steps(model, plan, batch_loss, validate, keep_best, out_dir, expect, resume, rank, world, "training loop autoencoder")
    if rank == 0:
        bundle = load_autoencoder(out_dir)
        heldout = score_heldout(bundle, read_loops(heldout_items, rate), config.seed) if heldout_items else {}
        training = {
            "config": asdict(config), "loop_folder": loop_folder.name, "fit_loops": len(fit), "validation_loops": len(val),
            "processes": world, "best_step": state["best_step"], "validation_loss": round(state["best_validation"], 4),
            "train_s": round(state["train_s"], 1), "wall_s_this_run": round(time.perf_counter() - t0, 1),
            "heldout": heldout, "history": state["history"], "command": command, "status": "done",
        }
        save_autoencoder(out_dir, bundle.model, training)
        line_panels(out_dir / "loss.png", [h["step"] for h in state["history"]], "step", [
            ("loss", [("train (MR-STFT + L1 + latent penalty)", [h["train_loss"] for h in state["history"]]),
                      ("validation (MR-STFT, whole loops)", [h["validation"] for h in state["history"]])]),
        ], marks=[(state["best_step"], f"kept: step {state['best_step']}")])
        write_autoencoder_card(out_dir, model_config, training)
    leave_process_group(world)
    return out_dir


def write_autoencoder_card(out_dir: Path, model_config: LoopAutoencoderConfig, t: dict[str, Any]) -> Path:
    h = t["heldout"]
    params = sum(p.numel() for p in LoopAutoencoder(model_config).parameters())
    rows = ""
    if h:
        rows = (
            "| held-out loops | figure |\n| --- | ---: |\n"
            f"| loops | {h['loops']} |\n"
            f"| MR-STFT distance of the reconstructions (lower is better) | {h['stft_distance']:.3f} |\n"
            f"| MR-STFT distance of white noise at each loop's level (a reference) | {h['stft_distance_white_noise']:.3f} |\n"
            f"| tempo heard right in the reconstructions (within 4 %) | {h['tempo_right_reconstructions']} of {h['loops']} |\n"
            f"| tempo heard right in the originals | {h['tempo_right_originals']} of {h['loops']} |\n"
        )
    text = (
        f"# Loop autoencoder ({out_dir.name})\n\n"
        f"A convolutional waveform autoencoder (agent/loops/autoencoder.py), {params:,} parameters (float16 on disk): "
        f"{model_config.sample_rate_hz} Hz audio <-> {model_config.latent_channels} latent channels at "
        f"{model_config.frame_rate_hz:g} frames/s (hop {model_config.hop_samples} samples). "
        "The loop generator's diffusion model works in its latents; its embedding (mean and spread of each latent channel) "
        "is where generated loops are compared with held-out ones.\n\n"
        f"Trained on {t['fit_loops']} loops of `{t['loop_folder']}` ({t['config']['steps']} steps of {t['config']['batch_size']} windows of "
        f"{t['config']['window_s']:g} s, {t['train_s'] / 60:.0f} min on {t['processes']} process(es)); {t['validation_loops']} more chose the "
        f"weights (kept: step {t['best_step']}, validation MR-STFT {t['validation_loss']:.3f}).\n\n" + rows +
        "\nThe tempo is librosa's estimate on the loop heard four times (agent/loops/tempo.py); an octave error counts as wrong.\n\n"
        f"Rebuild: `{t['command'] or 'antiphon train-loop-autoencoder --loops corpora/loops --out ' + str(out_dir)}` "
        "(the data, both models and the figures: `bash scripts/train-loop-models.sh`)\n"
    )
    path = out_dir / "README.md"
    path.write_text(text, encoding="utf-8")
    return path
