import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agent.errors import AntiphonError
from agent.perception import PerceptionConfig, load_perception
from tests.conftest import note_train, tiny_wav2vec2_config


def _chunks():
    rng = np.random.default_rng(0)
    return [note_train(16_000, [60 + i], 0.25, seed=i) + 0.01 * rng.standard_normal(4000).astype(np.float32) for i in range(5)]


def test_saved_tiny_model_loads_from_disk_and_is_deterministic(tiny_wav2vec2: Path) -> None:
    config = PerceptionConfig(backend="wav2vec2", checkpoint=str(tiny_wav2vec2))
    first, second = load_perception(config), load_perception(config)
    chunks = _chunks()
    a, b = first.features_batch(chunks), second.features_batch(chunks)
    assert a.shape == (5, 32) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first.features(chunks[0]), first.features(chunks[0]))
    np.testing.assert_allclose(first.features(chunks[2]), a[2], atol=1e-5)
    assert not np.allclose(a[0], a[1])  # different notes, different vectors
    ident = first.identity()
    assert ident["backend"] == "wav2vec2" and ident["dim"] == 32 and len(ident["checkpoint_sha256"]) == 64
    assert ident["checkpoint_sha256"] == second.identity()["checkpoint_sha256"]


def test_layer_selection(tiny_wav2vec2: Path) -> None:
    chunk = _chunks()[0]
    last = load_perception(PerceptionConfig("wav2vec2", str(tiny_wav2vec2), layer=-1)).features(chunk)
    also_last = load_perception(PerceptionConfig("wav2vec2", str(tiny_wav2vec2), layer=2)).features(chunk)
    first = load_perception(PerceptionConfig("wav2vec2", str(tiny_wav2vec2), layer=0)).features(chunk)
    np.testing.assert_array_equal(last, also_last)
    assert not np.allclose(last, first)
    with pytest.raises(AntiphonError, match="layer 3 is out of range"):
        load_perception(PerceptionConfig("wav2vec2", str(tiny_wav2vec2), layer=3))


@pytest.mark.parametrize("layer", [0, 1, 2, -2])
def test_layers_above_the_pooled_one_are_skipped_without_changing_it(tiny_wav2vec2: Path, layer: int) -> None:
    import torch
    from transformers import Wav2Vec2Model

    chunks = _chunks()
    backend = load_perception(PerceptionConfig("wav2vec2", str(tiny_wav2vec2), layer=layer))
    full = Wav2Vec2Model.from_pretrained(str(tiny_wav2vec2), use_safetensors=True).eval()
    expected = []
    for c in chunks:
        x = (c - c.mean()) / np.sqrt(c.var() + 1e-7)
        with torch.inference_mode():
            expected.append(full(torch.from_numpy(x[None].astype(np.float32)), output_hidden_states=True).hidden_states[layer].mean(dim=1)[0].numpy())
    np.testing.assert_allclose(backend.features_batch(chunks), np.stack(expected), atol=1e-5)
    assert backend.identity()["checkpoint_sha256"] == load_perception(PerceptionConfig("wav2vec2", str(tiny_wav2vec2), layer=-1)).identity()["checkpoint_sha256"]


@pytest.mark.parametrize("variant", ["post-norm", "pre-norm with layer-normed, biased convolutions", "odd positional kernel"])
def test_the_plain_torch_encoder_gives_transformers_hidden_states(tmp_path: Path, variant: str) -> None:
    """Every hidden state of ``Wav2Vec2Encoder`` against transformers' model, and the same identity hash."""
    import torch
    from transformers import Wav2Vec2Model

    from agent.perception.wav2vec2 import weights_sha256
    from agent.perception.wav2vec2_encoder import Wav2Vec2Encoder, supported

    config = tiny_wav2vec2_config()
    if variant.startswith("pre-norm"):
        config.do_stable_layer_norm, config.feat_extract_norm, config.conv_bias = True, "layer", True
    elif variant == "odd positional kernel":
        config.num_conv_pos_embeddings = 15
    torch.manual_seed(3)
    reference = Wav2Vec2Model(config).eval()
    reference.save_pretrained(tmp_path / "w")
    saved = json.loads((tmp_path / "w" / "config.json").read_text())
    assert supported(saved)
    encoder = Wav2Vec2Encoder.load(tmp_path / "w", saved)
    audio = torch.from_numpy(np.stack(_chunks()[:2]))
    with torch.inference_mode():
        expected = reference(audio, output_hidden_states=True).hidden_states
        for layer in range(len(expected)):
            torch.testing.assert_close(encoder.hidden_state(audio, layer), expected[layer], atol=2e-5, rtol=1e-4)
    backend = load_perception(PerceptionConfig("wav2vec2", str(tmp_path / "w")))
    assert backend.identity()["checkpoint_sha256"] == weights_sha256(reference)


def test_a_ctc_save_has_the_identity_transformers_gives_it(tmp_path: Path) -> None:
    """A Wav2Vec2ForCTC folder (encoder weights under "wav2vec2.", a CTC head beside them): the
    plain-torch encoder hashes the encoder's weights as transformers' Wav2Vec2Model holds them."""
    import torch
    from transformers import Wav2Vec2ForCTC, Wav2Vec2Model

    from agent.perception.wav2vec2 import weights_sha256

    torch.manual_seed(5)
    Wav2Vec2ForCTC(tiny_wav2vec2_config()).save_pretrained(tmp_path / "ctc")
    reference = Wav2Vec2Model.from_pretrained(str(tmp_path / "ctc"), use_safetensors=True).eval()
    backend = load_perception(PerceptionConfig("wav2vec2", str(tmp_path / "ctc"), layer=1))
    assert backend.identity()["checkpoint_sha256"] == weights_sha256(reference)
    x = _chunks()[0]
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    with torch.inference_mode():
        want = reference(torch.from_numpy(x[None].astype(np.float32)), output_hidden_states=True).hidden_states[1].mean(dim=1)[0].numpy()
    np.testing.assert_allclose(backend.features(_chunks()[0]), want, atol=1e-5)


def test_the_shipped_encoder_runs_without_importing_transformers() -> None:
    code = ("import sys; from agent import paths; from agent.perception import PerceptionConfig, load_perception; "
            "import numpy as np; p = load_perception(PerceptionConfig('wav2vec2', str(paths.DEFAULT_PERCEPTION_DIR), layer=0)); "
            "print(p.features(np.zeros(1600, np.float32)).shape, 'transformers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "False", done.stdout


def test_short_chunk_is_padded_to_receptive_field(tiny_wav2vec2: Path) -> None:
    backend = load_perception(PerceptionConfig("wav2vec2", str(tiny_wav2vec2)))
    vec = backend.features(np.ones(50, dtype=np.float32))
    assert vec.shape == (32,) and np.all(np.isfinite(vec))


def test_pretraining_checkpoint_loads_as_backend(tmp_path: Path) -> None:
    import torch
    from transformers import Wav2Vec2ForPreTraining

    torch.manual_seed(1)
    Wav2Vec2ForPreTraining(tiny_wav2vec2_config()).save_pretrained(tmp_path / "pt")
    backend = load_perception(PerceptionConfig("wav2vec2", str(tmp_path / "pt")))
    assert backend.features(_chunks()[0]).shape == (32,)


def test_pickle_only_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "config.json").write_text(tiny_wav2vec2_config().to_json_string())
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(AntiphonError, match="only pickle weights"):
        load_perception(PerceptionConfig("wav2vec2", str(folder)))


def test_truncated_weights_are_refused(tiny_wav2vec2: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_wav2vec2, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(AntiphonError, match="cannot load Wav2Vec2 folder"):
        load_perception(PerceptionConfig("wav2vec2", str(broken)))


def test_missing_checkpoint_without_hub(tmp_path: Path) -> None:
    with pytest.raises(AntiphonError, match="cannot load Wav2Vec2 checkpoint"):
        load_perception(PerceptionConfig("wav2vec2", "no-such-org/no-such-model"))
    with pytest.raises(AntiphonError, match="needs a checkpoint"):
        PerceptionConfig("wav2vec2", None)
