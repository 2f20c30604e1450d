"""Next items the model has not seen: Recall@20 through their category, as the service
ranks them (``service.decision.newcomers``).

The test split's items that the training vocabulary lacks play the catalogue's new items:
each is a newcomer in the category its events name, when the vocabulary knows that category.
For every test prefix the served list is the model's top items merged by score with the
newcomers' scores; it is scored twice, on the prefixes whose next item is a newcomer (what
the category output buys) and on those whose next item the model knows (what showing
newcomers costs there, against the model's own list).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from service.decision.newcomers import newcomer_scores
from service.model.encoding import Vocabulary
from service.schema import StoredEvent
from training.data.dataset import EncodedSessions, Pairs, prefix_batch
from training.evaluation.comparison import TOP_K
from training.model.intent_ranker import IntentRanker

# Whose Recall@20 these prefixes measure.
TRANSFORMER_WITH_NEWCOMERS = "Transformer with newcomers"
TRANSFORMER_ALONE = "Transformer alone"
RECENT_RAW = "Recent items"


@dataclass
class Unseen:
    """Recall@20 by method on prefixes whose next item is new (``unseen``) or known."""

    share: float
    newcomers: int
    unseen_prefixes: int
    known_prefixes: int
    unseen: dict[str, float]
    known: dict[str, float]


def _next_named(events: Sequence[StoredEvent]) -> list[StoredEvent | None]:
    """Per prefix k at index k-1: the first later event naming an item."""
    upcoming: StoredEvent | None = None
    out: list[StoredEvent | None] = [None] * len(events)
    for k in range(len(events), 0, -1):
        out[k - 1] = upcoming
        if events[k - 1].item_id is not None:
            upcoming = events[k - 1]
    return out


def newcomers_of(
    sessions: Sequence[Sequence[StoredEvent]], vocab: Vocabulary
) -> dict[int, list[str]]:
    """Items outside the vocabulary by category id, in order of first appearance."""
    found: dict[int, dict[str, None]] = {}
    for events in sessions:
        for event in events:
            item, category = event.item_id, event.category
            if item is None or item in vocab.item_ids or category not in vocab.category_ids:
                continue
            found.setdefault(vocab.category_ids[category], {})[item] = None
    return {category: list(items) for category, items in found.items()}


def _recent_raw(events: Sequence[StoredEvent], k: int) -> list[str]:
    seen = dict.fromkeys(e.item_id for e in reversed(events[:k]) if e.item_id is not None)
    return list(seen)[:TOP_K]


@torch.no_grad()
def _served(
    model: IntentRanker,
    vocab: Vocabulary,
    batch: np.ndarray,
    share: float,
    newcomers: dict[int, list[str]],
) -> tuple[list[list[str]], list[list[str]]]:
    """``(merged, alone)`` top-20 lists of each prefix in ``batch``."""
    _, scores, items, _, categories = model.eval()(torch.from_numpy(batch))
    merged, alone = [], []
    for row_scores, row_items, row_categories in zip(
        scores.tolist(), items.tolist(), categories.tolist(), strict=True
    ):
        own = [(vocab.item_at(i), s) for i, s in zip(row_items, row_scores, strict=True)]
        new = newcomer_scores(row_categories, share, newcomers, TOP_K)
        ranked = sorted(own + new, key=lambda pair: pair[1], reverse=True)
        merged.append([item for item, _ in ranked[:TOP_K]])
        alone.append([item for item, _ in own[:TOP_K]])
    return merged, alone


def evaluate_unseen(
    model: IntentRanker,
    vocab: Vocabulary,
    sessions: Sequence[Sequence[StoredEvent]],
    data: EncodedSessions,
    pairs: Pairs,
    share: float,
    max_len: int,
) -> Unseen:
    newcomers = newcomers_of(sessions, vocab)
    upcoming = [_next_named(events) for events in sessions]
    targets, unseen_rows = [], []
    for s, k in pairs:
        event = upcoming[s][k - 1]
        known_category = event is not None and event.category in vocab.category_ids
        new = event is not None and event.item_id not in vocab.item_ids and known_category
        targets.append(event.item_id if event is not None else None)
        unseen_rows.append(new)
    rows = [
        i
        for i, target in enumerate(targets)
        if target is not None and (unseen_rows[i] or target in vocab.item_ids)
    ]
    hits: dict[str, dict[bool, list[bool]]] = {}
    for start in range(0, len(rows), 1024):
        chunk = rows[start : start + 1024]
        merged, alone = _served(
            model, vocab, prefix_batch(data.encoded, pairs[chunk], max_len), share, newcomers
        )
        for row, with_new, own in zip(chunk, merged, alone, strict=True):
            s, k = pairs[row]
            target, new = targets[row], unseen_rows[row]
            recent = _recent_raw(sessions[s], int(k))
            for name, listed in (
                (TRANSFORMER_WITH_NEWCOMERS, with_new),
                (TRANSFORMER_ALONE, own),
                (RECENT_RAW, recent),
            ):
                hits.setdefault(name, {True: [], False: []})[new].append(target in listed)
    return Unseen(
        share=share,
        newcomers=sum(map(len, newcomers.values())),
        unseen_prefixes=sum(unseen_rows[i] for i in rows),
        known_prefixes=sum(not unseen_rows[i] for i in rows),
        unseen={name: _mean(by[True]) for name, by in hits.items()},
        known={name: _mean(by[False]) for name, by in hits.items()},
    )


def _mean(flags: list[bool]) -> float:
    return float(np.mean(flags)) if flags else float("nan")


def unseen_section(unseen: Unseen | None) -> list[str]:
    """The report's Markdown section."""
    if unseen is None:
        return []
    return [
        "## Items the model has not seen",
        "",
        f"The test split names {unseen.newcomers:,} items that the training vocabulary lacks, "
        "in categories it knows: they play the catalogue's new items, ranked through their "
        "category as the service ranks them (`service/decision/newcomers.py`), with the "
        f"model's new-item share {unseen.share:.4f}. Popularity and SKNN cannot name them "
        "(0 by construction); recent items can, where the visitor viewed one already.",
        "",
        "| Recall@20 | " + " | ".join(unseen.unseen) + " |",
        "|---|" + "---:|" * len(unseen.unseen),
        f"| next item new ({unseen.unseen_prefixes:,} prefixes) | "
        + " | ".join(_cell(v) for v in unseen.unseen.values())
        + " |",
        f"| next item known ({unseen.known_prefixes:,} prefixes) | "
        + " | ".join(_cell(v) for v in unseen.known.values())
        + " |",
        "",
    ]


def _cell(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{value:.4f}"
