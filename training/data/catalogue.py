"""A synthetic shop catalogue: items in categories, Zipf-like popularity, prices.

Items of one category get consecutive ids, so "neighbouring" items (a few ids apart) are
the related products a shopper walks among; that is what makes the next item learnable.
The simulator draws its sessions from here and a demo store can show the same products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CATEGORIES: tuple[str, ...] = (
    "tv",
    "laptops",
    "phones",
    "tablets",
    "headphones",
    "cameras",
    "monitors",
    "printers",
    "consoles",
    "games",
    "smartwatches",
    "speakers",
    "kitchen",
    "coffee",
    "vacuum",
    "lighting",
    "furniture",
    "bedding",
    "garden",
    "tools",
    "toys",
    "books",
    "sports",
    "beauty",
)
ITEMS_PER_CATEGORY = 25
ZIPF_EXPONENT = 1.05
# Typical price per category: electronics dear, books and beauty cheap.
_BASE_PRICE = (
    900, 1100, 700, 450, 150, 600, 300, 200, 450, 60, 250, 180,
    120, 200, 300, 60, 400, 80, 90, 110, 40, 20, 70, 30,
)  # fmt: skip


@dataclass(frozen=True)
class Catalogue:
    """Items in catalogue order; items of a category are contiguous."""

    items: tuple[str, ...]
    categories: tuple[str, ...]
    category_of: dict[str, str]
    price_of: dict[str, float]
    popularity: np.ndarray  # probability per item, same order as ``items``
    index_of: dict[str, int]

    def items_in(self, category: str) -> list[str]:
        start = self.categories.index(category) * ITEMS_PER_CATEGORY
        return list(self.items[start : start + ITEMS_PER_CATEGORY])

    def category_weights(self) -> np.ndarray:
        per_category = self.popularity.reshape(len(self.categories), ITEMS_PER_CATEGORY)
        return np.asarray(per_category.sum(axis=1), dtype=np.float64)

    def pick_category(self, rng: np.random.Generator) -> str:
        return self.categories[_draw(rng, self.category_weights())]

    def pick_item(self, rng: np.random.Generator, category: str) -> str:
        start = self.categories.index(category) * ITEMS_PER_CATEGORY
        return self.items[start + _draw(rng, self.popularity[start : start + ITEMS_PER_CATEGORY])]

    def neighbour(self, rng: np.random.Generator, item: str) -> str:
        """A related item: a few ids away within the same category, nearer ones likelier."""
        index = self.index_of[item]
        start = (index // ITEMS_PER_CATEGORY) * ITEMS_PER_CATEGORY
        step = int(rng.choice([1, 1, 1, 2, 2, 3])) * (1 if rng.random() < 0.6 else -1)
        offset = (index - start + step) % ITEMS_PER_CATEGORY
        return self.items[start + offset]


def _draw(rng: np.random.Generator, weights: np.ndarray) -> int:
    """An index drawn in proportion to ``weights``; cheaper than ``rng.choice(p=...)``."""
    cumulative = np.cumsum(weights)
    return min(int(np.searchsorted(cumulative, rng.random() * cumulative[-1])), len(weights) - 1)


def build_catalogue(seed: int = 0) -> Catalogue:
    """The same catalogue for the same seed; popularity ranks are shuffled across categories."""
    rng = np.random.default_rng(seed)
    n = len(CATEGORIES) * ITEMS_PER_CATEGORY
    items = tuple(f"sku-{i:05d}" for i in range(n))
    ranks = rng.permutation(n)
    weights = 1.0 / (ranks + 1.0) ** ZIPF_EXPONENT
    category_of: dict[str, str] = {}
    price_of: dict[str, float] = {}
    for i, item in enumerate(items):
        c = i // ITEMS_PER_CATEGORY
        category_of[item] = CATEGORIES[c]
        price_of[item] = round(float(_BASE_PRICE[c] * rng.lognormal(0.0, 0.35)), 2)
    return Catalogue(
        items=items,
        categories=CATEGORIES,
        category_of=category_of,
        price_of=price_of,
        popularity=weights / weights.sum(),
        index_of={item: i for i, item in enumerate(items)},
    )
