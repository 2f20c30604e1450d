"""Which cores the server and the load generator get when workers are compared.

The load generator keeps the same cores for every worker count of one run, so that what
it can send is the same on both sides of a ratio; the server gets one core per worker,
shared with its Redis, out of the rest. A host with fewer cores than that puts workers on
shared cores, and the comparison then says so rather than measure the scheduler.
"""

from __future__ import annotations

import math
import os

from msgspec import Struct

# Requests in flight per worker at saturation: bench/load.py's figure for one worker.
IN_FLIGHT_PER_WORKER = 128


class Layout(Struct, frozen=True):
    """One worker count's cores: the server's (workers and Redis) and the load generator's,
    one process on each."""

    workers: int
    server: tuple[int, ...]
    load: tuple[int, ...]

    @property
    def own_cores(self) -> bool:
        """Whether each worker has a core of its own, apart from the load generator's."""
        return len(self.server) >= self.workers

    def connections(self) -> list[int]:
        """Connections of each load-generator process: the workers' share in flight, split
        evenly, at least one each."""
        total = IN_FLIGHT_PER_WORKER * self.workers
        each = math.ceil(total / len(self.load))
        return [each] * len(self.load)


def available() -> list[int]:
    """The cores this process may run on, in order."""
    return sorted(os.sched_getaffinity(0))


def plan(cores: list[int], counts: list[int]) -> list[Layout]:
    """A layout for each worker count in ``counts`` on ``cores``.

    The load generator gets the cores beyond those of the largest server, and at least one;
    so does the server. Each count's server takes the first cores, one a worker.
    """
    if not cores:
        raise ValueError("no cores to run on")
    largest = max(counts)
    server_cores = max(1, min(largest, len(cores) - 1))
    load = tuple(cores[server_cores:]) or (cores[-1],)
    return [
        Layout(workers=n, server=tuple(cores[: min(n, server_cores)]), load=load) for n in counts
    ]


def describe(layout: Layout) -> str:
    return f"{_span(layout.server)} (server), {_span(layout.load)} (load generator)"


def _span(cores: tuple[int, ...]) -> str:
    if len(cores) > 2 and list(cores) == list(range(cores[0], cores[-1] + 1)):
        return f"cores {cores[0]}-{cores[-1]}"
    return ("core " if len(cores) == 1 else "cores ") + ", ".join(map(str, cores))
