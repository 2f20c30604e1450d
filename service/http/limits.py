"""Rate limits on the storefront's routes: per client address, site key and visitor id."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from litestar import Request

from service.errors import TooManyRequests
from service.http.auth import sent_key
from service.http.parts import Parts
from service.storage.rates import Subject

_WHO = {"address": "this client address", "site_key": "this site key", "visitor": "this visitor id"}


def client_address(request: Request[Any, Any, Any], hops: int) -> str:
    """The address the request came from: past ``hops`` trusted proxies, the entry they put
    that far from the end of X-Forwarded-For; the connection's own when they put fewer."""
    own = request.client.host if request.client else ""
    if hops == 0:
        return own
    forwarded = ",".join(request.headers.getall("x-forwarded-for", [])).split(",")
    entries = [entry.strip() for entry in forwarded if entry.strip()]
    return entries[-hops] if len(entries) >= hops else own


class Limits:
    """Raises TooManyRequests once a subject has spent its requests for this second."""

    def __init__(self, parts: Parts) -> None:
        s = parts.settings
        self.parts = parts
        self.per_address, self.per_key, self.per_visitor = (
            s.rate_per_address, s.rate_per_site_key, s.rate_per_visitor,
        )  # fmt: skip
        self.hops = s.forwarded_hops

    def sender(self, request: Request[Any, Any, Any]) -> None:
        """Counted before the body is decoded, so that a flood of bad bodies is limited too."""
        subjects: list[Subject] = []
        if self.per_address:
            subjects.append(("address", client_address(request, self.hops), self.per_address))
        if self.per_key and (key := sent_key(request)):
            subjects.append(("site_key", key, self.per_key))
        self._admit(subjects)

    def visitors(self, ids: Iterable[str]) -> None:
        if self.per_visitor:
            self._admit([("visitor", i, self.per_visitor) for i in set(ids)])

    def _admit(self, subjects: list[Subject]) -> None:
        if not subjects:
            return
        over = self.parts.rates.admit(subjects, time.time())
        if over is not None:
            kind, _, limit = over
            raise TooManyRequests(f"more than {limit} requests a second for {_WHO[kind]}")
