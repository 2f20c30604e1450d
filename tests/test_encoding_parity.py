"""Training and serving turn the same events into the same tensors.

Training encodes simulated sessions straight from memory; serving receives the same
events over HTTP, keeps them in Redis as msgpack and encodes what it reads back.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec
import numpy as np
import redis

from service.model.runtime import ModelRuntime
from service.schema import StoredEvent
from service.storage.keys import events_key
from training.data.dataset import encode_sessions, prefix_batch
from training.data.simulator import simulate

SEED = 11
JSON = {"content-type": "application/json"}
_json = msgspec.json.Encoder()
_stored = msgspec.msgpack.Decoder(StoredEvent)


def test_the_same_events_give_the_same_tensors_on_both_sides(
    http: httpx.Client, artefact: Path, redis_client: redis.Redis
) -> None:
    print(f"simulator seed {SEED}")
    runtime = ModelRuntime(artefact, threads=1, device="cpu")
    sessions = [s.events for s in simulate(12, seed=SEED) if len(s.events) <= runtime.max_len]
    assert len(sessions) >= 8
    assert len({s[0].visitor_id for s in sessions}) == len(sessions)

    data = encode_sessions(sessions, runtime.vocab)
    pairs = np.array([(i, len(s)) for i, s in enumerate(sessions)], dtype=np.int64)
    trained_on = prefix_batch(data.encoded, pairs, runtime.max_len)

    for events in sessions:
        body = b'{"events":' + _json.encode(events) + b"}"
        response = http.post("/v1/events", content=body, headers=JSON)
        assert response.status_code == 202, response.text
    stored = [
        [_stored.decode(raw) for raw in redis_client.zrange(events_key(s[0].visitor_id), 0, -1)]
        for s in sessions
    ]
    served_on = runtime.encode(stored)

    assert served_on.dtype == trained_on.dtype == np.int64
    assert served_on.shape == trained_on.shape
    np.testing.assert_array_equal(served_on, trained_on)
    served, trained = runtime.predict(served_on), runtime.predict(trained_on)
    np.testing.assert_array_equal(served.top_items, trained.top_items)
