"""A page view in, a decision out: the one entry point that owns the consent and degraded
rules, so that no handler or decider decides them again."""

from __future__ import annotations

import logging
import time

from service.decision.reloader import Reloader
from service.schema import Decision, PageView
from service.storage.events import EventStore
from service.storage.log_writer import LogWriter

log = logging.getLogger(__name__)

# Why a page got default content: the cause leads the slot's reasons.
REDIS_UNAVAILABLE = "degraded:redis_unavailable"
MODEL_FAILED = "degraded:model_failed"
NO_CONSENT = "consent:off"


class Pages:
    def __init__(self, store: EventStore, current: Reloader, logs: LogWriter) -> None:
        self.store = store
        self.current = current
        self.logs = logs

    async def decide(self, view: PageView) -> Decision:
        """Record the page view, read the visitor back and decide their page.

        Redis away or the model failing: default content, flagged degraded (an event Redis
        did not take waits in the buffer). No consent: default content, not degraded (it was
        chosen), and nothing of the visitor logged.
        """
        event = view.to_event(time.time())
        history = await self.store.append_and_read(event)
        policy, decider = self.current.policy, self.current.decider
        if history is None:
            return (await decider.fallback(view, [event], policy, REDIS_UNAVAILABLE))[0]
        if not history.consent:
            fallback = await decider.fallback(view, history.events, policy, NO_CONSENT, False)
            return fallback[0]
        try:
            prediction = await decider.predict(history.events)
        except Exception:  # a failing model degrades the answer, never the page
            log.exception("model run failed; serving default content")
            decided = await decider.fallback(view, history.events, policy, MODEL_FAILED)
        else:
            decided = await decider.personalised(view, history, policy, prediction)
        self.logs.record([event], decided[1])
        return decided[0]
