"""Liveness and readiness for the orchestrator."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from service.http.auth import caller
from service.http.owners import Owner
from service.http.parts import Parts


def routes(parts: Parts) -> list[HTTPRouteHandler]:
    @get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @get("/readyz", tags=["operations"])
    async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        """Ready when Redis answers and a model is loaded; 503 otherwise. With a secret key
        it also says which model and policy are served and what the last reload refused."""
        redis_ok = await parts.store.ping()
        body: dict[str, Any] = {"status": "ready" if redis_ok else "unavailable"}
        if caller(request) is Owner.SECRET:
            body |= details(parts, redis_ok)
        return Response(body, status_code=200 if redis_ok else 503)

    return [healthz, readyz]


def details(parts: Parts, redis_ok: bool) -> dict[str, Any]:
    runtime = parts.runtime
    return {
        "redis": redis_ok,
        "model_version": runtime.version,
        "provider": runtime.provider,
        "policy_version": parts.policy.version,
        "buffered_events": len(parts.store.pending),
        # Counted at the worker's last catalogue sync, not read here. Empty is still ready: a
        # new shop starts empty and loads its catalogue through this very service.
        "catalog_items": parts.catalog.cache.size,
        "catalog": parts.catalog.state,
        "model_reload_error": parts.current.model_error,
        "policy_reload_error": parts.current.policy_error,
    }
