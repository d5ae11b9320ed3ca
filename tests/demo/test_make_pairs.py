"""The demo pairs come from real music21 chorales rendered by a real fluidsynth."""

import json
from pathlib import Path

import numpy as np
import pytest

from agent.audio_io import read_mono
from agent.demo.chorales import STEMS
from agent.demo.make_pairs import DemoPairsConfig, make_demo_pairs, render_plan
from agent.errors import AntiphonError
from agent.pairs import read_heldout, scan_pairs


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


def test_second_run_is_cached_and_a_new_seed_rerenders(demo_pairs: Path) -> None:
    stem_file = demo_pairs / "001-bwv269" / "bass.flac"
    before = stem_file.stat().st_mtime_ns
    make_demo_pairs(demo_pairs, DemoPairsConfig(pieces=2, sample_rate_hz=16_000))
    assert stem_file.stat().st_mtime_ns == before


def test_plans_are_seeded() -> None:
    from agent.demo.chorales import Chorale

    chorale = Chorale(name="bach/x", number=7, length_q=16.0, voices={})
    a = render_plan(chorale, DemoPairsConfig(seed=0))
    assert a == render_plan(chorale, DemoPairsConfig(seed=0))
    others = [render_plan(chorale, DemoPairsConfig(seed=s)) for s in range(1, 6)]
    assert any(o["programs"] != a["programs"] or o["tempo_bpm"] != a["tempo_bpm"] for o in others)


def test_missing_soundfont(tmp_path: Path) -> None:
    with pytest.raises(AntiphonError, match="no General MIDI soundfont found"):
        make_demo_pairs(tmp_path / "p", DemoPairsConfig(pieces=1), soundfont=tmp_path / "none.sf2")
    with pytest.raises(AntiphonError, match="pieces must be between 1 and 400"):
        DemoPairsConfig(pieces=0)
