"""Joining and leaving a torchrun process group (gloo, CPU): what the DDP-capable trainings share."""

from __future__ import annotations

import os

from torch import distributed as dist


def join_process_group() -> tuple[int, int]:
    """(rank, world size): (0, 1) in a single process; under ``torchrun`` (``WORLD_SIZE`` > 1) the
    process joins a gloo group first."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def barrier(world: int) -> None:
    """Wait for every rank (nothing in a single process)."""
    if world > 1:
        dist.barrier()


def leave_process_group(world: int) -> None:
    if world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
