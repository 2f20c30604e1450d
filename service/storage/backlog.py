"""The two loops that stand between a worker and a failing Redis: one probes it, so that
the breaker opens and closes on its own; one drains the journal into it once it answers,
so that no request ever waits for the backlog."""

from __future__ import annotations

import asyncio
import logging

from service.storage.client import UNREACHABLE
from service.storage.events import EventStore

log = logging.getLogger(__name__)

# Events written in one pipeline, with a pause after each: a millisecond or two of Redis and
# of this worker's loop, between which page views pass. 500 at once held them for 300 ms on a
# loaded 2-core VM as a backlog drained.
BATCH = 100
PAUSE_S = 0.005


async def drain(store: EventStore) -> bool:
    """Write journalled events in order while Redis takes them; True when none wait."""
    async with store.draining:
        return await _drain(store)


async def _drain(store: EventStore) -> bool:
    journal = store.journal
    while (batch := journal.next_batch(BATCH)) is not None:
        segment, read, end = batch
        events = [event for event, _ in read]
        try:
            kept = await asyncio.wait_for(store.write_checked(events), store.deadline_s * 20)
        except (*UNREACHABLE, TimeoutError) as exc:
            store.breaker.failed(str(exc) or "a drain past its deadline")
            return False
        journal.reached(segment, end, len(events))
        if store.logs is not None:
            converting = {id(event) for event, converts in read if converts}
            store.logs.record([e for e in kept if id(e) in converting], None, converts=True)
            store.logs.record([e for e in kept if id(e) not in converting], None)
        await asyncio.sleep(PAUSE_S)
        if journal.waiting == 0:
            log.info("journal drained into redis")
    return True


async def drain_forever(store: EventStore, interval_s: float = 0.1) -> None:
    adopt_every, tick = 50, 0
    while True:
        await asyncio.sleep(interval_s)
        tick += 1
        if tick % adopt_every == 0:
            # A worker that crashed or stopped with events waiting: another one replays them.
            store.journal.adopt()
        if store.breaker.closed and store.journal.waiting:
            await drain(store)


async def probe_forever(store: EventStore, interval_s: float = 0.25) -> None:
    while True:
        await asyncio.sleep(interval_s)
        if await store.ping():
            store.breaker.succeeded(probe=True)
        else:
            store.breaker.failed("a probe failed")
