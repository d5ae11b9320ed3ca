"""The texture model: metrics on hand-made bars, key-independent encoding, causality and
step-equals-batch, save/load and its refusals, the commands' errors, and a few seconds of training
on a tiny synthetic song set."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest
import torch

from agent.arranger.bars import Bar, read_bars
from agent.arranger.songs import chord_class, class_pitches
from agent.arranger.texture_config import SamplingConfig, TextureModelConfig, TextureTrainConfig
from agent.arranger.texture_eval import (
    block_triads, chord_fit_counts, evaluate_folder, polyphony_counts, texture_similarity,
)
from agent.arranger.texture_model import (
    TextureModel, decode_notes, encode_conditions, encode_notes, generate_bar, load_texture_model, reference_pc, save_texture_model,
)
from agent.demo.make_pairs import is_heldout
from agent.errors import AntiphonError

TINY = TextureModelConfig(width=32, num_layers=2, num_heads=2, ffn_width=64, head_width=32, dropout=0.0, max_notes_per_bar=24)
C, G, AM, F = (chord_class(x) for x in ("C:maj", "G:maj", "A:min", "F:maj"))


def triad_tones(chords: list[int]) -> np.ndarray:
    tones = np.zeros((16, 12), dtype=bool)
    for s, k in enumerate(chords):
        tones[s, list(class_pitches(k))] = True
    return tones


def make_bar(chords: list[int], notes: list[list[int]], melody: int = 72) -> Bar:
    return Bar(chords=np.array(chords), melody_pitch=np.array([melody] * 8 + [0] * 8), melody_onset=np.array([1] + [0] * 15, dtype=bool),
               notes=np.array(notes, dtype=np.int64).reshape(-1, 4), chord_tones=triad_tones(chords))


C_G = [C] * 8 + [G] * 8
IN_CHORD = [[0, 48, 8, 80], [0, 64, 8, 80], [0, 67, 8, 80], [8, 55, 8, 80], [8, 59, 4, 80], [8, 62, 8, 80]]


# ---------------------------------------------------------------- metrics


def test_chord_fit_is_one_inside_and_zero_outside() -> None:
    bar = make_bar(C_G, IN_CHORD)
    assert chord_fit_counts(bar.notes, bar) == {"triad": 44, "full": 44, "total": 44}
    outside = np.array([[0, 49, 8, 80], [0, 61, 8, 80], [8, 56, 8, 80]])
    fit = chord_fit_counts(outside, bar)
    assert fit["triad"] == 0 and fit["full"] == 0 and fit["total"] == 24
    no_chord = make_bar([0] * 16, IN_CHORD)
    assert chord_fit_counts(no_chord.notes, no_chord)["total"] == 0  # steps without a chord do not count


def test_density_polyphony_and_texture_similarity() -> None:
    bar = make_bar(C_G, IN_CHORD)
    assert len(bar.notes) == 6
    assert polyphony_counts(bar.notes) == (44, 16)  # 3 notes for 12 steps, 2 for 4: 44 note-steps over 16 sounding steps
    assert texture_similarity(bar.notes, bar) == pytest.approx({"rhythm": 1.0, "voicing": 1.0, "texture": 1.0})
    empty = np.zeros((0, 4), dtype=np.int64)
    assert texture_similarity(empty, bar)["texture"] == 0.0
    assert texture_similarity(empty, make_bar(C_G, []))["texture"] == 1.0
    shifted = np.array(IN_CHORD)
    shifted[:, 0] = [1, 1, 1, 9, 9, 9]  # same voicing, other onsets
    sim = texture_similarity(shifted, bar)
    assert sim["rhythm"] == 0.0 and sim["voicing"] == pytest.approx(1.0, abs=0.02)


def test_block_triads_hold_each_chord_segment() -> None:
    assert block_triads(make_bar(C_G, [])).tolist() == [[0, 48, 8, 80], [0, 52, 8, 80], [0, 55, 8, 80], [8, 55, 8, 80], [8, 59, 8, 80], [8, 62, 8, 80]]
    assert block_triads(make_bar([0] * 4 + [AM] * 12, [])).tolist() == [[4, 57, 12, 80], [4, 60, 12, 80], [4, 64, 12, 80]]


# ---------------------------------------------------------------- encoding


def test_tokens_do_not_depend_on_the_key() -> None:
    bar = make_bar(C_G, IN_CHORD)
    moved = bar.transposed(3)  # C -> Eb: no octave wrap of the reference
    for b in (bar, moved):
        assert reference_pc(b.chords) == (0 if b is bar else 3)
    assert np.array_equal(encode_conditions(bar, 0, TINY), encode_conditions(moved, 3, TINY))
    assert np.array_equal(encode_notes(bar.notes, bar.chords, 0, TINY)[0], encode_notes(moved.notes, moved.chords, 3, TINY)[0])
    tokens, dropped = encode_notes(bar.notes, bar.chords, 0, TINY)
    assert dropped == 0
    assert decode_notes(tokens, bar.chords, 0, TINY)[:, :3].tolist() == [n[:3] for n in IN_CHORD]
    assert tokens[0, 1] % 12 == tokens[3, 1] % 12 == 0  # the roots of C and of G: one token class
    assert (encode_conditions(bar, 0, TINY, melody_known=False)[:, 1] == 1).all()


# ---------------------------------------------------------------- the model


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    bar = make_bar(C_G, IN_CHORD)
    cond = torch.from_numpy(encode_conditions(bar, 0, TINY))[None]
    prev = torch.from_numpy(encode_notes(np.array([[0, 45, 16, 70], [4, 64, 4, 60]]), [AM] * 16, 0, TINY)[0])[None]
    cur = torch.from_numpy(encode_notes(bar.notes, bar.chords, 0, TINY)[0])[None]
    return cond, prev, cur


def test_stepping_note_by_note_equals_the_whole_bar() -> None:
    torch.manual_seed(0)
    model = TextureModel(TINY).eval()
    cond, prev, cur = _inputs()
    with torch.no_grad():
        whole = model(cond, prev, torch.ones(prev.shape[:2], dtype=torch.bool), cur)[0]
        state = model.start(cond, prev)
        stepped = [state.hidden[0]]
        for note in cur[0].tolist():
            state = model.step(state, note)
            stepped.append(state.hidden[0])
    torch.testing.assert_close(torch.stack(stepped), whole, atol=1e-5, rtol=1e-5)


def test_the_future_never_changes_the_past_and_padding_is_ignored() -> None:
    torch.manual_seed(0)
    model = TextureModel(TINY).eval()
    cond, prev, cur = _inputs()
    valid = torch.ones(prev.shape[:2], dtype=torch.bool)
    with torch.no_grad():
        base = model(cond, prev, valid, cur)[0]
        later = cur.clone()
        later[0, -1, 1] += 5  # another pitch for the last note
        changed = model(cond, prev, valid, later)[0]
        torch.testing.assert_close(changed[:-1], base[:-1])
        assert not torch.allclose(changed[-1], base[-1])
        # a batch with a longer second example: padding of prev and cur changes nothing for the first
        long_prev = torch.cat([prev, prev], dim=1)
        long_cur = torch.cat([cur, cur[:, :3]], dim=1)
        pad_prev = torch.cat([prev, torch.zeros_like(prev)], dim=1)
        pad_cur = torch.cat([cur, torch.zeros_like(cur[:, :3])], dim=1)
        both = model(torch.cat([cond, cond]), torch.cat([pad_prev, long_prev]),
                     torch.tensor([[True] * prev.shape[1] + [False] * prev.shape[1], [True] * (2 * prev.shape[1])]), torch.cat([pad_cur, long_cur]))
        torch.testing.assert_close(both[0, : cur.shape[1] + 1], base, atol=1e-5, rtol=1e-5)


def test_generate_bar_is_seeded_and_grammatical() -> None:
    torch.manual_seed(1)
    model = TextureModel(TINY).eval()
    bar, previous = make_bar(C_G, []), make_bar([AM] * 16, [[0, 45, 16, 70]])
    draws = [generate_bar(model, bar, previous, SamplingConfig(1.5, 1.0), torch.Generator().manual_seed(7)) for _ in range(2)]
    assert np.array_equal(draws[0], draws[1])
    notes = draws[0]
    assert len(notes) <= TINY.max_notes_per_bar
    assert ((notes[:, 0] >= 0) & (notes[:, 0] < 16) & (notes[:, 2] >= 1) & (notes[:, 0] + notes[:, 2] <= 16)).all()
    order = notes[:, 0] * 128 + notes[:, 1]
    assert (np.diff(order) > 0).all()  # by onset, pitches rising within an onset
    unknown = [generate_bar(model, bar, None, SamplingConfig(0.0), torch.Generator().manual_seed(3), melody_known=False) for _ in range(2)]
    assert unknown[0].shape[1:] == (4,) and ((unknown[0][:, 0] >= 0) & (unknown[0][:, 0] + unknown[0][:, 2] <= 16)).all()
    assert np.array_equal(unknown[0], unknown[1])  # no previous bar, the melody hidden: still seeded


def test_save_load_round_trip_and_refusals(tmp_path: Path) -> None:
    torch.manual_seed(2)
    model = TextureModel(TINY).eval()
    folder = tmp_path / "texture"
    save_texture_model(folder, model, SamplingConfig(0.8, 0.9), {"status": "test"})
    bundle = load_texture_model(folder)
    assert bundle.config == TINY and bundle.sampling == SamplingConfig(0.8, 0.9)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(bundle.model.state_dict()[name], value, atol=2e-3, rtol=2e-3)  # float16 on disk
    bar = make_bar(C_G, [])
    again = load_texture_model(folder)
    seeded = [b.generate_bar(bar, None, torch.Generator().manual_seed(3)) for b in (bundle, again)]
    assert np.array_equal(*seeded)

    def refused(match: str) -> None:
        with pytest.raises(AntiphonError, match=match) as info:
            load_texture_model(folder)
        assert "\n" not in str(info.value)

    weights = folder / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[:100])
    refused("checksum does not match")
    config = json.loads((folder / "config.json").read_text())
    from agent.files import sha256_file

    (folder / "config.json").write_text(json.dumps({**config, "files": {"model.safetensors": sha256_file(weights)}}))
    refused("not a readable safetensors file")
    weights.write_bytes(good)
    (folder / "config.json").write_text(json.dumps({**config, "model": {**config["model"], "width": 48}}))
    refused("shape")
    (folder / "config.json").write_text(json.dumps({**config, "format": "antiphon-decision"}))
    refused("not an Antiphon texture model")
    (folder / "config.json").write_text("{ not json")
    refused("not valid JSON")
    with pytest.raises(AntiphonError, match="does not exist"):
        load_texture_model(tmp_path / "missing")


def test_commands_help_and_registration() -> None:
    import argparse

    from agent.arranger.texture_cli import add_parsers

    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"), argparse.ArgumentDefaultsHelpFormatter)
    for command in ("train-texture", "evaluate-texture"):
        with pytest.raises(SystemExit) as done:
            parser.parse_args([command, "--help"])
        assert done.value.code == 0
    args = parser.parse_args(["evaluate-texture", "--model", "m", "--pop909", "p"])
    assert callable(args.handler) and args.update_card is False


def test_commands_refuse_bad_folders_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "agent", "-q", *args], capture_output=True, text=True, timeout=120)

    (tmp_path / "m").mkdir()
    for args, message in ((["train-texture", "--pop909", str(tmp_path / "nope"), "--out", str(tmp_path / "m1")], "POP909"),
                          (["evaluate-texture", "--model", str(tmp_path / "m"), "--pop909", str(tmp_path)], "config.json"),
                          (["train-texture", "--pop909", str(tmp_path), "--out", str(tmp_path / "m2"), "--width", "30"], "width")):
        result = run(*args)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# ---------------------------------------------------------------- a few seconds of training


PROGRESSIONS = ([C, G, AM, F], [AM, F, C, G], [F, G, C, AM])


def write_synthetic_song(folder: Path, seed: int, bars: int = 12) -> None:
    """A POP909-shaped song in a seeded key: two chords a bar; the piano plays the root low on
    each half bar and the chord's 8th-note arpeggio (root, third, fifth, third) above; the melody
    plays the chord's top tones in quarters."""
    rng = np.random.default_rng(seed)
    shift = int(rng.integers(0, 12))
    progression = PROGRESSIONS[seed % len(PROGRESSIONS)]
    chords = [(progression[(2 * b + h) % 4] - 1) // 12 * 12 + ((progression[(2 * b + h) % 4] - 1) % 12 + shift) % 12 + 1
              for b in range(bars) for h in range(2)]
    step_s = 0.125  # 120 bpm
    piano, melody = [], []
    for i, k in enumerate(chords):
        root, third, fifth = class_pitches(k)
        t0 = i * 8 * step_s
        piano.append((t0, 8 * step_s, 36 + root))
        for j, pc in enumerate((root, third, fifth, third)):
            piano.append((t0 + 2 * j * step_s, 2 * step_s, 60 + (pc - root) % 12 + root % 12 - (12 if root >= 7 else 0)))
        for j, pc in enumerate((fifth, third)):
            melody.append((t0 + 4 * j * step_s, 4 * step_s, 72 + pc))
    folder.mkdir(parents=True)
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    midi.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0)]))
    for channel, (name, notes) in enumerate((("MELODY", melody), ("BRIDGE", []), ("PIANO", piano))):
        events = sorted([(int(round(a / step_s * 120)), 1, p) for a, d, p in notes] + [(int(round((a + d) / step_s * 120)), 0, p) for a, d, p in notes])
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        now = 0
        for tick, on, pitch in events:
            track.append(mido.Message("note_on", note=pitch, velocity=80 if on else 0, channel=channel, time=tick - now))
            now = tick
        midi.tracks.append(track)
    midi.save(str(folder / f"{folder.name}.mid"))
    beats = 4 * bars + 1
    (folder / "beat_midi.txt").write_text("".join(f"{0.5 * i:.4f} 1.0 {1.0 if i % 4 == 0 else 0.0}\n" for i in range(beats)))
    labels = ["N", *(f"{'C Db D Eb E F Gb G Ab A Bb B'.split()[(k - 1) % 12]}:{'maj' if k < 13 else 'min'}" for k in range(1, 25))]
    (folder / "chord_midi.txt").write_text("".join(f"{i * 1.0:.4f}\t{(i + 1) * 1.0:.4f}\t{labels[k]}\n" for i, k in enumerate(chords)))


def test_a_tiny_model_learns_a_synthetic_texture(tmp_path: Path) -> None:
    from agent.arranger.texture_train import train_texture

    root = tmp_path / "POP909"
    names = [f"{i:03d}" for i in range(1, 13)]
    for i, name in enumerate(names):
        write_synthetic_song(root / name, i)
    assert sum(map(is_heldout, names)) == 2  # 006 and 012
    cut = read_bars(root / "001")
    assert len(cut.bars) == 12 and len(cut.bars[0].notes) == 10 and cut.follows[1:].all()
    out = tmp_path / "model"
    config = TextureTrainConfig(max_epochs=100, max_steps=150, batch_size_bars=16, learning_rate=3e-3, warmup_steps=10, validate_every_steps=25,
                                patience_validations=100, validation_share=0.1, threads=1, seed=0)
    train_texture(root, out, TINY, config)
    bundle = load_texture_model(out)
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    losses = [h["val_total"] for h in state["history"]]
    assert min(losses) < 0.6 * losses[0], losses
    assert (out / "loss.png").is_file() and "## Held-out evaluation" in (out / "README.md").read_text()
    with pytest.raises(AntiphonError, match="already exists"):
        train_texture(root, out, TINY, config)
    report = evaluate_folder(out, root, tmp_path / "eval", seed=0)
    f = report["figures"]
    assert f["true piano"]["chord_fit_triad"] == pytest.approx(1.0)
    assert f["model"]["texture_similarity"] > f["random bar"]["texture_similarity"], f
    assert f["model"]["chord_fit_triad"] > 0.8, f
    assert (tmp_path / "eval" / "evaluation.png").is_file() and bundle.sampling.temperature in (0.7, 0.85, 1.0)


def test_an_interrupted_training_resumes_to_the_same_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.arranger.texture_train as tt

    root = tmp_path / "POP909"
    for i in range(1, 9):
        write_synthetic_song(root / f"{i:03d}", i, bars=6)
    config = TextureTrainConfig(max_epochs=100, max_steps=60, batch_size_bars=8, warmup_steps=5, validate_every_steps=10, validation_share=0.2,
                                own_previous_bars=20, threads=1, seed=3)
    tt.train_texture(root, tmp_path / "straight", TINY, config)
    validate, calls = tt.validate, []

    def interrupted(*args, **kwargs):  # noqa: ANN002, ANN003
        calls.append(1)
        if len(calls) == 5:  # at step 50, after the model played its own previous bars (step 36)
            raise KeyboardInterrupt
        return validate(*args, **kwargs)

    monkeypatch.setattr(tt, "validate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tt.train_texture(root, tmp_path / "resumed", TINY, config)
    monkeypatch.setattr(tt, "validate", validate)
    with pytest.raises(AntiphonError, match="another training"):
        tt.train_texture(root, tmp_path / "resumed", TINY, TextureTrainConfig(**{**config.to_dict(), "seed": 4}), resume=True)
    tt.train_texture(root, tmp_path / "resumed", TINY, config, resume=True)
    a, b = (load_texture_model(tmp_path / name) for name in ("straight", "resumed"))
    assert a.meta["training"]["own_previous_from_step"] == b.meta["training"]["own_previous_from_step"] == 36
    for name, value in a.model.state_dict().items():
        torch.testing.assert_close(b.model.state_dict()[name], value)
    assert a.sampling == b.sampling
