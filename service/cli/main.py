"""The ``witryna`` command. Training adds its own subcommands through the
``witryna.commands`` entry point, so that serving never imports training (or torch)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from service.cli import keys, models, start, usage
from service.decision import policy
from service.errors import ConfigError, WitrynaError
from service.model.manifest import current_artefact
from service.settings import LOG_FORMAT, Settings

if TYPE_CHECKING:
    from service.storage.client import Client

APP_FACTORY = "service.app:app_from_env"
REDIS_LOAD_TIMEOUT_S = 300.0


def serve(args: argparse.Namespace) -> int:
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.server import Server

    from service.storage.persistence import REDIS_DIR, prepare_data_dir
    from service.storage.server import RedisServer

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    current_artefact(Path(settings.models_dir), settings.model_name)
    if settings.redis_url is None and settings.redis_cluster:
        raise ConfigError("WITRYNA_REDIS_CLUSTER needs WITRYNA_REDIS_URL: a node of the cluster")
    # The policy is loaded in each worker: a bad one is said here once, as one line.
    policy.load(settings.policy_path)
    data_dir = prepare_data_dir(settings.data_dir)
    start.refuse_taken_port(host, port)
    private = None
    if settings.redis_url is None:
        private = RedisServer(data_dir=data_dir / REDIS_DIR, appendfsync=settings.redis_appendfsync)
        # The workers build their settings from the environment, so they learn the URL there.
        # A large append-only file takes a while to load before Redis answers.
        os.environ["WITRYNA_REDIS_URL"] = private.start(timeout_s=REDIS_LOAD_TIMEOUT_S)
    # Workers name their server by it when they pool their metrics (service/metrics/pool.py).
    os.environ["WITRYNA_PORT"] = str(port)
    try:
        server = Server(
            APP_FACTORY,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=args.workers or settings.workers,
            factory=True,
            backlog=settings.backlog,
            backpressure=settings.max_connections,
            http1_settings=HTTP1Settings(header_read_timeout=settings.header_read_timeout_ms),
            log_access=False,
            # A worker that does not stop in time is killed, so the service always stops.
            workers_kill_timeout=10,
        )
        server.on_startup(lambda: start.announce_when_ready(settings, host, port))
        server.serve()
    finally:
        if private is not None:
            private.close()
    return 0


def load_catalog(args: argparse.Namespace) -> int:
    from service.cli.catalog_file import load

    key = args.key or next(iter(Settings.from_env().secret_key_list), "")
    return load(args.file, args.url, key)


def _redis_of(args: argparse.Namespace) -> tuple[Client, Settings]:
    from service.storage.client import connect

    settings = Settings.from_env()
    url = args.redis_url or settings.redis_url
    if url is None:
        raise ConfigError(
            "pass --redis-url or set WITRYNA_REDIS_URL; a running `witryna serve` logs the URL "
            "of its private Redis at start"
        )
    return connect(url, timeout_ms=5000, cluster=settings.redis_cluster), settings


def export_events(args: argparse.Namespace) -> int:
    import asyncio

    from service.storage.streams import export

    client, _ = _redis_of(args)
    events, decisions = asyncio.run(export(client, args.out, args.decisions))
    print(
        f"{events} events to {args.out}"
        + (f", {decisions} decisions to {args.decisions}" if args.decisions else "")
    )
    return 0


def reindex_logs(args: argparse.Namespace) -> int:
    import asyncio

    from service.storage.reindex import reindex

    client, settings = _redis_of(args)
    entries, tallies = asyncio.run(reindex(client, settings.history_ttl_s))
    print(f"{entries} stream entries indexed, {tallies} experiment tallies registered")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The whole command, with the subcommands other packages add through the entry point."""
    parser = argparse.ArgumentParser(
        prog="witryna",
        description=usage.DESCRIPTION,
        epilog=usage.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"witryna {usage.package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_parser = commands.add_parser(
        "serve",
        help="run the service: the API, the demo store and the dashboard",
        description=usage.serve_description(),
    )
    serve_parser.add_argument("--host", help="bind address (default WITRYNA_HOST or 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="port (default WITRYNA_PORT or 8000)")
    serve_parser.add_argument(
        "--workers", type=int, help="worker processes (default WITRYNA_WORKERS or 1)"
    )
    serve_parser.set_defaults(func=serve)

    models.add_parsers(commands)

    catalog_parser = commands.add_parser(
        "load-catalog", help="add or update catalogue items from a JSON or JSONL file, via the API"
    )
    catalog_parser.add_argument("file", type=Path, help='{"items": [...]}, a list, or JSONL')
    catalog_parser.add_argument("--url", default="http://127.0.0.1:8000", help="the service")
    catalog_parser.add_argument("--key", help="a secret key (default: WITRYNA_SECRET_KEYS' first)")
    catalog_parser.set_defaults(func=load_catalog)

    export_parser = commands.add_parser(
        "export-events", help="write the logged events (and decisions) to JSONL, to train on"
    )
    export_parser.add_argument(
        "--out", type=Path, default=Path("events.jsonl"), help="events file (default %(default)s)"
    )
    export_parser.add_argument("--decisions", type=Path, help="also write decisions here")
    export_parser.add_argument("--redis-url", help="default WITRYNA_REDIS_URL")
    export_parser.set_defaults(func=export_events)
    reindex_parser = commands.add_parser(
        "reindex-logs",
        help="once, after upgrading: index the events and tallies older releases logged, "
        "so that erasure finds them",
    )
    reindex_parser.add_argument("--redis-url", help="default WITRYNA_REDIS_URL")
    reindex_parser.set_defaults(func=reindex_logs)
    keys.add_parser(commands)

    for entry in entry_points(group="witryna.commands"):
        try:
            register = entry.load()
        except ModuleNotFoundError as exc:
            # The images install service/ alone, yet the metadata still names training's
            # commands; only the absence of the command's own package is forgiven.
            if exc.name != entry.module.partition(".")[0]:
                raise
            continue
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except WitrynaError as exc:
        print(f"witryna: error: {exc.detail}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
