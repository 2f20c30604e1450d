"""Items the model has not seen, ranked through their category.

A catalogue item added after training has no embedding, no co-visitation and no history, so
the model's ranking cannot name it. Its category can: the artefact predicts the next item's
category (``Prediction.category_probs``) and says how often, in its own training data, the
next item was one never seen before (``Manifest.new_item_share``). A newcomer's chance is
then that share, times its category's chance, split evenly among the category's newcomers:

    P(next = j) = new_item_share * P(category of j) / newcomers in that category

which is on the scale of the model's own item probabilities, so the two lists merge by score.
The same rule ranks newcomers in `witryna evaluate` and in the service.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence


def newcomer_scores(
    category_probs: Sequence[float],
    share: float,
    newcomers: Mapping[int, Sequence[str]],
    limit: int,
    counts: Mapping[int, int] | None = None,
) -> list[tuple[str, float]]:
    """The ``limit`` best ``(item_id, score)`` of ``newcomers`` (by category id, each list in
    the order ties should break, newest first), best first. ``counts``: how many newcomers
    each category has where its list holds only some of them (the service keeps a bounded
    sample); a category's chance is split among all of them, not among those listed."""
    if share <= 0.0 or limit <= 0:
        return []
    scored: list[tuple[float, Sequence[str]]] = []
    for category, items in newcomers.items():
        if not items or not 0 <= category < len(category_probs):
            continue
        listed = len(items) if counts is None else max(len(items), counts.get(category, 0))
        scored.append((share * float(category_probs[category]) / listed, items))
    # The best ``limit`` items lie in at most ``limit`` categories: a page view ranks those,
    # not every item of a catalogue's thousands of categories (nlargest is stable, as the
    # sort below).
    best = heapq.nlargest(limit, scored, key=lambda pair: pair[0])
    ranked = [(item, score) for score, items in best for item in items[:limit]]
    ranked.sort(key=lambda pair: pair[1], reverse=True)
    return ranked[:limit]
