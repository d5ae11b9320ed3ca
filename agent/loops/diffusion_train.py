"""Training the loop diffusion model (agent/loops/unet.py) with IADB (agent/loops/iadb.py) on the
latents of a folder of loops, through a trained loop autoencoder.

Each loop is encoded heard four times in a row (so windows may cross its wrap, as a played loop
does); a training window of ``crop_frames`` latent frames starts at a random frame of its second
repetition, and its condition is the tempo phase of those frames (the loop's first sample is a
downbeat), followed by the loop's kind (its sidecar's "kind") when the fit loops name at least two
kinds. The condition is dropped for a ``drop_prob`` share of each batch, so the one network
learns both predictions classifier-free guidance mixes. The validation figure is the IADB loss of
``validation_loops`` training loops, on fixed windows, noise and alphas (the same every time).
The held-out loops are not read: the generator's figures come from bench/loop_generator.py.
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
from tqdm import tqdm

from agent.distributed import barrier, join_process_group, leave_process_group
from agent.arranger.model_files import WEIGHTS_FILE
from agent.errors import AntiphonError
from agent.files import sha256_file
from agent.loops.autoencoder import AutoencoderBundle, load_autoencoder
from agent.loops.autoencoder_train import open_output, read_loops
from agent.loops.diffusion_checkpoint import is_diffusion_folder, load_diffusion, save_diffusion
from agent.loops.diffusion_config import DiffusionTrainConfig, LoopDiffusionConfig
from agent.loops.iadb import training_loss
from agent.loops.loop_set import fit_validation_split, loop_kind, split_loop_folder
from agent.loops.step_training import StepPlan, train_steps
from agent.loops.unet import LoopUNet, loop_condition
from agent.plots import line_panels

log = logging.getLogger(__name__)

ENCODED_REPEATS = 4
EDGE_FRAMES = 8


class LatentLoop:
    """A loop's latents heard ``ENCODED_REPEATS`` times, with what places a window on the beat and
    the index of its kind among the model's (None: none known, or the model hears no kind)."""

    def __init__(self, name: str, latents: np.ndarray, loop_samples: int, bpm: float, kind: int | None = None, kind_count: int = 0) -> None:
        self.name, self.latents, self.loop_samples, self.bpm = name, latents, loop_samples, bpm
        self.kind, self.kind_count = kind, kind_count


def encode_loops(autoencoder: AutoencoderBundle, loops: list[tuple[str, np.ndarray, float]], desc: str,
                 kinds: list[int | None] | None = None, kind_count: int = 0) -> list[LatentLoop]:
    kinds = kinds if kinds is not None else [None] * len(loops)
    return [LatentLoop(name, autoencoder.model.encode_repeated(audio, ENCODED_REPEATS), len(audio), bpm, kind, kind_count)
            for (name, audio, bpm), kind in zip(tqdm(loops, desc=desc, unit="loop", disable=None, leave=False), kinds)]


def kind_vocabulary(items: list[tuple[Path, float]]) -> tuple[tuple[str, ...], tuple[float, ...], list[int | None]]:
    """(names, shares, each item's index): the kinds the fit loops' sidecars name, sorted, with their
    shares among the loops that name one; no kind condition (empty) unless at least two kinds occur."""
    found = [loop_kind(path) for path, _ in items]
    names = tuple(sorted({k for k in found if k is not None}))
    if len(names) < 2:
        return (), (), [None] * len(items)
    named = [k for k in found if k is not None]
    shares = tuple(named.count(k) / len(named) for k in names)
    return names, shares, [names.index(k) if k is not None else None for k in found]


def window(loop: LatentLoop, start: int, frames: int, hop: int, rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    """(latents [C, frames], condition [CONDITION_CHANNELS + kind_count, frames]) of the window from frame ``start``."""
    return loop.latents[:, start : start + frames], loop_condition(frames, hop, rate_hz, loop.bpm, start * hop, loop.kind, loop.kind_count)


def random_batch(loops: list[LatentLoop], count: int, frames: int, hop: int, rate_hz: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    xs, cs = [], []
    for k in torch.randint(len(loops), (count,), generator=generator).tolist():
        loop = loops[k]
        first = int(round(loop.loop_samples / hop))
        start = first + int(torch.randint(first, (1,), generator=generator))
        x, c = window(loop, start, frames, hop, rate_hz)
        xs.append(x)
        cs.append(c)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(cs))


def check_crop(loops: list[LatentLoop], frames: int, hop: int, folder: Path) -> None:
    """Every window must end inside the encoded repetitions, ``EDGE_FRAMES`` before their end (whose
    frames hear the encoder's zero padding)."""
    short = [x.name for x in loops if 2 * int(round(x.loop_samples / hop)) + frames + EDGE_FRAMES > x.latents.shape[1]]
    if short:
        raise AntiphonError(f"{folder}: loop {short[0]} (and {len(short) - 1} more) is shorter than half a training window "
                            f"({frames} frames); lower --crop-frames or use longer loops")


def train_diffusion(loop_folder: Path, autoencoder_folder: Path, out_dir: Path, model_config: LoopDiffusionConfig, config: DiffusionTrainConfig,
                    resume: bool = False, force: bool = False, command: str = "", use_kinds: bool = True) -> Path:
    """Train the UNet with IADB and classifier-free condition dropout; keep the best validation weights; write the folder.
    ``use_kinds``: condition on the loops' kinds when their sidecars name at least two (False: tempo only)."""
    loop_folder, out_dir = Path(loop_folder), Path(out_dir)
    open_output(out_dir, resume, force, is_diffusion_folder, "loop diffusion model")
    autoencoder = load_autoencoder(autoencoder_folder)
    if config.crop_frames % model_config.frame_multiple:
        raise AntiphonError(f"crop_frames ({config.crop_frames}) must be a multiple of {model_config.frame_multiple} (2 ** levels)")
    rank, world = join_process_group()
    barrier(world)
    training_items, heldout_items = split_loop_folder(loop_folder)
    fit_items, val_items = fit_validation_split(training_items, config.validation_loops, config.seed)
    if not fit_items:
        raise AntiphonError(f"{loop_folder}: too few training loops ({len(training_items)}) to train a diffusion model")
    kind_names, kind_shares, fit_kinds = kind_vocabulary(fit_items) if use_kinds else ((), (), None)
    index_of = {k: i for i, k in enumerate(kind_names)}  # a validation loop of a kind no fit loop has: none known
    val_kinds = [index_of.get(loop_kind(p)) for p, _ in val_items] if kind_names else None
    model_config = LoopDiffusionConfig(**{**model_config.to_dict(), "latent_channels": autoencoder.config.latent_channels, "kind_count": len(kind_names)})
    rate, hop = autoencoder.config.sample_rate_hz, autoencoder.config.hop_samples
    torch.set_num_threads(config.threads)
    fit = encode_loops(autoencoder, read_loops(fit_items, rate), "encoding fit loops", fit_kinds, len(kind_names))
    val = encode_loops(autoencoder, read_loops(val_items, rate), "encoding validation loops", val_kinds, len(kind_names))
    check_crop(fit + val, config.crop_frames, hop, loop_folder)
    bpms = [x.bpm for x in fit]
    if rank == 0:
        log.info("loop diffusion: %d fit, %d validation loops (%d held out, not read), %g..%g bpm; %s; %d process(es)",
                 len(fit), len(val), len(heldout_items), min(bpms), max(bpms),
                 f"kinds {', '.join(f'{k} {v:.0%}' for k, v in zip(kind_names, kind_shares))}" if kind_names else "no kind condition", world)
        if not resume and out_dir.exists() and force:
            shutil.rmtree(out_dir)
    torch.manual_seed(config.seed)
    model = LoopUNet(model_config)
    every = np.concatenate([x.latents for x in fit], axis=1)
    model.latent_mean.copy_(torch.from_numpy(every.mean(axis=1)))
    model.latent_std.copy_(torch.from_numpy(every.std(axis=1) + 1e-5))

    fixed = torch.Generator().manual_seed(config.seed + 7)
    val_x, val_c = random_batch(val, 4 * len(val), config.crop_frames, hop, rate, fixed)
    val_noise_seed = config.seed + 11

    def batch_loss(net: torch.nn.Module, generator: torch.Generator) -> torch.Tensor:
        x, c = random_batch(fit, config.batch_size, config.crop_frames, hop, rate, generator)
        return training_loss(net, model.standardise(x), c, config.drop_prob, generator)

    def validate(net: torch.nn.Module) -> float:
        g = torch.Generator().manual_seed(val_noise_seed)
        return float(np.mean([float(training_loss(net, net.standardise(val_x[i : i + 16]), val_c[i : i + 16], config.drop_prob, g))
                              for i in range(0, len(val_x), 16)]))

    bpm_range = (float(min(bpms)), float(max(bpms)))

    def keep_best(net: torch.nn.Module, state: dict[str, Any]) -> None:
        save_diffusion(out_dir, net, Path(autoencoder_folder), bpm_range, {"status": "training", "best_step": state["best_step"]}, (kind_names, kind_shares))

    # a tempo-only run expects what runs before the kind condition recorded, so that they resume
    model_expect = {k: v for k, v in model_config.to_dict().items() if k != "kind_count" or v}
    expect = {"model": model_expect, "train": asdict(config), "fit_loops": [x.name for x in fit], **({"kinds": list(kind_names)} if kind_names else {}),
              "autoencoder_weights_sha256": sha256_file(Path(autoencoder_folder) / WEIGHTS_FILE)}
    plan = StepPlan(config.steps, config.eval_every, config.learning_rate, config.warmup_steps, config.seed)
    t0 = time.perf_counter()
    state = train_steps(model, plan, batch_loss, validate, keep_best, out_dir, expect, resume, rank, world, "training loop diffusion")
    if rank == 0:
        bundle = load_diffusion(out_dir, Path(autoencoder_folder))
        training = {
            "config": asdict(config), "loop_folder": loop_folder.name, "fit_loops": len(fit), "validation_loops": len(val),
            "heldout_loops_not_read": len(heldout_items), "processes": world, "best_step": state["best_step"],
            "validation_loss": round(state["best_validation"], 4), "train_s": round(state["train_s"], 1),
            "wall_s_this_run": round(time.perf_counter() - t0, 1), "history": state["history"], "command": command, "status": "done",
        }
        save_diffusion(out_dir, bundle.model, Path(autoencoder_folder), bpm_range, training, (kind_names, kind_shares))
        line_panels(out_dir / "loss.png", [h["step"] for h in state["history"]], "step", [
            ("IADB loss (MSE of x1 - x0)", [("train (condition dropped for a share)", [h["train_loss"] for h in state["history"]]),
                                            ("validation (fixed windows and noise)", [h["validation"] for h in state["history"]])]),
        ], marks=[(state["best_step"], f"kept: step {state['best_step']}")])
        write_diffusion_card(out_dir, model_config, training, bpm_range, (kind_names, kind_shares))
    leave_process_group(world)
    return out_dir


CARD_FIGURES_START = "<!-- bench/loop_generator.py: start -->"
CARD_FIGURES_END = "<!-- bench/loop_generator.py: end -->"


def write_diffusion_card(out_dir: Path, model_config: LoopDiffusionConfig, t: dict[str, Any], bpm_range: tuple[float, float],
                         kinds: tuple[tuple[str, ...], tuple[float, ...]] = ((), ())) -> Path:
    """The card; the generator's measured figures go between the CARD_FIGURES marks (bench/loop_generator.py --update-card)."""
    params = sum(p.numel() for p in LoopUNet(model_config).parameters())
    path = out_dir / "README.md"
    figures = f"{CARD_FIGURES_START}\n_Not measured yet: run `python bench/loop_generator.py --model {out_dir} --update-card`._\n{CARD_FIGURES_END}"
    if path.is_file():
        old = path.read_text(encoding="utf-8")
        if CARD_FIGURES_START in old and CARD_FIGURES_END in old:
            figures = old[old.index(CARD_FIGURES_START) : old.index(CARD_FIGURES_END) + len(CARD_FIGURES_END)]
    kind_text = (f" It also hears the loop's kind ({', '.join(f'{k} {v:.0%}' for k, v in zip(*kinds))} of the training loops; "
                 "a request that names none draws one by these shares), dropped together with the tempo." if kinds[0] else "")
    text = (
        f"# Loop diffusion model ({out_dir.name})\n\n"
        f"A 1-D UNet ({params:,} parameters, float16 on disk; agent/loops/unet.py) over the latents of the loop autoencoder, "
        "trained with iterative alpha-(de)blending (IADB) and conditioned on the tempo as a phase signal per latent frame "
        f"(beat sawtooth, beat and bar phase), the condition dropped for {t['config']['drop_prob']:.0%} of each batch so that "
        f"sampling can use classifier-free guidance D_u + w (D_c - D_u) (agent/loops/iadb.py).{kind_text}\n\n"
        f"Trained on {t['fit_loops']} loops of `{t['loop_folder']}` at {bpm_range[0]:g}..{bpm_range[1]:g} bpm "
        f"({t['config']['steps']} steps of {t['config']['batch_size']} windows of {t['config']['crop_frames']} frames, "
        f"{t['train_s'] / 60:.0f} min on {t['processes']} process(es)); {t['validation_loops']} more chose the weights "
        f"(kept: step {t['best_step']}, validation IADB loss {t['validation_loss']:.3f}). "
        f"The {t['heldout_loops_not_read']} held-out loops were not read in training.\n\n"
        "## Measured (held-out seeds, held-out loops)\n\n" + figures + "\n\n"
        f"Rebuild: `{t['command'] or 'antiphon train-loop-diffusion --loops corpora/loops --out ' + str(out_dir)}` "
        "(the data, both models and the figures: `bash scripts/train-loop-models.sh`)\n"
    )
    path.write_text(text, encoding="utf-8")
    return path
