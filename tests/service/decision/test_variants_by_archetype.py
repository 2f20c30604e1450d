"""Acceptance: with the default policy and the demo model, simulated shoppers of each kind
see different pages at the moment an incentive could be shown."""

from __future__ import annotations

from collections import Counter, defaultdict

import httpx
import msgspec

from training.data.simulator import simulate

SEED = 5
KINDS = ("buyer", "hesitant", "browser", "help_seeker")
JSON = {"content-type": "application/json"}
_encode = msgspec.json.Encoder().encode


def test_buyers_hesitant_browsers_and_help_seekers_get_different_variants(
    http: httpx.Client,
) -> None:
    print(f"simulator seed {SEED}")
    seen: dict[str, Counter[tuple[str, str, str]]] = defaultdict(Counter)
    for session in simulate(400, seed=SEED):
        if session.archetype not in KINDS:
            continue
        # Everything the shopper did before the decision point, then the cart page.
        prefix = session.events[: max(1, session.offer_at or len(session.events) - 1)]
        body = b'{"events":' + _encode(prefix) + b"}"
        assert http.post("/v1/events", content=body, headers=JSON).status_code == 202
        # Simulated time, not today's: the page view follows the shopper's last event.
        view = {
            "visitor_id": prefix[0].visitor_id,
            "page": {"type": "cart"},
            "ts": (prefix[-1].ts or 0.0) + 20.0,
        }
        slots = http.post("/v1/page-views", json=view).json()["slots"]
        seen[session.archetype][
            (slots["hero"]["variant"], slots["offer"]["variant"], slots["help"]["variant"])
        ] += 1
    modal = {kind: seen[kind].most_common(1)[0][0] for kind in KINDS}
    print({kind: seen[kind].most_common(3) for kind in KINDS})
    assert len(set(modal.values())) == len(KINDS), modal
    assert modal["help_seeker"][2] == "chat"
    assert modal["buyer"][1] == "none", "a visitor about to buy gets no discount"
