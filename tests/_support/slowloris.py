"""A bounded slowloris: ``count`` connections that each send a request's headers a byte a
second and never finish them, for ``seconds``, on loopback only.

Run as a child process (``python -m tests._support.slowloris PORT COUNT SECONDS``), so that
its sockets cost the measuring client no time and all close when it exits. A connection the
server drops is opened again at once, as a real attacker would. It prints ``ready`` when
every connection is open, and at the end how many the server dropped.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: "


async def drip(port: int, deadline: float, dropped: list[int], opened: asyncio.Event) -> None:
    first = True
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        try:
            writer.write(HEAD[:1])
            await writer.drain()
            if first:
                first = False
                opened.set()
            for byte in (HEAD[1:] + b"a" * 10_000)[: int(deadline - time.monotonic()) + 1]:
                await asyncio.sleep(1.0)
                if reader.at_eof() or writer.is_closing():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
        if time.monotonic() < deadline:
            dropped[0] += 1


async def attack(port: int, count: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    dropped = [0]

    def report(*_: object) -> None:  # stopped early: say so far, and go
        print(f"dropped {dropped[0]}", flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, report)
    events = [asyncio.Event() for _ in range(count)]
    tasks = [asyncio.create_task(drip(port, deadline, dropped, e)) for e in events]
    await asyncio.gather(*(e.wait() for e in events))
    print("ready", flush=True)
    await asyncio.gather(*tasks)
    return dropped[0]


def main() -> None:
    port, count, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    dropped = asyncio.run(attack(port, count, seconds))
    print(f"dropped {dropped}", flush=True)


if __name__ == "__main__":
    main()
