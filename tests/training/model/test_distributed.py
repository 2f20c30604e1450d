"""Data-parallel training: two torchrun processes on CPU (gloo) train one model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.model.checkpoint import load_checkpoint
from training.model.intent_ranker import IntentRanker, ModelConfig

ROOT = Path(__file__).resolve().parents[3]
TORCHRUN = Path(sys.executable).parent / "torchrun"


@pytest.mark.slow
def test_torchrun_trains_with_two_processes_and_one_writer(tmp_path: Path) -> None:
    out = tmp_path / "ddp.pt"
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "training.cli"]
    command += ["train", "--sessions", "300", "--epochs", "1", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Each rank would print the path and "trained in" if it wrote; only rank 0 may.
    assert done.stdout.split() == [str(out)]
    assert done.stderr.count("trained in") == 1
    assert out.is_file()
    assert not out.with_name(out.name + ".tmp").exists()

    checkpoint = load_checkpoint(out)
    assert checkpoint["world_size"] == 2
    torch.manual_seed(0)  # train() seeds with --seed (0) right before building the model
    initial = IntentRanker(ModelConfig(**checkpoint["config"])).state_dict()
    trained = checkpoint["state_dict"]
    changed = [name for name, value in initial.items() if not torch.equal(value, trained[name])]
    assert len(changed) > len(initial) // 2, changed
