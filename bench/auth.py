"""What the site key costs a page view, measured in one run (`witryna bench --auth-overhead`).

Two services of the same build start side by side, each with its own Redis, all on the
server's core: one with keys, sent page views with ``?key=<site key>`` as witryna.js sends
them; one with no keys and without the guard (bench/unguarded.py), since a service without
keys refuses every page view. The same page views go to both, in rounds that take the two
in turns (AB, BA, AB...), so that a shared machine's drift falls on both alike: each
round, a fixed-rate run for latency and a saturation run for throughput on each side.
"""

from __future__ import annotations

import os
import statistics
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeAlias

import httpx

from bench import load as bench_load
from bench.load import PAGE_VIEWS
from bench.stack import LocalStack, cpu_meter, local_stack
from service.cli.progress import progress
from service.settings import Settings

SITE_KEY, NO_AUTH = "site_key", "no_auth"
LABELS = {SITE_KEY: "site key", NO_AUTH: "no auth (no keys, no guard)"}
# The acceptance: with the site key, a page view's latency rises by no more than 5%.
GOAL = 1.05
WARM_UP_S = 3.0
# The load generator's runs of each side, by part: "latency" and "saturation".
Raws: TypeAlias = dict[str, dict[str, list[dict[str, Any]]]]


def _check(side: str, stack: LocalStack, body: bytes) -> None:
    """Each side is what its name says: the keyed one refuses a page view without the key
    and serves it with the key; the other serves it without one."""
    headers = {"content-type": "application/json"}
    plain = httpx.post(f"{stack.url}{PAGE_VIEWS}", content=body, headers=headers)
    keyed = httpx.post(stack.keys.on(f"{stack.url}{PAGE_VIEWS}"), content=body, headers=headers)
    expected = (401, 200) if side == SITE_KEY else (200, 200)
    if (plain.status_code, keyed.status_code) != expected:
        raise RuntimeError(
            f"{LABELS[side]}: a page view answered {plain.status_code} without a key and "
            f"{keyed.status_code} with its key, not {expected[0]} and {expected[1]}"
        )


def compare(
    settings: Settings, bodies: Path, pairs: int, rounds: int, seconds: float, rate: float
) -> dict[str, Any]:
    """Each side gets ``seconds`` at ``rate`` and ``seconds`` at saturation, over ``pairs``
    pairs of services, each measured in ``rounds``."""
    # What else the machine ran meanwhile (a shared VM's other work), for the reader.
    load = [os.getloadavg()[0]]
    raws: Raws = {side: {"latency": [], "saturation": []} for side in LABELS}
    by_pair = []
    for pair in range(pairs):
        # Which of the two starts first alternates: a process's own speed (where its memory
        # fell, its hash seed) stays with it for its life, and alternating rounds cannot
        # cancel it; a new pair draws it again.
        order = (SITE_KEY, NO_AUTH) if pair % 2 == 0 else (NO_AUTH, SITE_KEY)
        mine = _pair(settings, bodies, order, rounds, seconds / pairs / rounds, rate)
        by_pair.append(summarise(mine, rate, rounds, seconds / pairs)["ratio"])
        for side, parts in mine.items():
            for part, runs in parts.items():
                raws[side][part] += runs
    pair_ratios = {stat: [ratio[stat] for ratio in by_pair] for stat in by_pair[0]}
    return summarise(raws, rate, rounds * pairs, seconds) | {
        "pairs": pairs, "pair_ratios": pair_ratios, "load_average": [*load, os.getloadavg()[0]],
    }  # fmt: skip


def _pair(
    settings: Settings, bodies: Path, order: tuple[str, str], rounds: int, each: float,
    rate: float,
) -> Raws:  # fmt: skip
    """One pair of services, started in ``order``, checked, warmed up and measured."""
    with ExitStack() as started:
        stacks = {
            side: started.enter_context(local_stack(settings, guarded=side == SITE_KEY))
            for side in order
        }
        first = bodies.read_bytes().splitlines()[0]
        for side, stack in stacks.items():
            _check(side, stack, first)
            bench_load.metered(stack.keys.on(stack.url), PAGE_VIEWS, bodies, 0.0,
                               min(WARM_UP_S, each * rounds), None)  # fmt: skip
        return _rounds(stacks, bodies, rounds, each, rate)


def _rounds(
    stacks: dict[str, LocalStack], bodies: Path, rounds: int, each: float, rate: float
) -> Raws:
    """The load generator's runs of each side: ``each`` seconds at ``rate``, then as many at
    saturation with the CPU the side spent, the sides in turns."""
    meters = {side: cpu_meter(stack.url, stack.redis_pid) for side, stack in stacks.items()}
    raws: Raws = {side: {"latency": [], "saturation": []} for side in stacks}
    for i in progress(range(rounds), desc="auth rounds", total=rounds, unit="round"):
        for side in (SITE_KEY, NO_AUTH) if i % 2 == 0 else (NO_AUTH, SITE_KEY):
            url, took = stacks[side].keys.on(stacks[side].url), raws[side]
            took["latency"].append(bench_load.metered(url, PAGE_VIEWS, bodies, rate, each, None))
            took["saturation"].append(
                bench_load.metered(url, PAGE_VIEWS, bodies, 0.0, each, meters[side])
            )
    return raws


def summarise(raws: Raws, rate: float, rounds: int, seconds: float) -> dict[str, Any]:
    sides: dict[str, dict[str, Any]] = {
        side: {
            "latency": bench_load.summarise(PAGE_VIEWS, rate, runs["latency"]),
            "saturation": bench_load.summarise(PAGE_VIEWS, 0.0, runs["saturation"]),
            "latency_rounds": [
                bench_load.percentiles(raw["latencies_ms"]) for raw in runs["latency"]
            ],
        }
        for side, runs in raws.items()
    }
    keyed, bare = sides[SITE_KEY], sides[NO_AUTH]
    ratio = {
        "p50": keyed["latency"]["p50_ms"] / bare["latency"]["p50_ms"],
        "p99": keyed["latency"]["p99_ms"] / bare["latency"]["p99_ms"],
        "saturation": keyed["saturation"]["throughput"] / bare["saturation"]["throughput"],
    }
    if "cpu_us" in keyed["saturation"] and "cpu_us" in bare["saturation"]:
        ratio["cpu"] = (
            keyed["saturation"]["cpu_us"]["total"] / bare["saturation"]["cpu_us"]["total"]
        )
    by_round = {
        stat: [a[f"{stat}_ms"] / b[f"{stat}_ms"]
               for a, b in zip(keyed["latency_rounds"], bare["latency_rounds"], strict=True)]
        for stat in ("p50", "p99")
    }  # fmt: skip
    by_round["saturation"] = [
        a / b
        for a, b in zip(keyed["saturation"]["slices"], bare["saturation"]["slices"], strict=True)
    ]
    return {"rounds": rounds, "seconds": seconds, "rate": rate, "sides": sides,
            "ratio": ratio, "round_ratios": by_round}  # fmt: skip


def section(auth: dict[str, Any]) -> list[str]:
    """The report's part on what the site key costs, with how it was measured."""
    pairs, each = auth["pairs"], auth["seconds"] / auth["rounds"]
    return [
        f"## What the site key costs a page view ({pairs} pairs of services)",
        "",
        "Pairs of services of this build, one pair after another, each service with its own",
        "Redis, all on core 0: one with keys, page views sent with `?key=<site key>`; one with",
        "no keys and no guard (a service without keys refuses page views). Which of a pair",
        f"starts first alternates. Each pair is measured in {auth['rounds'] // pairs} rounds that "
        "take the two in",
        f"turns (AB, BA, ...): in each, a side gets {each:g} s at {auth['rate']:g} page views/s "
        f"for latency, then {each:g} s",
        f"at saturation ({bench_load.SATURATING_CONNECTIONS} in flight); {auth['seconds']:g} s "
        "of each a side in all. The machine's",
        f"load average (1 min) was {auth['load_average'][0]:.1f} before and "
        f"{auth['load_average'][1]:.1f} after.",
        "",
        *table(auth),
    ]


def table(auth: dict[str, Any]) -> list[str]:
    sides, ratio, rate = auth["sides"], auth["ratio"], auth["rate"]
    cpu = "cpu" in ratio
    head = f"| | p50 ms at {rate:g}/s | p99 ms at {rate:g}/s | saturation req/s |"
    lines = [head + (" CPU µs per page view |" if cpu else ""), "|---|---|---|---|" + "---|" * cpu]
    for side, label in LABELS.items():
        latency, saturated = sides[side]["latency"], sides[side]["saturation"]
        row = [latency["p50_ms"], latency["p99_ms"], saturated["throughput"]]
        row += [saturated["cpu_us"]["total"]] if cpu else []
        lines.append(f"| {label} | " + " | ".join(_figure(v) for v in row) + " |")
    ratios = [ratio["p50"], ratio["p99"], ratio["saturation"], *([ratio["cpu"]] if cpu else [])]
    lines.append("| site key / no auth | " + " | ".join(f"**{r:.3f}**" for r in ratios) + " |")
    errors = {s: sides[s]["latency"]["errors"] + sides[s]["saturation"]["errors"] for s in sides}
    spread = "; ".join(f"{stat} {_spread(v)}" for stat, v in auth["round_ratios"].items())
    pairs = "; ".join(f"{stat} {_spread(v)}" for stat, v in auth["pair_ratios"].items())
    return [
        *lines,
        "",
        f"Each pair's ratio: {pairs}.",
        "",
        f"Each round's ratio: {spread}. Errors: "
        + ", ".join(f"{LABELS[s]} {n}" for s, n in errors.items())
        + ".",
        "",
        f"With the site key a page view's p50 is **{_percent(ratio['p50'])}** and its p99 "
        f"{_percent(ratio['p99'])} against no auth (acceptance: at most {_percent(GOAL)}); "
        f"saturation throughput {_percent(ratio['saturation'])}.",
    ]


def _figure(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def _percent(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.1f}%"


def _spread(ratios: list[float]) -> str:
    return f"{min(ratios):.3f} to {max(ratios):.3f} (median {statistics.median(ratios):.3f})"
