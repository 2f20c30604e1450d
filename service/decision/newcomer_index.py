"""This worker's newcomers: in-stock catalogue items the served model has not seen, by the
category ids of its vocabulary, for carousels to rank through their category
(``service.decision.newcomers``).

Finding them takes the whole catalogue, so a background task reads it a page at a time
(``service.storage.catalog_scan``) and swaps the result in whole; a page view only reads
what this worker holds, and adds no Redis round trip. Which items are new depends on the
model, so each model gets an index of its own, built before that model is served.
Items whose category the model does not know have no chance to be ranked by and are left
out, as are items without a category.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

from service.decision.newcomers import newcomer_scores
from service.model.encoding import Vocabulary
from service.storage.catalog_scan import scan_stock
from service.storage.client import Client

# Newcomers kept per category. newcomer_scores gives all of one category the same score and
# a carousel shows at most `per_category` (3 by default) of a category, so more than a few
# could never show on one page; 50 leaves room for those filtered out (sold out since the
# scan, excluded tags, already bought) and bounds memory by the model's categories, not the
# catalogue: a category's count still holds all of them, so each one's score stays honest.
# A category with more is sampled anew at each refresh (a reservoir), so every one gets a turn.
PER_CATEGORY = 50


class NewcomerIndex:
    """Newcomers of one model by category id, and how many each category has."""

    def __init__(self, client: Client, vocab: Vocabulary, seed: int | None = None) -> None:
        self.client = client
        self.vocab = vocab
        self.by_category: dict[int, list[str]] = {}
        self.counts: dict[int, int] = {}
        self._rng = random.Random(seed)

    @property
    def size(self) -> int:
        """Newcomers in the catalogue as of the last refresh, sampled or not."""
        return sum(self.counts.values())

    async def refresh(self) -> None:
        """Scan the catalogue and swap in what it holds now; raises as Redis does, and keeps
        the last index then."""
        known, categories = self.vocab.item_ids, self.vocab.category_ids
        samples: dict[int, _Sample] = {}
        async for page in scan_stock(self.client, lambda item: item not in known):
            for item_id, category, in_stock in page:
                category_id = categories.get(category)
                if category_id is not None and in_stock:
                    if category_id not in samples:
                        samples[category_id] = _Sample()
                    samples[category_id].offer(item_id, self._rng)
            # A Redis that answers at once would let the scan run on without a pause:
            # page views get the loop between pages.
            await asyncio.sleep(0)
        self.by_category = {category: sample.items for category, sample in samples.items()}
        self.counts = {category: sample.seen for category, sample in samples.items()}

    def scores(
        self, category_probs: Sequence[float], share: float, limit: int
    ) -> list[tuple[str, float]]:
        """The ``limit`` best newcomers for one row of the model's category output."""
        if not self.by_category:
            return []
        return newcomer_scores(category_probs, share, self.by_category, limit, self.counts)


class _Sample:
    """At most PER_CATEGORY of a category's newcomers, each as likely as any other to be
    kept (a reservoir), and how many there were."""

    __slots__ = ("items", "kept", "seen")

    def __init__(self) -> None:
        self.items: list[str] = []
        # The same items as a set: HSCAN may name an item twice (the hash rehashed mid-scan),
        # and one still kept is not counted again.
        self.kept: set[str] = set()
        self.seen = 0

    def offer(self, item: str, rng: random.Random) -> None:
        if item in self.kept:
            return
        self.seen += 1
        if len(self.items) < PER_CATEGORY:
            self.items.append(item)
            self.kept.add(item)
            return
        # random() rather than randrange(): a million newcomers draw a million times.
        slot = int(rng.random() * self.seen)
        if slot < PER_CATEGORY:
            self.kept.discard(self.items[slot])
            self.items[slot] = item
            self.kept.add(item)
