"""Loops of known tempo rendered with the real fluidsynth: files, sidecars, the seamless wrap, the
tempo a beat tracker hears; a user's folder read with its tempi, bad folders refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from agent.audio_io import read_mono, write_audio
from agent.errors import AntiphonError
from agent.loops.loop_set import LoopSetConfig, loop_kind, loop_plan, read_loop_folder
from agent.loops.tempo import loop_tempo, tempo_is_right


@pytest.fixture(scope="module")
def loop_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("loops") / "set"
    result = subprocess.run([sys.executable, "-m", "agent", "-q", "make-loops", "--out", str(out), "--loops", "8", "--workers", "2"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return out


def test_every_loop_has_its_length_and_sidecar(loop_set: Path) -> None:
    index = json.loads((loop_set / "loops.json").read_text())
    assert index["soundfont"].endswith(".sf2") and len(index["loops"]) == 8 and {json.loads((loop_set / f"{n}.json").read_text())["kind"] for n in index["loops"]} == {"drums", "bass", "chords", "groove"}
    for name in index["loops"]:
        meta = json.loads((loop_set / f"{name}.json").read_text())
        info = sf.info(str(loop_set / f"{name}.wav"))
        assert info.samplerate == 16_000 and abs(info.frames - round(8 * 60 / meta["bpm"] * 16_000)) <= 1  # two bars of 4/4 exactly
        assert 90 <= meta["bpm"] <= 140 and f"{meta['bpm']:g}bpm" in name and meta == {**loop_plan(int(name[:4]), LoopSetConfig(loops=8)), "sample_rate_hz": 16_000, "soundfont": index["soundfont"], "name": name}


def test_the_wrap_continues_the_sound(loop_set: Path, tmp_path: Path) -> None:
    """A kept loop is the middle of three rendered repetitions: it starts as the third one does (the
    tails of the notes before it ring into both), so wrapping it continues the sound; the first
    repetition, which nothing precedes, starts differently."""
    from agent import paths
    from agent.demo.render import render_parts
    from agent.loops.loop_set import loop_parts

    for index in (1, 2):  # a bass line and chords: notes that ring over the bar line
        plan = loop_plan(index, LoopSetConfig(loops=8))
        loop_q = 4.0 * plan["bars"]
        parts = [(program, [(q + r * loop_q, d, p, v) for r in range(3) for q, d, p, v in notes]) for program, notes in loop_parts(plan)]
        n = int(round(loop_q * 60.0 / plan["bpm"] * 16_000))
        render_parts(tmp_path / "three.wav", parts, duration_s=3 * n / 16_000, rate_hz=16_000, soundfont=paths.default_soundfont(), bpm=plan["bpm"])
        three, _ = read_mono(tmp_path / "three.wav")
        kept, _ = read_mono(next(loop_set.glob(f"{index:04d}-*.wav")))
        np.testing.assert_allclose(kept, three[n : 2 * n], atol=1e-4)
        k = 320  # the level of the first 20 ms after the wrap, in 5 ms frames (dB): the waveform itself need not repeat (synth phases)

        def level(x: np.ndarray) -> np.ndarray:
            return 20 * np.log10(np.sqrt(np.mean(x[:k].reshape(-1, 80) ** 2, axis=1)) + 1e-5)

        assert np.mean(np.abs(level(three[n:]) - level(three[2 * n :]))) < 3.0, plan["kind"]
        assert np.mean(np.abs(level(three) - level(three[n:]))) > 6.0, plan["kind"]


def test_a_beat_tracker_hears_the_tempo_of_the_rendered_loops_and_not_of_a_stretched_one(loop_set: Path) -> None:
    loops = read_loop_folder(loop_set)
    right = [tempo_is_right(loop_tempo(*read_mono(path)), bpm) for path, bpm in loops]
    assert sum(right) >= 7, right
    path, bpm = loops[0]
    audio, rate = read_mono(path)
    slower = np.interp(np.arange(0, len(audio), 0.8), np.arange(len(audio)), audio)  # played 20 % slower
    assert not tempo_is_right(loop_tempo(slower, rate), bpm) and tempo_is_right(loop_tempo(slower, rate), bpm * 0.8)
    assert not tempo_is_right(2 * bpm, bpm) and not tempo_is_right(bpm / 2, bpm) and tempo_is_right(bpm * 1.039, bpm)
    assert loop_tempo(np.zeros(16_000), 16_000) == 0.0


@pytest.mark.parametrize("bpm", [95.0, 121.0, 139.0])
def test_the_tempo_of_a_click_loop_is_found_finer_than_the_tolerance(bpm: float) -> None:
    """Two bars of clicks (accented downbeats) at any rate: the estimate within 1.5 %, well inside 4 %."""
    for rate in (16_000, 44_100):
        n = int(round(8 * 60.0 / bpm * rate))
        audio = np.zeros(n, dtype=np.float32)
        for beat in range(8):
            start = int(round(beat * 60.0 / bpm * rate))
            audio[start : start + 200] = (1.0 if beat % 4 == 0 else 0.5) * np.sin(np.arange(200) * 0.6) * np.exp(-np.arange(200) / 60)
        assert abs(loop_tempo(audio, rate) / bpm - 1) < 0.015, (bpm, rate, loop_tempo(audio, rate))


def test_a_users_folder_takes_tempi_from_names_or_a_csv(tmp_path: Path) -> None:
    tone = np.sin(np.arange(8000) / 10).astype(np.float32) * 0.1
    for name in ("kick_124bpm.wav", "Groove 98.5 BPM.wav", "drums_120_bpm.wav", "untitled.wav", "._kick_124bpm.wav"):
        write_audio(tmp_path / name, tone, 16_000)
    with pytest.raises(AntiphonError, match="no tempo in its name"):
        read_loop_folder(tmp_path)
    (tmp_path / "tempo.csv").write_text("\ufefffile,bpm\nuntitled.wav,132\n", encoding="utf-8")  # a spreadsheet's BOM
    assert [(p.name, b) for p, b in read_loop_folder(tmp_path)] == [
        ("Groove 98.5 BPM.wav", 98.5), ("drums_120_bpm.wav", 120.0), ("kick_124bpm.wav", 124.0), ("untitled.wav", 132.0)]  # dot-files skipped
    (tmp_path / "tempo.csv").write_text("file,bpm\nuntitled.wav,fast\n")
    with pytest.raises(AntiphonError, match="line 2 is not 'file,bpm'"):
        read_loop_folder(tmp_path)
    (tmp_path / "tempo.csv").write_text("untitled.wav,400\n")
    with pytest.raises(AntiphonError, match="outside 40..240"):
        read_loop_folder(tmp_path)
    with pytest.raises(AntiphonError, match="does not exist"):
        read_loop_folder(tmp_path / "missing")
    with pytest.raises(AntiphonError, match="loops must be 1..100000"):
        LoopSetConfig(loops=0)


def test_a_rerun_keeps_what_was_rendered_with_the_same_plan_only(loop_set: Path, tmp_path: Path) -> None:
    """Same plan: nothing re-rendered; a sidecar that does not match (another config, a crash
    between the audio and its sidecar) makes the loop render again."""
    import shutil

    from agent import paths
    from agent.loops.loop_set import make_loop_set

    folder = tmp_path / "again"
    shutil.copytree(loop_set, folder)
    name = json.loads((folder / "loops.json").read_text())["loops"][0]
    before = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.wav")}
    (folder / f"{name}.json").write_text("{}")  # a stale sidecar
    make_loop_set(folder, LoopSetConfig(loops=8), paths.default_soundfont(), workers=1)
    after = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.wav")}
    assert [n for n in after if after[n] != before[n]] == [f"{name}.wav"]
    assert json.loads((folder / f"{name}.json").read_text())["name"] == name



@pytest.mark.parametrize("args, message", [
    (["make-loops", "--bars", "3"], "invalid choice: 3"),
    (["make-loops", "--workers", "0"], "0 is below 1"),
    (["make-loops", "--bpm-low", "150", "--bpm-high", "100", "--loops", "1"], "bpm_low..bpm_high must lie in 40..240"),
    (["loop-tempo", "/nonexistent/loops"], "does not exist"),
])
def test_bad_loop_commands_are_refused_in_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    args = [a.replace("/nonexistent", str(tmp_path / "none")) for a in args]
    if args[0] == "make-loops":
        args += ["--out", str(tmp_path / "out")]
    result = subprocess.run([sys.executable, "-m", "agent", "-q", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and message in result.stderr and not (tmp_path / "out").exists(), result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith(("error", "antiphon"))]) == 1


def test_a_loops_kind_comes_from_its_sidecar(tmp_path: Path) -> None:
    wav = tmp_path / "a-120bpm.wav"
    assert loop_kind(wav) is None  # no sidecar
    for value, kind in [("drums", "drums"), ("pop909", "pop909"), ("../x", None), ("Drums", None), (5, None), ("", None)]:
        (tmp_path / "a-120bpm.json").write_text(json.dumps({"kind": value}), encoding="utf-8")
        assert loop_kind(wav) == kind, value
    (tmp_path / "a-120bpm.json").write_text("{not json", encoding="utf-8")
    assert loop_kind(wav) is None
