"""Logged incentive treatment: a label-side fact per session, and the uplift heads' loss.

A randomised holdout logs, per session, whether the incentive was shown, with what
probability (the propensity), whether the shopper bought, and how many events they had
made when it was shown (``offer_at``). None of it is a model input: serving cannot know
it. It only decides which of the two outcome heads learns from a session (T-learner):
the "incentive" head from treated sessions, the "no incentive" head from the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from service.schema import StoredEvent

if TYPE_CHECKING:
    from training.data.dataset import EncodedSessions, Pairs

# Columns of the outcome heads' logits: P(buy | no incentive), P(buy | incentive).
CONTROL, TREATED = 0, 1


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


def uplift_targets(
    data: EncodedSessions, pairs: Pairs
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """``(arm, purchased, mask)`` per prefix.

    Only the offer prefix counts (the first ``offer_at`` events: what the shopper had done
    when the holdout showed or withheld the incentive). Later prefixes may already hold the
    incentive's effect, which a T-learner must not learn from; earlier ones would teach the
    uplift of an offer shown at some later, unknown moment, and (measured) blur shoppers who
    decide early, such as leavers, with the start of everybody else's session.
    """
    arm = np.zeros(len(pairs), dtype=np.int64)
    bought = np.zeros(len(pairs), dtype=np.float32)
    mask = np.zeros(len(pairs), dtype=np.bool_)
    logged = data.treatments
    for row, (s, k) in enumerate(pairs):
        t = logged[s] if s < len(logged) else None
        if t is not None and k == t.offer_at:
            arm[row], bought[row], mask[row] = int(t.treated), float(t.purchased), True
    return arm, bought, mask


def uplift_loss(outcome_logits: Tensor, data: EncodedSessions, pairs: Pairs) -> Tensor:
    """Binary cross-entropy of the head matching each prefix's logged arm, mean over masked.

    A batch without logged treatment still returns a zero that depends on the heads, so that
    every parameter gets a gradient each step (DistributedDataParallel expects that).
    """
    arm, bought, mask = (torch.from_numpy(a) for a in uplift_targets(data, pairs))
    chosen = outcome_logits.gather(1, arm.unsqueeze(1)).squeeze(1)
    losses = nn.functional.binary_cross_entropy_with_logits(chosen, bought, reduction="none")
    return (losses * mask).sum() / max(1, int(mask.sum()))
