"""`witryna load-catalog`: a catalogue file into a running service, in batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
from tqdm import tqdm

from service.catalog import ItemBatch, ItemUpdate
from service.errors import ConfigError

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


def load(path: Path, url: str) -> int:
    items = read(path)
    with (
        httpx.Client(base_url=url, timeout=30.0) as http,
        tqdm(total=len(items), unit="item") as bar,
    ):
        for chunk in _chunks(items):
            response = http.put(
                "/v1/catalog/items",
                content=_encode(ItemBatch(items=chunk)),
                headers={"content-type": "application/json"},
            )
            if response.status_code != 200:
                raise ConfigError(f"{url} refused the catalogue: {response.text}")
            bar.update(len(chunk))
    print(f"{len(items)} items loaded into {url}")
    return 0
