"""Training targets for every prefix of a session, computed from what happens AFTER it.

A prefix ``k`` (1-based) is the first ``k`` events; its features come from those events
only (``encoded[:k]``) while its targets look at events ``k+1..n``. The intent rule, in
order of precedence:

1. **buy**: a ``purchase`` occurs after the prefix (at a 1-based index > k).
2. **leave**: no event follows the prefix (k == n).
3. **hesitate**: events follow, none is a purchase, and the visitor has cart activity
   (an ``add_to_cart``, in the prefix or after it) later than the last purchase within the
   prefix. So a shopper who carts but does not buy hesitates from the first event on, and a
   shopper who already bought and merely browses on does not.
4. **browse**: events follow, none is a purchase, and there is no such cart activity.

The next-item target is the vocabulary id of the first event after the prefix that names
an item, or ``IGNORE`` (masked out of the loss) when none follows or the item is not in the
vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from service.model.encoding import INTENTS, Vocabulary
from service.schema import StoredEvent

BUY, HESITATE, BROWSE, LEAVE = (
    INTENTS.index(name) for name in ("buy", "hesitate", "browse", "leave")
)
# PyTorch's default ignore_index for cross-entropy.
IGNORE = -100


def intent_labels(types: Sequence[str]) -> npt.NDArray[np.int64]:
    """Intent of prefix k at index k-1, for k = 1..n."""
    n = len(types)
    last_cart = max((i for i, t in enumerate(types) if t == "add_to_cart"), default=-1)
    purchases = [i for i, t in enumerate(types) if t == "purchase"]
    labels = np.empty(n, dtype=np.int64)
    last_purchase = -1
    for k in range(1, n + 1):
        if types[k - 1] == "purchase":
            last_purchase = k - 1
        purchase_after = bool(purchases) and purchases[-1] >= k
        labels[k - 1] = _intent(k, n, purchase_after, last_cart > last_purchase)
    return labels


def _intent(k: int, n: int, purchase_after: bool, cart_active: bool) -> int:
    if purchase_after:
        return BUY
    if k == n:
        return LEAVE
    return HESITATE if cart_active else BROWSE


def next_item_targets(events: Sequence[StoredEvent], vocab: Vocabulary) -> npt.NDArray[np.int64]:
    """Next-item id of prefix k at index k-1, for k = 1..n; ``IGNORE`` where there is none."""
    targets = np.full(len(events), IGNORE, dtype=np.int64)
    upcoming = IGNORE
    for k in range(len(events), 0, -1):
        targets[k - 1] = upcoming
        item = events[k - 1].item_id
        if item is not None:
            upcoming = vocab.item_ids.get(item, IGNORE)
    return targets


def session_labels(
    events: Sequence[StoredEvent], vocab: Vocabulary
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``(intent, next_item)`` per prefix end, both of length ``len(events)``."""
    return intent_labels([event.type for event in events]), next_item_targets(events, vocab)
