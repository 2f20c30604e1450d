"""Micro-batching gives each request exactly what an unbatched run gives it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from service.model import encoding
from service.model.batcher import MicroBatcher, Row
from service.model.runtime import ModelRuntime
from training.data.simulator import simulate

SEED = 3


@pytest.fixture(scope="module")
def runtime(artefact: Path) -> ModelRuntime:
    return ModelRuntime(artefact, threads=1, device="cpu")


def sequences(runtime: ModelRuntime, count: int) -> list[encoding.Encoded]:
    print(f"simulator seed {SEED}")
    return [runtime.encode_one(s.events) for s in simulate(count, seed=SEED)]


async def submit_all(batcher: MicroBatcher, batch: list[encoding.Encoded]) -> list[Row]:
    return await asyncio.gather(*(batcher.predict(seq) for seq in batch))


@pytest.mark.parametrize("inline", [False, True], ids=["thread", "inline"])
def test_concurrent_requests_share_runs_and_get_their_own_answers(
    runtime: ModelRuntime, inline: bool
) -> None:
    batch = sequences(runtime, 40)
    batcher = MicroBatcher(runtime, max_batch=16, max_wait_us=2000, inline=inline)
    rows = asyncio.run(submit_all(batcher, batch))
    batcher.close()
    assert max(row.batch_size for row in rows) == 16
    assert sum(1 / row.batch_size for row in rows) == pytest.approx(3)  # 16 + 16 + 8
    for seq, row in zip(batch, rows, strict=True):
        alone = runtime.predict(encoding.pad_left([seq], runtime.max_len))
        np.testing.assert_allclose(row.prediction.intent_probs, alone.intent_probs, atol=1e-5)
        np.testing.assert_allclose(row.prediction.top_scores, alone.top_scores, atol=1e-5)
        assert row.prediction.top_items.shape == alone.top_items.shape


def test_a_batch_of_one_is_the_unbatched_path(runtime: ModelRuntime) -> None:
    batcher = MicroBatcher(runtime, max_batch=1, max_wait_us=0)
    rows = asyncio.run(submit_all(batcher, sequences(runtime, 5)))
    batcher.close()
    assert [row.batch_size for row in rows] == [1] * 5


@pytest.mark.parametrize("inline", [False, True], ids=["thread", "inline"])
def test_a_failing_run_fails_every_request_in_it(runtime: ModelRuntime, inline: bool) -> None:
    broken = np.ones((3, len(encoding.FEATURES) + 1), dtype=np.int64)
    batcher = MicroBatcher(runtime, max_batch=4, max_wait_us=1000, inline=inline)

    async def run() -> list[Row | BaseException]:
        good = sequences(runtime, 2)
        return await asyncio.gather(
            batcher.predict(good[0]), batcher.predict(broken), return_exceptions=True
        )

    outcomes = asyncio.run(run())
    batcher.close()
    assert all(isinstance(outcome, Exception) for outcome in outcomes)


def test_requests_arriving_during_an_inline_run_form_the_next_batch(
    runtime: ModelRuntime,
) -> None:
    """Inline, the loop is busy while the model runs: whoever arrives then goes next, together."""
    batch = sequences(runtime, 12)
    batcher = MicroBatcher(runtime, max_batch=32, max_wait_us=0, inline=True)

    async def staggered() -> list[Row]:
        first = asyncio.ensure_future(batcher.predict(batch[0]))
        await asyncio.sleep(0)  # the first run starts alone and blocks the loop
        rest = [asyncio.ensure_future(batcher.predict(seq)) for seq in batch[1:]]
        return await asyncio.gather(first, *rest)

    rows = asyncio.run(staggered())
    batcher.close()
    assert [row.batch_size for row in rows] == [1] + [11] * 11
