"""The step loop the loop generator's two trainings share (the autoencoder and the diffusion model):
seeded batches, Adam with a warm-up, gradients clipped, a validation figure every ``eval_every``
steps with the best weights kept, resumable from ``<out>/checkpoint`` (safetensors + JSON, no
pickle), a progress bar, and DDP under ``torchrun``.

Under torchrun every rank draws its own batches (the seed mixed with the rank), DistributedDataParallel
averages the gradients, every rank validates (the weights are identical, so all take the same
decision) and rank 0 alone writes files.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm import tqdm

from agent.distributed import barrier
from agent.resume_state import load_resume, save_resume

log = logging.getLogger(__name__)

RESUME_DIR = "checkpoint"


@dataclass(frozen=True)
class StepPlan:
    steps: int
    eval_every: int
    learning_rate: float
    warmup_steps: int
    seed: int


def train_steps(model: torch.nn.Module, plan: StepPlan, batch_loss: Callable[[torch.nn.Module, torch.Generator], torch.Tensor],
                validate: Callable[[torch.nn.Module], float], keep_best: Callable[[torch.nn.Module, dict[str, Any]], None],
                out_dir: Path, expect: dict[str, Any], resume: bool, rank: int, world: int, desc: str) -> dict[str, Any]:
    """Run ``plan.steps`` steps of ``batch_loss(wrapped model, generator)`` (lower validation
    figure is better; ``keep_best`` is called on rank 0 with the model whenever it improves).
    Returns the state: step, history [{step, train_loss, validation}], best_validation, best_step, train_s."""
    resume_dir = Path(out_dir) / RESUME_DIR
    optimizer = torch.optim.Adam(model.parameters(), lr=plan.learning_rate)
    state: dict[str, Any] = {**expect, "step": 0, "history": [], "best_validation": math.inf, "best_step": -1, "train_s": 0.0}
    if resume:
        state = load_resume(resume_dir, model, optimizer, expect)
        if rank == 0:
            log.info("%s: resuming after step %d (best validation figure %.4f at step %d)", desc, state["step"], state["best_validation"], state["best_step"])
    wrapped: torch.nn.Module = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    generator = torch.Generator().manual_seed(plan.seed * 1_000_003 + state["step"] * 101 + rank)
    losses: list[float] = []
    t0 = time.perf_counter()
    bar = tqdm(total=plan.steps, initial=state["step"], desc=desc, unit="step", disable=None if rank == 0 else True)
    while state["step"] < plan.steps:
        wrapped.train()
        for group in optimizer.param_groups:
            group["lr"] = plan.learning_rate * min(1.0, (state["step"] + 1) / max(plan.warmup_steps, 1))
        loss = batch_loss(wrapped, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state["step"] += 1
        losses.append(float(loss.detach()))
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
        if state["step"] % plan.eval_every == 0 or state["step"] == plan.steps:
            model.eval()
            with torch.no_grad():
                figure = float(validate(model))
            state["train_s"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            improved = figure < state["best_validation"]
            state["history"].append({"step": state["step"], "train_loss": sum(losses) / len(losses), "validation": figure})
            losses = []
            if improved:
                state["best_validation"], state["best_step"] = figure, state["step"]
            if rank == 0:
                log.info("%s: step %d  train loss %.4f  validation %.4f%s", desc, state["step"], state["history"][-1]["train_loss"], figure, "  *" if improved else "")
                if improved:
                    keep_best(model, state)
                save_resume(resume_dir, model, optimizer, state)
            barrier(world)
    bar.close()
    return state
