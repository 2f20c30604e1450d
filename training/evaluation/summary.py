"""``reports/summary.md``: every dataset side by side, against the bar, with a verdict each.

Written from the outcomes of one ``witryna evaluate-all`` run; nothing in it is typed by
hand. A cell is the Transformer's mean ± sd over seeds against the best of the baselines
the bar names; the verdict says whether the mean clears the bar, and in brackets what the
session bootstrap (first seed) says of the difference from that baseline.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch

from training.evaluation.evaluate_cli import Outcome
from training.evaluation.fresh_uplift import FreshUplift, bar_line
from training.evaluation.fresh_uplift import table as fresh_table
from training.evaluation.report import cpu_model
from training.evaluation.seeds import format_mean_sd, mean_sd, seed_summary
from training.evaluation.verdicts import (
    BARS,
    UNDEFINED,
    BarVerdict,
    Difference,
    bar_verdict,
    differences,
)


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


def bar_verdicts(outcome: Outcome) -> list[BarVerdict]:
    """The verdict of every bar on one dataset, in ``BARS`` order."""
    means = seed_summary(outcome.evaluation.runs)
    table = outcome.evaluation.table
    return [bar_verdict(bar, means.get(bar.metric, (math.nan,))[0], table) for bar in BARS]


def render_summary(
    outcomes: Sequence[Outcome], skipped: Sequence[Skipped], command: str, seconds: float
) -> str:
    lines = ["# Evaluation summary", ""]
    lines += [f"Generated {datetime.now(UTC).isoformat(timespec='seconds')}"]
    lines += [f"by `{command}`, one set of defaults for every dataset.", ""]
    lines += _bars()
    lines += _results(outcomes)
    lines += _verdicts(outcomes)
    lines += _uplift(outcomes)
    lines += _skipped(skipped)
    lines += _run(outcomes, seconds)
    return "\n".join(lines) + "\n"


def write_summary(
    outcomes: Sequence[Outcome],
    skipped: Sequence[Skipped],
    path: Path,
    command: str,
    seconds: float,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_summary(outcomes, skipped, command, seconds))
    return path


def _bars() -> list[str]:
    rules = "; ".join(f"{bar.metric} {bar.rule}" for bar in BARS)
    return [
        "## The bar",
        "",
        f"The Transformer's mean over training seeds must be: {rules}. "
        "The uplift head (simulated shoppers only) must beat purchase-probability targeting "
        "on every fresh population and reach half the oracle's mean Qini. Each dataset's own "
        "report (linked) has every metric, the per-seed runs and all differences.",
        "",
    ]


def _link(outcome: Outcome) -> str:
    return f"[{outcome.dataset.name}]({outcome.dataset.name}/report.md)"


def _results(outcomes: Sequence[Outcome]) -> list[str]:
    lines = ["## Results", "", "Transformer mean ± sd vs the best compared baseline.", ""]
    lines += ["| dataset | " + " | ".join(bar.metric for bar in BARS) + " |"]
    lines += ["|---" * (len(BARS) + 1) + "|"]
    for outcome in outcomes:
        means = seed_summary(outcome.evaluation.runs)
        cells = [
            _result_cell(v, means.get(v.bar.metric, (math.nan, math.nan))[1])
            for v in bar_verdicts(outcome)
        ]
        lines.append(f"| {_link(outcome)} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _result_cell(verdict: BarVerdict, sd: float) -> str:
    if math.isnan(verdict.mean):
        return "n/a"
    mine = format_mean_sd(verdict.mean, sd)
    if not verdict.best:
        return mine
    return f"{mine} vs {verdict.best_value:.4f} {verdict.best}"


def _verdicts(outcomes: Sequence[Outcome]) -> list[str]:
    lines = ["## Verdicts", "", "pass / fail against the bar; in brackets, what the 95% session"]
    lines += ["bootstrap says of the difference from that baseline (first seed).", ""]
    lines += ["| dataset | " + " | ".join(bar.metric for bar in BARS) + " | passed |"]
    lines += ["|---" * (len(BARS) + 2) + "|"]
    for outcome in outcomes:
        found = differences(outcome.evaluation.table, outcome.evaluation.intervals)
        verdicts = bar_verdicts(outcome)
        cells = [_verdict_cell(v, found) for v in verdicts]
        defined = [v for v in verdicts if v.verdict != UNDEFINED]
        passed = sum(v.verdict == "pass" for v in defined)
        lines.append(
            f"| {_link(outcome)} | " + " | ".join(cells) + f" | {passed} of {len(defined)} |"
        )
    undefined = "n/a: undefined on this data (no purchase among its test prefixes: views only)."
    return [*lines, "", undefined, ""]


def _verdict_cell(verdict: BarVerdict, found: Sequence[Difference]) -> str:
    if verdict.verdict == UNDEFINED or not verdict.bar.baselines:
        return verdict.verdict
    noise = next(
        (d.verdict for d in found if (d.metric, d.baseline) == (verdict.bar.metric, verdict.best)),
        UNDEFINED,
    )
    return f"{verdict.verdict} ({noise})"


def _uplift(outcomes: Sequence[Outcome]) -> list[str]:
    lines = ["## Uplift on fresh shoppers", ""]
    fresh = [(o, o.fresh) for o in outcomes if isinstance(o.fresh, FreshUplift) and o.fresh]
    if not fresh:
        return [*lines, "Not measured: no simulated run with an uplift head.", ""]
    for outcome, result in fresh:
        lines += [f"{_link(outcome)}: Qini coefficients of the first seed's model.", ""]
        lines += [*fresh_table(result), "", bar_line(result), ""]
    return lines


def _skipped(skipped: Sequence[Skipped]) -> list[str]:
    if not skipped:
        return []
    lines = ["## Not evaluated", ""]
    return [*lines, *(f"- {s.name}: {s.reason}" for s in skipped), ""]


def _run(outcomes: Sequence[Outcome], seconds: float) -> list[str]:
    lines = ["## Run time", "", "| dataset | seeds | epochs | training events/s | wall seconds |"]
    lines += ["|---|---:|---:|---:|---:|"]
    for outcome in outcomes:
        runs = outcome.evaluation.runs
        rate, _ = mean_sd([run.events_per_second for run in runs])
        epochs = ", ".join(sorted({str(run.epochs) for run in runs}))
        total = outcome.evaluation.seconds.get("total", math.nan)
        speed = "n/a" if math.isnan(rate) else f"{rate:,.0f}"
        lines.append(f"| {_link(outcome)} | {len(runs)} | {epochs} | {speed} | {total:.1f} |")
    return [
        *lines,
        "",
        f"Total wall time {seconds:.1f}s on {cpu_model()}, {os.cpu_count()} logical cores, "
        f"torch threads {torch.get_num_threads()}, {platform.platform()}.",
    ]
