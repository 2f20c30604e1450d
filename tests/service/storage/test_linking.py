"""Linking moves an id's events into its customer's history as recording them there would, once,
and on one Redis all at once or not at all."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
import pytest
import redis
from redis.exceptions import TimeoutError as RedisTimeout

from service.schema import StoredEvent
from service.storage.events import EventStore
from service.storage.identity import Identify, Identities, Linked
from service.storage.keys import alias_key, aliases_key, erased_key, events_key, profile_key
from tests._support.stack import Backend, RedisClient, on_one_redis
from tests._support.stores import event_store

T0 = 1_763_900_000.0
T = TypeVar("T")
decode_event = msgspec.msgpack.Decoder(StoredEvent).decode


def events_of(visitor: str, n: int, start: float = T0) -> list[StoredEvent]:
    return [
        StoredEvent(visitor_id=visitor, type=kind, item_id=f"i{i}", ts=start + i * 3600,
                    category="tv" if i % 2 else None, brand="Lumo" if i % 3 else None,
                    price=99.5 + i if kind == "purchase" else None,
                    channel="app" if i % 4 == 0 else "web")
        for i, kind in enumerate(["product_view", "purchase", "add_to_cart"] * (n // 3))
    ]  # fmt: skip


def as_person(events: list[StoredEvent], person: str) -> list[StoredEvent]:
    return [msgspec.structs.replace(e, visitor_id=person) for e in events]


def run(backend: Backend, scenario: Callable[[EventStore, Identities], Awaitable[T]],
        timeout_ms: int = 1000, history_len: int = 50) -> T:  # fmt: skip
    async def main() -> T:
        store = event_store(backend.url, backend.cluster, history_len=history_len, ttl_s=600,
                            timeout_ms=timeout_ms)  # fmt: skip
        try:
            return await scenario(store, Identities(store))
        finally:
            await store.close()

    return asyncio.run(main())


def kept(client: RedisClient, person: str) -> tuple[dict[bytes, bytes], list[StoredEvent]]:
    events = [decode_event(raw) for raw in client.zrange(events_key(person), 0, -1)]
    return client.hgetall(profile_key(person)), events


def link(visitor: str, customer: str) -> Identify:
    return Identify(visitor_id=visitor, customer_id=customer)


def test_moved_events_count_as_recorded_ones_and_once_however_often_linked(
    backend: Backend, redis_client: RedisClient
) -> None:
    anonymous, own = events_of("anon", 12), events_of("cust", 6, start=T0 + 1800)

    async def scenario(store: EventStore, ids: Identities) -> list[Linked]:
        # The reference: the same events recorded straight to a customer of their own.
        await store.write_checked([*as_person(own, "ref"), *as_person(anonymous, "ref")])
        await store.write_checked([*own, *anonymous])
        first = await ids.identify(link("anon", "cust"))
        return [first, *await asyncio.gather(*(ids.identify(link("anon", "cust"))
                                               for _ in range(3)))]  # fmt: skip

    results = run(backend, scenario)
    assert [(r.merged_events, r.already_linked) for r in results] == [(12, False)] + [(0, True)] * 3
    profile, history = kept(redis_client, "cust")
    reference, reference_history = kept(redis_client, "ref")
    assert profile == reference
    assert int(profile[b"n"]) == 18
    assert history == as_person(reference_history, "cust")
    assert not redis_client.exists(events_key("anon"), profile_key("anon"))
    assert redis_client.smembers(aliases_key("cust")) == {b"anon"}


def test_two_devices_linking_at_once_are_merged_once_each(
    backend: Backend, redis_client: RedisClient
) -> None:
    async def scenario(store: EventStore, ids: Identities) -> list[Linked]:
        await store.write_checked([*events_of("phone", 9), *events_of("laptop", 6, T0 + 60)])
        links = [link(d, "cust-2") for d in ("phone", "laptop", "phone", "laptop")]
        return list(await asyncio.gather(*(ids.identify(one) for one in links)))

    results = run(backend, scenario)
    assert sum(r.merged_events for r in results) == 15
    assert sorted(r.already_linked for r in results) == [False, False, True, True]
    profile, history = kept(redis_client, "cust-2")
    assert int(profile[b"n"]) == len(history) == 15


@on_one_redis
def test_events_written_while_linking_are_neither_lost_nor_doubled(
    backend: Backend, redis_client: RedisClient
) -> None:
    """An event that lands between the read of the id's events and the link makes the link
    read again; one that lands after it goes to the customer through the alias."""
    late = events_of("busy", 60, start=T0 + 10**6)

    async def scenario(store: EventStore, ids: Identities) -> Linked:
        await store.write_checked(events_of("busy", 30))
        writing = asyncio.Event()

        async def keep_writing(share: int) -> None:
            for n, event in enumerate(late[share::2]):
                await store.write_checked([event])
                if n == 2:
                    writing.set()

        async def link_meanwhile() -> Linked:
            await writing.wait()
            return await ids.identify(link("busy", "cust-3"))

        linked, *_ = await asyncio.gather(link_meanwhile(), *map(keep_writing, range(2)))
        return linked

    # A history long enough for all: what the link moves is the id's history, not its profile.
    linked = run(backend, scenario, history_len=100)
    profile, history = kept(redis_client, "cust-3")
    assert len(history) == int(profile[b"n"]) == 90
    assert 30 <= linked.merged_events <= 90
    assert not redis_client.exists(events_key("busy"))


@on_one_redis
def test_a_link_timed_out_in_redis_is_all_done_or_not_at_all_and_asking_again_finishes(
    backend: Backend, redis_client: RedisClient
) -> None:
    moved = events_of("paused", 9)

    def state() -> str:
        linked = redis_client.get(alias_key("paused")) == b"cust-p"
        _, history = kept(redis_client, "cust-p")
        left = redis_client.zcard(events_key("paused"))
        if linked and len(history) == 9 and left == 0:
            return "all"
        assert (linked, history, left) == (False, [], 9), "a partial link"
        return "nothing"

    async def scenario(store: EventStore, ids: Identities) -> tuple[list[str], Linked]:
        await store.write_checked(moved)
        pauser = redis.Redis.from_url(backend.url)
        pauser.execute_command("CLIENT", "PAUSE", 400, "WRITE")
        with pytest.raises(RedisTimeout):
            await ids.identify(link("paused", "cust-p"))
        seen = [state()]
        await asyncio.sleep(0.5)
        seen.append(state())
        pauser.close()
        return seen, await ids.identify(link("paused", "cust-p"))

    seen, again = run(backend, scenario, timeout_ms=150)
    assert seen[0] == "nothing", "reads go on during the pause; the link waits for it"
    assert state() == "all"
    assert again.already_linked == (seen[1] == "all")
    assert again.merged_events == (0 if seen[1] == "all" else 9)


@on_one_redis
def test_events_dated_before_the_customers_erasure_are_not_moved(
    backend: Backend, redis_client: RedisClient
) -> None:
    async def scenario(store: EventStore, ids: Identities) -> Any:
        await store.write_checked(events_of("late-app", 6))
        # Erased at T0 + 2 h: the app's events from before then are the erased person's.
        redis_client.set(erased_key("cust-gone"), T0 + 2 * 3600)
        return await ids.identify(link("late-app", "cust-gone"))

    linked = run(backend, scenario)
    assert linked.merged_events == 6
    profile, history = kept(redis_client, "cust-gone")
    assert [e.ts for e in history] == [T0 + h * 3600 for h in range(3, 6)]
    assert int(profile[b"n"]) == 3
    assert not redis_client.exists(events_key("late-app"))
