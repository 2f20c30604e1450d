"""`witryna bench-erasure`: erasing one person while the logged streams hold a million entries.

A private redis-server is filled through the service's own log writes (``Logs.write``, which
writes each entry's index beside it), then single persons are erased one after another with
``Identities.erase``, as `DELETE /v1/visitors/{id}` does without the HTTP around it. At the
end both streams are read through once: that checks that nothing of the erased persons is
left, and times what the erasure did before it had indexes, at every erasure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from bench.load import percentiles
from bench.machine import machine
from service.schema import StoredEvent
from service.storage.client import connect
from service.storage.events import EventStore
from service.storage.identity import Identities
from service.storage.journal import Journal
from service.storage.keys import DECISIONS_STREAM, EVENTS_STREAM, exposed_key, logged_key
from service.storage.server import RedisServer
from service.storage.streams import DecisionLog, Logs, entries

# Writes per log call: a worker writes some hundreds each 100 ms; bigger calls fill faster.
BATCH = 5_000
RETENTION_S = 30 * 86_400
_whose = msgspec.msgpack.Decoder(StoredEvent).decode
_decision = msgspec.msgpack.Decoder(DecisionLog).decode


def _logs(visitors: list[str], rng: random.Random, start: int, count: int) -> Logs:
    """``count`` entries from ``start`` on, every other one a decision exposing an arm."""
    logs = Logs()
    for n in range(start, start + count):
        visitor, ts = rng.choice(visitors), 1_763_900_000.0 + n
        if n % 2:
            logs.events([StoredEvent(visitor_id=visitor, type="product_view", item_id="i", ts=ts)])
            continue
        arm = "ab"[n % 4 // 2]
        logs.decision(DecisionLog(
            decision_id=f"d{n}", visitor_id=visitor, ts=ts, model_version="bench",
            page_type="home", intent="browse", buy_prob=0.1, uplift=None,
            experiments={"hero": arm}, slots=[], degraded=False,
        ))  # fmt: skip
        logs.member(exposed_key("hero", arm), visitor, ts)
    return logs


async def fill(store: EventStore, visitors: list[str], total: int, seed: int) -> float:
    rng, started = random.Random(seed), time.perf_counter()
    for start in range(0, total, BATCH):
        logs = _logs(visitors, rng, start, min(BATCH, total - start))
        await logs.write(store.client, RETENTION_S)
    return time.perf_counter() - started


async def erase_some(ids: Identities, persons: list[str]) -> tuple[list[float], int]:
    """Each erasure's wall time in ms, and the stream entries they erased together."""
    took, erased = [], 0
    for person in persons:
        started = time.perf_counter()
        result = await ids.erase(person)
        took.append((time.perf_counter() - started) * 1000)
        erased += result.stream_entries
    return took, erased


async def read_through(store: EventStore, gone: set[str]) -> tuple[float, int, int]:
    """Seconds to read both streams once, entries left, and how many are of ``gone``."""
    started, left, of_gone = time.perf_counter(), 0, 0
    for stream, decode in ((EVENTS_STREAM, _whose), (DECISIONS_STREAM, _decision)):
        async for _, payload in entries(store.client, stream):
            left += 1
            of_gone += decode(payload).visitor_id in gone
    return time.perf_counter() - started, left, of_gone


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    # Erasure writes no events: the journal stays empty, in a folder of its own.
    journal = Journal(Path(tempfile.mkdtemp(prefix="witryna-journal-")), 2**20, False)
    journal.open()
    store = EventStore(connect(url, 10_000), 50, RETENTION_S, journal, 10.0)
    visitors = [f"v{n:07d}" for n in range(args.visitors)]
    persons = random.Random(args.seed + 1).sample(visitors, args.erasures)
    try:
        fill_s = await fill(store, visitors, args.entries, args.seed)
        indexed = sum([await store.client.scard(logged_key(p)) for p in persons])
        took, erased = await erase_some(Identities(store), persons)
        scan_s, left, of_gone = await read_through(store, set(persons))
        info = await store.client.info("server")
        gone = not any([await store.client.exists(logged_key(p)) for p in persons])
    finally:
        await store.close()
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "redis": info["redis_version"],
        "entries": args.entries,
        "visitors": args.visitors,
        "erasures": args.erasures,
        "fill_s": fill_s,
        "indexed_entries_of_erased": indexed,
        "erased_entries": erased,
        "entries_left": left,
        "entries_left_of_erased": of_gone,
        "indexes_left_of_erased": not gone,
        "erase_ms": {
            **percentiles(took),
            "max_ms": max(took),
            "mean_ms": statistics.fmean(took),
        },
        "read_through_s": scan_s,
        "took_ms": took,
    }


def report(result: dict[str, Any]) -> str:
    ms = result["erase_ms"]
    return (
        f"# Erasure at {result['entries']:,} stream entries ({result['when'][:10]})\n\n"
        f"{result['machine']['cpu']}, {result['machine']['cores']} cores; Redis "
        f"{result['redis']}. `witryna bench-erasure --entries {result['entries']} --visitors "
        f"{result['visitors']} --erasures {result['erasures']}`: the streams filled through the "
        f"service's log writes in {result['fill_s']:.1f} s, then {result['erasures']} persons "
        "erased one after another (`Identities.erase`: marks, indexes, keys, entries, tallies).\n\n"
        "| erasure of one person | p50 | p95 | p99 | max | mean |\n|---|---|---|---|---|---|\n"
        f"| ms | {ms['p50_ms']:.2f} | {ms['p95_ms']:.2f} | {ms['p99_ms']:.2f} | "
        f"{ms['max_ms']:.2f} | {ms['mean_ms']:.2f} |\n\n"
        f"Entries erased: {result['erased_entries']:,} (the indexes named "
        f"{result['indexed_entries_of_erased']:,}); left in the streams: "
        f"{result['entries_left']:,}, of the erased persons: "
        f"{result['entries_left_of_erased']}. Reading both streams through once, as each "
        f"erasure did before the indexes: {result['read_through_s']:.1f} s.\n"
    )


def draw(took: list[float], title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 3.5))
    ordered = sorted(took)
    axes.plot(ordered, [(n + 1) / len(ordered) for n in range(len(ordered))], color="#d9480f")
    axes.axvline(50, color="#495057", linestyle=":", linewidth=1)
    axes.set_xscale("log")
    axes.set_xlabel("ms per erasure (log scale; dotted: 50 ms)")
    axes.set_ylabel("share of erasures")
    axes.set_title(title, fontsize=9)
    axes.grid(color="#e9ecef")
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
    return path


def run(args: argparse.Namespace) -> int:
    with RedisServer() as server:
        result = asyncio.run(measure(server.url, args))
    text = report(result)
    print(text)
    folder = args.out / f"erasure-{result['when'][:10].replace('-', '')}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "erasure.json").write_text(json.dumps(result, indent=2) + "\n")
    title = f"erasure of one person, {result['entries']:,} stream entries"
    plot = draw(result["took_ms"], title, folder / "erasure.svg")
    (folder / "README.md").write_text(text + f"\n![Erasure times]({plot.name})\n")
    return 0
