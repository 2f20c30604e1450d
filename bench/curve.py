"""Latency against load as a share of the measured saturation: whether p99 holds ≤ 10 ms at
every offered rate up to 70% of what the same run saturated at.

A rate in requests per second means little from one machine to the next; a share of the
same run's saturation does, so the goal is read on that scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.load import PAGE_VIEWS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

GOAL_P99_MS = 10.0
NEAR_CAPACITY = 0.70
TITLE = "page views: latency by offered load, as a share of saturation"
LINE_ID = "curve {stat}"


def points(runs: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Each fixed-rate page-view run: its rate, share of saturation, p50 and p99."""
    saturation = next(
        r["personalised"] for r in runs if r["path"] == PAGE_VIEWS and r["rate"] == "saturation"
    )
    fixed = sorted((r for r in runs if r["path"] == PAGE_VIEWS and r["rate"] != "saturation"),
                   key=lambda r: float(r["rate"]))  # fmt: skip
    return [
        {"rate": r["rate"], "share": r["rate"] / saturation, "p50_ms": r["p50_ms"],
         "p99_ms": r["p99_ms"]}
        for r in fixed
    ]  # fmt: skip


def verdict(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether p99 ≤ 10 ms at every rate up to 70% of saturation; ``holds`` is None when no
    rate was offered that low."""
    drawn = points(runs)
    within = [p for p in drawn if p["share"] <= NEAR_CAPACITY]
    saturation = drawn[0]["rate"] / drawn[0]["share"] if drawn else None
    return {
        "saturation": saturation,
        "near_capacity_rate": saturation * NEAR_CAPACITY if saturation else None,
        "points": drawn,
        "within": len(within),
        "holds": all(p["p99_ms"] <= GOAL_P99_MS for p in within) if within else None,
        "worst_p99_ms": max((p["p99_ms"] for p in within), default=None),
    }


def line(found: dict[str, Any]) -> str:
    if found["holds"] is None:
        return (
            f"p99 ≤ {GOAL_P99_MS:g} ms up to {NEAR_CAPACITY:.0%} of saturation: **not shown**, "
            f"no rate was offered at or below {found['near_capacity_rate']:,.0f}/s."
        )
    answer = "holds" if found["holds"] else "does not hold"
    return (
        f"p99 ≤ {GOAL_P99_MS:g} ms at every rate up to {NEAR_CAPACITY:.0%} of saturation "
        f"({found['near_capacity_rate']:,.0f} page views/s): **{answer}** "
        f"(worst p99 {found['worst_p99_ms']:.2f} ms over {found['within']} rate(s))."
    )


def _panel(axes: Axes, found: dict[str, Any]) -> None:
    from matplotlib.ticker import FuncFormatter

    shares = [100 * p["share"] for p in found["points"]]
    for stat, style in (("p99_ms", "-"), ("p50_ms", "--")):
        (drawn,) = axes.plot(shares, [p[stat] for p in found["points"]], linestyle=style,
                             color="#d9480f", marker="o", markersize=4, label=stat[:3])  # fmt: skip
        drawn.set_gid(LINE_ID.format(stat=stat))
    for p, share in zip(found["points"], shares, strict=True):
        axes.annotate(f"{p['rate']:g}/s", (share, p["p99_ms"]), xytext=(0, 5),
                      textcoords="offset points", ha="center", fontsize=7)  # fmt: skip
    goal = axes.axhline(GOAL_P99_MS, color="#495057", linestyle=":", linewidth=1)
    goal.set_gid("goal")
    near = axes.axvline(100 * NEAR_CAPACITY, color="#1c7ed6", linestyle="-.", linewidth=1)
    near.set_gid("near capacity")
    axes.annotate(f"{NEAR_CAPACITY:.0%} of saturation", (100 * NEAR_CAPACITY, 0),
                  xycoords=("data", "axes fraction"), xytext=(-4, 4), textcoords="offset points",
                  ha="right", fontsize=8)  # fmt: skip
    axes.annotate(f"p99 {GOAL_P99_MS:g} ms", (0, GOAL_P99_MS), xycoords=("axes fraction", "data"),
                  xytext=(4, 4), textcoords="offset points", fontsize=8)  # fmt: skip
    axes.set_yscale("log")
    # Milliseconds as plain numbers: powers of ten say little over one decade or two.
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.yaxis.set_minor_formatter(FuncFormatter(_minor_label))
    axes.set_xlim(0, max([100.0, *shares]) * 1.05)
    axes.set_xlabel(f"offered rate, % of saturation ({found['saturation']:,.0f}/s)")
    axes.set_ylabel("ms")
    axes.set_title(TITLE, fontsize=10)
    axes.legend(fontsize=8)


def _minor_label(value: float, _: object) -> str:
    """2 and 5 of each decade labelled, the rest left as ticks."""
    text = f"{value:g}"
    return text if text.lstrip("0.")[:1] in ("2", "5") else ""


def draw(runs: list[dict[str, Any]], title: str, stem: Path) -> list[Path]:
    """``stem``.svg and ``stem``.png: the curve, the 70% mark and the 10 ms line."""
    from bench.plot import _save

    found = verdict(runs)
    return _save(stem, 1, [1], title, lambda axes: _panel(axes[0], found))
