"""Logged incentive treatment: a label-side fact per session (the loss is in model/loss.py).

A randomised holdout logs, per session, whether the incentive was shown, with what
probability (the propensity), whether the shopper bought, and how many events they had
made when it was shown (``offer_at``). None of it is a model input: serving cannot know
it. It only decides which of the two outcome heads learns from a session (T-learner):
the "incentive" head from treated sessions, the "no incentive" head from the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from service.schema import StoredEvent


@dataclass(frozen=True)
class LoggedTreatment:
    treated: bool
    propensity: float
    purchased: bool
    offer_at: int


class _Logged(Protocol):
    events: list[StoredEvent]

    def logged(self) -> LoggedTreatment: ...


def session_key(events: Sequence[StoredEvent]) -> str:
    """Identity of a session that survives sorting and splitting."""
    first = events[0]
    return f"{first.visitor_id}/{first.session_id}"


def logged_treatments(sessions: Iterable[_Logged]) -> dict[str, LoggedTreatment]:
    """``session_key -> LoggedTreatment`` of simulated (or otherwise logged) sessions."""
    return {session_key(s.events): s.logged() for s in sessions if s.events}


def treatments_for(
    sessions: Sequence[Sequence[StoredEvent]], treatments: Mapping[str, LoggedTreatment] | None
) -> list[LoggedTreatment | None]:
    """Aligned with ``sessions``; ``None`` where nothing was logged."""
    if not treatments:
        return [None] * len(sessions)
    return [treatments.get(session_key(events)) if events else None for events in sessions]
