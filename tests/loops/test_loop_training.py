"""The loop generator's trainings end to end on tiny models: complete folders, resume after an
interruption, DDP under torchrun, and refusals that change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from agent.errors import AntiphonError
from agent.loops import diffusion_train, step_training
from agent.loops.autoencoder import load_autoencoder
from agent.loops.diffusion_checkpoint import load_diffusion
from agent.loops.diffusion_train import train_diffusion
from tests.loops.tiny_loop_models import FAST_DIFFUSION, TINY_DIFFUSION


def test_both_folders_are_complete(tiny_loop_models: tuple[Path, Path, Path]) -> None:
    _, autoencoder, diffusion = tiny_loop_models
    for folder in (autoencoder, diffusion):
        for name in ("config.json", "model.safetensors", "README.md", "loss.png", "checkpoint/state.json"):
            assert (folder / name).is_file(), (folder, name)
    meta = json.loads((diffusion / "config.json").read_text())
    assert meta["training"]["status"] == "done" and meta["training"]["best_step"] in (2, 4)
    assert meta["autoencoder"]["folder"] == "../loop-autoencoder" and meta["bpm_range"] == [100.0, 136.0]
    assert [h["step"] for h in meta["training"]["history"]] == [2, 4]
    bundle = load_diffusion(diffusion)
    assert bundle.bpm_range == (100.0, 136.0)
    assert float(bundle.model.latent_std.min()) > 0  # the latents' statistics travel with the weights


def test_an_interrupted_training_resumes_where_it_stopped(tiny_loop_models: tuple[Path, Path, Path], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    loops, autoencoder, _ = tiny_loop_models
    out = tmp_path / "diffusion"
    real_save = step_training.save_resume

    def save_then_stop(folder, model, optimizer, state):  # noqa: ANN001, ANN202
        real_save(folder, model, optimizer, state)
        if state["step"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(step_training, "save_resume", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_diffusion(loops, autoencoder, out, TINY_DIFFUSION, FAST_DIFFUSION)
    monkeypatch.setattr(step_training, "save_resume", real_save)
    with pytest.raises(AntiphonError, match="exists and is not empty; pass --force"):
        train_diffusion(loops, autoencoder, out, TINY_DIFFUSION, FAST_DIFFUSION)
    calls: list[int] = []
    real_batch = diffusion_train.random_batch

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        return real_batch(*args, **kwargs)

    monkeypatch.setattr(diffusion_train, "random_batch", counted)
    train_diffusion(loops, autoencoder, out, TINY_DIFFUSION, FAST_DIFFUSION, resume=True)
    assert len(calls) == 1 + 2  # the fixed validation windows, then steps 3 and 4 only
    meta = json.loads((out / "config.json").read_text())
    assert [h["step"] for h in meta["training"]["history"]] == [2, 4] and meta["training"]["status"] == "done"
    with pytest.raises(AntiphonError, match="the saved run used another train"):
        train_diffusion(loops, autoencoder, out, TINY_DIFFUSION, replace(FAST_DIFFUSION, steps=6), resume=True)


def test_ddp_training_with_two_torchrun_processes(tiny_loop_models: tuple[Path, Path, Path], tmp_path: Path) -> None:
    loops, autoencoder, _ = tiny_loop_models
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "agent", "-q", "train-loop-diffusion", "--loops", str(loops),
           "--autoencoder", str(autoencoder), "--out", str(out), "--width", "8", "--max-width", "16", "--levels", "2", "--blocks", "1",
           "--steps", "4", "--batch-size", "2", "--crop-frames", "32", "--eval-every", "2", "--threads", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    meta = json.loads((out / "config.json").read_text())
    assert meta["training"]["processes"] == 2 and [h["step"] for h in meta["training"]["history"]] == [2, 4]
    load_diffusion(out)


@pytest.mark.parametrize("args, message", [
    (["train-loop-autoencoder", "--loops", "/nonexistent/loops"], "loop folder /nonexistent/loops does not exist"),
    (["train-loop-diffusion", "--autoencoder", "/nonexistent/ae"], "loop autoencoder folder /nonexistent/ae does not exist"),
    (["train-loop-autoencoder", "--steps", "0"], "0 is below 1"),
    (["train-loop-diffusion", "--resume"], "nothing to resume"),
])
def test_bad_training_requests_are_refused_in_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    args = [a.replace("/nonexistent", str(tmp_path / "none")) for a in args]
    result = subprocess.run([sys.executable, "-m", "agent", "-q", *args, "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and message.replace("/nonexistent", str(tmp_path / "none")) in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()
    assert len([line for line in result.stderr.splitlines() if line.startswith(("error", "antiphon"))]) == 1


def test_the_autoencoder_trains_under_torchrun_too(tiny_loop_models: tuple[Path, Path, Path], tmp_path: Path) -> None:
    loops, _, _ = tiny_loop_models
    out = tmp_path / "ae-ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "agent", "-q", "train-loop-autoencoder", "--loops", str(loops),
           "--out", str(out), "--base-channels", "4", "--max-channels", "8", "--latent-channels", "4", "--steps", "2", "--batch-size", "2",
           "--eval-every", "2", "--threads", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    meta = json.loads((out / "config.json").read_text())
    assert meta["training"]["processes"] == 2 and meta["training"]["heldout"]["loops"] == 1
    load_autoencoder(out)


def test_the_kinds_of_the_fit_loops_make_the_vocabulary(tmp_path: Path) -> None:
    items = []
    for i, kind in enumerate(["drums", "bass", "drums", None, "chords", "drums"]):
        wav = tmp_path / f"l{i}-120bpm.wav"
        if kind is not None:
            wav.with_suffix(".json").write_text(json.dumps({"kind": kind}), encoding="utf-8")
        items.append((wav, 120.0))
    names, shares, index = diffusion_train.kind_vocabulary(items)
    assert names == ("bass", "chords", "drums") and shares == (0.2, 0.2, 0.6)
    assert index == [2, 0, 2, None, 1, 2]
    assert diffusion_train.kind_vocabulary(items[:1] + items[2:4]) == ((), (), [None, None, None])  # one kind: no condition


def test_a_model_trained_on_named_kinds_hears_them(tiny_kind_diffusion: tuple[Path, Path], tiny_loop_models: tuple[Path, Path, Path], tmp_path: Path) -> None:
    loops, folder = tiny_kind_diffusion
    bundle = load_diffusion(folder)
    assert bundle.config.kind_count == 2 and bundle.kinds == ("high", "low")
    assert sum(bundle.kind_shares) == pytest.approx(1.0) and all(v > 0 for v in bundle.kind_shares)
    assert "low" in (folder / "README.md").read_text(encoding="utf-8")
    _, autoencoder, _ = tiny_loop_models
    plain = train_diffusion(loops, autoencoder, tmp_path / "plain", TINY_DIFFUSION, FAST_DIFFUSION, use_kinds=False)
    assert load_diffusion(plain).config.kind_count == 0 and load_diffusion(plain).kinds == ()


@pytest.mark.parametrize("kinds, message", [
    ({"names": ["high"], "shares": [1.0]}, "'kinds.names' must list 2 distinct kind names"),
    ({"names": ["high", "high"], "shares": [0.5, 0.5]}, "'kinds.names' must list 2 distinct kind names"),
    ({"names": ["high", "low"], "shares": [0.5, 0]}, "'kinds.shares' must give 2 positive shares"),
    (None, "'kinds.names' must list 2"),
    ("null", "'kinds.names' must list 2"),
])
def test_a_kind_record_that_does_not_fit_the_model_is_refused_in_one_line(tiny_kind_diffusion: tuple[Path, Path], tmp_path: Path, kinds: dict | str | None,
                                                                          message: str) -> None:
    import shutil

    folder = Path(shutil.copytree(tiny_kind_diffusion[1], tmp_path / "model"))
    meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if kinds is None:
        del meta["kinds"]
    else:
        meta["kinds"] = None if kinds == "null" else kinds
    (folder / "config.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(AntiphonError, match=message) as caught:
        load_diffusion(folder)
    assert "\n" not in str(caught.value)


def test_a_folder_from_before_the_kind_condition_loads_as_it_was(tiny_loop_models: tuple[Path, Path, Path], tmp_path: Path) -> None:
    import shutil

    import torch

    folder = Path(shutil.copytree(tiny_loop_models[2], tmp_path / "model"))
    meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    del meta["model"]["kind_count"]  # as written before the kind condition existed
    (folder / "config.json").write_text(json.dumps(meta), encoding="utf-8")
    old, now = load_diffusion(folder, tiny_loop_models[1]), load_diffusion(tiny_loop_models[2])
    assert old.config.kind_count == 0 and old.kinds == () and old.config == now.config
    assert all(torch.equal(a, b) for a, b in zip(old.model.state_dict().values(), now.model.state_dict().values()))
    meta["kinds"] = {"names": ["a", "b"], "shares": [0.5, 0.5]}
    (folder / "config.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(AntiphonError, match="'kinds' is given but model.kind_count is 0"):
        load_diffusion(folder, tiny_loop_models[1])
