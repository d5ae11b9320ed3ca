"""The texture model: from a bar's chords and melody (and the previous bar of its own accompaniment)
to that bar's piano accompaniment, as note events on the 16th grid. Definition, encoding, save/load
and sampling: everything the arranger needs to play; training lives in texture_train.py and
evaluation in texture_eval.py (neither is imported here).

**Tokens.** One token per note event (a compound token, as in Hsiao et al.'s CP Transformer), in
the canonical order of ``bars.Bar.notes`` (by onset step, then pitch). A sequence is

    [16 condition tokens] [previous bar's notes] [start] [this bar's notes ...]

Condition token s (the bar's step s): the chord at that step, the melody pitch sounding (or rest, or
*unknown*: live, the next bar's melody has not been heard yet), the melody's interval above the
chord root, a melody-onset flag and the step. The prefix (conditions and previous bar) attends to
itself in both directions; the start token and the notes attend to the prefix and causally to what
came before them, so the model is an autoregressive decoder of the bar.

**Key independence.** Every pitch is written relative to the bar's *reference*: the pitch class of
the root of its first chord (``reference_pc``). A chord is its quality and its root's offset above
the reference (0..11); a note's pitch token is its height above *reference + the root offset of the
chord at its onset* (so the third of whatever chord sounds is the same token mod 12); the melody is
its height above the reference and its interval above the chord root. A transposed song gives the
same tokens up to an octave of register, and training moves every bar by a seeded transposition
(texture_train.py) so registers are seen in every key. No voicing rule is written: which chord
tones, which register, which rhythm are all learned.

**Decoding one note.** The last hidden state predicts the onset step (or *end of bar*); then,
given that onset (with the chord and melody at it), the pitch token; then the duration (1..16 steps,
never past the bar's end); then the velocity bin. Grammar masks keep the canonical order (onsets
never decrease, pitches rise within an onset) and nothing else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional as F

from agent import __version__
from agent.arranger.bars import REST, STEPS_PER_BAR, Bar
from agent.arranger.songs import NO_CHORD, NUM_CHORDS
from agent.arranger.model_files import CONFIG_FILE, load_checked_weights, read_model_config
from agent.arranger.texture_config import SamplingConfig, TextureModelConfig
from agent.errors import AntiphonError
from agent.files import read_json_object, sha256_file, write_json

FORMAT = "antiphon-texture"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"

ONSET_END = STEPS_PER_BAR  # the onset class that ends the bar
NUM_ONSETS = STEPS_PER_BAR + 1
NUM_DURATIONS = STEPS_PER_BAR  # 1..16 steps
MELODY_REST, MELODY_UNKNOWN, MELODY_FIRST = 0, 1, 2  # melody token values; pitches from MELODY_FIRST on
INTERVAL_NONE = 12  # melody interval token: no chord, or no melody
KIND_CONDITION, KIND_PREVIOUS, KIND_START, KIND_CURRENT = 0, 1, 2, 3
# columns of an encoded note
ONSET, PITCH, CHORD, DURATION, VELOCITY = range(5)
NEG = -1e9


# ----------------------------------------------------------------------------------------------
# encoding (numpy)


def reference_pc(chords: np.ndarray) -> int:
    """The bar's reference pitch class: the root of its first chord (0 when the bar has none)."""
    chords = np.asarray(chords)
    named = chords[chords != NO_CHORD]
    return int((named[0] - 1) % 12) if len(named) else 0


def relative_chords(chords: np.ndarray, reference: int) -> tuple[np.ndarray, np.ndarray]:
    """Per step: the chord class with its root taken above ``reference`` (0 = N, 1 + offset = major,
    13 + offset = minor), and that root offset in semitones (0 for N)."""
    chords = np.asarray(chords, dtype=np.int64)
    offset = np.where(chords == NO_CHORD, 0, (chords - 1 - reference) % 12)
    rel = np.where(chords == NO_CHORD, NO_CHORD, (chords - 1) // 12 * 12 + 1 + offset)
    return rel, offset


def encode_conditions(bar: Bar, reference: int, config: TextureModelConfig, melody_known: bool = True) -> np.ndarray:
    """int64 [16, 4]: per step (relative chord, melody token, melody interval token, melody onset)."""
    rel, offset = relative_chords(bar.chords, reference)
    pitch = np.asarray(bar.melody_pitch, dtype=np.int64)
    sounding = pitch != REST
    if not melody_known:
        return np.stack([rel, np.full(STEPS_PER_BAR, MELODY_UNKNOWN), np.full(STEPS_PER_BAR, INTERVAL_NONE), np.zeros(STEPS_PER_BAR, dtype=np.int64)], axis=1)
    height = np.clip(pitch - reference - config.relative_pitch_min_semitones, 0, config.relative_pitch_count - 1)
    melody = np.where(sounding, MELODY_FIRST + height, MELODY_REST)
    interval = np.where(sounding & (rel != NO_CHORD), (pitch - reference - offset) % 12, INTERVAL_NONE)
    return np.stack([rel, melody, interval, np.asarray(bar.melody_onset, dtype=np.int64)], axis=1)


def encode_notes(notes: np.ndarray, chords: np.ndarray, reference: int, config: TextureModelConfig) -> tuple[np.ndarray, int]:
    """A bar's events [n, 4] (onset, pitch, duration, velocity), with ``chords`` the chords of *their*
    bar, as int64 [m, 5] tokens (onset, pitch token, relative chord at onset, duration - 1, velocity
    bin) in canonical order, at most ``max_notes_per_bar``; and how many events were dropped (out of
    the pitch range or beyond the maximum)."""
    notes = np.asarray(notes, dtype=np.int64).reshape(-1, 4)
    rel, offset = relative_chords(chords, reference)
    onset = np.clip(notes[:, 0], 0, STEPS_PER_BAR - 1)
    token = notes[:, 1] - reference - offset[onset] - config.relative_pitch_min_semitones
    duration = np.clip(notes[:, 2], 1, STEPS_PER_BAR - onset) - 1
    velocity = np.clip(notes[:, 3] // config.velocity_bin_width, 0, config.velocity_bins - 1)
    out = np.stack([onset, token, rel[onset], duration, velocity], axis=1)
    out = out[(token >= 0) & (token < config.relative_pitch_count)]
    out = out[np.lexsort((-out[:, DURATION], out[:, PITCH], out[:, ONSET]))]
    keep = np.ones(len(out), dtype=bool)
    keep[1:] = (out[1:, ONSET] != out[:-1, ONSET]) | (out[1:, PITCH] != out[:-1, PITCH])
    out = out[keep][: config.max_notes_per_bar]
    return out, len(notes) - len(out)


def decode_notes(tokens: np.ndarray, chords: np.ndarray, reference: int, config: TextureModelConfig) -> np.ndarray:
    """Tokens [m, 5] back to events int64 [m, 4] (onset step, MIDI pitch, duration steps, velocity)."""
    tokens = np.asarray(tokens, dtype=np.int64).reshape(-1, 5)
    _, offset = relative_chords(chords, reference)
    onset = tokens[:, ONSET]
    pitch = np.clip(tokens[:, PITCH] + config.relative_pitch_min_semitones + reference + offset[onset], 0, 127)
    velocity = np.clip(tokens[:, VELOCITY] * config.velocity_bin_width + config.velocity_bin_width // 2, 1, 127)
    return np.stack([onset, pitch, tokens[:, DURATION] + 1, velocity], axis=1).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# the network


class Block(nn.Module):
    """Pre-norm Transformer block whose attention can run over a cache of earlier keys and values."""

    def __init__(self, c: TextureModelConfig) -> None:
        super().__init__()
        self.heads = c.num_heads
        self.ln1 = nn.LayerNorm(c.width)
        self.qkv = nn.Linear(c.width, 3 * c.width)
        self.proj = nn.Linear(c.width, c.width)
        self.ln2 = nn.LayerNorm(c.width)
        self.ff1 = nn.Linear(c.width, c.ffn_width)
        self.ff2 = nn.Linear(c.ffn_width, c.width)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, cache: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``x`` [B, T, D]; ``mask`` bool [B, 1, T, S] (True = may attend) over the ``S`` keys (the
        cache's then x's), or None (all); returns the output and the keys/values including x's."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, t, d)))
        x = x + self.drop(self.ff2(F.gelu(self.ff1(self.ln2(x)))))
        return x, (k, v)


def _mlp(width: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(width), nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, out))


@dataclass
class DecodeState:
    """What decoding one bar carries from note to note: each layer's keys and values, the notes so
    far (encoded) and the bar's condition tokens. Owned by the caller of ``TextureModel.step``."""

    cache: list[tuple[torch.Tensor, torch.Tensor]]
    hidden: torch.Tensor  # [1, D] the last output (predicts the next note)
    conditions: torch.Tensor  # [1, 16, 4]
    notes: list[list[int]]


class TextureModel(nn.Module):
    def __init__(self, config: TextureModelConfig) -> None:
        super().__init__()
        self.config = c = config
        d, p = c.width, c.relative_pitch_count
        self.step_emb = nn.Embedding(STEPS_PER_BAR, d)  # condition steps and note onsets
        self.chord_emb = nn.Embedding(NUM_CHORDS, d)
        self.melody_emb = nn.Embedding(MELODY_FIRST + p, d)
        self.interval_emb = nn.Embedding(INTERVAL_NONE + 1, d)
        self.melody_onset_emb = nn.Embedding(2, d)
        self.pitch_emb = nn.Embedding(p, d)
        self.duration_emb = nn.Embedding(NUM_DURATIONS, d)
        self.velocity_emb = nn.Embedding(c.velocity_bins, d)
        self.kind_emb = nn.Embedding(4, d)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.num_layers))
        self.ln_f = nn.LayerNorm(d)
        # the heads: onset from the state; pitch given the onset (and the chord and melody there); duration given both; velocity given all three
        self.onset_head = nn.Linear(d, NUM_ONSETS)
        self.head_step = nn.Embedding(STEPS_PER_BAR, d)
        self.head_chord = nn.Embedding(NUM_CHORDS, d)
        self.head_melody = nn.Embedding(MELODY_FIRST + p, d)
        self.head_interval = nn.Embedding(INTERVAL_NONE + 1, d)
        self.pitch_head = _mlp(d, c.head_width, p)
        self.head_pitch = nn.Embedding(p, d)
        self.duration_head = _mlp(d, c.head_width, NUM_DURATIONS)
        self.head_duration = nn.Embedding(NUM_DURATIONS, d)
        self.velocity_head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, c.velocity_bins))
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    # -- embeddings

    def embed_conditions(self, cond: torch.Tensor) -> torch.Tensor:
        """[B, 16, 4] condition tokens -> [B, 16, D]."""
        steps = torch.arange(STEPS_PER_BAR, device=cond.device)
        return (self.step_emb(steps) + self.chord_emb(cond[..., 0]) + self.melody_emb(cond[..., 1]) + self.interval_emb(cond[..., 2])
                + self.melody_onset_emb(cond[..., 3]) + self.kind_emb.weight[KIND_CONDITION])

    def embed_notes(self, notes: torch.Tensor, kind: int) -> torch.Tensor:
        """[B, N, 5] encoded notes -> [B, N, D]."""
        return (self.step_emb(notes[..., ONSET]) + self.pitch_emb(notes[..., PITCH]) + self.chord_emb(notes[..., CHORD])
                + self.duration_emb(notes[..., DURATION]) + self.velocity_emb(notes[..., VELOCITY]) + self.kind_emb.weight[kind])

    def start_token(self, batch: int) -> torch.Tensor:
        return self.kind_emb.weight[KIND_START].expand(batch, 1, -1)

    # -- whole bars (training, validation)

    def forward(self, cond: torch.Tensor, prev: torch.Tensor, prev_valid: torch.Tensor, cur: torch.Tensor) -> torch.Tensor:
        """Teacher-forced hidden states: ``cond`` [B, 16, 4], ``prev`` [B, Np, 5] with ``prev_valid``
        bool [B, Np], ``cur`` [B, Nc, 5] (padding after a bar's notes is harmless: nothing before it
        sees it). Returns [B, 1 + Nc, D]: position j predicts note j (position Nc, or the one after
        a bar's last note, predicts the end)."""
        b, n_prev, n_cur = cond.shape[0], prev.shape[1], cur.shape[1]
        x = torch.cat([self.embed_conditions(cond), self.embed_notes(prev, KIND_PREVIOUS), self.start_token(b),
                       self.embed_notes(cur, KIND_CURRENT)], dim=1)
        prefix = STEPS_PER_BAR + n_prev
        total = x.shape[1]
        valid = torch.cat([torch.ones(b, STEPS_PER_BAR, dtype=torch.bool, device=x.device), prev_valid,
                           torch.ones(b, 1 + n_cur, dtype=torch.bool, device=x.device)], dim=1)
        pos = torch.arange(total, device=x.device)
        causal = (pos[None, :] <= pos[:, None]) | (pos[None, :] < prefix)  # [T, S]
        causal &= (pos[:, None] >= prefix) | (pos[None, :] < prefix)  # the prefix never sees the notes
        mask = (causal[None] & valid[:, None, :])[:, None]
        for block in self.blocks:
            x, _ = block(x, mask)
        return self.ln_f(x[:, prefix:])

    # -- heads

    def onset_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.onset_head(hidden)

    def _given_onset(self, hidden: torch.Tensor, cond: torch.Tensor, onset: torch.Tensor) -> torch.Tensor:
        """The state for the pitch head: ``hidden`` [..., D] plus what sounds at ``onset`` (a step
        0..15, same leading shape): its step, chord, melody and melody interval from ``cond`` [B, 16, 4]."""
        at = torch.gather(cond, 1, onset.reshape(cond.shape[0], -1, 1).expand(-1, -1, 4)).reshape(*onset.shape, 4)
        return (hidden + self.head_step(onset) + self.head_chord(at[..., 0]) + self.head_melody(at[..., 1])
                + self.head_interval(at[..., 2]))

    def note_logits(self, hidden: torch.Tensor, cond: torch.Tensor, onset: torch.Tensor, pitch: torch.Tensor, duration: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher-forced pitch, duration and velocity logits of notes at ``onset``/``pitch``/``duration``."""
        z_pitch = self._given_onset(hidden, cond, onset)
        z_duration = z_pitch + self.head_pitch(pitch)
        z_velocity = z_duration + self.head_duration(duration)
        return self.pitch_head(z_pitch), self.duration_head(z_duration), self.velocity_head(z_velocity)

    # -- decoding step by step (generation)

    def start(self, cond: torch.Tensor, prev: torch.Tensor) -> DecodeState:
        """Run the prefix of one bar (``cond`` [1, 16, 4], ``prev`` [1, Np, 5]) and the start token."""
        x = torch.cat([self.embed_conditions(cond), self.embed_notes(prev, KIND_PREVIOUS)], dim=1)
        cache = []
        for block in self.blocks:
            x, kv = block(x, None)
            cache.append(kv)
        state = DecodeState(cache=cache, hidden=torch.empty(0), conditions=cond, notes=[])
        return self._advance(state, self.start_token(1))

    def step(self, state: DecodeState, note: list[int]) -> DecodeState:
        """Feed one encoded note [onset, pitch token, relative chord, duration - 1, velocity bin]; the
        new state's ``hidden`` predicts the note after it."""
        token = self.embed_notes(torch.tensor([[note]], dtype=torch.long), KIND_CURRENT)
        new = self._advance(state, token)
        new.notes = [*state.notes, list(note)]
        return new

    def _advance(self, state: DecodeState, x: torch.Tensor) -> DecodeState:
        cache = []
        for block, kv in zip(self.blocks, state.cache):
            x, kv = block(x, None, kv)  # one query: it may see every cached key
            cache.append(kv)
        return DecodeState(cache=cache, hidden=self.ln_f(x)[:, -1], conditions=state.conditions, notes=list(state.notes))


# ----------------------------------------------------------------------------------------------
# grammar: the canonical order of a bar's events, and nothing else


def onset_mask(prev_onset: torch.Tensor, prev_pitch: torch.Tensor, count: torch.Tensor, config: TextureModelConfig) -> torch.Tensor:
    """bool [..., 17] allowed onsets for the next note, after notes whose last one is at
    ``prev_onset``/``prev_pitch`` (-1 when there is none) and ``count`` notes so far."""
    steps = torch.arange(NUM_ONSETS, device=prev_onset.device)
    po, pp = prev_onset[..., None], prev_pitch[..., None]
    ok = (steps >= po) & ~((steps == po) & (pp >= config.relative_pitch_count - 1))
    ok &= (count[..., None] < config.max_notes_per_bar)
    return ok | (steps == ONSET_END)


def pitch_mask(onset: torch.Tensor, prev_onset: torch.Tensor, prev_pitch: torch.Tensor, config: TextureModelConfig) -> torch.Tensor:
    """bool [..., P]: pitches rise within one onset."""
    tokens = torch.arange(config.relative_pitch_count, device=onset.device)
    return (onset[..., None] != prev_onset[..., None]) | (tokens > prev_pitch[..., None])


def duration_mask(onset: torch.Tensor) -> torch.Tensor:
    """bool [..., 16]: no note lasts past the bar's end."""
    return torch.arange(NUM_DURATIONS, device=onset.device) < (STEPS_PER_BAR - onset[..., None])


# ----------------------------------------------------------------------------------------------
# generation


def _draw(logits: torch.Tensor, allowed: torch.Tensor, sampling: SamplingConfig, generator: torch.Generator | None) -> int:
    logits = logits.masked_fill(~allowed, NEG)
    if sampling.temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    if sampling.top_p < 1.0:
        ordered, index = probs.sort(descending=True)
        keep = ordered.cumsum(-1) - ordered < sampling.top_p  # the smallest set reaching top_p (the first always)
        probs = torch.zeros_like(probs).scatter(0, index[keep], ordered[keep])
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.inference_mode()
def generate_bar(model: TextureModel, bar: Bar, previous: Bar | None = None, sampling: SamplingConfig | None = None,
                 generator: torch.Generator | None = None, melody_known: bool = True) -> np.ndarray:
    """The model's piano part for ``bar`` (its chords and melody are read, its notes ignored), after
    ``previous`` (the bar before, with the notes that were played in it; None at the start or after a
    gap). ``melody_known=False``: the melody of the bar is not known yet (live, one bar ahead).
    Returns int64 [n, 4] (onset step, MIDI pitch, duration steps, velocity), canonical order.
    Seeded through ``generator`` (torch.Generator().manual_seed(seed)); the model must be in eval mode."""
    c = model.config
    sampling = sampling or SamplingConfig()
    onset_sampling = SamplingConfig(temperature=sampling.onset_temperature, top_p=1.0)
    end_bias = torch.zeros(NUM_ONSETS)
    end_bias[ONSET_END] = sampling.end_logit_bias
    reference = reference_pc(bar.chords)
    cond = torch.from_numpy(encode_conditions(bar, reference, c, melody_known))[None]
    prev = np.zeros((0, 5), dtype=np.int64)
    if previous is not None:
        prev, _ = encode_notes(previous.notes, previous.chords, reference, c)
    state = model.start(cond, torch.from_numpy(prev)[None])
    prev_onset, prev_pitch = torch.tensor(-1), torch.tensor(-1)
    chords, _ = relative_chords(bar.chords, reference)
    while True:
        h = state.hidden[0]
        onset = _draw(model.onset_logits(h) + end_bias, onset_mask(prev_onset, prev_pitch, torch.tensor(len(state.notes)), c), onset_sampling, generator)
        if onset == ONSET_END:
            break
        o = torch.tensor([onset])
        z_pitch = model._given_onset(h[None], cond, o)[0]
        pitch = _draw(model.pitch_head(z_pitch), pitch_mask(o[0], prev_onset, prev_pitch, c), sampling, generator)
        z_duration = z_pitch + model.head_pitch.weight[pitch]
        duration = _draw(model.duration_head(z_duration), duration_mask(o[0]), sampling, generator)
        z_velocity = z_duration + model.head_duration.weight[duration]
        velocity = _draw(model.velocity_head(z_velocity), torch.ones(c.velocity_bins, dtype=torch.bool), sampling, generator)
        state = model.step(state, [onset, pitch, int(chords[onset]), duration, velocity])
        prev_onset, prev_pitch = torch.tensor(onset), torch.tensor(pitch)
    return decode_notes(np.array(state.notes, dtype=np.int64).reshape(-1, 5), bar.chords, reference, c)


# ----------------------------------------------------------------------------------------------
# the model folder: model.safetensors + config.json (+ README.md, loss.png written by training)


@dataclass(frozen=True)
class TextureBundle:
    """A loaded texture model: ready to ``generate_bar`` (eval mode, float32)."""

    path: Path
    config: TextureModelConfig
    sampling: SamplingConfig  # the default sampling, chosen on validation songs at training
    model: TextureModel
    meta: dict[str, Any]

    def generate_bar(self, bar: Bar, previous: Bar | None = None, generator: torch.Generator | None = None,
                     melody_known: bool = True, sampling: SamplingConfig | None = None) -> np.ndarray:
        return generate_bar(self.model, bar, previous, sampling or self.sampling, generator, melody_known)


def is_texture_model_folder(folder: Path) -> bool:
    try:
        return read_json_object(Path(folder) / CONFIG_FILE, "texture model config").get("format") == FORMAT
    except AntiphonError:
        return False


def save_texture_model(folder: Path, model: TextureModel, sampling: SamplingConfig, training: dict[str, Any]) -> None:
    """Write the weights (float16: half the size, no audible difference) and config.json with their hash."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": FORMAT})
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "antiphon_version": __version__,
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "model": model.config.to_dict(),
        "sampling": sampling.to_dict(),
        "parameters": parameter_count(model),
        "training": training,
        "files": {WEIGHTS_FILE: sha256_file(folder / WEIGHTS_FILE)},
    }
    write_json(folder / CONFIG_FILE, meta)


def load_texture_model(folder: Path) -> TextureBundle:
    """Load a texture model folder, checking its format, hash, tensor names, shapes and dtypes (one-line errors)."""
    folder = Path(folder)
    where = folder / CONFIG_FILE
    meta = read_model_config(folder, FORMAT, FORMAT_VERSION, "texture model", "texture model", "train one with `antiphon train-texture`")
    config = TextureModelConfig.from_dict(meta.get("model"), str(where))
    sampling = SamplingConfig.from_dict(meta.get("sampling", {}), str(where))
    model = load_checked_weights(folder, meta, TextureModel(config))
    return TextureBundle(path=folder, config=config, sampling=sampling, model=model, meta=meta)


def parameter_count(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))
