"""Streaming sessionisation with a bounded buffer.

Sessions are keyed by ``(visitor, session id)``. Without a session id, a visitor's events
are split where more than 30 minutes pass between one event and the next (the same rule
as training/data/events_jsonl.py's ``group_sessions``, which needs the whole file in memory).

The approximation that keeps this streaming, for files larger than memory:
- At most ``max_open`` sessions are held. When one more opens, the one touched least
  recently is closed. A session whose rows lie further apart in the file than that (in
  distinct sessions touched meanwhile) comes out in two parts. Public clickstreams are
  ordered by time or grouped by session, so with the default this does not happen on them.
- A session without an id closes as soon as its visitor's next event is > 30 min later.
- A session also closes once the stream's clock (the newest event time seen so far) has
  moved on by more than the gap (2 hours for a session with an id, see ``ID_GRACE_S``)
  since the session was last touched: the file is roughly time-ordered, so it is finished.
  This bounds the open sessions by the traffic of that window, not by the file. An id'd
  session with a pause longer than its grace comes out in two parts. In a file grouped by
  session but not by time (OTTO) the clock soon stops moving, so there the limit
  ``max_open`` is what closes sessions.
  Events out of order by more than that within one visitor are merged, not split.
- Closed sessions wait in a heap keyed by start time and leave oldest-first once more than
  ``reorder`` are waiting, so the output is ordered by start time exactly for files that fit
  the buffers and approximately beyond. ``train`` sorts by time again anyway.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator

from service.schema import StoredEvent
from training.data.events_jsonl import SESSION_GAP_S

MAX_OPEN = 200_000
REORDER = 20_000
# A session id already says where a session ends, so an id'd session is not split at 30
# minutes; the grace only decides when it is safe to stop waiting for more of its rows. The
# REES46 sample has a user_session with a 60-minute pause inside, so 2 hours keeps it whole.
ID_GRACE_S = 2 * 3600.0

Key = tuple[str, str | None]


class Sessioniser:
    def __init__(
        self,
        gap_s: float = SESSION_GAP_S,
        max_open: int = MAX_OPEN,
        id_grace_s: float = ID_GRACE_S,
    ) -> None:
        self.gap_s = gap_s
        self.max_open = max(1, max_open)
        self.id_grace_s = max(gap_s, id_grace_s)
        self.open: OrderedDict[Key, list[StoredEvent]] = OrderedDict()  # in touch order
        self.last_ts: dict[Key, float] = {}
        # The stream's clock (newest event time so far) when each session was last touched.
        self.touched: dict[Key, float] = {}
        self.clock = float("-inf")
        self.max_open_seen = 0  # high-water mark of ``open``, for ReadReport
        self.ready: list[tuple[float, int, list[StoredEvent]]] = []
        self._order = itertools.count()  # ties in start time leave in closing order

    def add(self, event: StoredEvent) -> None:
        key = (event.visitor_id, event.session_id)
        ts = event.ts or 0.0
        self.clock = max(self.clock, ts)
        events = self.open.get(key)
        if events is not None and key[1] is None and ts - self.last_ts[key] > self.gap_s:
            self.close(key)
            events = None
        if events is None:
            events = self.open[key] = []
            self.last_ts[key] = ts
        else:
            self.open.move_to_end(key)
            self.last_ts[key] = max(self.last_ts[key], ts)
        self.touched[key] = self.clock
        events.append(event)
        self.close_stale()
        while len(self.open) > self.max_open:
            self.close(next(iter(self.open)))
        self.max_open_seen = max(self.max_open_seen, len(self.open))

    def close_stale(self) -> None:
        """Close sessions the clock has left behind, oldest touch first.

        ``open`` is in touch order and the clock never goes back, so the front holds the
        smallest touch clock and the scan stops at the first session still in its grace:
        amortised O(1) per event. The session just touched is at the back, so an event
        never closes its own session (a grouped file's first session may push the clock).
        """
        while self.open:
            key = next(iter(self.open))
            grace = self.gap_s if key[1] is None else self.id_grace_s
            if self.clock - self.touched[key] <= grace:
                return
            self.close(key)

    def close(self, key: Key) -> None:
        events = self.open.pop(key)
        del self.last_ts[key]
        del self.touched[key]
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
    on_open: Callable[[int], None] | None = None,
) -> Iterator[list[StoredEvent]]:
    """Sessions of ``events`` as they close (see the module docstring for the approximation);
    ``on_open`` hears the high-water mark of open sessions whenever it rises."""
    sessioniser = Sessioniser(gap_s, max_open)
    seen = 0
    for event in events:
        sessioniser.add(event)
        if on_open is not None and sessioniser.max_open_seen > seen:
            seen = sessioniser.max_open_seen
            on_open(seen)
        if len(sessioniser.ready) > reorder:
            yield from sessioniser.drain(reorder)
    yield from sessioniser.finish()
