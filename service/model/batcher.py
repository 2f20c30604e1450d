"""Micro-batching: requests that arrive together share one ONNX Runtime run.

One run is in flight at a time, on a dedicated thread. Requests that arrive while it
runs wait for it and then go together as the next batch (at most ``max_batch`` rows), so
batches grow with load and an idle service adds no wait at all. ``max_wait_us`` can hold
the first request of an idle spell back for company; by default it does not, since the
event loop's timers are only as fine as a millisecond.

With ``inline`` the run happens on the event loop's own thread. On a worker that has one
core to itself a second thread buys no parallelism, only a hand-over each way (a queue, a
wake-up and the GIL), which cost more than a small model's run. Requests that arrive during
an inline run wait in the socket and join the next batch all the same.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from msgspec import Struct

from service.model import encoding
from service.model.runtime import ModelRuntime, Prediction

Waiting = list[tuple[encoding.Encoded, "asyncio.Future[Row]"]]


class Row(Struct, frozen=True):
    """One request's share of a batched prediction, shaped as a batch of one."""

    prediction: Prediction
    batch_size: int


class MicroBatcher:
    def __init__(
        self, runtime: ModelRuntime, max_batch: int, max_wait_us: int, inline: bool = False
    ) -> None:
        self.runtime = runtime
        self.inline = inline
        self.max_batch = max_batch
        self.max_wait_s = max_wait_us / 1e6
        self._pending: Waiting = []
        self._busy = False
        self._scheduled: asyncio.Handle | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx")

    async def predict(self, sequence: encoding.Encoded) -> Row:
        """The model's outputs for one encoded sequence ``[n, features]``."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Row] = loop.create_future()
        self._pending.append((sequence, future))
        if not self._busy and self._scheduled is None:
            if len(self._pending) >= self.max_batch or self.max_wait_s == 0:
                self._scheduled = loop.call_soon(self._flush)
            else:
                self._scheduled = loop.call_later(self.max_wait_s, self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = None
        if self._busy or not self._pending:
            return
        batch = self._pending[: self.max_batch]
        self._pending = self._pending[self.max_batch :]
        self._busy = True
        asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: Waiting) -> None:
        loop = asyncio.get_running_loop()
        try:
            rows = encoding.pad_left([seq for seq, _ in batch], self.runtime.max_len)
            if self.inline:
                out = self.runtime.predict(rows)
            else:
                out = await loop.run_in_executor(self._pool, self.runtime.predict, rows)
        except Exception as exc:  # every waiting request learns of the failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        finally:
            self._busy = False
            # Whoever arrived during the run has waited long enough: they go next, at once.
            self._flush()
        for i, (_, future) in enumerate(batch):
            if not future.done():
                future.set_result(Row(_row(out, i), len(batch)))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _row(out: Prediction, i: int) -> Prediction:
    return Prediction(
        out.intent_probs[i : i + 1],
        out.top_scores[i : i + 1],
        out.top_items[i : i + 1],
        None if out.uplift is None else np.asarray(out.uplift[i : i + 1]),
        None if out.category_probs is None else out.category_probs[i : i + 1],
    )
