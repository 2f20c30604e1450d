"""`witryna train` and `witryna export`, registered into the service's console script.

service/ may not import training/, so `witryna` finds ``register`` through the
``witryna.commands`` entry point. Torch loads inside the commands: ``witryna --help``
stays fast and works where only the service is installed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_SESSIONS = 4000
DEFAULT_EPOCHS = 7


def register(subparsers: Any) -> None:
    """Add ``train`` and ``export`` to an ``argparse`` subparsers object."""
    train = subparsers.add_parser("train", help="train a model on events or simulated sessions")
    train.add_argument("--events", type=Path, help="events JSONL (default: simulated shoppers)")
    train.add_argument("--sessions", type=int, default=DEFAULT_SESSIONS, help="simulated sessions")
    train.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", type=Path, default=Path("build/demo.pt"), help="checkpoint path")
    train.set_defaults(func=train_command)

    export = subparsers.add_parser("export", help="export a checkpoint to models/<name>/<version>")
    export.add_argument("checkpoint", type=Path)
    export.add_argument("--models-dir", type=Path, default=Path("models"))
    export.add_argument("--name", default="demo")
    export.set_defaults(func=export_command)


def train_command(args: argparse.Namespace) -> int:
    import torch

    from training.events_jsonl import read_sessions_jsonl
    from training.simulator import simulate
    from training.train import TrainConfig, save_checkpoint, train

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    if args.events is not None:
        sessions = read_sessions_jsonl(args.events)
        source = f"{len(sessions)} sessions from {args.events}"
    else:
        sessions = [s.events for s in simulate(args.sessions, args.seed)]
        source = f"{len(sessions)} simulated sessions (seed {args.seed})"
    if len(sessions) < 2:
        print(f"need at least 2 sessions to train and evaluate, got {source}", file=sys.stderr)
        return 2
    print(f"training on {source}", file=sys.stderr)
    result = train(sessions, TrainConfig(epochs=args.epochs, seed=args.seed))
    save_checkpoint(result.checkpoint, args.out)
    for name, value in result.checkpoint["metrics"].items():
        print(f"{name}: {value:.4f}", file=sys.stderr)
    print(f"trained in {result.seconds:.1f}s", file=sys.stderr)
    print(args.out)
    return 0


def export_command(args: argparse.Namespace) -> int:
    from training.export import ParityError, export

    try:
        artefact = export(args.checkpoint, args.models_dir, args.name)
    except ParityError as exc:
        print(f"not published: {exc}", file=sys.stderr)
        return 1
    print(artefact)
    return 0
