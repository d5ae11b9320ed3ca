"""Pretraining the small Wav2Vec2: real (tiny) runs on a synthetic pairs folder, on disk."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file


from agent.errors import AntiphonError
from agent.perception import PerceptionConfig, load_perception
from agent.perception import pretrain as pretrain_module
from agent.perception.model_card import write_perception_card
from agent.perception.pretrain import pretrain, read_architecture, save_random_encoder
from agent.perception.pretrain_config import PretrainConfig
from agent.perception.small_wav2vec2 import SmallWav2Vec2Config
from tests.test_cli import run

TINY = SmallWav2Vec2Config(conv_channels=16, hidden_size=16, num_layers=1, num_heads=2, ffn_size=32, positional_kernel=8,
                           positional_groups=4, codevector_groups=2, codevectors_per_group=8, codevector_dim=8,
                           proj_codevector_dim=8, num_negatives=5)
SHORT = PretrainConfig(steps=6, batch_size=2, crop_s=1.0, warmup_steps=2, validation_crops=4, eval_every_steps=3,
                       checkpoint_every_steps=3, threads=1)


def test_pretrained_encoder_loads_through_the_wav2vec2_backend(session_tone_pairs: Path, tmp_path: Path) -> None:
    out = pretrain(session_tone_pairs, tmp_path / "enc", TINY, SHORT, command="antiphon pretrain-perception ...")
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "architecture.json", "pretrain_config.json",
            "history.json", "loss.png"} <= names
    assert "checkpoint" not in names and not list(out.glob("*.bin"))
    assert not any(k.startswith("quantizer") for k in load_file(str(out / "model.safetensors")))  # encoder only
    history = json.loads((out / "history.json").read_text())["history"]
    assert [h["step"] for h in history] == [3, 6] and all(np.isfinite(h["val_loss"]) for h in history)
    perception = load_perception(PerceptionConfig(backend="wav2vec2", checkpoint=str(out)))
    assert perception.features(np.random.default_rng(0).standard_normal(4000).astype(np.float32)).shape == (16,)
    assert read_architecture(out) == TINY
    card = write_perception_card(out).read_text()
    assert "Not measured yet" in card and "antiphon pretrain-perception ..." in card
    assert f"--checkpoint {out}`" in card  # outside the repository: the folder as it is, not models/<name>


def test_an_interrupted_run_resumes_to_the_same_weights(session_tone_pairs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    straight = pretrain(session_tone_pairs, tmp_path / "straight", TINY, SHORT)
    real_crops = pretrain_module._crops
    calls = []

    def crops_then_crash(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        if len(calls) == 6:  # validation crops, then steps 0..3: step 4 dies after the checkpoint at step 3
            raise KeyboardInterrupt
        return real_crops(*args, **kwargs)

    monkeypatch.setattr(pretrain_module, "_crops", crops_then_crash)
    with pytest.raises(KeyboardInterrupt):
        pretrain(session_tone_pairs, tmp_path / "resumed", TINY, SHORT)
    monkeypatch.setattr(pretrain_module, "_crops", real_crops)
    assert json.loads((tmp_path / "resumed" / "checkpoint" / "state.json").read_text())["step"] == 3
    resumed = pretrain(session_tone_pairs, tmp_path / "resumed", TINY, SHORT, resume=True)
    a, b = load_file(str(straight / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-6, err_msg=key)


def test_force_replaces_only_a_pretraining_folder(session_tone_pairs: Path, tmp_path: Path) -> None:
    out = tmp_path / "enc"
    out.mkdir()
    (out / "notes.txt").write_text("x")
    (out / "config.json").write_text('{"model_type": "wav2vec2"}')  # a Hugging Face checkpoint is not this tool's output
    reason = (f"{out} holds files but no pretraining (pretrain_config.json and architecture.json, or checkpoint/state.json): "
              "--force replaces only a pretrained perception folder (move or delete it yourself)")
    with pytest.raises(AntiphonError) as info:
        pretrain(session_tone_pairs, out, TINY, SHORT, force=True)
    assert str(info.value) == reason
    done = run("pretrain-perception", "--pairs", str(session_tone_pairs), "--out", str(out), "--force")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [f"error: {reason}"]
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "notes.txt"] and (out / "notes.txt").read_text() == "x"
    # JSON objects without the fields this tool writes are not its output either
    (out / "notes.txt").unlink()
    (out / "architecture.json").write_text(json.dumps(TINY.to_dict()))
    (out / "pretrain_config.json").write_text("{}")
    with pytest.raises(AntiphonError, match="holds files but no pretraining"):
        pretrain(session_tone_pairs, out, TINY, SHORT, force=True)
    (out / "pretrain_config.json").write_text(json.dumps(asdict(SHORT)))
    (out / "architecture.json").write_text("{}")
    with pytest.raises(AntiphonError, match="holds files but no pretraining"):
        pretrain(session_tone_pairs, out, TINY, SHORT, force=True)
    (out / "checkpoint").mkdir()
    (out / "checkpoint" / "state.json").write_text(json.dumps({"architecture": {}, "pretrain": {}}))
    with pytest.raises(AntiphonError, match="holds files but no pretraining"):
        pretrain(session_tone_pairs, out, TINY, SHORT, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["architecture.json", "checkpoint", "config.json", "pretrain_config.json"]
    # this tool's own output is replaced, whole: an interrupted run's resume state, or a finished run's files
    (out / "checkpoint" / "state.json").write_text(json.dumps({"architecture": TINY.to_dict(), "pretrain": asdict(SHORT)}))
    pretrain(session_tone_pairs, out, TINY, SHORT, force=True)
    assert not (out / "checkpoint").exists() and json.loads((out / "config.json").read_text())["hidden_size"] == TINY.hidden_size
    pretrain(session_tone_pairs, out, TINY, SHORT, force=True)
    assert read_architecture(out) == TINY and json.loads((out / "pretrain_config.json").read_text())["steps"] == SHORT.steps


def test_refusals_are_one_line(session_tone_pairs: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    cases = [
        (lambda: pretrain(session_tone_pairs, tmp_path / "taken", TINY, SHORT), "already exists"),
        (lambda: pretrain(session_tone_pairs, tmp_path / "none", TINY, SHORT, resume=True), "nothing to resume"),
        (lambda: pretrain(tmp_path / "missing", tmp_path / "x", TINY, SHORT), "does not exist"),
        (lambda: PretrainConfig(steps=0), "steps must be at least 1"),
        (lambda: PretrainConfig(crop_s=0.1), "crop_s"),
        (lambda: SmallWav2Vec2Config(hidden_size=30, num_heads=4), "multiple of num_heads"),
        (lambda: read_architecture(tmp_path), "not a readable architecture file"),
    ]
    for call, match in cases:
        with pytest.raises(AntiphonError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


def test_cli_error_is_one_line(tmp_path: Path) -> None:
    done = run("pretrain-perception", "--pairs", str(tmp_path / "missing"), "--out", str(tmp_path / "x"))
    assert done.returncode != 0
    err = done.stderr.strip()
    assert err.startswith("error:") and "does not exist" in err and "\n" not in err, err


def test_random_encoder_is_the_initial_weights(tmp_path: Path) -> None:
    a = save_random_encoder(tmp_path / "a", TINY, seed=3)
    b = save_random_encoder(tmp_path / "b", TINY, seed=3)
    c = save_random_encoder(tmp_path / "c", TINY, seed=4)
    wa, wb, wc = (load_file(str(p / "model.safetensors")) for p in (a, b, c))
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert not all(np.array_equal(wa[k], wc[k]) for k in wa)


def test_the_clean_target_loss_is_transformers_loss_when_nothing_is_augmented() -> None:
    import torch

    from agent.perception.small_wav2vec2 import new_pretraining_model

    model = new_pretraining_model(TINY, 0).eval()  # eval: no dropout, hard codevector choice
    x = np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32)
    mask, negatives = pretrain_module._masks(model, 2, 16000, 3)
    with torch.no_grad():
        theirs = model(torch.from_numpy(x), mask_time_indices=mask, sampled_negative_indices=negatives)
        ours = pretrain_module._clean_target_loss(model, torch.from_numpy(x), torch.from_numpy(x.copy()), mask, negatives)
        heard = pretrain_module._clean_target_loss(model, torch.from_numpy(x[::-1].copy()), torch.from_numpy(x), mask, negatives)
    for mine, reference in zip(ours, (theirs.loss, theirs.contrastive_loss, theirs.diversity_loss)):
        assert float(mine) == pytest.approx(float(reference), rel=1e-5)
    assert float(heard[1]) != pytest.approx(float(theirs.contrastive_loss), rel=1e-3)  # other input, same targets: another loss


def test_augmented_crops_keep_clean_targets(session_tone_pairs: Path) -> None:
    audio = pretrain_module._load_stems(session_tone_pairs, heldout=False, crop_samples=16000)
    assert all(s.dtype == np.int16 for s in audio.signals)
    clean_in, clean_target = pretrain_module._crops(audio, 6, 16000, 0.005, np.random.default_rng(0))
    np.testing.assert_array_equal(clean_in, clean_target)
    inputs, targets = pretrain_module._crops(audio, 6, 16000, 0.005, np.random.default_rng(0), augment_prob=1.0)
    np.testing.assert_array_equal(targets[0], clean_target[0])  # the first crop is drawn before any augmentation
    assert all(not np.allclose(i, t) for i, t in zip(inputs, targets))
    np.testing.assert_allclose(inputs.mean(axis=1), 0.0, atol=1e-4)
    np.testing.assert_allclose(inputs.std(axis=1), 1.0, atol=1e-3)


def test_a_run_with_augmentation_records_it(session_tone_pairs: Path, tmp_path: Path) -> None:
    config = PretrainConfig(**{**asdict(SHORT), "augment_prob": 0.5})
    out = pretrain(session_tone_pairs, tmp_path / "enc", TINY, config)
    assert json.loads((out / "pretrain_config.json").read_text())["augment_prob"] == 0.5
    assert all(np.isfinite(h["val_loss"]) for h in json.loads((out / "history.json").read_text())["history"])
    with pytest.raises(AntiphonError, match="augment_prob must be between 0 and 1"):
        PretrainConfig(augment_prob=1.5)


def test_the_card_names_a_checkpoint_inside_the_repository_by_its_relative_path() -> None:
    from agent.paths import REPO_ROOT
    from agent.perception.model_card import _shown

    assert _shown(REPO_ROOT / "models" / "antiphon-w2v2-small") == "models/antiphon-w2v2-small"
    assert "checkpoint models/antiphon-w2v2-small`" in (REPO_ROOT / "models" / "antiphon-w2v2-small" / "README.md").read_text()
