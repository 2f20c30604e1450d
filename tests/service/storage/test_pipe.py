"""The page view's own Redis connection, against real redis-servers stopped, killed and
restarted under it."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time

import pytest
import redis
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

from service.storage.pipe import PipedConnection
from service.storage.server import RedisServer


def piped(url: str, timeout_s: float = 1.0) -> PipedConnection:
    pipe = PipedConnection.from_url(url, timeout_s)
    assert pipe is not None
    return pipe


def test_concurrent_callers_each_get_their_own_replies_and_errors_in_place() -> None:
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    values = random.Random(seed).sample(range(10**9), 300)

    async def scenario(url: str) -> list[list[object]]:
        pipe = piped(url)
        calls = [
            pipe.call([("SET", f"k{i}", v), ("INCR", "not-a-number"), ("GET", f"k{i}")])
            for i, v in enumerate(values)
        ]
        try:
            return await asyncio.gather(*calls)
        finally:
            pipe.close()

    with RedisServer() as server:
        redis.Redis(port=server.port).set("not-a-number", "x")
        replies = asyncio.run(scenario(server.url))
    assert [r[2] for r in replies] == [str(v).encode() for v in values]
    assert all(r[0] == b"OK" for r in replies)
    assert all(isinstance(r[1], ResponseError) and "not an integer" in str(r[1]) for r in replies)


def test_a_url_with_password_and_database_is_honoured() -> None:
    with RedisServer() as server:
        redis.Redis(port=server.port).config_set("requirepass", "s3cret")
        url = f"redis://:s3cret@127.0.0.1:{server.port}/3"

        async def scenario() -> list[object]:
            pipe = piped(url)
            try:
                return await pipe.call([("SET", "where", "db3")])
            finally:
                pipe.close()

        assert asyncio.run(scenario()) == [b"OK"]
        assert redis.Redis(port=server.port, password="s3cret", db=3).get("where") == b"db3"

        async def refused() -> None:
            await piped(f"redis://:wrong@127.0.0.1:{server.port}").call([("PING",)])

        with pytest.raises(ConnectionError, match="refused"):
            asyncio.run(refused())


def test_urls_it_cannot_serve_are_left_to_redis_py() -> None:
    assert PipedConnection.from_url("rediss://127.0.0.1:6380", 1.0) is None
    assert PipedConnection.from_url("unix:///run/redis.sock", 1.0) is None


def test_a_frozen_redis_times_out_and_the_next_call_after_it_thaws_is_answered_right() -> None:
    with RedisServer() as server:

        async def scenario() -> tuple[float, list[object]]:
            pipe = piped(server.url, timeout_s=0.2)
            await pipe.call([("SET", "a", "1")])
            os.kill(server.pid, signal.SIGSTOP)
            started = time.monotonic()
            try:
                with pytest.raises(TimeoutError):
                    await pipe.call([("GET", "a")])
                waited = time.monotonic() - started
            finally:
                os.kill(server.pid, signal.SIGCONT)
            # The late reply to the timed-out GET must not answer this one.
            after = await pipe.call([("SET", "b", "2"), ("GET", "b")])
            pipe.close()
            return waited, after

        waited, after = asyncio.run(scenario())
    assert 0.2 <= waited < 1.0
    assert after == [b"OK", b"2"]


def test_a_killed_redis_fails_fast_and_a_restarted_one_is_reconnected() -> None:
    with RedisServer() as server:

        async def scenario() -> list[object]:
            pipe = piped(server.url)
            await pipe.call([("SET", "a", "1")])
            server.stop()
            with pytest.raises(ConnectionError):
                await pipe.call([("GET", "a")])
            with pytest.raises(ConnectionError):
                await pipe.call([("GET", "a")])
            server.start()
            replies = await pipe.call([("SET", "a", "2"), ("GET", "a")])
            pipe.close()
            return replies

        assert asyncio.run(scenario()) == [b"OK", b"2"]
