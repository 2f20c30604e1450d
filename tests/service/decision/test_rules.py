"""Offer logic and eligibility, on the rules themselves."""

from __future__ import annotations

import pytest

from service.decision.policy import Policy, load
from service.decision.rules import Context, cart_of, choose, segments_of
from service.schema import StoredEvent

POLICY: Policy = load(None)
OFFER = POLICY.slots["offer"]
HELP = POLICY.slots["help"]
HERO = POLICY.slots["hero"]


def context(**changes: object) -> Context:
    base: dict[str, object] = {
        "intent": "hesitate",
        "buy_prob": 0.3,
        "uplift": 0.2,
        "channel": "web",
        "device": None,
        "hour": 12,
        "weekday": 2,
        "segments": frozenset(),
        "arms": {"cart-incentive": "incentive"},
    }
    return Context(**{**base, **changes})  # type: ignore[arg-type]


def test_an_offer_with_positive_expected_value_is_chosen() -> None:
    choice = choose(OFFER, context(), draw=0.99, exploration=0.05)
    assert choice is not None
    # 0.2 x 30 - 4 = +2.00 for free shipping, the higher priority of the two offers.
    assert choice.variant.name == "free_shipping"
    assert "offer:value=+2.00" in choice.reasons
    assert "arm:cart-incentive=incentive" in choice.reasons
    assert choice.propensity == pytest.approx(0.95 + 0.05 / 3)


def test_no_discount_where_the_incentive_does_not_pay() -> None:
    # 0.1 x 30 - 4 < 0 and 0.1 x 60 - 8 < 0: no offer is worth its cost.
    choice = choose(OFFER, context(uplift=0.1), draw=0.99, exploration=0.05)
    assert choice is not None
    assert choice.variant.name == "none"
    assert "offer:free_shipping:value=-1.00" in choice.reasons


def test_a_visitor_who_buys_anyway_gets_no_discount() -> None:
    """Sure to buy, so the incentive would win next to nothing: its cost is not repaid."""
    choice = choose(OFFER, context(buy_prob=0.95, intent="buy", uplift=0.02), 0.99, 0.05)
    assert choice is not None
    assert choice.variant.name == "none"
    assert "offer:free_shipping:value=-3.40" in choice.reasons


def test_no_discount_without_an_uplift_estimate() -> None:
    choice = choose(OFFER, context(uplift=None), draw=0.99, exploration=0.0)
    assert choice is not None
    assert choice.variant.name == "none"
    assert "offer:free_shipping:value=unknown" in choice.reasons


def test_control_arm_never_sees_the_incentive() -> None:
    choice = choose(OFFER, context(arms={"cart-incentive": "control"}), 0.99, 0.05)
    assert choice is not None
    assert choice.variant.name == "none"


def test_help_seekers_get_help_before_any_discount() -> None:
    seeker = context(segments=frozenset({"help_seeking"}), uplift=0.5)
    offer = choose(OFFER, seeker, draw=0.99, exploration=0.05)
    assert offer is not None
    assert offer.variant.name == "none"
    assert "rule:help_before_discount" in offer.reasons
    help_slot = choose(HELP, seeker, draw=0.99, exploration=0.05)
    assert help_slot is not None
    assert help_slot.variant.name == "chat"


def test_exploration_randomises_offers_with_their_propensity() -> None:
    picked = {}
    for draw in (0.001, 0.02, 0.04):
        choice = choose(OFFER, context(), draw=draw, exploration=0.05)
        assert choice is not None
        assert choice.explored
        assert "explore" in choice.reasons
        picked[choice.variant.name] = choice.propensity
    assert set(picked) == {"free_shipping", "ten_percent_off", "none"}
    assert picked["none"] == pytest.approx(0.05 / 3)
    assert picked["free_shipping"] == pytest.approx(0.95 + 0.05 / 3)


@pytest.mark.parametrize(
    ("intent", "buy_prob", "segments", "cart", "variant"),
    [
        ("buy", 0.9, {"cart_active"}, ("sku-1",), "checkout_express"),
        # "Your cart is saved" to an empty cart: carted once, removed again, or never carted.
        ("buy", 0.9, {"cart_active"}, (), "best_sellers"),
        ("buy", 0.9, set(), (), "best_sellers"),
        ("buy", 0.5, {"cart_active"}, ("sku-1",), "reassurance"),
        ("hesitate", 0.3, {"cart_active"}, ("sku-1",), "reassurance"),
        ("hesitate", 0.3, set(), (), "best_sellers"),
        ("browse", 0.1, set(), (), "inspiration"),
        ("leave", 0.1, set(), (), "best_sellers"),
    ],
)
def test_hero_follows_intent_purchase_probability_segments_and_cart_by_priority(
    intent: str, buy_prob: float, segments: set[str], cart: tuple[str, ...], variant: str
) -> None:
    ctx = context(intent=intent, buy_prob=buy_prob, segments=frozenset(segments), cart=cart)
    choice = choose(HERO, ctx, draw=0.0, exploration=0.05)
    assert choice is not None
    assert choice.variant.name == variant
    assert not choice.explored


def test_segments_are_read_off_the_history() -> None:
    def event(kind: str, ts: float, channel: str = "web") -> StoredEvent:
        return StoredEvent(visitor_id="v", type=kind, ts=ts, channel=channel)  # type: ignore[arg-type]

    history = [
        event("help", 0),
        event("add_to_cart", 10),
        event("remove_from_cart", 20),
        event("product_view", 4000, "pos"),
    ]
    assert segments_of(history) == {
        "help_seeking", "cart_active", "multichannel", "store_visitor", "returning"
    }  # fmt: skip
    assert segments_of([*history, event("purchase", 4001)]) == {
        "help_seeking", "multichannel", "store_visitor", "returning"
    }  # fmt: skip


def test_the_live_profile_adds_segments_beyond_the_recent_window() -> None:
    profile = {"ch:web": "12", "ch:pos": "1", "type:product_view": "11", "type:purchase": "1"}
    assert segments_of([], profile) == {
        "researched_online", "store_visitor", "online_to_store", "customer"
    }  # fmt: skip
    assert segments_of([], {"ch:web": "3", "type:search": "3"}) == set()


def test_the_cart_is_what_was_added_less_what_was_removed_until_a_purchase() -> None:
    def event(kind: str, item: str | None = None) -> StoredEvent:
        return StoredEvent(visitor_id="v", type=kind, item_id=item)  # type: ignore[arg-type]

    carted = [event("product_view", "a"), event("add_to_cart", "a"), event("add_to_cart", "b")]
    assert cart_of([]) == ()
    assert cart_of([event("product_view", "a")]) == ()
    assert cart_of(carted) == ("a", "b")
    assert cart_of([*carted, event("add_to_cart", "a"), event("remove_from_cart", "a")]) == (
        "b",
        "a",
    )
    assert cart_of([*carted, event("remove_from_cart", "z")]) == ("a", "b")
    assert cart_of([*carted, event("remove_from_cart")]) == ("a",)
    assert cart_of([*carted, event("purchase", "a")]) == ()
    assert cart_of([*carted, event("purchase", "a"), event("add_to_cart", "c")]) == ("c",)


def test_the_help_page_gets_the_chat_on_the_first_visit() -> None:
    first_visit = choose(HELP, context(page="help"), draw=0.99, exploration=0.05)
    elsewhere = choose(HELP, context(page="product"), draw=0.99, exploration=0.05)
    assert first_visit is not None
    assert elsewhere is not None
    assert (first_visit.variant.name, elsewhere.variant.name) == ("chat", "none")
    assert "rule:page=help" in first_visit.reasons


def test_an_offer_left_out_by_a_condition_says_which() -> None:
    control = choose(OFFER, context(arms={"cart-incentive": "control"}), 0.99, 0.05)
    sure = choose(OFFER, context(buy_prob=0.9, intent="buy", uplift=0.5), 0.99, 0.05)
    assert control is not None
    assert sure is not None
    assert "offer:free_shipping:failed=arms" in control.reasons
    assert "offer:ten_percent_off:failed=intents" in sure.reasons
