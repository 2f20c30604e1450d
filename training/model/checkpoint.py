"""A trained model on disk: the checkpoint format, its atomic write, and the model it holds.

Both training (which writes checkpoints) and evaluation and export (which read them) need
this, so it lives apart from the training loop.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from training.model.intent_ranker import IntentRanker, ModelConfig

CHECKPOINT_FORMAT = 1


def save_checkpoint(checkpoint: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    checkpoint: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a Witryna checkpoint of format {CHECKPOINT_FORMAT}")
    return checkpoint


def model_from_checkpoint(checkpoint: dict[str, Any]) -> IntentRanker:
    model = IntentRanker(ModelConfig(**checkpoint["config"]))
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()
