"""Model outputs to page decisions: the built-in slot policy of the first release.

Each slot's variant follows the visitor's most likely intent; the carousel ranks the
model's next-item scores, never repeating the item on screen or one already bought.
Every choice leaves a reason code, so that an answer explains itself.
"""

from __future__ import annotations

import logging
import uuid

from service import encoding
from service.runtime import ModelRuntime, Prediction
from service.schema import (
    Decision,
    Intent,
    PageView,
    ScoredItem,
    SlotDecision,
    StoredEvent,
)

log = logging.getLogger(__name__)

DEFAULT_SLOTS = ("hero", "recommendations")
RECOMMENDATIONS = "recommendations"

# Variants per slot by intent; "none" leaves the shop's own content in place.
VARIANTS: dict[str, dict[str, str]] = {
    "hero": {
        "buy": "checkout_express",
        "hesitate": "reassurance",
        "browse": "inspiration",
        "leave": "best_sellers",
    },
    # A visitor about to buy gets no discount: it would only cost margin.
    "offer": {"buy": "none", "hesitate": "free_shipping", "browse": "none", "leave": "none"},
}
HELP_SIGNALS = 2


class Decider:
    def __init__(self, runtime: ModelRuntime, recommendations: int) -> None:
        self.runtime = runtime
        self.recommendations = recommendations
        self._popular = runtime.manifest.popular_items

    def decide(self, view: PageView, history: list[StoredEvent]) -> Decision:
        try:
            prediction = self.runtime.predict(self.runtime.encode([history]))
        except Exception:  # a failing model degrades the answer, never the page
            log.exception("model run failed; serving default content")
            return self.fallback(view, history, "degraded:model_failed")
        probabilities = {
            label: round(float(p), 6)
            for label, p in zip(encoding.INTENTS, prediction.intent_probs[0], strict=True)
        }
        label = max(probabilities, key=probabilities.__getitem__)
        reasons = [f"intent:{label}:{probabilities[label]:.2f}"]
        slots = {
            name: self._slot(name, label, prediction, history, reasons)
            for name in view.slots or DEFAULT_SLOTS
        }
        return Decision(
            decision_id=uuid.uuid4().hex,
            visitor_id=view.visitor_id,
            model_version=self.runtime.version,
            intent=Intent(label=label, probabilities=probabilities),
            slots=slots,
            degraded=False,
        )

    def _slot(
        self,
        name: str,
        label: str,
        prediction: Prediction,
        history: list[StoredEvent],
        reasons: list[str],
    ) -> SlotDecision:
        if name == RECOMMENDATIONS:
            return self._carousel(prediction, history, reasons)
        if name == "help":
            return self._help(history, reasons)
        by_intent = VARIANTS.get(name)
        if by_intent is None:
            return SlotDecision(variant="default", items=[], reasons=["slot:not_in_policy"])
        return SlotDecision(variant=by_intent[label], items=[], reasons=[*reasons, f"rule:{name}"])

    def _carousel(
        self, prediction: Prediction, history: list[StoredEvent], reasons: list[str]
    ) -> SlotDecision:
        excluded = _excluded_items(history)
        items: list[ScoredItem] = []
        for index, score in zip(prediction.top_items[0], prediction.top_scores[0], strict=True):
            item = self.runtime.vocab.item_at(int(index))
            if item not in excluded:
                items.append(ScoredItem(item_id=item, score=round(float(score), 6)))
                excluded.add(item)
            if len(items) == self.recommendations:
                return SlotDecision(
                    variant="personalised", items=items, reasons=[*reasons, "model:next_item"]
                )
        items.extend(self._popular_items(excluded, self.recommendations - len(items)))
        return SlotDecision(
            variant="personalised",
            items=items,
            reasons=[*reasons, "model:next_item", "fill:popular"],
        )

    def _help(self, history: list[StoredEvent], reasons: list[str]) -> SlotDecision:
        signals = sum(e.type in ("help", "remove_from_cart") for e in history)
        if signals >= HELP_SIGNALS:
            return SlotDecision(variant="chat", items=[], reasons=[*reasons, "rule:help_seeking"])
        return SlotDecision(variant="none", items=[], reasons=[*reasons, "rule:no_help_signal"])

    def _popular_items(self, excluded: set[str], count: int) -> list[ScoredItem]:
        chosen = [item for item in self._popular if item not in excluded][:count]
        return [ScoredItem(item_id=item, score=0.0) for item in chosen]

    def fallback(self, view: PageView, history: list[StoredEvent], cause: str) -> Decision:
        """Default content: the manifest's most popular items, flagged as degraded."""
        items = self._popular_items(_excluded_items(history), self.recommendations)
        reasons = [cause, "fallback:default_content"]
        slots = {
            name: SlotDecision(
                variant="popular" if name == RECOMMENDATIONS else "default",
                items=items if name == RECOMMENDATIONS else [],
                reasons=reasons,
            )
            for name in view.slots or DEFAULT_SLOTS
        }
        return Decision(
            decision_id=uuid.uuid4().hex,
            visitor_id=view.visitor_id,
            model_version=self.runtime.version,
            intent=Intent(label="unknown", probabilities={}),
            slots=slots,
            degraded=True,
        )


def _excluded_items(history: list[StoredEvent]) -> set[str]:
    """The item on screen and everything already bought never come back as recommendations."""
    excluded = {e.item_id for e in history if e.type == "purchase" and e.item_id is not None}
    if history and history[-1].item_id is not None:
        excluded.add(history[-1].item_id)
    return excluded
