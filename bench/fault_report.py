"""What a fault run shows: every acknowledged event looked for in Redis, and the answers'
statuses, latencies, degradation and readiness, overall and while the fault lasted."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import msgspec
import redis

from bench.faults import EVENTS, PAGE_VIEWS, Run, Sent
from bench.load import percentiles
from service.schema import StoredEvent
from service.storage.keys import events_key, profile_key

_decode = msgspec.msgpack.Decoder(StoredEvent).decode


def acknowledged(run: Run) -> dict[str, set[str]]:
    """Each visitor's events answered 202, by the query that names them."""
    acked: dict[str, set[str]] = defaultdict(set)
    for sent in run.sent:
        if sent.path == EVENTS and sent.status == 202 and sent.query is not None:
            acked[sent.visitor].add(sent.query)
    return acked


def found(client: redis.Redis, visitors: Iterable[str]) -> dict[str, Any]:
    """What Redis holds of these visitors' searches: once each, and counted once each."""
    stored: dict[str, Counter[str]] = {}
    counted: dict[str, int] = {}
    pipe = client.pipeline(transaction=False)
    names = sorted(set(visitors))
    for visitor in names:
        pipe.zrange(events_key(visitor), 0, -1)
        pipe.hget(profile_key(visitor), "type:search")
    replies = pipe.execute()
    for i, visitor in enumerate(names):
        events = [_decode(raw) for raw in replies[2 * i]]
        stored[visitor] = Counter(e.query for e in events if e.type == "search" and e.query)
        counted[visitor] = int(replies[2 * i + 1] or 0)
    return {"stored": stored, "counted": counted}


def check(run: Run, client: redis.Redis) -> dict[str, int]:
    """Acknowledged events against Redis: each must be there once and counted once."""
    acked = acknowledged(run)
    held = found(client, acked)
    stored, counted = held["stored"], held["counted"]
    missing = sum(len(queries - set(stored[v])) for v, queries in acked.items())
    twice = sum(n - 1 for v in acked for n in stored[v].values() if n > 1)
    recounted = sum(max(0, counted[v] - sum(stored[v].values())) for v in acked)
    return {
        "acknowledged": sum(len(q) for q in acked.values()),
        "found": sum(len(queries & set(stored[v])) for v, queries in acked.items()),
        "missing": missing,
        "stored_twice": twice,
        "counted_twice": recounted,
    }


def _between(sent: list[Sent], start: float, end: float) -> list[Sent]:
    return [s for s in sent if start <= s.at < end]


def latency(sent: list[Sent]) -> dict[str, float]:
    views = [s.latency_ms for s in sent if s.path == PAGE_VIEWS and s.status]
    if not views:
        return {"n": 0}
    return {"n": len(views), **percentiles(views), "max": round(max(views), 2)}


def answers(run: Run, fault: tuple[float, float], deadline_ms: float) -> dict[str, Any]:
    """Statuses, degradation and page-view latency, overall and during ``fault``."""
    sent = run.sent
    statuses = Counter(s.status for s in sent)
    views = [s for s in sent if s.path == PAGE_VIEWS and s.status]
    recovered_at = fault[1]
    late_degraded = [s.at + s.latency_ms / 1000 for s in views if s.degraded and s.at >= fault[1]]
    return {
        "requests": len(sent),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors": sum(v for k, v in statuses.items() if k >= 500),
        "unanswered": statuses.get(0, 0),
        "degraded_page_views": sum(s.degraded for s in views),
        "page_views_over_deadline": sum(s.latency_ms > deadline_ms for s in views),
        "page_view_ms": latency(sent),
        "page_view_ms_during_fault": latency(_between(sent, *fault)),
        "recovery_s": round(max(late_degraded, default=recovered_at) - recovered_at, 3),
        "readiness": run.readiness,
        "readiness_changes": max(0, len(run.readiness) - 1),
        "actions": run.actions,
        "timeline": timeline(views),
    }


def timeline(views: list[Sent], step_s: float = 0.5) -> list[list[float]]:
    """Per ``step_s`` of the run: its start, the page views' p99 and max latency, and the
    share of them degraded."""
    bins: dict[int, list[Sent]] = defaultdict(list)
    for s in views:
        bins[int(s.at / step_s)].append(s)
    rows = []
    for index in sorted(bins):
        sent = bins[index]
        p99 = percentiles([s.latency_ms for s in sent])["p99_ms"]
        worst = max(s.latency_ms for s in sent)
        degraded = sum(s.degraded for s in sent) / len(sent)
        rows.append([index * step_s, round(p99, 2), round(worst, 2), round(degraded, 3)])
    return rows
