"""Visitors as people: identity links, consent, the profile (which is also the export), erasure."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, delete, get, post, put
from litestar.handlers import HTTPRouteHandler

from service.errors import WrongKey
from service.http import bodies
from service.http.auth import caller, check_link_token
from service.http.openapi import PathVisitorId, json_body, problems
from service.http.owners import Owner
from service.http.parts import Parts
from service.storage.identity import Consent, Erased, Identify, Linked, Profile

identify_decoder = msgspec.json.Decoder(Identify)
consent_decoder = msgspec.json.Decoder(Consent)


def routes(parts: Parts) -> list[HTTPRouteHandler]:
    @post(
        "/v1/identify",
        summary="Link an anonymous id to a customer",
        status_code=200,
        tags=["visitors"],
        operation_class=json_body(Identify),
        responses=problems(403, 409, 503),
    )
    async def identify(request: Request[Any, Any, Any]) -> Linked:
        """Link an anonymous id to a customer id: from then on they are one person.

        With a secret key from the shop's servers, or from the browser with the site key and
        a token the shop's backend signed (docs/security.md)."""
        link = bodies.decode(identify_decoder, await bodies.read(request))
        if caller(request) is not Owner.SECRET:
            secret = parts.settings.identify_secret
            check_link_token(secret, link.visitor_id, link.customer_id, link.token, link.expires)
        return await parts.identities.identify(link)

    @put(
        "/v1/visitors/{visitor_id:str}/consent",
        summary="Set a visitor's consent",
        tags=["visitors"],
        operation_class=json_body(Consent),
        responses=problems(403, 503),
    )
    async def consent(visitor_id: PathVisitorId, request: Request[Any, Any, Any]) -> Consent:
        """Give or withdraw consent: without it nothing of the visitor is stored and pages
        show default content. The site key may change it only for an anonymous id."""
        choice = bodies.decode(consent_decoder, await bodies.read(request))
        visitor = bodies.visitor_id(visitor_id)
        if caller(request) is not Owner.SECRET and await parts.identities.is_known(visitor):
            raise WrongKey(
                f"{visitor!r} is linked to a person: their consent needs a secret key; the site "
                "key may change it only for an anonymous id of its own"
            )
        await parts.identities.set_consent(visitor, choice.consent)
        return choice

    @get(
        "/v1/visitors/{visitor_id:str}/profile",
        summary="Export what is kept about a person",
        tags=["visitors"],
        responses=problems(404, 422, 503),
    )
    async def profile(visitor_id: PathVisitorId) -> Profile:
        """Everything kept about the person behind this id: the profile is also the export."""
        return await parts.identities.profile(bodies.visitor_id(visitor_id))

    @delete(
        "/v1/visitors/{visitor_id:str}",
        summary="Erase a person",
        status_code=200,
        tags=["visitors"],
        responses=problems(422, 503),
    )
    async def erase(visitor_id: PathVisitorId) -> Erased:
        """Erase every key and stream entry of the person and of every id linked to it."""
        return await parts.identities.erase(bodies.visitor_id(visitor_id))

    return [identify, consent, profile, erase]
