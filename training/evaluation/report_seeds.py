"""The report's parts about training seeds: mean ± sd cells, the per-seed table with training
throughput, and the table of differences against each baseline with its verdict."""

from __future__ import annotations

import math

from training.evaluation.comparison import TOP_K, TRANSFORMER
from training.evaluation.evaluate import Evaluation
from training.evaluation.seeds import format_mean_sd, mean_sd, seed_summary
from training.evaluation.verdicts import differences

SEED_COLUMNS = ("buy ROC-AUC", "buy PR-AUC", f"Recall@{TOP_K}", f"MRR@{TOP_K}")


def transformer_cells(evaluation: Evaluation) -> dict[str, str]:
    """metric -> "mean ± sd" over the seeds, for the Transformer's column of the main table."""
    return {m: format_mean_sd(*stats) for m, stats in seed_summary(evaluation.runs).items()}


def transformer_header(evaluation: Evaluation) -> str:
    n = len(evaluation.runs)
    return f"{TRANSFORMER} (mean ± sd, {n} seeds)" if n > 1 else TRANSFORMER


def seeds_note(evaluation: Evaluation) -> list[str]:
    runs = evaluation.runs
    if not runs:
        return []
    seeds = ", ".join(str(run.seed) for run in runs)
    spread = (
        f"The {TRANSFORMER} column is the mean ± sample sd over {len(runs)} training seeds "
        f"({seeds}); the baselines are deterministic given the split and fitted once. "
        if len(runs) > 1
        else f"The {TRANSFORMER} was trained once (seed {seeds}): no spread over seeds. "
    )
    return [
        spread + f"The by-length tables, the plots, the differences and the list of losses "
        f"use the per-prefix scores of the first seed ({runs[0].seed}).",
        "",
    ]


def seeds_section(evaluation: Evaluation) -> list[str]:
    """One row per training seed: its metrics, fit time and training throughput."""
    runs = evaluation.runs
    if not runs:
        return []
    lines = [
        "## Training seeds",
        "",
        "| seed | epochs run | fit seconds | training events/s | "
        + " | ".join(SEED_COLUMNS)
        + " |",
        "|---" * (4 + len(SEED_COLUMNS)) + "|",
    ]
    for run in runs:
        cells = [_number(run.metrics.get(m, math.nan)) for m in SEED_COLUMNS]
        speed = _rate(run.events_per_second)
        fit = f"| {run.seed} | {run.epochs} | {run.fit_seconds:.1f} | {speed} |"
        lines.append(f"{fit} " + " | ".join(cells) + " |")
    mean_rate, _ = mean_sd([run.events_per_second for run in runs])
    lines += [
        "",
        f"Training throughput: {_rate(mean_rate)} events/s, the mean over the seeds of "
        f"{runs[0].train_events:,} training events x epochs run / fit seconds.",
    ]
    return [*lines, ""]


def differences_section(evaluation: Evaluation) -> list[str]:
    """Transformer - baseline per metric and baseline, first seed, with its verdict."""
    found = differences(evaluation.table, evaluation.intervals)
    if not found:
        return []
    baselines = list(dict.fromkeys(d.baseline for d in found))
    rows: dict[str, dict[str, str]] = {}
    for d in found:
        interval = f"[{d.low:+.4f}, {d.high:+.4f}]" if math.isfinite(d.low) else "no interval"
        value = "n/a" if math.isnan(d.value) else f"{d.value:+.4f}"
        rows.setdefault(d.metric, {})[d.baseline] = f"{d.verdict}: {value} {interval}"
    lines = [
        "## Differences and verdicts",
        "",
        f"{TRANSFORMER} (first seed) minus each baseline, with the 95% interval from 200 "
        "bootstrap resamples of whole test sessions (all methods on the same resample). "
        "*win* or *loss*: the interval excludes zero (for ECE, lower is better, so a win is "
        "a negative difference); *within noise*: it does not; n/a: undefined on this data.",
        "",
        "| metric | " + " | ".join(baselines) + " |",
        "|---" * (len(baselines) + 1) + "|",
    ]
    for metric, cells in rows.items():
        lines.append(f"| {metric} | " + " | ".join(cells.get(b, "-") for b in baselines) + " |")
    return [*lines, ""]


def _number(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4f}"


def _rate(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f}"
