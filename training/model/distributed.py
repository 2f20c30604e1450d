"""Data-parallel training under ``torchrun`` (DistributedDataParallel, gloo on CPU).

``torchrun --nproc_per_node 2 -m training.cli train ...`` starts one process per rank with
WORLD_SIZE, RANK and the rendezvous address in the environment. Every rank builds the same
vocabulary and model from the same data and seed, trains on its own shard of the prefixes,
and DDP averages the gradients in backward. Only rank 0 prints and writes the checkpoint.
Without WORLD_SIZE > 1 every function here is a no-op, so single-process training is
unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def setup() -> None:
    """Join the process group that torchrun describes in the environment, if any."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group(backend="gloo")


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def threads_per_process(most: int = 4) -> int:
    """The machine's cores divided among the ranks on it, so they do not oversubscribe."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, min(most, (os.cpu_count() or 1) // max(1, local)))


def shard(pairs: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """This rank's share of the training prefixes, every rank the same size.

    Equal sizes give every rank the same number of batches: a rank with one batch more
    would wait forever in its extra gradient all-reduce.
    """
    world = world_size()
    if world == 1:
        return pairs
    usable = len(pairs) // world * world
    return pairs[:usable][rank() :: world]


class _Methods(nn.Module):
    """Routes ``method(*args)`` through ``forward``: DDP syncs gradients only of what runs
    through its own forward, and the training loss calls model methods (``heads``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.model, method)(*args, **kwargs)


class DataParallel:
    """The model as the loss sees it: its methods run through DDP, attributes are its own."""

    def __init__(self, model: nn.Module) -> None:
        self.module = model
        self.ddp = DistributedDataParallel(_Methods(model))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.ddp("forward", *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.module, name)
        if not callable(attribute) or isinstance(attribute, nn.Module):
            return attribute
        return self._through_ddp(name)

    def _through_ddp(self, name: str) -> Callable[..., Any]:
        return lambda *args, **kwargs: self.ddp(name, *args, **kwargs)


def wrap(model: nn.Module) -> Any:
    """``model`` itself on one process; under torchrun, a view whose calls go through DDP."""
    if world_size() == 1:
        return model
    # DDP broadcasts rank 0's weights here; the dropout masks should differ between ranks.
    wrapped = DataParallel(model)
    torch.manual_seed(torch.initial_seed() + rank())
    return wrapped
