"""Micro-batching gives each request exactly what an unbatched run gives it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from service import encoding
from service.batcher import MicroBatcher, Row
from service.runtime import ModelRuntime
from training.simulator import simulate

SEED = 3


@pytest.fixture(scope="module")
def runtime(artefact: Path) -> ModelRuntime:
    return ModelRuntime(artefact, threads=1, device="cpu")


def sequences(runtime: ModelRuntime, count: int) -> list[encoding.Encoded]:
    print(f"simulator seed {SEED}")
    return [runtime.encode_one(s.events) for s in simulate(count, seed=SEED)]


async def submit_all(batcher: MicroBatcher, batch: list[encoding.Encoded]) -> list[Row]:
    return await asyncio.gather(*(batcher.predict(seq) for seq in batch))


def test_concurrent_requests_share_runs_and_get_their_own_answers(runtime: ModelRuntime) -> None:
    batch = sequences(runtime, 40)
    batcher = MicroBatcher(runtime, max_batch=16, max_wait_us=2000)
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


def test_a_failing_run_fails_every_request_in_it(runtime: ModelRuntime) -> None:
    broken = np.ones((3, len(encoding.FEATURES) + 1), dtype=np.int64)
    batcher = MicroBatcher(runtime, max_batch=4, max_wait_us=1000)

    async def run() -> list[Row | BaseException]:
        good = sequences(runtime, 2)
        return await asyncio.gather(
            batcher.predict(good[0]), batcher.predict(broken), return_exceptions=True
        )

    outcomes = asyncio.run(run())
    batcher.close()
    assert all(isinstance(outcome, Exception) for outcome in outcomes)
