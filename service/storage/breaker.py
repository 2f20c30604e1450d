"""Whether a worker asks Redis at all: after a few failures in a row it stops, answers
degraded at once, and lets a probe find out when Redis is back.

Both ways need several results in a row, so that one slow reply does not take a worker out
of service and one lucky probe between stalls does not put it back: readiness follows the
breaker, and changes twice an outage.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


class Breaker:
    def __init__(self, opening: int = 3, closing: int = 3) -> None:
        self.opening, self.closing = opening, closing
        self.open = False
        self.changes = 0
        self.since = time.monotonic()
        self._failures = 0
        self._successes = 0

    @property
    def closed(self) -> bool:
        return not self.open

    def failed(self, why: object) -> None:
        """A request or a probe found Redis failing."""
        self._successes = 0
        self._failures += 1
        if not self.open and self._failures >= self.opening:
            self._turn(True)
            log.warning("redis failing (%s): answering degraded until it is back", why)

    def succeeded(self, probe: bool = False) -> None:
        """A request or a probe found Redis answering within its deadline. Only probes
        close the breaker: requests sent before it opened may all be answered at once when
        a stalled Redis moves again, and stall again."""
        self._failures = 0
        if self.open and probe:
            self._successes += 1
            if self._successes >= self.closing:
                log.warning("redis answers again after %.1f s", time.monotonic() - self.since)
                self._turn(False)

    def _turn(self, open_: bool) -> None:
        self.open = open_
        self.changes += 1
        self.since = time.monotonic()
        self._failures = self._successes = 0
