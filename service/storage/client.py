"""The Redis client: one server, or a Redis Cluster reached through any one of its nodes."""

from __future__ import annotations

from typing import Any, TypeAlias

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import DataError, RedisClusterException, RedisError

Client: TypeAlias = aioredis.Redis | RedisCluster
Pipe: TypeAlias = Pipeline | ClusterPipeline

# What an unreachable Redis raises. A cluster client that reaches no node raises
# RedisClusterException, which is not a RedisError.
UNREACHABLE = (RedisError, RedisClusterException, OSError)


class PackedConnection(Connection):
    """Packs commands with hiredis's C packer: redis-py's asyncio client packs in Python,
    which cost a page view more than its Lua script's whole run inside Redis."""

    def pack_command(self, *args: Any) -> list[bytes]:
        # As redis-py does: a command name with a space ("SCRIPT LOAD") is several words.
        if isinstance(args[0], str):
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError as exc:
            raise DataError(str(exc)) from exc


async def queue_script(
    pipe: Pipe, script: AsyncScript, source: str, keys: list[str], args: list[Any]
) -> None:
    """Add a run of ``script`` (whose Lua is ``source``) to ``pipe``, on one Redis or a cluster."""
    if isinstance(pipe, ClusterPipeline):
        # redis-py refuses EVALSHA in a cluster pipeline; EVAL carries the script.
        pipe.eval(source, len(keys), *keys, *args)
    else:
        await script(keys=keys, args=args, client=pipe)


def connect(url: str, timeout_ms: int, cluster: bool = False) -> Client:
    """A client for ``url``; with ``cluster`` it learns the cluster's nodes and slots from
    that node on its first command and sends each command to the node owning its slot."""
    # No retries: a storefront waiting on a dead Redis is worse than a degraded answer now.
    options: dict[str, Any] = {
        "socket_timeout": timeout_ms / 1000,
        "socket_connect_timeout": timeout_ms / 1000,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 0,
        "connection_class": PackedConnection,
    }
    if cluster:
        return RedisCluster.from_url(url, **options)
    return aioredis.Redis.from_url(url, **options)
