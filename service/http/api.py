"""HTTP routes: thin handlers over the store, the model, the policy and the catalogue."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler

from service.decision.experiments import ExperimentResult, results
from service.http import bodies
from service.http.openapi import json_body
from service.metrics.counters import CHART_LATENCY
from service.schema import Accepted, Decision, EventBatch, PageView, stored
from service.services import Services
from service.storage.catalog import ItemBatch, batch_decoder
from service.storage.identity import Consent, Erased, Identify, Linked, Profile

identify_decoder = msgspec.json.Decoder(Identify)
consent_decoder = msgspec.json.Decoder(Consent)


def routes(services: Services) -> list[HTTPRouteHandler]:
    @post(
        "/v1/page-views",
        status_code=200,
        tags=["storefront"],
        operation_class=json_body(PageView),
        opt={CHART_LATENCY: True},
    )
    async def page_view(request: Request[Any, Any, Any]) -> Decision:
        """Record a page view and answer with what this visitor's page should show."""
        data = bodies.page_view(await request.body())
        event = data.to_event(time.time())
        history = await services.store.append_and_read(event)
        policy, decider = services.policy, services.decider
        if history is None:
            cause = "degraded:redis_unavailable"
            decision = (await decider.fallback(data, [event], policy, cause))[0]
        else:
            decision, log = await decider.decide(data, history, policy)
            if history.consent:
                services.record([event], log)
        services.metrics.decided(decision, policy.slots)
        return decision

    @post("/v1/events", status_code=202, tags=["storefront"], operation_class=json_body(EventBatch))
    async def events(request: Request[Any, Any, Any]) -> Accepted:
        """Record a batch of events from any channel, in the one event schema."""
        data = bodies.event_batch(await request.body())
        now = time.time()
        batch = [stored(event, now) for event in data.events]
        written = await services.store.append_many(batch)
        services.record(written.kept, None)
        return Accepted(accepted=len(batch), buffered=written.buffered)

    @put("/v1/catalog/items", tags=["catalogue"], operation_class=json_body(ItemBatch))
    async def catalog_items(request: Request[Any, Any, Any]) -> Accepted:
        """Upsert items: fields left out keep their value; ``in_stock: false`` hides an item."""
        batch = bodies.decode(batch_decoder, await request.body())
        return Accepted(accepted=await services.catalog.upsert(batch.items))

    @get("/v1/experiments/{experiment_id:str}", tags=["experiments"])
    async def experiment(experiment_id: str) -> ExperimentResult:
        """Exposures, conversions and conversion rate per arm, with uplift against control."""
        declared = services.policy.experiment(experiment_id)
        if declared is None:
            raise NotFoundException(f"no experiment {experiment_id!r} in the policy")
        return await results(services.store.client, declared)

    @post("/v1/identify", status_code=200, tags=["visitors"], operation_class=json_body(Identify))
    async def identify(request: Request[Any, Any, Any]) -> Linked:
        """Link an anonymous id to a customer id: from then on they are one person."""
        return await services.identities.identify(
            bodies.decode(identify_decoder, await request.body())
        )

    @put(
        "/v1/visitors/{visitor_id:str}/consent",
        tags=["visitors"],
        operation_class=json_body(Consent),
    )
    async def consent(visitor_id: str, request: Request[Any, Any, Any]) -> Consent:
        """Without consent nothing of the visitor is stored and pages show default content."""
        choice = bodies.decode(consent_decoder, await request.body())
        await services.identities.set_consent(bodies.visitor_id(visitor_id), choice.consent)
        return choice

    @get("/v1/visitors/{visitor_id:str}/profile", tags=["visitors"])
    async def profile(visitor_id: str) -> Profile:
        """Everything kept about the person behind this id: the profile is also the export."""
        return await services.identities.profile(bodies.visitor_id(visitor_id))

    @delete("/v1/visitors/{visitor_id:str}", status_code=200, tags=["visitors"])
    async def erase(visitor_id: str) -> Erased:
        """Erase every key and stream entry of the person and of every id linked to it."""
        return await services.identities.erase(bodies.visitor_id(visitor_id))

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
            "policy_version": services.policy.version,
            "buffered_events": len(services.store.pending),
            "model_reload_error": services.reload_error,
            "policy_reload_error": services.policy_error,
        }
        return Response(body, status_code=200 if redis_ok else 503)

    @post("/v1/floor", status_code=200, include_in_schema=False)
    async def floor(request: Request[Any, Any, Any]) -> dict[str, int]:
        """The least a page view can cost: one Redis round trip and one model run."""
        data = bodies.page_view(await request.body())
        event = data.to_event(time.time())
        history = await services.store.recent(data.visitor_id) or [event]
        row = await services.decider.batcher.predict(services.runtime.encode_one(history))
        return {"events": len(history), "batch": row.batch_size}

    extra = [floor] if services.settings.bench_routes else []
    return [
        *extra,
        page_view, events, catalog_items, experiment, identify, consent, profile, erase,
        healthz, readyz,
    ]  # fmt: skip
