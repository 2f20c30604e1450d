"""Streaming sessionisation with a bounded buffer.

Sessions are keyed by ``(visitor, session id)``. Without a session id, a visitor's events
are split where more than 30 minutes pass between one event and the next (the same rule
as training/events_jsonl.py's ``group_sessions``, which needs the whole file in memory).

The approximation that keeps this streaming, for files larger than memory:
- At most ``max_open`` sessions are held. When one more opens, the one touched least
  recently is closed. A session whose rows lie further apart in the file than that (in
  distinct sessions touched meanwhile) comes out in two parts. Public clickstreams are
  ordered by time or grouped by session, so with the default this does not happen on them.
- A session without an id closes as soon as its visitor's next event is > 30 min later.
  Events out of order by more than that within one visitor are merged, not split.
- Closed sessions wait in a heap keyed by start time and leave oldest-first once more than
  ``reorder`` are waiting, so the output is ordered by start time exactly for files that fit
  the buffers and approximately beyond. ``train`` sorts by time again anyway.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from collections.abc import Iterable, Iterator

from service.schema import StoredEvent
from training.events_jsonl import SESSION_GAP_S

MAX_OPEN = 200_000
REORDER = 20_000

Key = tuple[str, str | None]


class Sessioniser:
    def __init__(self, gap_s: float = SESSION_GAP_S, max_open: int = MAX_OPEN) -> None:
        self.gap_s = gap_s
        self.max_open = max(1, max_open)
        self.open: OrderedDict[Key, list[StoredEvent]] = OrderedDict()
        self.last_ts: dict[Key, float] = {}
        self.ready: list[tuple[float, int, list[StoredEvent]]] = []
        self._order = itertools.count()  # ties in start time leave in closing order

    def add(self, event: StoredEvent) -> None:
        key = (event.visitor_id, event.session_id)
        ts = event.ts or 0.0
        events = self.open.get(key)
        if events is not None and key[1] is None and ts - self.last_ts[key] > self.gap_s:
            self.close(key)
            events = None
        if events is None:
            events = self.open[key] = []
            self.last_ts[key] = ts
            while len(self.open) > self.max_open:
                self.close(next(iter(self.open)))
        else:
            self.open.move_to_end(key)
            self.last_ts[key] = max(self.last_ts[key], ts)
        events.append(event)

    def close(self, key: Key) -> None:
        events = self.open.pop(key)
        del self.last_ts[key]
        events.sort(key=lambda event: event.ts or 0.0)
        heapq.heappush(self.ready, (events[0].ts or 0.0, next(self._order), events))

    def drain(self, keep: int = 0) -> Iterator[list[StoredEvent]]:
        """Closed sessions, oldest start first, until ``keep`` are left waiting."""
        while len(self.ready) > keep:
            yield heapq.heappop(self.ready)[2]

    def finish(self) -> Iterator[list[StoredEvent]]:
        while self.open:
            self.close(next(iter(self.open)))
        yield from self.drain()


def stream_sessions(
    events: Iterable[StoredEvent],
    gap_s: float = SESSION_GAP_S,
    max_open: int = MAX_OPEN,
    reorder: int = REORDER,
) -> Iterator[list[StoredEvent]]:
    """Sessions of ``events`` as they close (see the module docstring for the approximation)."""
    sessioniser = Sessioniser(gap_s, max_open)
    for event in events:
        sessioniser.add(event)
        if len(sessioniser.ready) > reorder:
            yield from sessioniser.drain(reorder)
    yield from sessioniser.finish()
