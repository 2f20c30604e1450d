"""What the storefront sends: page views, answered with a decision, and batches of events."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, post
from litestar.handlers import HTTPRouteHandler

from service.http import bodies
from service.http.auth import caller
from service.http.limits import Limits
from service.http.openapi import json_body, problems
from service.http.owners import Owner
from service.http.parts import Parts
from service.metrics.counters import CHART_LATENCY
from service.schema import Accepted, Decision, EventBatch, PageView, stored


def routes(parts: Parts) -> list[HTTPRouteHandler]:
    skew_s = parts.settings.max_clock_skew_s
    limits = Limits(parts)

    @post(
        "/v1/page-views",
        summary="Record a page view and decide the page",
        status_code=200,
        tags=["storefront"],
        operation_class=json_body(PageView),
        responses=problems(429),
        opt={CHART_LATENCY: True},
    )
    async def page_view(request: Request[Any, Any, Any]) -> Decision:
        """Record a page view and answer with what this visitor's page should show: for each
        slot a variant, its items and the reason codes that chose them (docs/api.md). Without
        the visitor's consent, or when Redis or the model fails, the page's default content,
        with ``degraded`` and a reason saying why."""
        # The body is read before any refusal: a connection left with an unread body
        # cannot take the client's next request.
        body = await bodies.read(request)
        limits.sender(request)
        view = bodies.page_view(body, skew_s)
        limits.visitors((view.visitor_id,))
        decision = await parts.pages.decide(view)
        parts.metrics.decided(decision, parts.policy.slots)
        return decision

    @post(
        "/v1/events",
        summary="Record events",
        status_code=202,
        tags=["storefront"],
        operation_class=json_body(EventBatch),
        responses=problems(429),
    )
    async def events(request: Request[Any, Any, Any]) -> Accepted:
        """Record a batch of 1 to 1,000 events from any channel, in the one event schema.
        Purchases move experiment tallies only when the shop's servers send them, with a
        secret key; events Redis cannot take yet wait in the journal (``buffered``)."""
        body = await bodies.read(request)
        limits.sender(request)
        data = bodies.event_batch(body, skew_s)
        limits.visitors(event.visitor_id for event in data.events)
        now = time.time()
        batch = [stored(event, now) for event in data.events]
        # Purchases move experiment tallies only when the shop's servers vouch for them.
        converts = caller(request) is Owner.SECRET
        written = await parts.store.append_many(batch, converts)
        parts.logs.record(written.kept, None, converts=converts)
        return Accepted(accepted=len(batch), buffered=written.buffered)

    @post("/v1/floor", status_code=200, include_in_schema=False)
    async def floor(request: Request[Any, Any, Any]) -> dict[str, int]:
        """The least a page view can cost: one Redis round trip and one model run.

        The benchmark's reference, served only with WITRYNA_BENCH_ROUTES=1.
        """
        data = bodies.page_view(await bodies.read(request), skew_s)
        event = data.to_event(time.time())
        history = await parts.store.recent(data.visitor_id) or [event]
        decider = parts.current.decider
        row = await decider.batcher.predict(decider.runtime.encode_one(history))
        return {"events": len(history), "batch": row.batch_size}

    return [page_view, events, *([floor] if parts.settings.bench_routes else [])]
