"""`witryna models` and `witryna publish`: the versions of a model, and which one is served.

Publishing an earlier version is the rollback. Publishing checks the artefact's item
vocabulary against the catalogue in Redis: a model that knows none of the shop's items
ranks nothing a carousel may show, so every carousel would be empty.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from msgspec import Struct

from service.errors import ModelUnavailable
from service.model.versions import Overlap, Served, Version, model_names, served, versions
from service.settings import Settings

if TYPE_CHECKING:
    from service.storage.client import Client

DEFAULT_MIN_OVERLAP = 50.0
# Item ids per HMGET: a model of a million items is read in slices, not one reply.
CHUNK = 10_000


def add_parsers(commands: Any) -> None:
    """Register ``models`` and ``publish`` on the ``witryna`` subparsers."""
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--models-dir", help="where models are (default WITRYNA_MODELS_DIR or models)"
    )
    where.add_argument("--name", help="model name (default WITRYNA_MODEL_NAME or demo)")

    listing = commands.add_parser(
        "models",
        parents=[where],
        help="list a model's versions with their metrics; * marks the one served",
        description="List the versions of a model with what their manifests record, and mark "
        "the one services serve (named in models/<name>/CURRENT, else the newest).",
    )
    listing.add_argument(
        "--metrics",
        type=lambda text: [name for name in text.split(",") if name],
        metavar="NAME,...",
        help="the metric columns to show, e.g. buy_auc,next_item_recall_at_k (default: all)",
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per version")
    listing.set_defaults(func=list_command)

    publish = commands.add_parser(
        "publish",
        parents=[where],
        help="make a version the one services serve (an earlier version: a rollback)",
        description="Check an exported version (it loads, matches its sha256, runs once, and "
        "most of its items are in the catalogue), then point CURRENT at it; running services "
        "switch to it within WITRYNA_MODEL_POLL_S. Publishing an earlier version rolls back.",
    )
    publish.add_argument("version", nargs="?", help="version folder (default: the newest)")
    publish.add_argument(
        "--redis-url",
        help="the Redis holding the catalogue to check against (default WITRYNA_REDIS_URL; "
        "`witryna serve` logs its private one); without one the catalogue is not checked",
    )
    publish.add_argument(
        "--min-overlap",
        type=float,
        default=DEFAULT_MIN_OVERLAP,
        metavar="PERCENT",
        help="refuse a model of which fewer than PERCENT%% of the items are in the catalogue "
        f"(default {DEFAULT_MIN_OVERLAP:.0f})",
    )
    publish.add_argument(
        "--force", action="store_true", help="publish even when the catalogue check refuses"
    )
    publish.set_defaults(func=publish_command)


def _where(args: argparse.Namespace, settings: Settings) -> tuple[Path, str]:
    return Path(args.models_dir or settings.models_dir), args.name or settings.model_name


class Listed(Struct, omit_defaults=True, kw_only=True):
    """One version as `witryna models --json` prints it."""

    version: str
    served: bool
    created: str = ""
    items: int = 0
    precision: str = ""
    metrics: dict[str, float] = msgspec.field(default_factory=dict)
    problem: str = ""


def list_command(args: argparse.Namespace) -> int:
    models_dir, name = _where(args, Settings.from_env())
    found = versions(models_dir, name)
    if not found:
        others = ", ".join(model_names(models_dir)) or "none"
        raise ModelUnavailable(f"no versions of {name!r} under {models_dir} (models: {others})")
    serving = served(models_dir, name)
    if args.json:
        for version in found:
            print(msgspec.json.encode(listed(version, serving)).decode())
        return 0
    count = f"{len(found)} version{'s' * (len(found) != 1)}"
    print(f"{name} under {models_dir}: {count}; * = served ({serving.why})")
    for line in table(found, serving, args.metrics):
        print(line)
    return 0


def listed(version: Version, serving: Served) -> Listed:
    served_now = version.version == serving.version
    manifest = version.manifest
    if manifest is None:
        return Listed(version=version.version, served=served_now, problem=version.problem)
    return Listed(
        version=version.version,
        served=served_now,
        created=manifest.created,
        items=len(manifest.items),
        precision=manifest.precision,
        metrics=manifest.metrics,
    )


def table(found: list[Version], serving: Served, metrics: list[str] | None = None) -> list[str]:
    """One row per version: when it was made, its item count and precision, its metrics
    (``metrics``, or every one a manifest records)."""
    if metrics is None:
        metrics = list(dict.fromkeys(k for v in found if v.manifest for k in v.manifest.metrics))
    rows = [["", "version", "created", "items", "precision", *metrics]]
    rows += [_row(listed(version, serving), metrics) for version in found]
    # A row's last cell widens no column: an unreadable version's reason runs on.
    widths = [
        max((len(row[i]) for row in rows if i < len(row) - 1), default=0)
        for i in range(len(rows[0]))
    ]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        for row in rows
    ]


def _row(version: Listed, metrics: list[str]) -> list[str]:
    mark = "*" if version.served else ""
    if version.problem:
        return [mark, version.version, f"unreadable: {version.problem}"]
    created = version.created.replace("+00:00", "Z")
    values = [_number(version.metrics[k]) if k in version.metrics else "" for k in metrics]
    return [mark, version.version, created, f"{version.items:,}", version.precision, *values]


def _number(value: float) -> str:
    return f"{value:.0f}" if value.is_integer() else f"{value:.4f}"


def publish_command(args: argparse.Namespace) -> int:
    from service.model.validation import short_recall, switch, validate

    settings = Settings.from_env()
    models_dir, name = _where(args, settings)
    version = args.version or _newest(models_dir, name)
    artefact = models_dir / name / version
    runtime = validate(artefact)
    shortfall = short_recall(runtime.manifest)
    if shortfall and not args.force:
        raise ModelUnavailable(f"not published: {shortfall}; --force publishes it anyway")
    if shortfall:
        print(f"witryna: warning: published with --force though {shortfall}", file=sys.stderr)
    items = runtime.manifest.items
    check = catalogue_check(items, args.redis_url or settings.redis_url, settings.redis_cluster)
    if isinstance(check, str):
        print(f"witryna: warning: the catalogue was not checked: {check}", file=sys.stderr)
    elif check.percent < args.min_overlap:
        short = check.describe(args.min_overlap)
        if not args.force:
            raise ModelUnavailable(
                f"not published: only {short}: its carousels would show next to nothing; "
                "--force publishes it anyway"
            )
        print(f"witryna: warning: published with --force though only {short}", file=sys.stderr)
    switch(models_dir, name, version)
    print(f"published {name}/{version} ({artefact})")
    return 0


def _newest(models_dir: Path, name: str) -> str:
    found = versions(models_dir, name)
    if not found:
        raise ModelUnavailable(f"no versions of {name!r} under {models_dir}; run `witryna export`")
    return found[-1].version


def catalogue_check(items: list[str], url: str | None, cluster: bool) -> Overlap | str:
    """How many of ``items`` the catalogue at ``url`` holds, or why that cannot be said."""
    import asyncio

    from service.storage.client import UNREACHABLE, connect

    if url is None:
        return "no --redis-url or WITRYNA_REDIS_URL (`witryna serve` logs its private one)"
    client = connect(url, timeout_ms=5000, cluster=cluster)
    try:
        known, size = asyncio.run(_held(client, items))
    except UNREACHABLE as exc:
        return f"cannot read the catalogue at {url} ({exc})"
    if not size:
        return f"the catalogue at {url} is empty (a new shop?)"
    return Overlap(known, len(items), size)


async def _held(client: Client, items: list[str]) -> tuple[int, int | None]:
    """Model items the catalogue holds, and how many items it holds in all."""
    from service.storage.catalog import Catalog

    catalog = Catalog(client)
    try:
        known = 0
        for start in range(0, len(items), CHUNK):
            known += len(await catalog.lookup(items[start : start + CHUNK]))
        return known, catalog.cache.size
    finally:
        await client.aclose()
