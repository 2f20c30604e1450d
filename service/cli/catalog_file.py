"""`witryna load-catalog`: a catalogue file into a running service, in batches."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import msgspec

from service.cli.progress import bar
from service.errors import ConfigError
from service.storage.catalog import ItemBatch, ItemUpdate

BATCH = 1000
_items = msgspec.json.Decoder(list[ItemUpdate])
_batch = msgspec.json.Decoder(ItemBatch)
_item = msgspec.json.Decoder(ItemUpdate)
_encode = msgspec.json.Encoder().encode


def read(path: Path) -> list[ItemUpdate]:
    """``{"items": [...]}``, a JSON list, or one item per line; errors name the line."""
    raw = path.read_bytes()
    try:
        if raw.lstrip().startswith(b"{") and b'"items"' in raw[:200]:
            return _batch.decode(raw).items
        if raw.lstrip().startswith(b"["):
            return _items.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    items = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(_item.decode(line))
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise ConfigError(f"{path}:{number}: {exc}") from None
    return items


def _chunks(items: list[ItemUpdate]) -> Iterator[list[ItemUpdate]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


def _put(url: str, key: str, chunk: list[ItemUpdate]) -> None:
    request = urllib.request.Request(
        f"{url.rstrip('/')}/v1/catalog/items",
        data=_encode(ItemBatch(items=chunk)),
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
        method="PUT",
    )
    try:
        with urllib.request.urlopen(request, timeout=30.0) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise ConfigError(f"{url} refused the catalogue: {exc.read().decode()}") from None
    except urllib.error.URLError as exc:
        raise ConfigError(f"{url} cannot be reached: {exc.reason}") from None


def load(path: Path, url: str, key: str) -> int:
    """Upsert the items of ``path`` through the service at ``url``, with the secret ``key``."""
    if not key:
        raise ConfigError("the catalogue needs a secret key: pass --key or set WITRYNA_SECRET_KEYS")
    items = read(path)
    with bar(desc="catalogue", total=len(items), unit="item") as progress:
        for chunk in _chunks(items):
            _put(url, key, chunk)
            progress.update(len(chunk))
    print(f"{len(items)} items loaded into {url}")
    return 0
