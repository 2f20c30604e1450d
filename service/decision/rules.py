"""Which variant each slot shows: declared eligibility, offers by expected value, exploration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from msgspec import Struct

from service.decision.policy import Slot, Variant
from service.schema import StoredEvent

HELP_SIGNALS = 2
RETURNING_GAP_S = 30 * 60


class Context(Struct, frozen=True, kw_only=True):
    """What the rules may look at for one decision."""

    intent: str
    buy_prob: float
    uplift: float | None
    channel: str
    device: str | None
    hour: int
    weekday: int
    segments: frozenset[str]
    arms: dict[str, str]
    page: str = "other"
    # The items in the visitor's cart now, one entry per line ("" for a line without an item).
    cart: tuple[str, ...] = ()


class Choice(Struct, frozen=True, kw_only=True):
    variant: Variant
    reasons: list[str]
    propensity: float
    explored: bool = False


def segments_of(
    history: Sequence[StoredEvent], profile: Mapping[str, str] | None = None
) -> frozenset[str]:
    """Segments read off the person's recent events and live profile."""
    types = [e.type for e in history]
    found = set()
    if types.count("help") + types.count("remove_from_cart") >= HELP_SIGNALS:
        found.add("help_seeking")
    since_purchase = (
        types[len(types) - types[::-1].index("purchase") :] if "purchase" in types else types
    )
    if "add_to_cart" in since_purchase:
        found.add("cart_active")
    channels = {e.channel for e in history}
    if len(channels) > 1:
        found.add("multichannel")
    if channels & {"store", "pos"}:
        found.add("store_visitor")
    stamps = [e.ts for e in history if e.ts is not None]
    if stamps and max(stamps) - min(stamps) > RETURNING_GAP_S:
        found.add("returning")
    found |= _profile_segments(profile or {})
    return frozenset(found)


def cart_of(history: Sequence[StoredEvent]) -> tuple[str, ...]:
    """What the visitor's cart holds now, read off the recent events: each add puts a line in,
    a remove takes one out, and a purchase empties it (the order took the cart)."""
    lines: list[str] = []
    for event in history:
        if event.type == "add_to_cart":
            lines.append(event.item_id or "")
        elif event.type == "remove_from_cart":
            item = event.item_id or ""
            if item in lines:
                lines.remove(item)
            elif lines and not item:
                lines.pop()
        elif event.type == "purchase":
            lines.clear()
    return tuple(lines)


def _profile_segments(profile: Mapping[str, str]) -> set[str]:
    """Segments that need more than the recent window: the profile keeps all-time counts."""

    def count(field: str) -> int:
        return int(profile.get(field, 0))

    found = set()
    if count("ch:store") + count("ch:pos"):
        found.add("store_visitor")
    if count("type:product_view") and count("ch:web") + count("ch:app"):
        found.add("researched_online")
    if "researched_online" in found and "store_visitor" in found:
        found.add("online_to_store")
    if count("type:purchase"):
        found.add("customer")
    return found


def failed_condition(variant: Variant, ctx: Context) -> str | None:
    """The first declared condition the context breaks, or None when all hold."""
    # In declaration order, each tested only when declared: this runs for every variant of
    # every slot of every page view.
    if variant.intents is not None and ctx.intent not in variant.intents:
        return "intents"
    if variant.pages is not None and ctx.page not in variant.pages:
        return "pages"
    if variant.cart_items is not None and not variant.cart_items.holds(len(ctx.cart)):
        return "cart_items"
    if variant.buy_prob is not None and not variant.buy_prob.holds(ctx.buy_prob):
        return "buy_prob"
    if variant.channels is not None and ctx.channel not in variant.channels:
        return "channels"
    if variant.devices is not None and ctx.device not in variant.devices:
        return "devices"
    if variant.hours is not None and not variant.hours.holds(ctx.hour):
        return "hours"
    if variant.weekdays is not None and ctx.weekday not in variant.weekdays:
        return "weekdays"
    if variant.segments is not None and not ctx.segments.issuperset(variant.segments):
        return "segments"
    if variant.experiment is not None and not _in_arm(variant, ctx):
        return "arms"
    if variant.uplift is not None and (ctx.uplift is None or not variant.uplift.holds(ctx.uplift)):
        return "uplift"
    return None


def _in_arm(variant: Variant, ctx: Context) -> bool:
    arm = ctx.arms.get(variant.experiment or "")
    return arm is not None and (variant.arms is None or arm in variant.arms)


def expected_value(variant: Variant, ctx: Context) -> float | None:
    """An incentive's expected incremental value: uplift x margin - cost."""
    if ctx.uplift is None:
        return None
    return ctx.uplift * variant.margin - variant.cost


def _rules_hit(variant: Variant, ctx: Context) -> list[str]:
    hit = [f"rule:{variant.name}"]
    if variant.intents is not None:
        hit.append(f"rule:intent={ctx.intent}")
    if variant.pages is not None:
        hit.append(f"rule:page={ctx.page}")
    if variant.cart_items is not None:
        hit.append(f"rule:cart_items={len(ctx.cart)}")
    if variant.segments is not None:
        hit.extend(f"rule:segment={s}" for s in variant.segments)
    if variant.experiment is not None:
        hit.append(f"arm:{variant.experiment}={ctx.arms[variant.experiment]}")
    return hit


def _candidates(slot: Slot, ctx: Context) -> tuple[list[Variant], list[str]]:
    """Variants whose declared conditions hold, best first, and why offers were dropped."""
    kept, notes = [], []
    for variant in slot.variants:
        failed = failed_condition(variant, ctx)
        if failed is not None:
            # Why an offer was not even weighed: "only rule:none" explains nothing.
            if variant.kind == "offer":
                notes.append(f"offer:{variant.name}:failed={failed}")
            continue
        if variant.kind == "offer" and "help_seeking" in ctx.segments:
            notes.append("rule:help_before_discount")
            continue
        kept.append(variant)
    kept.sort(key=lambda v: -v.priority)
    return kept, list(dict.fromkeys(notes))


def choose(slot: Slot, ctx: Context, draw: float, exploration: float) -> Choice | None:
    """The slot's variant; ``draw`` in [0, 1) decides exploration of offers."""
    candidates, notes = _candidates(slot, ctx)
    greedy: Variant | None = None
    for variant in candidates:
        if variant.kind != "offer":
            greedy = variant
            break
        value = expected_value(variant, ctx)
        if value is not None and value > 0:
            greedy = variant
            notes.append(f"offer:value={value:+.2f}")
            break
        notes.append(
            f"offer:{variant.name}:value={'unknown' if value is None else f'{value:+.2f}'}"
        )
    offers = [v for v in candidates if v.kind in ("offer", "none")]
    if greedy is None:
        return None
    if len(offers) > 1 and greedy in offers and draw < exploration:
        # Uniform over the offers the rules allow (uplift aside), so uplift can be learned.
        picked = offers[int(draw / exploration * len(offers)) % len(offers)]
        propensity = exploration / len(offers) + (1 - exploration) * (picked is greedy)
        return Choice(
            variant=picked,
            reasons=[*_rules_hit(picked, ctx), "explore", *notes],
            propensity=propensity,
            explored=True,
        )
    propensity = (
        1 - exploration + exploration / len(offers) if greedy in offers and len(offers) > 1 else 1.0
    )
    return Choice(variant=greedy, reasons=[*_rules_hit(greedy, ctx), *notes], propensity=propensity)
