"""Liveness and readiness for the orchestrator."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec

from service.http.auth import caller
from service.http.owners import Owner
from service.http.parts import Parts


def routes(parts: Parts) -> list[HTTPRouteHandler]:
    @get("/healthz", summary="Liveness probe", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up and answers; Redis and the model are /readyz's concern."""
        return {"status": "ok"}

    # A probe's 503 is its answer, not an error: the same JSON as when ready.
    not_ready = ResponseSpec(
        dict[str, Any], description="Not ready: Redis does not answer", generate_examples=False
    )

    @get("/readyz", summary="Readiness probe", tags=["operations"], responses={503: not_ready})
    async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        """Ready while the worker's breaker finds Redis answering, a model being loaded; 503
        otherwise. It follows the breaker, which needs several results in a row to turn,
        so that it does not flap with a slow Redis. With a secret key it also says which
        model and policy are served, what the last reload refused and whether Redis keeps
        its keys on disk."""
        redis_ok = parts.store.breaker.closed
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
        "journal_events": parts.store.journal.waiting,
        # Counted at the worker's last catalogue sync, not read here. Empty is still ready: a
        # new shop starts empty and loads its catalogue through this very service.
        "catalog_items": parts.catalog.cache.size,
        "catalog": parts.catalog.state,
        "model_reload_error": parts.current.model_error,
        "policy_reload_error": parts.current.policy_error,
        "persistence": parts.persistence,
    }
