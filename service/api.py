"""HTTP routes: thin handlers over the store, the model and the decider."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler

from service import bodies
from service.openapi import json_body
from service.schema import Accepted, Decision, EventBatch, PageView, stored
from service.services import Services


def routes(services: Services) -> list[HTTPRouteHandler]:
    @post(
        "/v1/page-views", status_code=200, tags=["storefront"], operation_class=json_body(PageView)
    )
    async def page_view(request: Request[Any, Any, Any]) -> Decision:
        """Record a page view and answer with what this visitor's page should show."""
        data = bodies.page_view(await request.body())
        event = data.to_event(time.time())
        history = await services.store.append_and_read(event)
        if history is None:
            return services.decider.fallback(data, [event], "degraded:redis_unavailable")
        return services.decider.decide(data, history)

    @post("/v1/events", status_code=202, tags=["storefront"], operation_class=json_body(EventBatch))
    async def events(request: Request[Any, Any, Any]) -> Accepted:
        """Record a batch of events from any channel, in the one event schema."""
        data = bodies.event_batch(await request.body())
        now = time.time()
        batch = [stored(event, now) for event in data.events]
        buffered = await services.store.append_many(batch)
        return Accepted(accepted=len(batch), buffered=buffered)

    @get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @get("/readyz", tags=["operations"])
    async def readyz() -> Response[dict[str, Any]]:
        """Ready when Redis answers and a model is loaded; 503 otherwise."""
        redis_ok = await services.store.ping()
        runtime = services.runtime
        body = {
            "status": "ready" if redis_ok else "unavailable",
            "redis": redis_ok,
            "model_version": runtime.version,
            "provider": runtime.provider,
            "buffered_events": len(services.store.pending),
            "model_reload_error": services.reload_error,
        }
        return Response(body, status_code=200 if redis_ok else 503)

    return [page_view, events, healthz, readyz]
