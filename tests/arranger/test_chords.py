"""The chord recogniser: features, causality, training on rendered songs, mir_eval scoring, refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.arranger.frame_checkpoint import load_frame_model
from agent.arranger.frame_config import SpectrumConfig, FrameModelConfig, FrameTrainConfig
from agent.arranger.chord_eval import chord_scores, class_intervals, detect_key, pitch_class_energy
from agent.arranger.spectrum import spectrum, transpose_features
from agent.arranger.frame_model import FrameModel
from agent.arranger.songs import chord_class
from agent.errors import AntiphonError

RATE = 22_050


def tones(midi: list[int], seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return sum(np.sin(2 * np.pi * 440.0 * 2 ** ((m - 69) / 12) * t) for m in midi).astype(np.float32) / len(midi)


def test_the_spectrum_hears_a_triad_and_transposes() -> None:
    config = SpectrumConfig()
    features = spectrum(tones([60, 64, 67]), config)
    energy = pitch_class_energy(features[5:-5], config).sum(axis=0)
    assert set(np.argsort(energy)[-3:]) == {0, 4, 7}
    moved = transpose_features(features, 2, config)
    np.testing.assert_array_equal(moved[:, 2 : config.bins], features[:, : config.bins - 2])
    assert (moved[:, :2] == -1.0).all() and (moved[:, config.bins] == features[:, config.bins]).all()
    assert detect_key(pitch_class_energy(spectrum(tones([62, 66, 69, 74]), config), config)) == (2, 0)  # D major
    with pytest.raises(AntiphonError, match="too short"):
        spectrum(np.zeros(100, np.float32), config)


def test_the_recogniser_is_causal_and_steps_like_the_whole_pass() -> None:
    torch.manual_seed(0)
    model = FrameModel(FrameModelConfig(width=16, conv_layers=3, dropout=0.0), SpectrumConfig()).eval()
    x = torch.randn(1, 30, SpectrumConfig().dim)
    y = x.clone()
    y[:, 20:] = torch.randn(1, 10, x.shape[-1])
    with torch.no_grad():
        a, b = model(x)[0], model(y)[0]
    assert torch.allclose(a[:20], b[:20]) and not torch.allclose(a[20:], b[20:])
    state, steps = model.initial_state(1), []
    for t in range(30):
        logits, state = model.step(state, x[:, t])
        steps.append(logits[0])
    assert torch.allclose(torch.stack(steps), a, atol=1e-5)


def test_mir_eval_scores_of_known_answers() -> None:
    config = SpectrumConfig()
    ref = (np.array([[0.0, 2.0], [2.0, 4.0]]), ["C:maj7", "A:min"])
    frames = np.round(4.0 / config.frame_s).astype(int)
    right = np.where(np.arange(frames) * config.frame_s < 2.0, chord_class("C:maj"), chord_class("A:min"))
    wrong_half = np.where(np.arange(frames) * config.frame_s < 2.0, chord_class("C:maj"), chord_class("A:maj"))
    assert chord_scores([(*ref, *class_intervals(right, config), 4.0)])["majmin"] == pytest.approx(1.0, abs=0.03)
    scores = chord_scores([(*ref, *class_intervals(wrong_half, config), 4.0)])
    assert scores["majmin"] == pytest.approx(0.5, abs=0.03) and scores["root"] == pytest.approx(1.0, abs=0.03)


@pytest.fixture(scope="module")
def small_recogniser(fake_song_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agent.arranger.frame_train import train_frames

    out = tmp_path_factory.mktemp("chords") / "mix"
    return train_frames(fake_song_set, out, FrameModelConfig(width=32, conv_layers=2, dropout=0.0),
                        FrameTrainConfig(max_epochs=25, patience_epochs=25, crop_frames=64, batch_size=8, learning_rate=5e-3, validation_fraction=0.2))


def test_a_small_recogniser_learns_the_rendered_chords(small_recogniser: Path, fake_song_set: Path, tmp_path: Path) -> None:
    history = json.loads((small_recogniser / "checkpoint" / "state.json").read_text())["history"]
    assert history[-1]["val_loss"] < history[0]["val_loss"] - 0.5
    result = subprocess.run([sys.executable, "-m", "agent", "-q", "evaluate-chords", "--model", str(small_recogniser), "--song-set", str(fake_song_set),
                             "--out", str(tmp_path / "eval")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "eval" / "chords.json").read_text())
    assert report["heldout_songs"] == 4
    assert report["scores"]["model"]["majmin"] > 0.5, report  # chance over 25 classes is 0.04
    assert (tmp_path / "eval" / "chords.png").stat().st_size > 10_000


def test_bad_models_and_requests_are_refused_in_one_line(small_recogniser: Path, fake_song_set: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(small_recogniser, broken)
    (broken / "model.safetensors").write_bytes(b"\0" * 64)
    with pytest.raises(AntiphonError, match="checksum"):
        load_frame_model(broken)
    meta = json.loads((small_recogniser / "config.json").read_text())
    for field, value, message in (("format", "other", "not an Antiphon chord or beat model"), ("model", {"hears": "drums"}, "hears must be one of"),
                                  ("model", {"width": "wide"}, "'model.width' must be an integer")):
        shutil.copy(small_recogniser / "model.safetensors", broken / "model.safetensors")
        (broken / "config.json").write_text(json.dumps({**meta, field: value}))
        with pytest.raises(AntiphonError, match=message):
            load_frame_model(broken)
    for args, message in ((["--model", str(tmp_path / "none"), "--song-set", str(fake_song_set)], "does not exist"),
                          (["--model", str(small_recogniser), "--song-set", str(tmp_path)], "holds no rendered songs")):
        bad = subprocess.run([sys.executable, "-m", "agent", "-q", "evaluate-chords", *args, "--out", str(tmp_path / "e")], capture_output=True, text=True, timeout=300)
        assert bad.returncode != 0 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    bad = subprocess.run([sys.executable, "-m", "agent", "-q", "train-chords", "--song-set", str(fake_song_set), "--out", str(small_recogniser)],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "already exists" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "agent", "-q", "evaluate-beats", "--model", str(small_recogniser), "--song-set", str(fake_song_set),
                          "--out", str(tmp_path / "b")], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "is a chords model; evaluate-beats scores beat models" in bad.stderr


def test_a_small_beat_model_tracks_the_rendered_beats(fake_song_set: Path, tmp_path: Path) -> None:
    from agent.arranger.beat_eval import evaluate_beats, track_beats
    from agent.arranger.frame_train import train_frames

    out = train_frames(fake_song_set, tmp_path / "beats", FrameModelConfig(task="beats", width=32, conv_layers=3, dropout=0.0),
                       FrameTrainConfig(max_epochs=15, patience_epochs=15, crop_frames=256, batch_size=8, learning_rate=5e-3, validation_fraction=0.2),
                       SpectrumConfig(hop_samples=512))
    report = evaluate_beats(out, fake_song_set, tmp_path / "eval")
    assert report["scores"]["model"]["beat"] > 0.6, report
    assert (tmp_path / "eval" / "beats.png").stat().st_size > 10_000
    beats, downs = track_beats(np.zeros((100, 3)), SpectrumConfig(hop_samples=512))  # silence: no beat
    assert len(beats) == 0 and len(downs) == 0


def test_the_shipped_recogniser_names_a_rendered_c_f_g_c_progression(tmp_path: Path) -> None:
    """A piano playing C, F, G, C (2 s each, block chords in a middle register, rendered by
    fluidsynth): the shipped song-mode recogniser (models/pop909-chords) names each chord, by the
    majority of its frames after the first half second."""
    from agent import paths
    from agent.arranger.chord_eval import predict_classes
    from agent.arranger.spectrum import file_features
    from agent.demo.render import render_parts

    bundle = load_frame_model(paths.MODELS_DIR / "pop909-chords")
    chords = [("C:maj", (48, 60, 64, 67)), ("F:maj", (53, 60, 65, 69)), ("G:maj", (55, 59, 62, 67)), ("C:maj", (48, 60, 64, 67))]
    notes = [(2.0 * i + 0.5 * beat, 0.48, p, 80) for i, (_, pitches) in enumerate(chords) for beat in range(4) for p in pitches]
    wav = tmp_path / "progression.wav"
    render_parts(wav, [(0, notes)], duration_s=8.5, rate_hz=22_050, soundfont=paths.default_soundfont())
    classes = predict_classes(bundle, file_features(wav, bundle.features))
    frame_s = bundle.features.frame_s
    named = []
    for i in range(4):
        part = classes[int((2.0 * i + 0.5) / frame_s) : int((2.0 * i + 2.0) / frame_s)]
        named.append(np.bincount(part, minlength=25).argmax())
    assert named == [chord_class(label) for label, _ in chords], [int(c) for c in named]


def test_a_delay_moves_the_targets_late_and_the_predictions_back(fake_song_set: Path) -> None:
    """With ``delay_frames`` d the target at frame t is frame t - d's class (the first d ignored);
    evaluation moves the predictions back by d so frame t is scored with what was named at t + d."""
    from agent.arranger.chord_eval import predict_classes
    from agent.arranger.frame_checkpoint import FrameBundle
    from agent.arranger.frame_data import IGNORE, load_takes

    config = SpectrumConfig()
    plain = load_takes(fake_song_set, ["001"], "mix", config)[0]
    late = load_takes(fake_song_set, ["001"], "mix", config, delay_frames=3)[0]
    assert (late.labels[:3] == IGNORE).all() and np.array_equal(late.labels[3:], plain.labels[:-3])
    torch.manual_seed(0)
    model = FrameModel(FrameModelConfig(width=16, conv_layers=1, dropout=0.0, delay_frames=3), config).eval()
    bundle = FrameBundle(path=Path("."), model=model, meta={})
    with torch.no_grad():
        named = model(torch.from_numpy(plain.features)[None])[0].argmax(-1).numpy()
    moved = predict_classes(bundle, plain.features)
    assert np.array_equal(moved[:-3], named[3:]) and (moved[-3:] == named[-1]).all()
