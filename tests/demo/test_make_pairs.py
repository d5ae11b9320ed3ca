"""The demo pairs come from real music21 chorales rendered by a real fluidsynth."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from agent.audio_io import read_mono
from agent.demo.chorales import STEMS
from agent.demo.make_pairs import DemoPairsConfig, is_heldout, make_demo_pairs, render_plan
from agent.errors import AntiphonError
from agent.pairs import read_heldout, scan_pairs, work_of


@pytest.fixture(scope="module")
def demo_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "pairs"
    make_demo_pairs(out, DemoPairsConfig(pieces=2, sample_rate_hz=16_000))
    return out


def test_pieces_have_four_aligned_audible_stems(demo_pairs: Path) -> None:
    pieces = scan_pairs(demo_pairs, STEMS)
    assert [p.name for p in pieces] == ["001-bwv269", "002-bwv347"]
    for piece in pieces:
        score = json.loads((demo_pairs / piece.name / "score.json").read_text())
        lengths = set()
        for stem in STEMS:
            audio, rate = read_mono(piece.stems[stem])
            assert rate == 16_000
            lengths.add(len(audio))
            assert np.sqrt(np.mean(audio**2)) > 0.01, f"{piece.name}/{stem} is silent"
            assert 0.45 < np.max(np.abs(audio)) <= 0.51  # peak-normalised to 0.5
            # sound starts near the first note, not long before
            first_note_s = score["notes"][stem][0][0]
            first_sound_s = np.argmax(np.abs(audio) > 0.01) / rate
            assert abs(first_sound_s - first_note_s) < 0.1
        assert lengths == {round(score["duration_s"] * 16_000)}
        assert set(score["programs"]) == set(STEMS) and 66 <= score["tempo_bpm"] <= 96


def test_split_is_recorded(demo_pairs: Path) -> None:
    heldout = read_heldout(demo_pairs)
    assert len(heldout) == 1
    split = json.loads((demo_pairs / "split.json").read_text())
    assert sorted(split["train"] + split["heldout"]) == ["001-bwv269", "002-bwv347"]


def test_second_run_is_cached_and_a_new_seed_rerenders(demo_pairs: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs"
    shutil.copytree(demo_pairs, pairs)  # the module's folder stays as it is for the other tests
    names = ["001-bwv269", "002-bwv347"]
    stems = [pairs / n / f"{s}.flac" for n in names for s in STEMS]
    written = {p: p.stat().st_mtime_ns for p in stems}
    make_demo_pairs(pairs, DemoPairsConfig(pieces=2, sample_rate_hz=16_000))
    assert {p: p.stat().st_mtime_ns for p in stems} == written  # the same request: nothing rendered again
    before = {n: json.loads((pairs / n / "score.json").read_text()) for n in names}
    audio = {p: read_mono(p)[0] for p in stems}
    make_demo_pairs(pairs, DemoPairsConfig(pieces=2, seed=1, sample_rate_hz=16_000))
    for name in names:
        score = json.loads((pairs / name / "score.json").read_text())
        plan = {k: score[k] for k in ("tempo_bpm", "programs", "velocities")}
        assert score["seed"] == 1 and plan != {k: before[name][k] for k in plan}, name  # seed 1 plays it otherwise
        for stem in STEMS:
            path = pairs / name / f"{stem}.flac"
            assert path.stat().st_mtime_ns != written[path], path  # every stem rendered again
        new = [read_mono(pairs / name / f"{s}.flac")[0] for s in STEMS]
        old = [audio[pairs / name / f"{s}.flac"] for s in STEMS]
        assert any(len(a) != len(b) or not np.array_equal(a, b) for a, b in zip(new, old)), name  # and it sounds otherwise
        assert len(new[0]) == round(score["duration_s"] * 16_000)
    assert json.loads((pairs / "demo.json").read_text())["config"]["seed"] == 1


def test_plans_are_seeded() -> None:
    from agent.demo.chorales import Chorale

    chorale = Chorale(name="bach/x", number=7, length_q=16.0, voices={})
    a = render_plan(chorale, DemoPairsConfig(seed=0))
    assert a == render_plan(chorale, DemoPairsConfig(seed=0))
    others = [render_plan(chorale, DemoPairsConfig(seed=s)) for s in range(1, 6)]
    assert any(o["programs"] != a["programs"] or o["tempo_bpm"] != a["tempo_bpm"] for o in others)


def test_variants_are_transposed_reorchestrated_and_held_out_together(demo_pairs: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs"
    shutil.copytree(demo_pairs, pairs)  # the module's folder stays as the other tests expect it
    make_demo_pairs(pairs, DemoPairsConfig(pieces=2, sample_rate_hz=16_000, variants=2))
    demo_pairs = pairs
    names = [p.name for p in scan_pairs(demo_pairs, STEMS)]
    assert names == ["001-bwv269", "001-bwv269@v1", "002-bwv347", "002-bwv347@v1"]
    written = json.loads((demo_pairs / "001-bwv269" / "score.json").read_text())
    variant = json.loads((demo_pairs / "001-bwv269@v1" / "score.json").read_text())
    shift = variant["transpose_semitones"]
    assert shift != 0 and variant["variant"] == 1 and "transpose_semitones" not in written
    for stem in STEMS:
        assert [n[2] + shift for n in written["notes"][stem]] == [n[2] for n in variant["notes"][stem]]
    # the rendered audio really is transposed: the bass's spectral peak moves by the shift
    def peak_hz(path: Path) -> float:
        audio, rate = read_mono(path)
        first = audio[int(0.05 * rate) : int(0.45 * rate)] * np.hanning(int(0.4 * rate))
        spectrum = np.abs(np.fft.rfft(first, 8 * len(first)))
        return float(np.argmax(spectrum) * rate / (8 * len(first)))
    ratio = peak_hz(demo_pairs / "001-bwv269@v1" / "soprano.flac") / peak_hz(demo_pairs / "001-bwv269" / "soprano.flac")
    assert abs(12 * np.log2(ratio) - shift) < 0.5 or abs(12 * np.log2(ratio) - shift) % 12 < 0.5  # the same note, or an octave of it
    heldout = read_heldout(demo_pairs)
    assert {work_of(n) for n in heldout} == {"002-bwv347"} and heldout == {"002-bwv347", "002-bwv347@v1"}
    assert is_heldout("014-bwv184.5@v2") and is_heldout("014-bwv184.5")
    with pytest.raises(AntiphonError, match="variants must be between 1 and 8"):
        DemoPairsConfig(variants=0)


def test_missing_soundfont(tmp_path: Path) -> None:
    with pytest.raises(AntiphonError, match="no General MIDI soundfont found"):
        make_demo_pairs(tmp_path / "p", DemoPairsConfig(pieces=1), soundfont=tmp_path / "none.sf2")
    with pytest.raises(AntiphonError, match="pieces must be between 1 and 400"):
        DemoPairsConfig(pieces=0)
