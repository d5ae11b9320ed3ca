"""Generating loops with a tiny trained model: lengths, seeds, files and sidecars; the closing
crossfade on signals with a known answer; bad requests refused in one line with nothing written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agent.errors import AntiphonError
from agent.loops.diffusion_checkpoint import load_diffusion
from agent.loops.generate import close_loop, free_prefix, generate_loops, loop_kinds, write_loops
from agent.loops.loop_metrics import seam
from agent.loops.loop_request import LoopRequest, loop_plan


def test_the_plan_holds_a_beat_either_side() -> None:
    pre, n, frames = loop_plan(LoopRequest(bpm=120.0, bars=2), 16_000, 256, 8)
    assert (pre, n) == (8000, 64_000)
    assert frames % 8 == 0 and frames * 256 >= pre + n + pre and (frames - 8) * 256 < pre + n + pre


def test_closing_a_continuing_sound_leaves_no_seam() -> None:
    rate, pre, n = 16_000, 8000, 30_011  # the loop is no whole number of the tone's periods
    t = np.arange(pre + n + 8000) / rate
    audio = (0.5 * np.sin(2 * np.pi * 221.0 * t)).astype(np.float32)
    cut = audio[pre : pre + n]
    assert seam(cut, rate).click_ratio > 5  # a plain cut clicks
    closed = close_loop(audio, pre, n, crossfade=320)
    assert len(closed) == n
    assert seam(closed, rate).click_ratio < 1.5
    assert abs(closed[0] - audio[pre + n]) < 1e-3  # the wrap continues from the loop's last sample
    assert np.array_equal(closed[320:], cut[320:])  # only the crossfade is touched


@pytest.mark.parametrize("kwargs, message", [
    ({"bpm": 0.0}, "bpm must be 40..240, got 0.0"),
    ({"bpm": float("nan")}, "bpm must be 40..240"),
    ({"bpm": 120.0, "bars": 10_000}, "bars must be 1..8, got 10000"),
    ({"bpm": 120.0, "count": 0}, "count must be 1..64, got 0"),
    ({"bpm": 120.0, "guidance": -1.0}, "guidance must be 0..20"),
    ({"bpm": 120.0, "kind": "../drums"}, "kind must be a short lower-case name"),
])
def test_bad_requests_are_refused_in_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(AntiphonError, match=message.replace(".", r"\.")) as caught:
        LoopRequest(**kwargs)
    assert "\n" not in str(caught.value)


def test_generated_loops_have_their_length_and_follow_their_seed(tiny_loop_models: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, _, folder = tiny_loop_models
    bundle = load_diffusion(folder)
    request = LoopRequest(bpm=124.0, bars=1, count=3, steps=3, seed=5)
    loops = generate_loops(bundle, request, batch=2)
    assert len(loops) == 3 and all(len(x) == request.loop_samples(16_000) for x in loops)
    assert all(np.max(np.abs(x)) <= 0.98 + 1e-6 and np.all(np.isfinite(x)) for x in loops)
    again = generate_loops(bundle, request, batch=3)  # batching does not change a loop: its noise is its own
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(loops, again))
    other = generate_loops(bundle, LoopRequest(bpm=124.0, bars=1, count=1, steps=3, seed=6))
    assert not np.allclose(other[0], loops[0])
    written = write_loops(tmp_path / "out", loops, request, bundle)
    assert [p.name for p in written] == ["loop-00-124bpm.wav", "loop-01-124bpm.wav", "loop-02-124bpm.wav"]
    meta = json.loads((tmp_path / "out" / "loop-01-124bpm.json").read_text())
    assert meta["bpm"] == 124.0 and meta["bars"] == 1 and meta["request"]["seed"] == 5 and meta["sample_rate_hz"] == 16_000
    assert free_prefix(tmp_path / "out", "loop") == "loop-2" and free_prefix(tmp_path / "out", "other") == "other"


def test_a_model_with_another_autoencoder_is_refused(tiny_loop_models: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, autoencoder, folder = tiny_loop_models
    other = tmp_path / "other-ae"
    shutil.copytree(autoencoder, other)
    meta = json.loads((other / "config.json").read_text())
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(other / "model.safetensors"))
    first = sorted(tensors)[0]
    tensors[first] = tensors[first] + 0.5
    save_file(tensors, str(other / "model.safetensors"))
    from agent.files import sha256_file

    meta["files"]["model.safetensors"] = sha256_file(other / "model.safetensors")
    (other / "config.json").write_text(json.dumps(meta))
    with pytest.raises(AntiphonError, match="not the autoencoder .* was trained with"):
        load_diffusion(folder, other)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", "-q", *args], capture_output=True, text=True, timeout=300)


def test_generate_loops_writes_files_and_a_corpus(tiny_loop_models: tuple[Path, Path, Path], trained: Path, tiny_wav2vec2: Path, tmp_path: Path) -> None:
    _, _, folder = tiny_loop_models
    result = run_cli("generate-loops", "--bpm", "118", "--bars", "1", "--count", "2", "--steps", "2", "--model", str(folder),
                     "--out", str(tmp_path / "gen"), "--into-corpus", str(tmp_path / "corpus"), "--codebook-model", str(trained))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "gen").glob("*.wav")) == ["loop-00-118bpm.wav", "loop-01-118bpm.wav"]
    manifest = json.loads((tmp_path / "corpus" / "manifest.json").read_text())
    assert manifest["target_stem"] == "loop" and manifest["num_grains"] > 0
    # a second request keeps the first loops and extends the corpus
    result = run_cli("generate-loops", "--bpm", "118", "--bars", "1", "--count", "1", "--steps", "2", "--model", str(folder),
                     "--out", str(tmp_path / "gen"), "--into-corpus", str(tmp_path / "corpus"), "--codebook-model", str(trained))
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "gen").glob("*.wav"))) == 3
    assert json.loads((tmp_path / "corpus" / "manifest.json").read_text())["num_grains"] > manifest["num_grains"]


@pytest.mark.parametrize("args, message", [
    (["--bpm", "0"], "bpm must be 40..240, got 0.0"),
    (["--bpm", "120", "--bars", "10000"], "bars must be 1..8, got 10000"),
    (["--bpm", "120", "--count", "0"], "0 is below 1"),
    (["--bpm", "120", "--model", "/nonexistent/model"], "does not exist"),
    (["--bpm", "120", "--prefix", "../elsewhere"], "a file name, not a path"),
])
def test_bad_generate_requests_are_refused_in_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    args = [a.replace("/nonexistent", str(tmp_path / "none")) for a in args]
    result = run_cli("generate-loops", *args, "--out", str(tmp_path / "out"))
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()
    assert len([line for line in result.stderr.splitlines() if line.startswith(("error", "antiphon"))]) == 1


def test_a_foreign_corpus_folder_is_refused_before_anything_is_generated(tiny_loop_models: tuple[Path, Path, Path], trained: Path, tmp_path: Path) -> None:
    _, _, folder = tiny_loop_models
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    result = run_cli("generate-loops", "--bpm", "118", "--count", "1", "--steps", "1", "--model", str(folder), "--out", str(tmp_path / "gen"),
                     "--into-corpus", str(foreign), "--codebook-model", str(trained))
    assert result.returncode != 0 and "holds files but is not a corpus" in result.stderr, result.stderr
    assert not (tmp_path / "gen").exists() and sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_a_corpus_of_other_stems_is_not_extended(tiny_loop_models: tuple[Path, Path, Path], trained: Path, tone_corpus: Path, tmp_path: Path) -> None:
    import shutil as sh

    _, _, folder = tiny_loop_models
    corpus = tmp_path / "tones"
    sh.copytree(tone_corpus, corpus)
    before = sorted(p.name for p in corpus.rglob("*"))
    result = run_cli("generate-loops", "--bpm", "118", "--count", "1", "--steps", "1", "--model", str(folder), "--out", str(tmp_path / "gen"),
                     "--into-corpus", str(corpus), "--codebook-model", str(trained))
    assert result.returncode != 0 and "not of loops" in result.stderr, result.stderr
    assert not (tmp_path / "gen").exists() and not (tmp_path / "tones-pairs").exists() and sorted(p.name for p in corpus.rglob("*")) == before
    result = run_cli("generate-loops", "--bpm", "118", "--count", "1", "--steps", "1", "--model", str(folder), "--out", str(tmp_path / "mine"),
                     "--into-corpus", str(tmp_path / "mine"), "--codebook-model", str(trained))
    assert result.returncode != 0 and "is the corpus or its pairs folder" in result.stderr and not (tmp_path / "mine").exists(), result.stderr


def test_a_kind_model_plays_the_asked_kind_or_draws_one_per_loop(tiny_kind_diffusion: tuple[Path, Path], tmp_path: Path) -> None:
    bundle = load_diffusion(tiny_kind_diffusion[1])
    drawn = loop_kinds(bundle, LoopRequest(bpm=120.0, count=40, seed=3))
    assert set(drawn) == {"high", "low"}  # both kinds come up in 40 draws
    assert loop_kinds(bundle, LoopRequest(bpm=120.0, count=5, seed=3)) == drawn[:5]  # loop i's kind is its own, whatever the count
    assert loop_kinds(bundle, LoopRequest(bpm=120.0, count=40, seed=4)) != drawn  # another seed, other draws
    assert loop_kinds(bundle, LoopRequest(bpm=120.0, count=3, kind="low")) == ["low"] * 3
    request = LoopRequest(bpm=120.0, bars=1, count=2, steps=3, seed=1)
    high = generate_loops(bundle, LoopRequest(bpm=120.0, bars=1, count=2, steps=3, seed=1, kind="high"))
    low = generate_loops(bundle, LoopRequest(bpm=120.0, bars=1, count=2, steps=3, seed=1, kind="low"))
    assert not np.allclose(high[0], low[0])  # same noise, another kind: another loop
    loops = generate_loops(bundle, request, batch=2)
    one_by_one = generate_loops(bundle, request, batch=1)  # each loop's kind and noise are its own, whatever the batch
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(loops, one_by_one))
    written = write_loops(tmp_path / "out", loops, request, bundle)
    sidecars = [json.loads(p.with_suffix(".json").read_text()) for p in written]
    assert [s["kind"] for s in sidecars] == loop_kinds(bundle, request)


def test_an_unknown_kind_is_refused_in_one_line_before_anything_is_generated(tiny_kind_diffusion: tuple[Path, Path], tiny_loop_models: tuple[Path, Path, Path],
                                                                             tmp_path: Path) -> None:
    with pytest.raises(AntiphonError, match="unknown kind 'drums'; this model knows high, low"):
        loop_kinds(load_diffusion(tiny_kind_diffusion[1]), LoopRequest(bpm=120.0, kind="drums"))
    with pytest.raises(AntiphonError, match="this model hears no kind"):
        generate_loops(load_diffusion(tiny_loop_models[2]), LoopRequest(bpm=120.0, kind="drums"))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "agent", "generate-loops", "--bpm", "120", "--bars", "1", "--count", "1", "--steps", "2",
                           "--model", str(tiny_kind_diffusion[1]), "--kind", "bass", "--out", str(out)], capture_output=True, text=True)
    assert done.returncode != 0 and "unknown kind 'bass'" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()
