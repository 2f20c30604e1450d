"""Model outputs and the policy to page decisions, each slot with the reasons behind it."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from datetime import UTC, datetime

from service.decision.carousel import Carousel
from service.decision.experiments import assign, in_holdout
from service.decision.newcomer_index import NewcomerIndex
from service.decision.policy import Policy
from service.decision.rules import Context, cart_of, choose, segments_of
from service.model import encoding
from service.model.batcher import MicroBatcher
from service.model.runtime import ModelRuntime, Prediction
from service.schema import Decision, Intent, PageView, SlotDecision, StoredEvent
from service.storage.catalog import Catalog
from service.storage.events import History
from service.storage.streams import DecisionLog, SlotLog

Decided = tuple[Decision, DecisionLog]
BUY = encoding.INTENTS.index("buy")


class Decider:
    """One model and the catalogue; the policy comes with each call, as it may be reloaded."""

    def __init__(self, runtime: ModelRuntime, catalog: Catalog, batcher: MicroBatcher) -> None:
        self.runtime = runtime
        self.batcher = batcher
        # Filled by the reloader's background refresh: empty until then.
        self.newcomers = NewcomerIndex(catalog.client, runtime.vocab)
        self.carousel = Carousel(runtime, catalog, self.newcomers)

    async def predict(self, history: list[StoredEvent]) -> Prediction:
        return (await self.batcher.predict(self.runtime.encode_one(history))).prediction

    async def personalised(
        self, view: PageView, recorded: History, policy: Policy, prediction: Prediction
    ) -> Decided:
        history = recorded.events
        probs = prediction.intent_probs[0].tolist()
        ctx = self._context(view, recorded, policy, probs, prediction)
        context_reasons = [f"intent:{ctx.intent}:{max(probs):.2f}"]
        if ctx.uplift is not None:
            context_reasons.append(f"uplift:{ctx.uplift:+.3f}")
        holdout = in_holdout(policy, view.visitor_id)
        slots: dict[str, SlotDecision] = {}
        logs: list[SlotLog] = []
        for name in view.slots or policy.slots_for(view.page.type):
            if holdout or name not in policy.slots:
                reasons = ["holdout" if holdout else "slot:not_in_policy"]
                slots[name] = await self._default(name, history, policy, reasons)
                logs.append(_slot_log(name, slots[name], 1.0, None))
            else:
                slots[name], entry = await self._slot(
                    name, policy, ctx, prediction, history, context_reasons
                )
                logs.append(entry)
        probabilities = {
            intent: round(q, 6) for intent, q in zip(encoding.INTENTS, probs, strict=True)
        }
        shaping = policy.experiments_in(slots)
        decision = Decision(
            decision_id=_decision_id(),
            visitor_id=view.visitor_id,
            model_version=self.runtime.version,
            intent=Intent(label=ctx.intent, probabilities=probabilities),
            slots=slots,
            degraded=False,
            experiments={e: arm for e, arm in ctx.arms.items() if e in shaping},
        )
        return decision, self._log(decision, view, history, logs, ctx.buy_prob, ctx.uplift)

    async def _slot(
        self,
        name: str,
        policy: Policy,
        ctx: Context,
        prediction: Prediction,
        history: list[StoredEvent],
        context_reasons: list[str],
    ) -> tuple[SlotDecision, SlotLog]:
        choice = choose(policy.slots[name], ctx, random.random(), policy.exploration)
        if choice is None:
            decided = SlotDecision(
                variant="none", items=[], reasons=["fallback:no_eligible_variant"]
            )
            return decided, _slot_log(name, decided, 1.0, None)
        reasons = [*context_reasons, *choice.reasons]
        if choice.variant.kind == "carousel":
            cart = () if choice.variant.include_cart_items else ctx.cart
            decided = await self.carousel.fill(
                prediction, history, policy, choice.variant.name, reasons, cart
            )
        else:
            decided = SlotDecision(variant=choice.variant.name, items=[], reasons=reasons)
        arm = ctx.arms.get(choice.variant.experiment or "")
        return decided, _slot_log(name, decided, choice.propensity, arm)

    def _context(
        self,
        view: PageView,
        recorded: History,
        policy: Policy,
        probs: list[float],
        prediction: Prediction,
    ) -> Context:
        history = recorded.events
        moment = datetime.fromtimestamp(history[-1].ts or 0.0, UTC)
        uplift = None if prediction.uplift is None else float(prediction.uplift[0])
        return Context(
            intent=encoding.INTENTS[probs.index(max(probs))],
            buy_prob=probs[BUY],
            uplift=uplift,
            channel=view.channel,
            device=view.device,
            hour=moment.hour,
            weekday=moment.weekday(),
            segments=segments_of(history, recorded.profile),
            arms=assign(policy, view.visitor_id),
            page=view.page.type,
            cart=cart_of(history),
        )

    async def _default(
        self, name: str, history: Sequence[StoredEvent], policy: Policy, reasons: list[str]
    ) -> SlotDecision:
        """Default content: popular in-stock items for a carousel, the shop's own elsewhere."""
        slot = policy.slots.get(name)
        if slot is not None and any(v.kind == "carousel" for v in slot.variants):
            return await self.carousel.popular(history, policy, reasons, cart_of(history))
        return SlotDecision(variant="default", items=[], reasons=reasons)

    async def fallback(
        self,
        view: PageView,
        history: list[StoredEvent],
        policy: Policy,
        cause: str,
        degraded: bool = True,
    ) -> Decided:
        """Default content; degraded unless it was chosen (no consent)."""
        reasons = [cause, "fallback:default_content"]
        slots = {
            name: await self._default(name, history, policy, reasons)
            for name in view.slots or policy.slots_for(view.page.type)
        }
        decision = Decision(
            decision_id=_decision_id(),
            visitor_id=view.visitor_id,
            model_version=self.runtime.version,
            intent=Intent(label="unknown", probabilities={}),
            slots=slots,
            degraded=degraded,
        )
        logs = [
            SlotLog(slot=n, variant=s.variant, propensity=1.0, reasons=s.reasons)
            for n, s in slots.items()
        ]
        return decision, self._log(decision, view, history, logs, None, None)

    def _log(
        self,
        decision: Decision,
        view: PageView,
        history: Sequence[StoredEvent],
        slots: list[SlotLog],
        buy_prob: float | None,
        uplift: float | None,
    ) -> DecisionLog:
        return DecisionLog(
            decision_id=decision.decision_id,
            visitor_id=decision.visitor_id,
            ts=history[-1].ts or 0.0,
            model_version=decision.model_version,
            page_type=view.page.type,
            intent=decision.intent.label,
            buy_prob=buy_prob,
            uplift=uplift,
            experiments=decision.experiments,
            slots=slots,
            degraded=decision.degraded,
        )


def _decision_id() -> str:
    """128 random bits in hex, as uuid4().hex but without building a UUID per page view."""
    return os.urandom(16).hex()


def _slot_log(name: str, decided: SlotDecision, propensity: float, arm: str | None) -> SlotLog:
    return SlotLog(
        slot=name, variant=decided.variant, propensity=propensity, reasons=decided.reasons, arm=arm
    )
