"""What survives a restart: the service's data dir on disk, and whether Redis keeps its keys."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from service.errors import ConfigError
from service.storage.client import UNREACHABLE, Client

log = logging.getLogger(__name__)

# The embedded Redis's folder inside the data dir.
REDIS_DIR = "redis"
UNKNOWN = "unknown"
OFF = "off"


def prepare_data_dir(path: str) -> Path:
    """The data dir, created if missing and proven writable, or a ConfigError naming it."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Permissions alone do not tell: a read-only mount or a full disk refuses the write.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        message = f"WITRYNA_DATA_DIR={path!r} cannot be created or written: {reason}"
        raise ConfigError(message) from exc
    return folder.resolve()


def describe(config: dict[str, str]) -> str:
    """``aof <appendfsync>``, ``rdb`` or ``off``, from one server's CONFIG GET."""
    if config.get("appendonly") == "yes":
        return f"aof {config.get('appendfsync', 'everysec')}"
    # save "" turns snapshots off; any rule ("3600 1 300 100") keeps them.
    if config.get("save", "").strip():
        return "rdb"
    return OFF


async def read_persistence(client: Client) -> str:
    """How Redis keeps its keys across a restart; ``unknown`` where it refuses CONFIG (managed
    services often do) or does not answer. On a cluster, the weakest primary's answer."""
    try:
        configs = await _configs(client)
    except ResponseError as exc:
        log.info("redis refused CONFIG GET (%s); its persistence is unknown", exc)
        return UNKNOWN
    except UNREACHABLE:
        return UNKNOWN
    found = sorted({describe(config) for config in configs}, key=_strength)
    state = found[0] if found else UNKNOWN
    if state == OFF:
        log.warning(
            'redis keeps nothing on disk (appendonly no, save ""): a restart of Redis loses '
            "every history, profile, consent, link, catalogue item, erasure mark and experiment "
            "tally; turn on AOF (appendonly yes, appendfsync everysec), see docs/operations.md"
        )
    return state


def _strength(state: str) -> int:
    return {OFF: 0, "rdb": 1, "aof no": 2}.get(state, 3)


async def _configs(client: Client) -> list[dict[str, str]]:
    if isinstance(client, RedisCluster):
        nodes = client.get_primaries()
        answers = [
            {**await client.config_get("append*", target_nodes=node),
             **await client.config_get("save", target_nodes=node)}
            for node in nodes
        ]  # fmt: skip
        return [_text(answer) for answer in answers]
    return [_text({**await client.config_get("append*"), **await client.config_get("save")})]


def _text(config: dict[Any, Any]) -> dict[str, str]:
    return {os.fsdecode(k): os.fsdecode(v) for k, v in config.items()}
