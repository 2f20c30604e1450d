"""The uplift section of an evaluation report, when there is an uplift to evaluate.

It needs a model with outcome heads and sessions with a logged randomised incentive (today:
the simulator's), both among the test sessions; without them the report simply has no
uplift section.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from training.data.simulator import SimSession
from training.data.treatment import session_key
from training.evaluation import uplift
from training.evaluation.evaluate import Evaluation
from training.evaluation.fresh_uplift import FreshUplift
from training.evaluation.fresh_uplift import markdown as fresh_markdown
from training.evaluation.report import Section


def uplift_section(simulated: Sequence[SimSession]) -> Section:
    """A report section for the held-out part of these simulated sessions."""

    def section(evaluation: Evaluation, out_dir: Path) -> str | None:
        model, vocab = evaluation.model, evaluation.vocab
        if not simulated or model is None or vocab is None:
            return None
        if not hasattr(model, "outcome_head"):
            return None
        by_key = {session_key(s.events): s for s in simulated if s.events}
        keys = (session_key(events) for events in evaluation.test_sessions)
        heldout = [by_key[key] for key in keys if key in by_key]
        # A Qini curve needs both arms of the holdout among the test sessions.
        if len({bool(s.treated) for s in heldout}) < 2:
            return None
        return uplift.qini_report(model, heldout, out_dir, vocab)

    return section


def fresh_uplift_section(result: FreshUplift | None, model_seed: int) -> Section:
    """The section on fresh simulated populations (fresh_uplift.py), when there are some."""

    def section(evaluation: Evaluation, out_dir: Path) -> str | None:
        return fresh_markdown(result, model_seed) if result and result.populations else None

    return section
