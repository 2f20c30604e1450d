"""Redis's MONITOR as a test helper: which commands a block of requests made each node run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import redis


@contextmanager
def monitored(ports: list[int]) -> Iterator[dict[int, list[str]]]:
    """Every command each node runs inside the block, by port, read back after it."""
    seen: dict[int, list[str]] = {port: [] for port in ports}
    with ExitStack() as stack:
        # A timeout, so that a marker that never comes fails the test instead of hanging it.
        monitors = {
            port: stack.enter_context(redis.Redis(port=port, socket_timeout=10).monitor())
            for port in ports
        }
        yield seen
        # A marker sent last to each node tells when its log of the block is complete.
        marker = uuid.uuid4().hex
        for port, monitor in monitors.items():
            with redis.Redis(port=port) as client:
                client.echo(marker)
            while marker not in (command := monitor.next_command()["command"]):
                seen[port].append(command)
