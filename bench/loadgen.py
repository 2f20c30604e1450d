"""An open-loop HTTP/1.1 load generator, run in its own process on its own core.

Requests are scheduled at a fixed rate and latency is measured from the *scheduled*
send time, so a slow server cannot hide its queueing (no coordinated omission). With
``rate=0`` it runs closed-loop: every connection sends again as soon as it is answered,
which measures saturation throughput.

    python -m bench.loadgen URL PATH BODIES.jsonl --rate 1000 --seconds 10 --cpu 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from msgspec import Struct


class Result(Struct, kw_only=True):
    rate: float
    seconds: float
    sent: int
    errors: int
    degraded: int
    throughput: float
    latencies_ms: list[float]


def _request(host: str, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bool]:
    """The status, and whether the answer says it is degraded."""
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length)
    return status, b'"degraded":true' in body


async def run(url: str, path: str, bodies: list[bytes], rate: float, seconds: float,
              connections: int) -> Result:  # fmt: skip
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    # The service's query (its site key, ``?key=``) goes with every request.
    target = f"{path}?{parts.query}" if parts.query else path
    requests = [_request(host, target, body) for body in bodies]
    total = int(rate * seconds) if rate > 0 else 10**9
    latencies: list[float] = []
    errors = degraded = 0
    start = time.perf_counter() + 0.05
    end = start + seconds
    counter = iter(range(total))

    async def worker() -> None:
        nonlocal errors, degraded
        reader, writer = await asyncio.open_connection(host, port)
        for i in counter:
            planned = start + i / rate if rate > 0 else time.perf_counter()
            if planned >= end:
                break
            delay = planned - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                status, was_degraded = await _exchange(reader, writer, requests[i % len(requests)])
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                reader, writer = await asyncio.open_connection(host, port)
                continue
            latencies.append((time.perf_counter() - planned) * 1000)
            errors += status >= 400
            degraded += was_degraded
        writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    return Result(rate=rate, seconds=elapsed, sent=len(latencies) + errors, errors=errors,
                  degraded=degraded, throughput=len(latencies) / elapsed,
                  latencies_ms=latencies)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("path")
    parser.add_argument("bodies", type=Path, help="one JSON body per line")
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s; 0 = saturate")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--cpu", type=int, help="pin the generator to this core")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    bodies = [line.encode() for line in args.bodies.read_text().splitlines() if line]
    # Its own CPU, less the start-up's: how busy the generator was, in case it is the limit.
    started = time.process_time()
    result = asyncio.run(
        run(args.url, args.path, bodies, args.rate, args.seconds, args.connections)
    )
    figures = {f: getattr(result, f) for f in result.__struct_fields__}
    json.dump({**figures, "process_cpu_s": time.process_time() - started}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
