"""An evaluation as ``reports/<name>/report.md`` with small PNG plots beside it.

Every number and every sentence about who wins comes from the ``Evaluation``: nothing in
the report is written by hand, so a re-run on other data cannot keep a stale claim.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and in CI
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from training.evaluation import metrics as em
from training.evaluation.comparison import (
    BUCKETS,
    LOGISTIC,
    POPULARITY,
    RECENT,
    SKNN,
    TOP_K,
    TRANSFORMER,
    transformer_losses,
)
from training.evaluation.evaluate import Evaluation
from training.evaluation.report_seeds import (
    differences_section,
    seeds_note,
    seeds_section,
    transformer_cells,
    transformer_header,
)
from training.evaluation.unseen import unseen_section

DPI = 80
PLOTS = ("roc.png", "calibration.png", "by_length.png")
# An extra section (e.g. uplift) gets the evaluation and the folder, returns Markdown or None.
Section = Callable[[Evaluation, Path], str | None]


def write_report(
    evaluation: Evaluation, out_dir: Path, command: str = "", extra: tuple[Section, ...] = ()
) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_roc(evaluation, out_dir / "roc.png")
    plot_calibration(evaluation, out_dir / "calibration.png")
    plot_by_length(evaluation, out_dir / "by_length.png")
    sections = [section(evaluation, out_dir) for section in extra]
    text = render(evaluation, out_dir.name, command, [s for s in sections if s])
    path = out_dir / "report.md"
    path.write_text(text)
    return path


def _cell(value: float | None) -> str:
    if value is None:
        return "-"  # the method does not produce this output
    return "n/a" if math.isnan(value) else f"{value:.4f}"


def _table(
    rows: dict[str, dict[str, float]],
    first: str,
    methods: list[str],
    header: dict[str, str] | None = None,
    transformer: dict[str, str] | None = None,
) -> list[str]:
    """``header`` renames columns; ``transformer`` (row -> text) replaces the model's cells."""
    names = [(header or {}).get(m, m) for m in methods]
    lines = [f"| {first} | " + " | ".join(names) + " |", "|---" * (len(methods) + 1) + "|"]
    for name, row in rows.items():
        cells = [_cell(row.get(m)) for m in methods]
        if transformer and name in transformer and TRANSFORMER in methods:
            cells[methods.index(TRANSFORMER)] = transformer[name]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def render(evaluation: Evaluation, name: str, command: str, extra: list[str]) -> str:
    methods = list(evaluation.scores)
    lines = [f"# Evaluation: {name}", ""]
    lines += [f"Generated {datetime.now(UTC).isoformat(timespec='seconds')}"]
    lines += [f"by `{command}`." if command else "", ""]
    lines += ["## Data", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in evaluation.data.items()]
    lines += ["", *_definitions(), "", "## Results on all test prefixes", ""]
    header = {TRANSFORMER: transformer_header(evaluation)}
    lines += _table(evaluation.table, "metric", methods, header, transformer_cells(evaluation))
    lines += ["", '"-": the method has no such output; "n/a": undefined on this data.', ""]
    lines += [*seeds_note(evaluation), *differences_section(evaluation)]
    lines += ["## By prefix length", ""]
    for metric, buckets in evaluation.by_length.items():
        sized = {f"{b} ({evaluation.bucket_sizes[b]})": row for b, row in buckets.items()}
        lines += [f"**{metric}** (prefix length, prefixes)", ""]
        lines += [*_table(sized, "length", methods), ""]
    lines += ["![ROC](roc.png) ![calibration](calibration.png)", "", "![by length](by_length.png)"]
    lines += ["", *_losses(evaluation), "", *unseen_section(evaluation.unseen)]
    lines += [*extra, *seeds_section(evaluation)]
    lines += _machine(evaluation)
    return "\n".join(lines) + "\n"


def _definitions() -> list[str]:
    return [
        "Sessions are split by start time: the oldest go to training, the newest to test. "
        "The Transformer and every baseline learn from the same training sessions and are "
        "scored on every prefix of every test session. Label *buy*: a purchase follows the "
        "prefix in the same session; the buy metrics leave out the test sessions that may have "
        "gone on after the data ends (last event within 30 minutes of the data's last), "
        "whose purchases the data cannot show. Next item: the first later event naming an "
        f"item, scored only where that item is in the training vocabulary. Top-{TOP_K} lists "
        "throughout. "
        f"{POPULARITY}: the {TOP_K} most frequent training items. {RECENT}: the prefix's "
        f"own items, most recent first, topped up with popular items. {SKNN}: cosine similarity "
        "of item sets against training sessions, 100 neighbours, summed similarity per item, "
        f"topped up with popular items. {LOGISTIC}: L2 logistic regression on log counts per "
        "event type, prefix length, distinct items, seconds since the first event and the "
        "last event type. Base rate: the training share of *buy* prefixes, for everyone. "
        "ECE measures calibration only: a constant base rate can be well calibrated and "
        "useless, so read it beside ROC-AUC and PR-AUC. Intervals in the list of losses come "
        "from 200 bootstrap resamples of whole test sessions, all methods on the same "
        "resample.",
    ]


def _losses(evaluation: Evaluation) -> list[str]:
    lines = ["## Where the Transformer loses", ""]
    e = evaluation
    losses = transformer_losses(e.table, e.by_length, e.bucket_sizes, e.intervals)
    if not losses:
        return [*lines, "Nowhere on this data: no baseline beats it on any metric or bucket."]
    lines.append(f"A baseline beats the Transformer in {len(losses)} comparisons:")
    return [*lines, "", *(f"- {loss}" for loss in losses)]


def _machine(evaluation: Evaluation) -> list[str]:
    timings = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in evaluation.seconds.items())
    return [
        "## Machine and run time",
        "",
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores, "
        f"torch threads {torch.get_num_threads()}",
        f"- {platform.platform()}, Python {platform.python_version()}, torch {torch.__version__}",
        f"- Seconds: {timings}",
        f"- Wall time: {evaluation.seconds.get('total', math.nan):.1f}s",
    ]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _figure(width: float = 4.5, height: float = 4.0) -> tuple[Figure, Axes]:
    return plt.subplots(figsize=(width, height), dpi=DPI)


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _p_buy_methods(evaluation: Evaluation) -> list[tuple[str, np.ndarray]]:
    wanted = (TRANSFORMER, LOGISTIC)
    return [
        (m, s.p_buy) for m, s in evaluation.scores.items() if m in wanted and s.p_buy is not None
    ]


def plot_roc(evaluation: Evaluation, path: Path) -> None:
    fig, ax = _figure()
    for method, p_buy in _p_buy_methods(evaluation):
        fpr, tpr = em.roc_curve(p_buy, evaluation.truth.buy)
        value = em.auc(p_buy, evaluation.truth.buy)
        ax.plot(fpr, tpr, label=f"{method} (AUC {_cell(value)})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC of P(buy)")
    ax.legend(loc="lower right", fontsize="small")
    _save(fig, path)


def plot_calibration(evaluation: Evaluation, path: Path) -> None:
    fig, ax = _figure()
    for method, p_buy in _p_buy_methods(evaluation):
        mean_pred, observed, counts = em.calibration_bins(p_buy, evaluation.truth.buy)
        filled = counts > 0
        ece = em.expected_calibration_error(p_buy, evaluation.truth.buy)
        ax.plot(mean_pred[filled], observed[filled], marker="o", label=f"{method} (ECE {ece:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    ax.set(xlabel="predicted P(buy)", ylabel="observed share that buys", title="Reliability")
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left", fontsize="small")
    _save(fig, path)


def plot_by_length(evaluation: Evaluation, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.5), dpi=DPI)
    names = [name for name, _, _ in BUCKETS if name in evaluation.bucket_sizes]
    for ax, metric in zip(axes, ("buy ROC-AUC", f"Recall@{TOP_K}"), strict=True):
        buckets = evaluation.by_length.get(metric, {})
        methods = sorted({m for row in buckets.values() for m in row}, key=_method_order)
        for method in methods:
            values = [buckets.get(b, {}).get(method, float("nan")) for b in names]
            ax.plot(names, values, marker="o", label=method)
        ax.set(xlabel="prefix length", title=metric)
        ax.legend(fontsize="x-small")
    _save(fig, path)


def _method_order(method: str) -> int:
    order = (TRANSFORMER, LOGISTIC, SKNN, RECENT, POPULARITY)
    return order.index(method) if method in order else len(order)
