"""What `witryna --help` and `witryna serve --help` say: written for the person running it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from service.settings import PREFIX, Settings

DESCRIPTION = """\
Witryna personalises a shop's pages in real time: on each page view it reads what the
visitor has just done and answers with what their page should show (a banner, an offer,
which products), with the reasons why."""

EPILOG = """\
start here:
  make run                 set everything up and serve the demo store on 127.0.0.1:8000
  witryna serve            serve the API; settings are WITRYNA_* environment variables
  witryna COMMAND --help   what a command does, and its options

train, export, evaluate, bench-models and demo-catalogue come with the `train` extra,
the bench commands with the `bench` extra. Documents: README.md and docs/."""


def serve_description() -> str:
    return (
        "Serve the HTTP API (and the demo store, the dashboard and the API docs when turned "
        f"on). Its settings are the {len(Settings.__struct_fields__)} {PREFIX}* environment "
        f"variables, such as {PREFIX}PORT, {PREFIX}REDIS_URL and {PREFIX}POLICY_PATH, listed "
        "with their defaults in docs/operations.md (Settings); the options below override "
        f"theirs. Without {PREFIX}REDIS_URL it starts a private redis-server, keeps its files "
        f"in {PREFIX}DATA_DIR and logs its URL. Once the service answers, it logs the links "
        "to open."
    )


def package_version() -> str:
    try:
        return version("witryna")
    except PackageNotFoundError:
        # Run from a checkout that was never installed: no metadata to read.
        return "unknown (not installed)"
