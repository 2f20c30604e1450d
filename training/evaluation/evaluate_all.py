"""`witryna evaluate-all`: every dataset big enough, and the simulator, then ``summary.md``.

Each dataset goes through exactly the path of `witryna evaluate` (``evaluate_loaded``),
with one set of options for all of them: there are no per-dataset flags, so no dataset
gets a tuned run the others do not.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.evaluation.evaluate_cli import (
    Dataset,
    Loaded,
    Outcome,
    add_run_options,
    command_line,
    evaluate_loaded,
    load,
    set_threads,
)

DEFAULT_DATA_DIR = Path("../shared/data")
# Below this, Recall@20's standard error passes ±0.035 and a seed's noise decides the verdict.
MIN_NEXT_ITEM_PREFIXES = 200
SIMULATED = "simulated"
# name, files (a glob under the data folder), format
KNOWN: tuple[tuple[str, str, str], ...] = (
    ("rees46", "rees46/*.csv", "rees46"),
    ("jdata", "jdata/JData_Action_*.csv", "jdata"),
    ("diginetica", "diginetica/train-item-views.csv", "diginetica"),
    ("otto", "otto/*.jsonl", "otto"),
)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate-all",
        help="evaluate on every dataset and the simulator, and write a summary",
        description="Run `witryna evaluate` on every known dataset under --data-dir that is "
        f"big enough (at least {MIN_NEXT_ITEM_PREFIXES} test prefixes with a next item the "
        "training sessions know) and on simulated shoppers, all with the same options, "
        "writing OUT/NAME/report.md for each and OUT/summary.md side by side. Known: "
        + ", ".join(f"{name} ({pattern})" for name, pattern, _ in KNOWN),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="folder of the datasets"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("build/reports"), help="folder of reports and summary"
    )
    add_run_options(parser)
    parser.set_defaults(func=evaluate_all_command)


def find_datasets(data_dir: Path) -> tuple[list[Dataset], list[tuple[str, str]]]:
    """The known datasets present under ``data_dir``, and ``(name, reason)`` of the others."""
    found, missing = [], []
    for name, pattern, fmt in KNOWN:
        paths = tuple(sorted(data_dir.glob(pattern)))
        if paths:
            found.append(Dataset(name, paths, fmt))
        else:
            missing.append((name, f"no {pattern} under {data_dir}"))
    return found, missing


def size_problem(sessions: Sequence[Sequence[Any]], holdout: float) -> str | None:
    """Why the data is too small for a verdict, or ``None``: counted as `evaluate` splits it."""
    from service.model.encoding import Vocabulary
    from training.data.dataset import encode_sessions, prefix_pairs, prefix_targets
    from training.data.labels import IGNORE
    from training.model.train import split_by_time

    train_sessions, test_sessions = split_by_time([s for s in sessions if s], holdout)
    if not train_sessions or not test_sessions:
        return f"{len(sessions)} sessions: none left on one side of the time split"
    vocab = Vocabulary.build(event for events in train_sessions for event in events)
    test = encode_sessions(test_sessions, vocab)
    _, next_items = prefix_targets(test, prefix_pairs(test.encoded))
    scored = int((next_items != IGNORE).sum())
    if scored >= MIN_NEXT_ITEM_PREFIXES:
        return None
    return (
        f"{len(sessions)} sessions, {len(test_sessions)} in the test split with {scored} test "
        f"prefixes whose next item the training sessions know, fewer than the "
        f"{MIN_NEXT_ITEM_PREFIXES} a verdict needs"
    )


def evaluate_all_command(args: argparse.Namespace) -> int:
    from training.evaluation.summary import Skipped, write_summary

    started = time.perf_counter()
    set_threads(args.threads)
    command = command_line("evaluate-all", args)
    found, missing = find_datasets(args.data_dir)
    skipped = [Skipped(name, reason) for name, reason in missing]
    outcomes: list[Outcome] = []
    failed = False
    for dataset in [*found, Dataset(SIMULATED)]:
        try:
            loaded = load(dataset, args)
            problem = size_problem(loaded.sessions, args.holdout)
            if problem is None:
                outcomes.append(_evaluate(loaded, args, command))
                continue
        except (OSError, ValueError) as exc:  # AdapterError is a ValueError or OSError
            failed, problem = True, f"cannot evaluate: {exc}"
        print(f"{dataset.name}: skipped, {problem}", file=sys.stderr)
        skipped.append(Skipped(dataset.name, problem))
    path = args.out / "summary.md"
    write_summary(outcomes, skipped, path, command, time.perf_counter() - started)
    print(path)
    return 1 if failed else 0


def _evaluate(loaded: Loaded, args: argparse.Namespace, command: str) -> Outcome:
    outcome = evaluate_loaded(loaded, args, args.out / loaded.dataset.name, command)
    print(outcome.report, file=sys.stderr)
    return outcome
