"""One headless load test: start a local stack, run the journeys, write the reports, stop.

    .venv/bin/python loadtests/run.py --users 50 --spawn-rate 10 --run-time 60s \
        --out bench/results/locust [--url http://host:8000] [-- <more locust arguments>]

writes ``<out>-report.html``, ``<out>_stats.csv`` (and Locust's other CSVs) and
``<out>_journeys.json``; exits with Locust's code, which is non-zero when a budget broke.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from bench.stack import local_stack
from service.settings import Settings

HERE = Path(__file__).resolve().parent


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", "-u", type=int, default=50)
    parser.add_argument("--spawn-rate", "-r", type=float, default=10.0)
    parser.add_argument("--run-time", "-t", default="60s", help="e.g. 60s, 5m, 1h")
    parser.add_argument("--out", type=Path, default=Path("build/locust"))
    parser.add_argument("--url", help="an already running service; default: start one")
    split = argv.index("--") if "--" in argv else len(argv)
    return parser.parse_args(argv[:split]), argv[split + 1 :]


def locust_command(args: argparse.Namespace, url: str, extra: list[str]) -> list[str]:
    out = str(args.out)
    return [
        sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless",
        "-u", str(args.users), "-r", str(args.spawn_rate), "-t", args.run_time,
        "--host", url, "--html", f"{out}-report.html", "--csv", out,
        "--journeys-json", f"{out}_journeys.json", "--only-summary", *extra,
    ]  # fmt: skip


def run_locust(args: argparse.Namespace, url: str, extra: list[str], env: dict[str, str]) -> int:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.call(locust_command(args, url, extra), env=env)


def main(argv: list[str]) -> int:
    args, extra = parse(argv)
    locust_env = dict(os.environ)
    if args.url:
        return run_locust(args, args.url, extra, locust_env)
    with local_stack(Settings.from_env()) as stack:
        keys = {"LOAD_SITE_KEY": stack.keys.site, "LOAD_SECRET_KEY": stack.keys.secret}
        return run_locust(args, stack.url, extra, {**locust_env, **keys})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
