"""Self-supervised pretraining of the small Wav2Vec2 (``small_wav2vec2.py``) on the stems of a pairs
folder, with the wav2vec 2.0 objective: a contrastive loss between the Transformer's output at
masked frames and the quantized feature-encoder output there, against distractors from the same
crop, plus the codebook diversity loss (transformers' ``Wav2Vec2ForPreTraining``).

Data: every stem of every training piece (held-out pieces are never seen), resampled to 16 kHz,
random crops of ``crop_s`` seconds (near-silent crops drawn again), each normalised to zero mean
and unit variance as the perception backend does. With ``augment_prob`` > 0 that share of the
crops is heard through a random room, EQ, noise and gain (``agent/audio_augment.py``) while the
quantized targets come from the clean crop, to push the features to ignore the room and the
microphone (tried on the chorales: the relation was lost, see docs/listening.md). Seeded per step (crops, masks, negatives and
dropout), so a resumed run continues exactly as an uninterrupted one. The validation loss is
measured on fixed crops of the held-out pieces (for the curve only: no model selection).

Writes ``out/``: the encoder (``save_pretrained``: config.json, model.safetensors) and
``preprocessor_config.json``, loadable by the ``wav2vec2`` perception backend like any hub
checkpoint; ``architecture.json`` and ``pretrain_config.json``; ``loss.png``; ``history.json``;
``checkpoint/`` while training (resume state, removed at the end).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from agent.audio_augment import augment
from agent.audio_io import PERCEPTION_RATE_HZ, read_mono
from agent.errors import AntiphonError
from agent.files import check_replaceable, json_object_or_none, write_json
from agent.pairs import read_heldout, scan_pairs
from agent.plots import line_panels
from agent.perception.pretrain_config import PretrainConfig
from agent.perception.small_wav2vec2 import SmallWav2Vec2Config, new_pretraining_model
from agent.resume_state import load_resume, save_resume

log = logging.getLogger(__name__)

RESUME_DIR = "checkpoint"
ARCHITECTURE_FILE = "architecture.json"
CONFIG_FILE = "pretrain_config.json"
PREPROCESSOR = {"do_normalize": True, "feature_extractor_type": "Wav2Vec2FeatureExtractor", "feature_size": 1,
                "padding_side": "right", "padding_value": 0.0, "return_attention_mask": False, "sampling_rate": PERCEPTION_RATE_HZ}


def _written_by(data: Any, config_class: type) -> bool:
    """Whether ``data`` is a JSON object with every field ``config_class`` (a dataclass) writes."""
    return isinstance(data, dict) and {f.name for f in fields(config_class)} <= set(data)


def is_pretrain_folder(folder: Path) -> bool:
    """Whether ``folder`` holds this tool's output (``pretrain_config.json`` and ``architecture.json``
    with the fields of PretrainConfig and SmallWav2Vec2Config) or an interrupted run's resume state
    (the same two, in checkpoint/state.json): what ``pretrain-perception --force`` may replace."""
    folder = Path(folder)
    config, architecture = json_object_or_none(folder / CONFIG_FILE), json_object_or_none(folder / ARCHITECTURE_FILE)
    if _written_by(config, PretrainConfig) and _written_by(architecture, SmallWav2Vec2Config):
        return True
    state = json_object_or_none(folder / RESUME_DIR / "state.json") or {}
    return _written_by(state.get("pretrain"), PretrainConfig) and _written_by(state.get("architecture"), SmallWav2Vec2Config)


@dataclass
class _Audio:
    """Every usable stem as 16-bit samples (half the memory: every chorale in three renderings is
    about 44 hours of stems), with its name; crops stay inside one stem."""

    signals: list[np.ndarray]
    names: list[str]

    @property
    def seconds(self) -> float:
        return sum(len(s) for s in self.signals) / PERCEPTION_RATE_HZ


def _load_stems(pairs_dir: Path, heldout: bool, crop_samples: int) -> _Audio:
    pieces = scan_pairs(pairs_dir, None)
    names = read_heldout(pairs_dir)
    chosen = [p for p in pieces if (p.name in names) == heldout]
    signals, labels = [], []
    for piece in tqdm(chosen, desc=f"reading {'held-out' if heldout else 'training'} stems", unit="piece", leave=False):
        for stem, path in sorted(piece.stems.items()):
            x, _ = read_mono(path, PERCEPTION_RATE_HZ)
            if len(x) >= crop_samples:
                signals.append(np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16))
                labels.append(f"{piece.name}/{stem}")
    return _Audio(signals, labels)


def _normalise(x: np.ndarray) -> np.ndarray:
    return ((x - x.mean()) / np.sqrt(x.var() + 1e-7)).astype(np.float32)


def _crops(audio: _Audio, count: int, crop: int, min_rms: float, rng: np.random.Generator,
           augment_prob: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets), both normalised: a share ``augment_prob`` of the inputs is the target
    crop heard through a random chain (``agent/audio_augment.py``); the others are the crop itself."""
    lengths = np.array([len(s) - crop + 1 for s in audio.signals], dtype=np.float64)
    weights = lengths / lengths.sum()
    inputs = np.zeros((count, crop), dtype=np.float32)
    targets = np.zeros((count, crop), dtype=np.float32)
    for i in range(count):
        for _attempt in range(20):
            k = int(rng.choice(len(audio.signals), p=weights))
            start = int(rng.integers(0, int(lengths[k])))
            x = audio.signals[k][start : start + crop].astype(np.float32) / 32767.0
            if float(np.sqrt(np.mean(x * x))) >= min_rms:
                break
        targets[i] = _normalise(x)
        inputs[i] = _normalise(augment(x, PERCEPTION_RATE_HZ, rng)) if augment_prob > 0.0 and rng.random() < augment_prob else targets[i]
    return inputs, targets


def _masks(model: Any, batch: int, crop: int, rng_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

    c = model.config
    frames = int(model._get_feat_extract_output_lengths(crop))  # noqa: SLF001 - transformers' own helper
    state = np.random.get_state()
    np.random.seed(rng_seed % 2**32)  # transformers' helpers draw from numpy's global generator
    try:
        mask = _compute_mask_indices((batch, frames), c.mask_time_prob, c.mask_time_length, min_masks=2)
        negatives = _sample_negative_indices((batch, frames), c.num_negatives, mask_time_indices=mask)
    finally:
        np.random.set_state(state)
    return torch.from_numpy(mask).bool(), torch.from_numpy(negatives).long()


def _losses(model: Any, x: np.ndarray, seed: int, targets: np.ndarray | None = None) -> tuple[torch.Tensor, float, float]:
    """Total loss per masked frame, and its contrastive and diversity parts (floats). ``targets``:
    the clean crops whose quantized features the Transformer must find from ``x`` (None: ``x``'s own)."""
    mask, negatives = _masks(model, len(x), x.shape[1], seed)
    if targets is None or np.shares_memory(x, targets) or np.array_equal(x, targets):
        out = model(torch.from_numpy(x), mask_time_indices=mask, sampled_negative_indices=negatives)
        loss, contrastive, diversity = out.loss, out.contrastive_loss, out.diversity_loss
    else:
        loss, contrastive, diversity = _clean_target_loss(model, torch.from_numpy(x), torch.from_numpy(targets), mask, negatives)
    n = max(int(mask.sum()), 1)
    return loss / n, float(contrastive.detach()) / n, float(diversity.detach()) / n


def _clean_target_loss(model: Any, x: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor,
                       negatives: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """transformers' ``Wav2Vec2ForPreTraining`` loss (contrastive + weighted diversity, summed over
    masked frames), with the Transformer reading ``x`` and the quantizer reading ``clean``: the
    encoder learns to hear through the room, EQ and noise. Equal to transformers' own loss when
    ``x`` is ``clean`` (tested)."""
    c = model.config
    heard = model.wav2vec2(x, mask_time_indices=mask)
    predicted = model.project_hid(heard.last_hidden_state)
    _, clean_extract = model.wav2vec2.feature_projection(model.wav2vec2.feature_extractor(clean).transpose(1, 2))
    quantized, perplexity = model.quantizer(model.dropout_features(clean_extract), mask_time_indices=mask)
    quantized = model.project_q(quantized.to(model.project_q.weight.dtype))
    batch, frames, size = quantized.shape
    negative = quantized.view(-1, size)[negatives.view(-1)].view(batch, frames, -1, size).permute(2, 0, 1, 3)
    logits = model.compute_contrastive_logits(quantized[None, :], negative, predicted, c.contrastive_logits_temperature)
    same = (quantized == negative).all(-1)
    if same.any():
        logits[1:][same] = float("-inf")
    logits = logits.transpose(0, 2).reshape(-1, logits.size(0))
    target = ((1 - mask.long()) * -100).transpose(0, 1).flatten()
    contrastive = torch.nn.functional.cross_entropy(logits.float(), target, reduction="sum")
    codevectors = c.num_codevectors_per_group * c.num_codevector_groups
    diversity = ((codevectors - perplexity) / codevectors) * mask.sum()
    return contrastive + c.diversity_loss_weight * diversity, contrastive, diversity


def _validate(model: Any, crops: tuple[np.ndarray, np.ndarray], config: PretrainConfig) -> float:
    model.eval()
    total, batches = 0.0, 0
    inputs, targets = crops
    with torch.no_grad():
        for start in range(0, len(inputs), config.batch_size):
            end = start + config.batch_size
            loss, _, _ = _losses(model, inputs[start:end], config.seed * 7919 + start, targets[start:end])
            total += float(loss)
            batches += 1
    model.train()
    return total / max(batches, 1)


def pretrain(pairs_dir: Path, out_dir: Path, arch: SmallWav2Vec2Config, config: PretrainConfig, resume: bool = False, force: bool = False,
             command: str = "") -> Path:
    """Pretrain and save the encoder into ``out_dir``; returns ``out_dir``. ``command``: the command line, recorded for the card."""
    resume_dir = out_dir / RESUME_DIR
    if resume and not (resume_dir / "state.json").is_file():
        raise AntiphonError(f"nothing to resume in {out_dir} (no {RESUME_DIR}/state.json)")
    if out_dir.exists() and not resume:
        if not force:
            raise AntiphonError(f"{out_dir} already exists; pass --resume to continue its pretraining or --force to replace it")
        check_replaceable(out_dir, is_pretrain_folder, "pretrained perception", f"pretraining ({CONFIG_FILE} and {ARCHITECTURE_FILE}, or {RESUME_DIR}/state.json)")
        shutil.rmtree(out_dir)
    if not Path(pairs_dir).is_dir():
        raise AntiphonError(f"pairs folder {pairs_dir} does not exist")
    torch.set_num_threads(config.threads)
    train_audio = _load_stems(pairs_dir, heldout=False, crop_samples=config.crop_samples)
    val_audio = _load_stems(pairs_dir, heldout=True, crop_samples=config.crop_samples)
    if not train_audio.signals:
        raise AntiphonError(f"{pairs_dir} has no training stems of at least {config.crop_s} s")
    if not val_audio.signals:
        log.warning("%s has no held-out pieces (split.json): validating on training stems", pairs_dir)
        val_audio = train_audio
    log.info("pretraining on %d stems (%.0f min), validating on %d held-out stems (%.0f min)",
             len(train_audio.signals), train_audio.seconds / 60, len(val_audio.signals), val_audio.seconds / 60)
    val_crops = _crops(val_audio, config.validation_crops, config.crop_samples, config.min_crop_rms, np.random.default_rng([config.seed, 1]),
                       config.augment_prob)

    model = new_pretraining_model(arch, config.seed)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    expect = {"architecture": arch.to_dict(), "pretrain": asdict(config), "pairs": str(Path(pairs_dir).resolve())}
    state: dict[str, Any] = {**expect, "step": 0, "history": [], "train_s": 0.0}
    if resume:
        state = load_resume(resume_dir, model, optimizer, expect)
        log.info("resuming at step %d of %d", state["step"], config.steps)
    out_dir.mkdir(parents=True, exist_ok=True)

    window: list[tuple[float, float, float]] = []
    bar = tqdm(total=config.steps, initial=state["step"], desc="pretraining", unit="step")
    started = time.perf_counter() - state["train_s"]
    for step in range(state["step"], config.steps):
        rng = np.random.default_rng([config.seed, 0, step])
        x, targets = _crops(train_audio, config.batch_size, config.crop_samples, config.min_crop_rms, rng, config.augment_prob)
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate_at(step)
        model.set_gumbel_temperature(config.gumbel_at(step))
        torch.manual_seed(config.seed * 1_000_003 + step)
        loss, contrastive, diversity = _losses(model, x, int(rng.integers(2**31)), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        window.append((float(loss.detach()), contrastive, diversity))
        bar.update(1)
        done = step + 1
        if done % config.eval_every_steps == 0 or done == config.steps:
            t, c, d = (float(np.mean(v)) for v in zip(*window))
            window.clear()
            row = {"step": done, "train_loss": t, "train_contrastive": c, "train_diversity": d,
                   "val_loss": _validate(model, val_crops, config), "gumbel": config.gumbel_at(step), "lr": config.learning_rate_at(step)}
            state["history"].append(row)
            bar.set_postfix(train=f"{t:.3f}", val=f"{row['val_loss']:.3f}")
        if done % config.checkpoint_every_steps == 0 and done < config.steps:
            state.update(step=done, train_s=time.perf_counter() - started)
            save_resume(resume_dir, model, optimizer, state)
    bar.close()
    state.update(step=config.steps, train_s=time.perf_counter() - started)
    _save_encoder(model, out_dir, arch, config, state, command)
    shutil.rmtree(resume_dir, ignore_errors=True)
    return out_dir


def _save_encoder(model: Any, out_dir: Path, arch: SmallWav2Vec2Config, config: PretrainConfig, state: dict[str, Any], command: str) -> None:
    model.wav2vec2.save_pretrained(out_dir, safe_serialization=True)
    write_json(out_dir / "preprocessor_config.json", PREPROCESSOR)
    write_json(out_dir / ARCHITECTURE_FILE, arch.to_dict())
    write_json(out_dir / CONFIG_FILE, asdict(config))
    write_json(out_dir / "history.json", {"train_s": round(state["train_s"], 1), "command": command, "history": state["history"]})
    plot_losses(state["history"], out_dir / "loss.png")


def save_random_encoder(out_dir: Path, arch: SmallWav2Vec2Config, seed: int) -> Path:
    """The same architecture with its initial (random) weights, saved like a pretrained one: the baseline."""
    out_dir.mkdir(parents=True, exist_ok=True)
    new_pretraining_model(arch, seed).wav2vec2.save_pretrained(out_dir, safe_serialization=True)
    write_json(out_dir / "preprocessor_config.json", PREPROCESSOR)
    write_json(out_dir / ARCHITECTURE_FILE, arch.to_dict())
    return out_dir


def read_architecture(folder: Path) -> SmallWav2Vec2Config:
    path = folder / ARCHITECTURE_FILE
    try:
        return SmallWav2Vec2Config.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
        raise AntiphonError(f"{path}: not a readable architecture file ({exc})") from exc


def plot_losses(history: list[dict[str, float]], png: Path) -> Path:
    return line_panels(png, [h["step"] for h in history], "step", [
        ("loss per masked frame (contrastive + 0.1 diversity)", [("training (mean since the last point)", [h["train_loss"] for h in history]),
                                                                  ("held-out pieces", [h["val_loss"] for h in history])]),
        ("training loss parts per masked frame", [("contrastive", [h["train_contrastive"] for h in history]),
                                                  ("diversity", [h["train_diversity"] for h in history])]),
    ])


__all__ = ["is_pretrain_folder", "pretrain", "plot_losses", "read_architecture", "save_random_encoder"]
