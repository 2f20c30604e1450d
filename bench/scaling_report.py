"""The workers comparison in the report: a table, its ratios, what limited each count, and
a plot of throughput by workers against the line of perfect scaling."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import gpu as bench_gpu

if TYPE_CHECKING:
    from matplotlib.axes import Axes

PARTS = ("server", "Redis", "load generator")
BAR_ID = "workers {workers}"
TITLE = "page views/s at saturation by workers"


def _pct(share: float) -> str:
    return f"{100 * share:.0f}%"


def section(comparison: dict[str, Any]) -> list[str]:
    runs = comparison["runs"]
    lines = [
        "## Workers: page views at saturation, N workers against 1",
        "",
        f"Host of {comparison['host_cores']} cores; each count on a stack of its own, all",
        f"measured in turns over {comparison['rounds']} rounds of {comparison['seconds']:g} s.",
        "Server CPU is the share of its cores (shared with its Redis); Redis's is of one",
        "core; the load generator's, of its own cores.",
        "",
        "| workers | cores | page views/s | against 1 | p50 ms | p99 ms | errors "
        "| server CPU | Redis CPU | load generator CPU | GPU | busiest (≥ 90%) |",
        "|---" * 12 + "|",
    ]
    for run in runs:
        busy = run["busy"]
        lines.append(
            f"| {run['workers']} | {run['layout']} | {run['throughput']:,.0f} "
            f"| {run['ratio']:.2f}x | {run['p50_ms']:.2f} | {run['p99_ms']:.2f} "
            f"| {run['errors']} | " + " | ".join(_pct(busy[part]) for part in PARTS)
            + f" | {bench_gpu.describe(run['gpu'])} | {run['limit']} |"
        )  # fmt: skip
    lines.append("")
    for run in runs[1:]:
        rounds = run["round_ratios"]
        lines.append(
            f"{run['workers']} workers against 1: **{run['ratio']:.2f}x** "
            f"(each round: {min(rounds):.2f} to {max(rounds):.2f})"
        )
    return [*lines, *_caveats(runs)]


def _caveats(runs: list[dict[str, Any]]) -> list[str]:
    shared = [run for run in runs if not run["own_cores"]]
    notes = []
    if shared:
        worst = shared[-1]
        notes.append(
            f"**This host has no spare cores for the comparison:** {worst['workers']} workers "
            f"shared {len(worst['server_cores'])} core(s) beside the load generator's "
            f"{len(worst['load_cores'])}, so the ratio measures sharing, not scaling."
        )
    if any(run["limit"] == "load generator" for run in runs):
        notes.append(
            "The load generator was busy ≥ 90% of its cores: the figure is what it could "
            "send, a floor under the server's capacity."
        )
    return ["", *notes] if notes else []


def _panel(axes: Axes, runs: list[dict[str, Any]]) -> None:
    workers = [run["workers"] for run in runs]
    one = runs[0]["throughput"]
    bars = axes.bar(range(len(runs)), [run["throughput"] for run in runs], width=0.6,
                    color="#d9480f", label="measured")  # fmt: skip
    for bar, run in zip(bars, runs, strict=True):
        bar.set_gid(BAR_ID.format(workers=run["workers"]))
        top = (bar.get_x() + 0.3, bar.get_height())
        axes.annotate(f"{run['ratio']:.2f}x", top, xytext=(0, 3), textcoords="offset points",
                      ha="center", fontsize=9)  # fmt: skip
    (ideal,) = axes.plot(range(len(runs)), [one * n for n in workers], linestyle=":",
                         color="#495057", marker="_", label="N x one worker")  # fmt: skip
    ideal.set_gid("ideal")
    axes.set_xticks(range(len(runs)))
    axes.set_xticklabels([str(n) for n in workers])
    axes.set_xlabel("workers")
    axes.set_ylabel("page views/s")
    axes.set_title(TITLE)
    axes.legend(fontsize=8)


def draw(comparison: dict[str, Any], title: str, stem: Path) -> list[Path]:
    """``stem``.svg and ``stem``.png."""
    from bench.plot import _save

    return _save(stem, 1, [1], title, lambda axes: _panel(axes[0], comparison["runs"]))
