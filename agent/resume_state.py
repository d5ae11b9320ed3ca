"""Resumable training state on disk, without pickle: weights and Adam(W) moments as safetensors,
everything else (step counters, history, the run's configuration) as JSON.

Used by the decision model's training and by the perception pretraining."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from agent.errors import AntiphonError

WEIGHTS = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
STATE = "state.json"


def save_resume(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Write the three files; ``state.json`` last and atomically, so a half-written folder is never resumed."""
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / WEIGHTS))
    flat: dict[str, torch.Tensor] = {}
    steps: dict[str, float] = {}
    for index, param_state in optimizer.state_dict()["state"].items():
        for key, value in param_state.items():
            if key == "step":
                steps[str(index)] = float(value)
            else:
                flat[f"{index}.{key}"] = value.contiguous()
    save_file(flat, str(folder / OPTIMIZER))
    tmp = folder / f"{STATE}.tmp"
    tmp.write_text(json.dumps({**state, "optimizer_steps": steps}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, folder / STATE)


def load_resume(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, expect: dict[str, Any]) -> dict[str, Any]:
    """Restore weights and optimizer; refuse (one line) a run whose ``expect`` keys differ."""
    try:
        state = json.loads((folder / STATE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AntiphonError(f"{folder}: no readable {STATE} to resume from ({exc})") from exc
    for key, value in expect.items():
        if state.get(key) != value:
            raise AntiphonError(f"{folder}: the saved run used another {key.replace('_', ' ')}; start afresh without --resume or change --out")
    model.load_state_dict(load_file(str(folder / WEIGHTS)))
    flat = load_file(str(folder / OPTIMIZER))
    opt_state = optimizer.state_dict()
    for index_str, step in state["optimizer_steps"].items():
        index = int(index_str)
        entry = {"step": torch.tensor(step)}
        for key in ("exp_avg", "exp_avg_sq"):
            entry[key] = flat[f"{index}.{key}"]
        opt_state["state"][index] = entry
    optimizer.load_state_dict(opt_state)
    return state
