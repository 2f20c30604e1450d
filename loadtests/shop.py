"""The shop the simulated shoppers walk: the served model's own items, grouped into categories.

Page views must name items the model knows, or every request would take the unknown-item
path and the load test would measure the wrong thing; so the items come from the manifest
of the artefact the service serves, never from a hard-coded list.
"""

from __future__ import annotations

import os
import random
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from service.model.manifest import Manifest, current_artefact, read_manifest

ROOT = Path(__file__).resolve().parents[1]
# Browsers mostly land on the head of the catalogue, as real traffic does.
POPULAR_HEAD = 60


@dataclass(frozen=True)
class Shop:
    categories: tuple[str, ...]
    items_in: dict[str, tuple[str, ...]]
    category_of: dict[str, str]
    popular: tuple[str, ...]

    def category(self, rng: random.Random) -> str:
        return rng.choice(self.categories)

    def item_in(self, rng: random.Random, category: str) -> str:
        return rng.choice(self.items_in[category])

    def popular_item(self, rng: random.Random) -> str:
        return rng.choice(self.popular)

    def neighbour(self, rng: random.Random, item: str) -> str:
        """A related item: a few places away in the same category, as shoppers compare."""
        siblings = self.items_in[self.category_of[item]]
        index = siblings.index(item) + rng.choice([-2, -1, 1, 1, 2, 3])
        return siblings[index % len(siblings)]

    def price(self, item: str) -> float:
        """A stable made-up price: the manifest has none, and a purchase needs one."""
        return round(5 + zlib.crc32(item.encode()) % 99_500 / 100, 2)


def from_manifest(manifest: Manifest) -> Shop:
    """Sorted item ids cut into one run per category.

    The manifest lists items and categories but not which item is in which category. The
    demo catalogue gives a category consecutive ids, so contiguous runs of sorted ids are
    real categories there; for any other model they are at least stable groups, which is
    all a researcher comparing "items of one category" needs.
    """
    items = sorted(manifest.items)
    categories = tuple(manifest.categories) or ("all",)
    size = max(1, -(-len(items) // len(categories)))
    items_in = {
        name: tuple(items[i * size : (i + 1) * size])
        for i, name in enumerate(categories)
        if items[i * size : (i + 1) * size]
    }
    category_of = {item: name for name, group in items_in.items() for item in group}
    popular = tuple(manifest.popular_items[:POPULAR_HEAD]) or tuple(items[:POPULAR_HEAD])
    return Shop(tuple(items_in), items_in, category_of, popular)


def manifest_path(explicit: str | None) -> Path:
    """The manifest named on the command line, else the one the local service would serve.

    WITRYNA_MODELS_DIR and WITRYNA_MODEL_NAME are read directly rather than through
    ``Settings.from_env``, which refuses the load test's own LOAD_* variables.
    """
    if explicit:
        return Path(explicit)
    models = Path(os.environ.get("WITRYNA_MODELS_DIR", ROOT / "models"))
    name = os.environ.get("WITRYNA_MODEL_NAME", "demo")
    return current_artefact(models, name) / "manifest.json"


@cache
def load_shop(explicit_manifest: str | None = None) -> Shop:
    """One read per process: every simulated user of a worker shares the same shop."""
    return from_manifest(read_manifest(manifest_path(explicit_manifest).parent))
