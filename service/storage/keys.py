"""Every Redis key name. Every key of one person carries the person's hash tag, so that a Redis
Cluster keeps them in one slot and one script can touch them all; the shared keys (catalogue,
experiments, streams, metrics) carry a tag of their own."""

from __future__ import annotations

import hashlib


def events_key(person: str) -> str:
    return f"w:{{{person}}}:events"


def profile_key(person: str) -> str:
    return f"w:{{{person}}}:profile"


def alias_key(visitor: str) -> str:
    """Set on an anonymous id once it is linked: names the person it belongs to."""
    return f"w:{{{visitor}}}:person"


def aliases_key(person: str) -> str:
    return f"w:{{{person}}}:aliases"


def consent_key(visitor: str) -> str:
    return f"w:{{{visitor}}}:consent"


def moving_key(visitor: str) -> str:
    """A linked id's events on their way to its person: kept until they are written there."""
    return f"w:{{{visitor}}}:moving"


def logged_key(visitor: str) -> str:
    """The id's entries on the logged streams, as "e|<entry id>" or "d|<entry id>": erasure
    deletes exactly these instead of reading the streams through."""
    return f"w:{{{visitor}}}:logged"


def person_keys(person: str) -> list[str]:
    return [events_key(person), profile_key(person), alias_key(person), aliases_key(person),
            consent_key(person), moving_key(person), logged_key(person)]  # fmt: skip


def erased_key(visitor: str) -> str:
    """Set for a while after an id is erased, to the time of erasure: log and event writes
    still on their way are deleted behind it. Named by a digest, so it does not keep the id; one
    hash tag for all, so that one MGET reads a batch's on a cluster too."""
    return f"w:{{erased}}:{hashlib.sha256(visitor.encode()).hexdigest()[:32]}"


# The logged streams training reads (`witryna export-events`).
EVENTS_STREAM = "w:stream:events"
DECISIONS_STREAM = "w:stream:decisions"

# The catalogue's change feed: a version counter and the ids each change touched.
VERSION_KEY = "w:{catalog}:version"
CHANGES_KEY = "w:{catalog}:changes"


def field_key(field: str) -> str:
    """One hash per field, keyed by item id: a page view reads a carousel's worth of items
    with one HMGET per field instead of one command per item. The hashes share one hash
    tag, so on a Redis Cluster that read is one round trip to one node, not one per field."""
    return f"w:{{catalog}}:{field}"


def exposed_key(experiment_id: str, arm: str) -> str:
    return f"w:{{exp:{experiment_id}}}:{arm}:exposed"


def converted_key(experiment_id: str, arm: str) -> str:
    return f"w:{{exp:{experiment_id}}}:{arm}:converted"


# The names of every exposed and converted set written: erasure removes its ids from those
# instead of scanning the keyspace for them.
TALLIES_KEY = "w:{exp}:tallies"


# Each server's workers pool their metrics under a key of their own: host and port name it.
POOL_PREFIX = "w:{metrics:"


def pool_key(host: str, port: int) -> str:
    return f"{POOL_PREFIX}{host}:{port}}}:workers"


# Requests per second of one limited subject (a client address, a visitor id, a site key).
RATE_PREFIX = "w:{rate:"


def rate_key(kind: str, subject: str, window: int) -> str:
    """One counter per subject and second. Each subject's tag of its own spreads a flood's
    counters over a cluster's nodes; the digest keeps site keys and ids out of key names."""
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    return f"{RATE_PREFIX}{kind}:{digest}}}:{window}"


# Written by each worker's probe: a Redis that answers PING but takes no writes (paused, a
# read-only replica) is as good as down for page views.
PROBE_KEY = "w:{probe}"


# What the service writes for itself whatever it is asked: request counts, pooled metrics and
# its probe. No one's data: a scan for what a request wrote leaves these out.
HOUSEKEEPING = (POOL_PREFIX, RATE_PREFIX, PROBE_KEY)
