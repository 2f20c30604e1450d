"""Redis keys. Every key of one person carries the person's hash tag, so that a Redis
Cluster keeps them in one slot and one script can touch them all."""

from __future__ import annotations


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


def person_keys(person: str) -> list[str]:
    return [events_key(person), profile_key(person), alias_key(person), aliases_key(person),
            consent_key(person)]  # fmt: skip
