"""`witryna evaluate`: argument parsing and data loading; the work is in evaluation/evaluate.py.

Nothing heavy is imported at module level, so that `witryna --help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_SESSIONS = 4000
DEFAULT_EPOCHS = 7

DESCRIPTION = """\
Train the Transformer on the older sessions (or load --checkpoint), fit the baselines
(most popular items, session kNN, logistic regression on count features, the P(buy) base
rate) on the same sessions, score all of them on every prefix of the newer sessions, and
write build/reports/NAME/report.md with ROC, calibration and by-length plots (the committed
reports/NAME are refreshed on purpose with --out). Data: --data with
--format (a public clickstream or Witryna's own event log), or simulated shoppers."""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="compare the model with baselines on a time split and write a report",
        description=DESCRIPTION,
    )
    data = parser.add_argument_group("data (default: simulated shoppers)")
    data.add_argument("--data", type=Path, nargs="+", help="event file(s), read in order")
    data.add_argument(
        "--format",
        dest="fmt",
        help="format of --data: rees46, otto, diginetica, jdata, witryna, csv, jsonl",
    )
    data.add_argument("--map", action="append", help="FIELD=COLUMN for --format csv/jsonl")
    data.add_argument(
        "--sessions", type=int, default=DEFAULT_SESSIONS, help="simulated sessions (%(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="simulator and training seed (%(default)s)"
    )
    parser.add_argument(
        "--epochs", type=int, default=DEFAULT_EPOCHS, help="training epochs (%(default)s)"
    )
    parser.add_argument(
        "--holdout",
        type=float,
        default=0.2,
        help="share of newest sessions to test on (%(default)s)",
    )
    parser.add_argument(
        "--checkpoint", type=Path, help="evaluate this checkpoint (its vocabulary) instead"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="report folder (default: build/reports/<format or 'simulated'>)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (%(default)s); the model is small, and on a shared machine more "
        "threads than free cores slow training several-fold",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=evaluate_command)


def load_sessions(args: argparse.Namespace) -> tuple[list[Any], str, list[Any]]:
    """``(sessions, description, simulated SimSessions or [])``."""
    if args.data:
        from training.data.adapters import read_sessions

        sessions = list(read_sessions(args.data, args.fmt, args.map, progress=not args.no_progress))
        names = ", ".join(str(path) for path in args.data)
        return sessions, f"{args.fmt}: {names}", []
    from training.data.simulator import simulate

    simulated = simulate(args.sessions, args.seed)
    source = f"simulated shoppers, {args.sessions} sessions, seed {args.seed}"
    return [s.events for s in simulated], source, simulated


def evaluate_command(args: argparse.Namespace) -> int:
    if args.data and not args.fmt:
        print("--data needs --format", file=sys.stderr)
        return 2
    import torch

    from training.evaluation.evaluate import run_evaluation
    from training.evaluation.report import write_report
    from training.model.train import TrainConfig

    torch.set_num_threads(max(1, min(args.threads, os.cpu_count() or 1)))
    started = time.perf_counter()
    try:
        sessions, source, simulated = load_sessions(args)
    except (OSError, ValueError) as exc:  # AdapterError is a ValueError or OSError
        print(f"cannot read the data: {exc}", file=sys.stderr)
        return 2
    loaded = time.perf_counter() - started
    print(f"evaluating on {len(sessions)} sessions ({source})", file=sys.stderr)
    config = TrainConfig(
        epochs=args.epochs, seed=args.seed, holdout=args.holdout, progress=not args.no_progress
    )
    try:
        evaluation = run_evaluation(
            sessions, source, config, args.checkpoint, _treatments(simulated)
        )
    except ValueError as exc:
        print(f"cannot evaluate: {exc}", file=sys.stderr)
        return 2
    evaluation.seconds = {"load": loaded, **evaluation.seconds}
    out = args.out or Path("build/reports") / (args.fmt or "simulated")
    command = "witryna evaluate " + shlex.join(sys.argv[2:] if len(sys.argv) > 1 else [])
    evaluation.seconds["total"] = time.perf_counter() - started
    report = write_report(evaluation, out, command, _extra_sections(simulated))
    _print_summary(evaluation)
    print(report)
    return 0


def _treatments(simulated: list[Any]) -> dict[str, Any] | None:
    """The simulator's logged incentive holdout, which trains and tests the uplift heads."""
    if not simulated:
        return None
    from training.data.treatment import logged_treatments

    return logged_treatments(simulated)


def _extra_sections(simulated: list[Any]) -> tuple[Any, ...]:
    from training.evaluation.report_uplift import uplift_section

    return (uplift_section(simulated),)


def _print_summary(evaluation: Any) -> None:
    for metric, row in evaluation.table.items():
        cells = ", ".join(f"{method} {value:.4f}" for method, value in row.items())
        print(f"{metric}: {cells}", file=sys.stderr)
