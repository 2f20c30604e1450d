"""The ``witryna`` command. Training adds its own subcommands through the
``witryna.commands`` entry point, so that serving never imports training (or torch)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path

from service.errors import WitrynaError
from service.manifest import current_artefact
from service.settings import Settings

APP_FACTORY = "service.app:app_from_env"


def serve(args: argparse.Namespace) -> int:
    from granian.constants import Interfaces
    from granian.server import Server

    from service.redis_server import RedisServer

    settings = Settings.from_env()
    current_artefact(Path(settings.models_dir), settings.model_name)
    private = None
    if settings.redis_url is None:
        private = RedisServer()
        # The workers build their settings from the environment, so they learn the URL there.
        os.environ["WITRYNA_REDIS_URL"] = private.start()
    try:
        Server(
            APP_FACTORY,
            address=args.host or settings.host,
            port=settings.port if args.port is None else args.port,
            interface=Interfaces.ASGI,
            workers=args.workers or settings.workers,
            factory=True,
            log_access=False,
        ).serve()
    finally:
        if private is not None:
            private.close()
    return 0


def bench(args: argparse.Namespace) -> int:
    from service.bench import run

    return run(args)


def publish(args: argparse.Namespace) -> int:
    from service.publish import command

    return command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="witryna", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_parser = commands.add_parser("serve", help="serve the HTTP API")
    serve_parser.add_argument("--host", help="bind address (default WITRYNA_HOST or 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="port (default WITRYNA_PORT or 8000)")
    serve_parser.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve_parser.set_defaults(func=serve)

    bench_parser = commands.add_parser("bench", help="measure page-view latency")
    bench_parser.add_argument("--url", help="a running service; default: start one on loopback")
    bench_parser.add_argument("--requests", type=int, default=1000)
    bench_parser.add_argument("--visitors", type=int, default=100)
    bench_parser.add_argument("--seed", type=int, default=7)
    bench_parser.add_argument("--out", type=Path, default=Path("bench/results"))
    bench_parser.set_defaults(func=bench)

    publish_parser = commands.add_parser(
        "publish", help="check an exported model and make it the one services serve"
    )
    publish_parser.add_argument("version", nargs="?", help="version folder (default: newest)")
    publish_parser.add_argument("--models-dir", help="default WITRYNA_MODELS_DIR or models")
    publish_parser.add_argument("--name", help="model name (default WITRYNA_MODEL_NAME or demo)")
    publish_parser.set_defaults(func=publish)

    for entry in entry_points(group="witryna.commands"):
        entry.load()(commands)
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
