"""Recommendation carousels: the model's ranking, filtered by stock and rules, kept diverse."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence

from service.decision.newcomer_index import NewcomerIndex
from service.decision.policy import Policy, Recommendations
from service.model.runtime import ModelRuntime, Prediction
from service.schema import ScoredItem, SlotDecision, StoredEvent
from service.storage.catalog import Catalog, CatalogItem
from service.storage.client import UNREACHABLE

log = logging.getLogger(__name__)

# Why a carousel slot shows the policy's catalog_fallback: no item's stock is known.
CATALOG_EMPTY = "catalog:empty"
CATALOG_UNAVAILABLE = "catalog:unavailable"
NEXT_ITEM = "model:next_item"
# At least one item shown is new to the model, ranked through its category.
NEW_IN_CATEGORY = "model:new_in_category"


def excluded_items(history: Sequence[StoredEvent], rules: Recommendations) -> set[str]:
    """The item on screen, everything already bought and the policy's exclusions."""
    excluded = {e.item_id for e in history if e.type == "purchase" and e.item_id is not None}
    if history and history[-1].item_id is not None:
        excluded.add(history[-1].item_id)
    excluded.update(rules.exclude_items)
    return excluded


class _Picker:
    """Accepts candidates in order while keeping the carousel's rules; ``cart`` is what the
    visitor's cart holds, left out so that no carousel sells what is bought already."""

    def __init__(
        self,
        rules: Recommendations,
        excluded: set[str],
        known: dict[str, CatalogItem],
        cart: Collection[str] = (),
    ):
        self.rules, self.excluded, self.known = rules, excluded, known
        self.cart = frozenset(cart)
        self.exclude_tags = frozenset(rules.exclude_tags)
        self.items: list[ScoredItem] = []
        self.per_category: dict[str, int] = {}
        self.notes: set[str] = set()

    def full(self) -> bool:
        return len(self.items) >= self.rules.count

    def shows(self, item_ids: Collection[str]) -> bool:
        return any(item.item_id in item_ids for item in self.items)

    def take(self, candidates: Iterable[tuple[str, float]]) -> None:
        """Offer ``(item_id, score)`` in order until the carousel is full."""
        for item_id, score in candidates:
            if self.full():
                return
            self._offer(item_id, score)

    def _offer(self, item_id: str, score: float) -> None:
        item = self.known.get(item_id)
        if item_id in self.excluded:
            return
        if item_id in self.cart:
            self.notes.add("filter:in_cart")
            return
        # Not in the catalogue: its stock is unknown, and it must not pass for in stock.
        if item is None:
            self.notes.add("filter:not_in_catalog")
            return
        if not item.in_stock:
            self.notes.add("filter:out_of_stock")
            return
        if not self.exclude_tags.isdisjoint(item.tags):
            self.notes.add("filter:excluded_tag")
            return
        category = item.category
        if category is not None and self.per_category.get(category, 0) >= self.rules.per_category:
            self.notes.add("diversity:per_category")
            return
        if category is not None:
            self.per_category[category] = self.per_category.get(category, 0) + 1
        self.excluded.add(item_id)
        self.items.append(ScoredItem(item_id=item_id, score=round(score, 6)))


class Carousel:
    def __init__(
        self, runtime: ModelRuntime, catalog: Catalog, newcomers: NewcomerIndex | None = None
    ) -> None:
        self.runtime = runtime
        self.catalog = catalog
        self.newcomers = newcomers

    async def _known(
        self, candidates: list[str], reasons: list[str]
    ) -> dict[str, CatalogItem] | None:
        """The candidates in the catalogue; None when it is empty or cannot be read."""
        try:
            known = await self.catalog.lookup(candidates)
        except UNREACHABLE as exc:
            log.warning("catalogue unreachable, stock unknown: %s", exc)
            reasons.append(CATALOG_UNAVAILABLE)
            return None
        if self.catalog.empty:
            reasons.append(CATALOG_EMPTY)
            return None
        return known

    @staticmethod
    def _without_stock(policy: Policy, reasons: list[str]) -> SlotDecision:
        """What the policy shows when no item's stock is known: content that needs none."""
        return SlotDecision(
            variant=policy.recommendations.catalog_fallback, items=[], reasons=reasons
        )

    def _popular(self, rules: Recommendations) -> list[str]:
        # Twice the carousel: enough to fill it after filters, few enough to look up quickly.
        return self.runtime.manifest.popular_items[: rules.count * 2]

    def _new(self, prediction: Prediction, rules: Recommendations) -> list[tuple[str, float]]:
        """Items the model has not seen, scored on its scale through their category; none
        from an artefact without the category output or whose data had no new items."""
        share = self.runtime.manifest.new_item_share
        if self.newcomers is None or prediction.category_probs is None or share <= 0.0:
            return []
        # As many as the popular items: enough to fill the carousel after filters.
        limit = rules.count * 2
        return self.newcomers.scores(prediction.category_probs[0].tolist(), share, limit)

    async def fill(
        self,
        prediction: Prediction,
        history: Sequence[StoredEvent],
        policy: Policy,
        variant: str,
        reasons: list[str],
        cart: Collection[str] = (),
    ) -> SlotDecision:
        """The carousel for ``variant``; ``cart`` holds the items it must leave out."""
        rules = policy.recommendations
        item_at = self.runtime.vocab.item_at
        # Lists, not numpy rows: a numpy scalar per item costs more than the item's rules.
        ranked = [
            (item_at(i), s)
            for i, s in zip(
                prediction.top_items[0].tolist(), prediction.top_scores[0].tolist(), strict=True
            )
        ]
        new = self._new(prediction, rules)
        ranked.extend(new)
        reasons = list(reasons)
        known = await self._known([i for i, _ in ranked] + self._popular(rules), reasons)
        if known is None:
            return self._without_stock(policy, reasons)
        reasons.append(NEXT_ITEM)
        boosted = self._boost(ranked, known, rules, reasons)
        picker = _Picker(rules, excluded_items(history, rules), known, cart)
        # By score alone: a stable sort keeps the model's order, then the newcomers' own,
        # among equal scores.
        boosted.sort(key=lambda pair: pair[0], reverse=True)
        picker.take((item_id, score) for score, item_id in boosted)
        if new and picker.shows({item_id for item_id, _ in new}):
            reasons.insert(reasons.index(NEXT_ITEM) + 1, NEW_IN_CATEGORY)
        if not picker.full():
            picker.notes.add("fill:popular")
            picker.take((item_id, 0.0) for item_id in self._popular(rules))
        return SlotDecision(
            variant=variant,
            items=picker.items,
            reasons=list(dict.fromkeys([*reasons, *sorted(picker.notes)])),
        )

    @staticmethod
    def _boost(
        ranked: list[tuple[str, float]],
        known: dict[str, CatalogItem],
        rules: Recommendations,
        reasons: list[str],
    ) -> list[tuple[float, str]]:
        boosts = {b.tag: b.factor for b in rules.boosts}
        boosted = []
        for item_id, score in ranked:
            item = known.get(item_id)
            if item is not None and item.tags:
                for tag, factor in boosts.items():
                    if tag in item.tags:
                        score *= factor
                        reasons.append(f"boost:{tag}")
            boosted.append((score, item_id))
        return boosted

    async def popular(
        self,
        history: Sequence[StoredEvent],
        policy: Policy,
        reasons: list[str],
        cart: Collection[str] = (),
    ) -> SlotDecision:
        rules = policy.recommendations
        reasons = list(reasons)
        known = await self._known(self._popular(rules), reasons)
        if known is None:
            return self._without_stock(policy, reasons)
        picker = _Picker(rules, excluded_items(history, rules), known, cart)
        picker.take((item_id, 0.0) for item_id in self._popular(rules))
        return SlotDecision(
            variant="popular", items=picker.items, reasons=[*reasons, *sorted(picker.notes)]
        )
