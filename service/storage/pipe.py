"""One connection per worker for the page view's round trip to a single Redis.

Concurrent requests write their commands in turn and take their replies in the same order,
so a busy worker pipelines without trying. It skips redis-py's pool, locks and per-call
timeout contexts, which cost the worker about 80 us a round trip on a 2-core VM: more than
decoding the 50 events it brings back. It leans on hiredis's ``Reader`` and redis-py's error
types, pinned to the major versions it was measured on in pyproject.toml.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import hiredis
from redis.exceptions import ConnectionError as Unreachable
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as Unanswered

Command = Sequence[Any]


class _Waiter:
    __slots__ = ("count", "future", "replies")

    def __init__(self, future: asyncio.Future[list[Any]], count: int) -> None:
        self.future = future
        self.count = count
        self.replies: list[Any] = []


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader(replyError=ResponseError)
        self.waiters: deque[_Waiter] = deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiters = self.waiters
        while waiters:
            waiter = waiters[0]
            while len(waiter.replies) < waiter.count:
                reply = self.reader.gets()
                if reply is False:
                    return
                waiter.replies.append(reply)
            waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_result(waiter.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.fail(Unreachable(f"redis closed the connection: {exc}"))

    def fail(self, exc: Exception) -> None:
        while self.waiters:
            future = self.waiters.popleft().future
            if not future.done():
                future.set_exception(exc)


class PipedConnection:
    """Commands to one Redis over one lazily (re)opened connection.

    A call that outlives ``timeout_s`` closes the connection: the replies still on their
    way would otherwise answer the wrong callers. Every failure raises redis-py's
    ``ConnectionError`` or ``TimeoutError``, as its pooled client does.
    """

    def __init__(self, host: str, port: int, timeout_s: float, hello: list[Command]) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        # Sent first on every new connection: AUTH and SELECT, as the URL asks.
        self._hello = hello
        self._protocol: _Protocol | None = None
        self._opening = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, timeout_s: float) -> PipedConnection | None:
        """For ``redis://`` URLs; None for the rest (TLS, sockets), left to redis-py."""
        parts = urlsplit(url)
        if parts.scheme != "redis" or parts.query:
            return None
        hello: list[Command] = []
        if parts.password:
            user = unquote(parts.username) if parts.username else "default"
            hello.append(("AUTH", user, unquote(parts.password)))
        db = int(parts.path.lstrip("/") or 0)
        if db:
            hello.append(("SELECT", db))
        return cls(parts.hostname or "localhost", parts.port or 6379, timeout_s, hello)

    async def call(self, commands: Sequence[Command]) -> list[Any]:
        """The replies to ``commands``, in one write; an error reply is its exception."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._open()
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future(), len(commands))
        protocol.waiters.append(waiter)
        assert protocol.transport is not None
        protocol.transport.write(b"".join(hiredis.pack_command(tuple(c)) for c in commands))
        timer = loop.call_later(self.timeout_s, self._expire, protocol, waiter)
        try:
            return await waiter.future
        finally:
            timer.cancel()

    def _expire(self, protocol: _Protocol, waiter: _Waiter) -> None:
        if waiter.future.done():
            return
        protocol.fail(Unanswered(f"redis did not answer within {self.timeout_s:g} s"))
        self._drop(protocol)

    async def _open(self) -> _Protocol:
        async with self._opening:
            if self._protocol is not None and not self._protocol.closed:
                return self._protocol
            loop = asyncio.get_running_loop()
            try:
                _, protocol = await asyncio.wait_for(
                    loop.create_connection(_Protocol, self.host, self.port), self.timeout_s
                )
            except OSError as exc:  # the builtin TimeoutError included
                where = f"{self.host}:{self.port}"
                raise Unreachable(f"cannot reach redis at {where}: {exc!r}") from exc
            self._protocol = protocol
            if self._hello:
                for reply in await self.call(self._hello):
                    if isinstance(reply, Exception):
                        self._drop(protocol)
                        raise Unreachable(f"redis refused the connection: {reply}")
            return protocol

    def _drop(self, protocol: _Protocol) -> None:
        protocol.closed = True
        if protocol.transport is not None:
            protocol.transport.close()
        if self._protocol is protocol:
            self._protocol = None

    def close(self) -> None:
        if self._protocol is not None:
            self._drop(self._protocol)
