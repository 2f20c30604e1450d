"""Catalogue items the model has never seen reach carousels through their category: each
worker finds them in the background, a carousel merges them with the model's items by
score and says `model:new_in_category`, and the stock and rules hold for them as for any
item. An artefact made before the category output shows none; a model published while the
service runs gets newcomers of its own at once."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from service.decision.experiments import in_holdout
from service.decision.policy import load
from service.model.encoding import FIRST_ID
from service.model.manifest import MANIFEST_FILE, Manifest
from service.model.runtime import ModelRuntime, Prediction
from service.model.validation import switch
from service.schema import StoredEvent
from service.storage.server import RedisServer
from tests._support.monitor import monitored
from tests._support.stack import (
    SECRET,
    SERVICE_ENV,
    Backend,
    RedisClient,
    Service,
    on_one_redis,
    wait_for,
)

NEW = "model:new_in_category"
# 2026-11-24 14:00 UTC, a Tuesday: the demo model reads the hour and weekday of each event.
TUESDAY_2PM = 1_795_960_800.0
POLICY = load(None)


@pytest.fixture(scope="module")
def newcomer_service(backend: Backend) -> Iterator[Service]:
    """A service that looks for newcomers ten times a second, so a test waits little."""
    env = {**SERVICE_ENV, **backend.env, "WITRYNA_NEWCOMERS_REFRESH_S": "0.1"}
    with Service(backend.url, **env) as running:
        yield running


@pytest.fixture
def shop(newcomer_service: Service, redis_client: RedisClient) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=newcomer_service.url, headers=SECRET, timeout=10.0) as client:
        yield client


@pytest.fixture(scope="module")
def runtime(artefact: Path) -> ModelRuntime:
    return ModelRuntime(artefact, threads=1, device="cpu")


class Visit:
    """Four product views in one category: what the service reads, and what the model
    predicts of it here, for any visitor who makes them."""

    def __init__(self, runtime: ModelRuntime) -> None:
        manifest = runtime.manifest
        self.category = manifest.categories[0]
        self.events = [
            StoredEvent(
                visitor_id="x",
                type="product_view",
                item_id=item,
                category=self.category,
                ts=TUESDAY_2PM + 30 * n,
            )
            for n, item in enumerate(manifest.items[:4])
        ]
        self.prediction: Prediction = runtime.predict(runtime.encode([self.events]))
        probs = self.prediction.category_probs
        assert probs is not None, "the demo model has the category output"
        # The category the model expects most of this visit, among those it knows.
        self.best = manifest.categories[int(np.argmax(probs[0][FIRST_ID:]))]
        self.share = manifest.new_item_share
        assert self.share > 0, "the demo data name items their fitting sessions never did"
        self.best_prob = float(probs[0][manifest.categories.index(self.best) + FIRST_ID])
        top = zip(self.prediction.top_items[0], self.prediction.top_scores[0], strict=True)
        self.ranked = [(manifest.items[i - FIRST_ID], float(s)) for i, s in top]
        self.items = list(manifest.items)

    def stock_but_two(self, http: httpx.Client, score: float) -> list[str]:
        """Load the model's items in stock, but for those it ranks above ``score``: two of
        them only, so that a newcomer of that score comes third. Those it ranks above
        (the item on screen is never shown), in order."""
        on_screen = self.events[-1].item_id
        above = [item for item, s in self.ranked if s > score and item != on_screen]
        sold_out = set(above[2:])
        put(http, [{"item_id": i, "in_stock": i not in sold_out} for i in self.items])
        return above

    def carousel(self, http: httpx.Client, visitor: str) -> dict[str, Any]:
        *earlier, last = self.events
        sent = [{**_fields(e), "visitor_id": visitor} for e in earlier]
        assert http.post("/v1/events", json={"events": sent}).status_code == 202
        view = {"visitor_id": visitor, "ts": last.ts, "slots": ["recommendations"]}
        view["page"] = {"type": "product", "item_id": last.item_id, "category": self.category}
        answer = http.post("/v1/page-views", json=view)
        assert answer.status_code == 200, answer.text
        slot: dict[str, Any] = answer.json()["slots"]["recommendations"]
        assert slot["variant"] == "personalised", slot
        return slot


def _fields(event: StoredEvent) -> dict[str, Any]:
    return {"type": event.type, "item_id": event.item_id, "category": event.category,
            "ts": event.ts}  # fmt: skip


def visitors(prefix: str) -> Iterator[str]:
    """Visitors outside the default policy's holdout: each page they see is personalised."""
    n = 0
    while True:
        n += 1
        if not in_holdout(POLICY, f"{prefix}-{n}"):
            yield f"{prefix}-{n}"


def put(http: httpx.Client, items: list[dict[str, Any]]) -> None:
    answer = http.put("/v1/catalog/items", json={"items": items})
    assert answer.status_code == 200, answer.text


def shown(slot: dict[str, Any]) -> list[str]:
    return [entry["item_id"] for entry in slot["items"]]


def first_showing(visit: Visit, http: httpx.Client, item: str, prefix: str) -> dict[str, Any]:
    """The carousel of the first visitor shown ``item``, once the worker has found it."""
    found: list[dict[str, Any]] = []
    people = visitors(prefix)

    def shows_it() -> bool:
        found.append(visit.carousel(http, next(people)))
        return item in shown(found[-1])

    wait_for(shows_it, timeout_s=10)
    assert item in shown(found[-1]), found[-1]
    return found[-1]


def test_a_new_item_is_ranked_by_its_category_among_the_models_items(
    shop: httpx.Client, runtime: ModelRuntime
) -> None:
    visit = Visit(runtime)
    score = visit.share * visit.best_prob
    above = visit.stock_but_two(shop, score)
    before = visit.carousel(shop, "before-any-newcomer")
    assert NEW not in before["reasons"]
    # Loaded while the service runs: the next scan finds it, no restart.
    put(shop, [{"item_id": "arrival-1", "category": visit.best, "in_stock": True}])
    slot = first_showing(visit, shop, "arrival-1", "first-sight")
    print(f"P({visit.best}) {visit.best_prob:.3f} x share {visit.share:.3f}: {slot}")
    assert NEW in slot["reasons"]
    assert slot["reasons"].index(NEW) == slot["reasons"].index("model:next_item") + 1
    entries = {entry["item_id"]: entry["score"] for entry in slot["items"]}
    assert entries["arrival-1"] == pytest.approx(score, rel=1e-3, abs=2e-6)
    assert shown(slot).index("arrival-1") == min(2, len(above))
    scores = [entry["score"] for entry in slot["items"]]
    assert scores == sorted(scores, reverse=True)


@on_one_redis
def test_only_in_stock_newcomers_of_a_category_the_model_knows_show(
    shop: httpx.Client, manifest: Manifest, runtime: ModelRuntime
) -> None:
    visit = Visit(runtime)
    visit.stock_but_two(shop, visit.share * visit.best_prob)
    assert "never-seen-category" not in manifest.categories
    put(shop, [
        {"item_id": "arrival-good", "category": visit.best, "in_stock": True},
        {"item_id": "arrival-sold-out", "category": visit.best, "in_stock": False},
        {"item_id": "arrival-unknown", "category": "never-seen-category", "in_stock": True},
        {"item_id": "arrival-no-category", "in_stock": True},
    ])  # fmt: skip
    slot = first_showing(visit, shop, "arrival-good", "stock")
    # The sold-out one does not share the category's chance: the good one has all of it.
    entries = {entry["item_id"]: entry["score"] for entry in slot["items"]}
    assert entries["arrival-good"] == pytest.approx(visit.share * visit.best_prob, rel=1e-3)
    others = {"arrival-sold-out", "arrival-unknown", "arrival-no-category"}
    people = visitors("stock-after")
    assert not any(others & set(shown(visit.carousel(shop, next(people)))) for _ in range(5))
    # Sold out now: gone from the next carousel, though the worker's scan is not yet redone.
    put(shop, [{"item_id": "arrival-good", "in_stock": False}])
    after = visit.carousel(shop, next(people))
    assert "arrival-good" not in shown(after)
    assert NEW not in after["reasons"]


def older(artefact: Path, into: Path) -> None:
    """The artefact as one made before the category output: that output not named, and no
    share for new items."""
    shutil.copytree(artefact, into)
    raw = json.loads((into / MANIFEST_FILE).read_text())
    raw["feature_spec"]["outputs"].remove("category_probs")
    raw.pop("new_item_share", None)
    (into / MANIFEST_FILE).write_text(json.dumps(raw))


def test_an_older_artefact_shows_none_and_a_newly_published_model_finds_them_at_once(
    tmp_path: Path, artefact: Path, runtime: ModelRuntime
) -> None:
    models = tmp_path / "models"
    older(artefact, models / "demo" / "old")
    (models / "demo" / "new").symlink_to(artefact, target_is_directory=True)
    switch(models, "demo", "old")
    # Scans an hour apart: only the swap itself can find newcomers for the new model.
    env = {**SERVICE_ENV, "WITRYNA_MODELS_DIR": str(models), "WITRYNA_MODEL_POLL_S": "0.1",
           "WITRYNA_NEWCOMERS_REFRESH_S": "3600"}  # fmt: skip
    visit = Visit(runtime)
    # A Redis of its own: the module's other service scans the shared one every minute.
    with (
        RedisServer() as redis_server,
        Service(redis_server.url, **env) as service,
        httpx.Client(base_url=service.url, headers=SECRET, timeout=10.0) as shop,
    ):
        visit.stock_but_two(shop, visit.share * visit.best_prob)
        put(shop, [{"item_id": "arrival-1", "category": visit.best, "in_stock": True}])
        people = visitors("older")
        for _ in range(3):
            slot = visit.carousel(shop, next(people))
            assert "arrival-1" not in shown(slot)
            assert NEW not in slot["reasons"]
        switch(models, "demo", "new")
        slot = first_showing(visit, shop, "arrival-1", "published")
        assert NEW in slot["reasons"]
        # The scan is the worker's own work: a page view reads no more than before.
        with monitored([redis_server.port]) as seen:
            for _ in range(3):
                visit.carousel(shop, next(people))
        assert not [c for c in seen[redis_server.port] if "HSCAN" in c.upper()]
