"""Tiny models for the tests of export, trained and exported once per test run.

Exporting takes a process most of half a minute (torch.export), so the modules that need an
exported tiny model share one: the first pytest-xdist worker to ask builds it under a file
lock, in the run's temporary root, and the others wait for it and read it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from service.model.manifest import latest_artefact
from tests._support.torch_threads import one_torch_thread
from training.data.simulator import simulate
from training.data.treatment import logged_treatments
from training.model.checkpoint import save_checkpoint
from training.model.export import export
from training.model.train import TrainConfig, train

SEEDS = (1, 2)
# One layer: the graph exports in two thirds of the time of the demo's two, with the same
# operators (the demo model's own export in `make test` checks the parity of two).
TINY = TrainConfig(epochs=1, d_model=32, n_layers=1, progress=False)


def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of this test run that every xdist worker shares."""
    basetemp = tmp_path_factory.getbasetemp()
    # A worker's basetemp is popen-gwN inside the run's own; without xdist it is the run's.
    return basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp


def built_once(root: Path, name: str, build: Callable[[Path], None]) -> Path:
    """``root/name``, which ``build`` fills in a private folder the first time it is asked for;
    the rename publishes it whole."""
    target = root / name
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            staging = root / f".{name}-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            build(staging)
            os.rename(staging, target)
    return target


def _train(folder: Path) -> None:
    """The same data for each seed, so that the models share one vocabulary."""
    sims = simulate(80, seed=1)
    with one_torch_thread():
        for seed in SEEDS:
            config = replace(TINY, seed=seed)
            result = train([s.events for s in sims], config, logged_treatments(sims))
            save_checkpoint(result.checkpoint, folder / f"seed-{seed}.pt")


def tiny_checkpoints(root: Path) -> tuple[Path, Path]:
    """Two tiny models of one vocabulary that differ only by their training seed."""
    folder = built_once(root, "tiny-checkpoints", _train)
    first, second = (folder / f"seed-{seed}.pt" for seed in SEEDS)
    return first, second


def tiny_artefact(root: Path) -> Path:
    """The first tiny model exported, with an item index (tests/training/model/
    test_retrieval_export.py): ``models/demo/<version>`` alone in its models folder."""
    checkpoint = tiny_checkpoints(root)[0]

    def build(folder: Path) -> None:
        with one_torch_thread():
            export(checkpoint, folder / "models", "demo", retrieval=True)

    return latest_artefact(built_once(root, "tiny-artefact", build) / "models", "demo")
