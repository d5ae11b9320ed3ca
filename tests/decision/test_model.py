"""The decision Transformer: streaming equals batch, causality, constant cost, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agent.decision.config import DecisionConfig
from agent.decision.model import DecisionModel
from agent.errors import AntiphonError


def make_model(seed: int = 0, **overrides) -> DecisionModel:
    torch.manual_seed(seed)
    fields = dict(num_labels=16, num_layers=2, width=32, num_heads=4, ffn_width=64, context_chunks=12, dropout=0.0)
    fields.update(overrides)
    return DecisionModel(DecisionConfig(**fields)).eval()


def random_tokens(model: DecisionModel, batch: int, length: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(0, model.config.num_labels, (batch, length), generator=g)
    b = torch.randint(0, model.config.vocab_size, (batch, length), generator=g)
    return a, b


def step_all(model: DecisionModel, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    state = model.initial_state(a.shape[0])
    out = []
    for t in range(a.shape[1]):
        logits, state = model.step(state, a[:, t], b[:, t])
        out.append(logits)
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("length", [5, 12, 40])  # shorter than, equal to and beyond the window
def test_stepping_equals_the_full_causal_pass(length: int) -> None:
    model = make_model()
    a, b = random_tokens(model, 3, length)
    with torch.no_grad():
        full = model(a, b)
    stepped = step_all(model, a, b)
    assert stepped.shape == full.shape == (3, length, 16)
    torch.testing.assert_close(stepped, full, atol=1e-5, rtol=0)


def test_future_inputs_never_change_past_outputs() -> None:
    model = make_model()
    a, b = random_tokens(model, 1, 30)
    a2, b2 = a.clone(), b.clone()
    a2[0, 17:] = (a2[0, 17:] + 5) % 16
    b2[0, 17:] = (b2[0, 17:] + 3) % 16
    with torch.no_grad():
        one, two = model(a, b), model(a2, b2)
    torch.testing.assert_close(one[:, :17], two[:, :17], atol=0, rtol=0)
    assert not torch.allclose(one[:, 17:], two[:, 17:])  # the change is visible from where it happens
    torch.testing.assert_close(step_all(model, a, b)[:, :17], step_all(model, a2, b2)[:, :17], atol=0, rtol=0)


def test_the_window_bounds_what_a_step_sees() -> None:
    model = make_model()  # 2 layers, window 12: receptive field 2 * 11 + 1 = 23 steps
    assert model.config.receptive_field_chunks == 23
    a, b = random_tokens(model, 1, 60)
    a2 = a.clone()
    a2[0, :37] = (a2[0, :37] + 1) % 16  # everything older than the last 23 steps
    with torch.no_grad():
        one, two = model(a, b), model(a2, b)
    torch.testing.assert_close(one[:, -1], two[:, -1], atol=1e-6, rtol=0)
    assert not torch.allclose(one[:, -2], two[:, -2])  # step 58 still reaches input 36


def test_ten_minutes_of_steps_run_in_constant_memory() -> None:
    """2,400 steps (10 min at hop 0.25 s): fixed-size state; the output is that of a fresh pass over the receptive field."""
    model = make_model(context_chunks=64)
    a, b = random_tokens(model, 1, 2400, seed=3)
    state = model.initial_state(1)
    keys, shape = state.keys, tuple(state.keys.shape)

    def rss_kb() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4

    with torch.inference_mode():
        for t in range(200):
            logits, state = model.step(state, a[:, t], b[:, t])
        before = rss_kb()
        for t in range(200, 2400):
            logits, state = model.step(state, a[:, t], b[:, t])
        grown_kb = rss_kb() - before
        field = model.config.receptive_field_chunks
        window = model(a[:, -field:], b[:, -field:])[:, -1]
    assert state.keys is keys and tuple(state.keys.shape) == shape and state.position == 2400
    torch.testing.assert_close(logits, window, atol=1e-5, rtol=0)
    assert grown_kb < 8_000, f"resident memory grew by {grown_kb} kB over 2,200 steps"


def test_tokens_out_of_range_are_refused() -> None:
    model = make_model()
    with pytest.raises(ValueError, match="source tokens"):
        model(torch.tensor([[16]]), torch.tensor([[0]]))
    with pytest.raises(ValueError, match="answer tokens"):
        model.step(model.initial_state(1), 0, 17)


def test_config_is_validated() -> None:
    with pytest.raises(AntiphonError, match="multiple of num_heads"):
        DecisionConfig(width=30, num_heads=4)
    with pytest.raises(AntiphonError, match="anticipation_chunks"):
        DecisionConfig(anticipation_chunks=2)
    with pytest.raises(AntiphonError, match="unknown decision-model field"):
        DecisionConfig.from_dict({"num_labels": 16, "colour": 3})
    with pytest.raises(AntiphonError, match="must be an integer"):
        DecisionConfig.from_dict({"num_labels": 16.5})
    assert DecisionConfig.from_dict(DecisionConfig().to_dict()) == DecisionConfig()


def test_a_tiny_model_learns_a_tiny_mapping() -> None:
    """Smoke test of learning: answer = (performer label * 3 + 1) mod 16, learnt to ~100 %."""
    model = make_model(seed=2).train()
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.integers(0, 16, (32, 24)))
    target = (a * 3 + 1) % 16
    prev = torch.cat([torch.full((32, 1), 16), target[:, :-1]], dim=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss = torch.nn.functional.cross_entropy(model(a, prev).reshape(-1, 16), target.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = float((model(a, prev).argmax(-1) == target).float().mean())
    assert accuracy > 0.98, accuracy
