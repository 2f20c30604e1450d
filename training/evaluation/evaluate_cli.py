"""`witryna evaluate`: argument parsing and data loading; the work is in evaluation/evaluate.py.

Nothing heavy is imported at module level, so that `witryna --help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Enough simulated shoppers for the test split (the newest 20%) to measure calibration: over
# 800 test sessions a 10-bin ECE of 0.045 was noise, the count-logistic's as much as the
# Transformer's; over 2,400 the same model measured 0.020 (validation: 0.017).
DEFAULT_SESSIONS = 12_000
# Fresh simulated populations the uplift head targets (training.evaluation.fresh_uplift).
DEFAULT_POPULATIONS = 5
DEFAULT_EPOCHS = 20

DESCRIPTION = """\
Train the Transformer on the older sessions (or load --checkpoint), fit the baselines
(most popular items, session kNN, logistic regression on count features, the P(buy) base
rate) on the same sessions, score all of them on every prefix of the newer sessions, and
write build/reports/NAME/report.md with ROC, calibration and by-length plots (the committed
reports/NAME are refreshed on purpose with --out). The Transformer trains --seeds times: its
metrics are mean ± sd over the seeds, its differences from each baseline (first seed) carry
a session-bootstrap interval and a verdict. On simulated data the uplift head is also
measured on --populations fresh populations. Data: --data with --format (a public
clickstream or Witryna's own event log), or simulated shoppers. `witryna evaluate-all`
runs every dataset with these defaults and writes a summary."""


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
    add_run_options(parser)
    parser.add_argument(
        "--checkpoint", type=Path, help="evaluate this checkpoint (its vocabulary) instead"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="report folder (default: build/reports/<format or 'simulated'>)",
    )
    parser.set_defaults(func=evaluate_command)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options `evaluate` and `evaluate-all` share: one set of defaults for every dataset."""
    from training.evaluation.seeds import DEFAULT_SEEDS

    parser.add_argument(
        "--sessions", type=int, default=DEFAULT_SESSIONS, help="simulated sessions (%(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="simulator seed and first training seed (%(default)s)"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=DEFAULT_EPOCHS,
        help="the most passes over the data (%(default)s); training stops earlier when the "
        "validation loss stops improving",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=DEFAULT_SEEDS,
        help="train the Transformer this many times (seeds SEED, SEED+1, ...) and report mean ± sd "
        "(%(default)s)",
    )
    parser.add_argument(
        "--populations",
        type=int,
        default=DEFAULT_POPULATIONS,
        help="simulated data: fresh populations of --sessions shoppers to measure uplift on "
        "(%(default)s)",
    )
    parser.add_argument(
        "--holdout",
        type=float,
        default=0.2,
        help="share of newest sessions to test on (%(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (%(default)s); the model is small, and on a shared machine more "
        "threads than free cores slow training several-fold",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


@dataclass(frozen=True)
class Dataset:
    """What to evaluate on: files in a format, or (no paths) simulated shoppers."""

    name: str
    paths: tuple[Path, ...] = ()
    fmt: str | None = None
    mapping: tuple[str, ...] = ()


@dataclass
class Loaded:
    dataset: Dataset
    sessions: list[Any]
    source: str
    simulated: list[Any]  # SimSessions of simulated data, else empty
    seconds: float


@dataclass
class Outcome:
    """One dataset's evaluation, its fresh-population uplift (simulated data) and report."""

    dataset: Dataset
    evaluation: Any
    fresh: Any
    report: Path


def load(dataset: Dataset, args: argparse.Namespace) -> Loaded:
    """The sessions of ``dataset``; raises ``OSError``/``ValueError`` (``AdapterError``)."""
    started = time.perf_counter()
    if dataset.paths:
        from training.data.adapters import read_sessions

        progress = not args.no_progress
        mapping = list(dataset.mapping) or None
        sessions = list(
            read_sessions(list(dataset.paths), dataset.fmt or "", mapping, progress=progress)
        )
        names = ", ".join(str(path) for path in dataset.paths)
        source = f"{dataset.fmt}: {names}"
        return Loaded(dataset, sessions, source, [], time.perf_counter() - started)
    from training.data.simulator import simulate

    simulated = simulate(args.sessions, args.seed)
    source = f"simulated shoppers, {args.sessions} sessions, seed {args.seed}"
    events = [s.events for s in simulated]
    return Loaded(dataset, events, source, simulated, time.perf_counter() - started)


def evaluate_command(args: argparse.Namespace) -> int:
    if args.data and not args.fmt:
        print("--data needs --format", file=sys.stderr)
        return 2
    set_threads(args.threads)
    name = args.fmt or "simulated"
    dataset = Dataset(name, tuple(args.data or ()), args.fmt, tuple(args.map or ()))
    command = command_line("evaluate", args)
    try:
        loaded = load(dataset, args)
        outcome = evaluate_loaded(loaded, args, args.out or Path("build/reports") / name, command)
    except (OSError, ValueError) as exc:  # AdapterError is a ValueError or OSError
        print(f"cannot evaluate: {exc}", file=sys.stderr)
        return 2
    _print_summary(outcome.evaluation)
    print(outcome.report)
    return 0


# dest -> option of `evaluate` and `evaluate-all`, in the order a command line names them
_SAME = "checkpoint sessions seed epochs seeds populations holdout threads out no_progress"
FLAGS = {"data": "--data", "fmt": "--format", "map": "--map", "data_dir": "--data-dir"}
FLAGS |= {name: "--" + name.replace("_", "-") for name in _SAME.split()}


def command_line(name: str, args: argparse.Namespace) -> str:
    """``witryna NAME`` with every option spelled out, defaults too: how to run it again."""
    words = ["witryna", name]
    for dest, flag in FLAGS.items():
        value = getattr(args, dest, None)
        if value is None or value is False:
            continue
        if value is True:
            words.append(flag)
        elif dest == "map":
            words += [word for entry in value for word in (flag, entry)]
        elif isinstance(value, list):
            words += [flag, *map(str, value)]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, min(threads, os.cpu_count() or 1)))


def evaluate_loaded(
    loaded: Loaded,
    args: argparse.Namespace,
    out: Path,
    command: str,
    checkpoint: Path | None = None,
) -> Outcome:
    """Evaluate, measure uplift on fresh populations (simulated data) and write the report."""
    from training.evaluation.evaluate import run_evaluation
    from training.evaluation.report import write_report
    from training.evaluation.report_uplift import fresh_uplift_section, uplift_section
    from training.model.train import TrainConfig

    started = time.perf_counter()
    print(f"evaluating on {len(loaded.sessions)} sessions ({loaded.source})", file=sys.stderr)
    config = TrainConfig(
        epochs=args.epochs, seed=args.seed, holdout=args.holdout, progress=not args.no_progress
    )
    checkpoint = getattr(args, "checkpoint", None)
    treatments = _treatments(loaded.simulated)
    evaluation = run_evaluation(
        loaded.sessions, loaded.source, config, checkpoint, treatments, args.seeds
    )
    evaluation.seconds = {"load": loaded.seconds, **evaluation.seconds}
    fresh = _fresh(evaluation, loaded.simulated, args)
    extra = (uplift_section(loaded.simulated), fresh_uplift_section(fresh, args.seed))
    evaluation.seconds["total"] = loaded.seconds + time.perf_counter() - started
    report = write_report(evaluation, out, command, extra)
    return Outcome(loaded.dataset, evaluation, fresh, report)


def _fresh(evaluation: Any, simulated: list[Any], args: argparse.Namespace) -> Any:
    """Uplift on fresh simulated populations, when the data and the model allow it."""
    model, vocab = evaluation.model, evaluation.vocab
    if not simulated or args.populations < 1 or not hasattr(model, "outcome_head"):
        return None
    from training.evaluation.fresh_uplift import fresh_seeds, fresh_uplift

    started = time.perf_counter()
    seeds = fresh_seeds(args.seed, args.populations)
    result = fresh_uplift(model, vocab, seeds, args.sessions)
    evaluation.seconds["fresh_uplift"] = time.perf_counter() - started
    return result


def _treatments(simulated: list[Any]) -> dict[str, Any] | None:
    """The simulator's logged incentive holdout, which trains and tests the uplift heads."""
    if not simulated:
        return None
    from training.data.treatment import logged_treatments

    return logged_treatments(simulated)


def _print_summary(evaluation: Any) -> None:
    for metric, row in evaluation.table.items():
        cells = ", ".join(f"{method} {value:.4f}" for method, value in row.items())
        print(f"{metric}: {cells}", file=sys.stderr)
