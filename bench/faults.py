"""Page views and events at a fixed rate while something is done to Redis, and what came of it.

Every request is recorded: when it was sent, how long its answer took (from its *planned*
send time, so a stalled server cannot hide its queue), its status, whether it was degraded,
and for an acknowledged event the unique query it carried, so that afterwards each one can
be looked for in Redis. ``/readyz`` is polled beside the load, to count how often it turns.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from msgspec import Struct

PAGE_VIEWS = "/v1/page-views"
EVENTS = "/v1/events"
ANSWER_TIMEOUT_S = 5.0


class Sent(Struct, array_like=True):
    at: float
    path: str
    status: int
    latency_ms: float
    degraded: bool
    visitor: str
    query: str | None


class Action(Struct, frozen=True):
    """Something done to the stack ``at`` seconds into the run, in a thread of its own."""

    at: float
    name: str
    do: Callable[[], object]


class Run(Struct, kw_only=True):
    sent: list[Sent]
    # (seconds into the run when it began, when it was done, name) of each action.
    actions: list[tuple[float, float, str]]
    # (seconds into the run, ready) each time /readyz changed its answer.
    readiness: list[tuple[float, bool]]


Body = tuple[str, str, str, str | None]


def _bodies(visitors: int, items: Sequence[str]) -> Callable[[int], Body]:
    """Request ``i``: its path, body, visitor and, for an event, the query that names it."""

    def body(i: int) -> Body:
        visitor = f"fault-v{(i // 2) % visitors}"
        if i % 2 == 0:
            page = {"type": "product", "item_id": items[i % len(items)]}
            return PAGE_VIEWS, json.dumps({"visitor_id": visitor, "page": page}), visitor, None
        query = f"fault-q{i}"
        event = {"visitor_id": visitor, "type": "search", "query": query}
        return EVENTS, json.dumps({"events": [event]}), visitor, query

    return body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bytes]:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return int(head[9:12]), await reader.readexactly(length)


def _request(host: str, path: str, body: str) -> bytes:
    data = body.encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _readiness(url: str, start: float, end: float, out: list[tuple[float, bool]]) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    last: bool | None = None
    while time.perf_counter() < end:
        try:
            reader, writer = await asyncio.open_connection(host, port)
            raw = f"GET /readyz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
            writer.write(raw)
            status = int((await asyncio.wait_for(reader.readline(), 2.0))[9:12])
            writer.close()
            ready: bool | None = status == 200
        except (TimeoutError, OSError, ValueError):
            ready = None  # the service itself is away: not a readiness answer
        if ready is not None and ready != last:
            out.append((round(time.perf_counter() - start, 3), ready))
            last = ready
        await asyncio.sleep(0.1)


def drive(url: str, key: str, items: Sequence[str], rate: float, seconds: float,
          actions: Sequence[Action], visitors: int = 1000,
          connections: int = 32) -> Run:  # fmt: skip
    """Half page views, half one-event batches, ``rate`` a second for ``seconds``, sent from
    a thread of their own while this one does the actions in turn. Not the other way round:
    a redis-server started from a worker thread would be stopped with that thread, as
    RedisServer has its children die with their parent thread."""
    start = time.perf_counter() + 0.2
    done: list[tuple[float, float, str]] = []
    result: list[Run] = []
    load = threading.Thread(
        target=lambda: result.append(
            asyncio.run(_load(url, key, items, rate, start, seconds, visitors, connections))
        )
    )
    load.start()
    for action in sorted(actions, key=lambda a: a.at):
        time.sleep(max(0.0, start + action.at - time.perf_counter()))
        began = time.perf_counter() - start
        action.do()
        done.append((round(began, 3), round(time.perf_counter() - start, 3), action.name))
    load.join()
    (run,) = result
    run.actions = done
    return run


async def _load(url: str, key: str, items: Sequence[str], rate: float, start: float,
                seconds: float, visitors: int, connections: int) -> Run:  # fmt: skip
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    body = _bodies(visitors, items)
    sent: list[Sent] = []
    readiness: list[tuple[float, bool]] = []
    end = start + seconds
    counter = itertools.count()

    async def worker() -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        for i in counter:
            planned = start + i / rate
            if planned >= end:
                break
            await asyncio.sleep(max(0.0, planned - time.perf_counter()))
            path, payload, visitor, query = body(i)
            status, degraded = 0, False
            try:
                if conn is None:
                    conn = await asyncio.open_connection(host, port)
                raw = _request(host, f"{path}?key={key}", payload)
                status, answer = await asyncio.wait_for(_exchange(*conn, raw), ANSWER_TIMEOUT_S)
                degraded = b'"degraded":true' in answer
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                if conn is not None:
                    conn[1].close()
                conn = None
            latency = (time.perf_counter() - planned) * 1000
            sent.append(Sent(round(planned - start, 4), path, status, round(latency, 3),
                             degraded, visitor, query))  # fmt: skip
        if conn is not None:
            conn[1].close()

    await asyncio.gather(
        *(worker() for _ in range(connections)), _readiness(url, start, end, readiness)
    )
    sent.sort(key=lambda s: s.at)
    return Run(sent=sent, actions=[], readiness=readiness)
