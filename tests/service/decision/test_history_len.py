"""A model that reads more events than the service keeps says so at start."""

from __future__ import annotations

from pathlib import Path

from service.storage.server import RedisServer
from tests._support.stack import Service

WARNING = "the model reads 50 events but WITRYNA_HISTORY_LEN keeps 10"


def test_a_history_shorter_than_the_model_reads_is_named_at_start(tmp_path: Path) -> None:
    short, enough = tmp_path / "short.log", tmp_path / "enough.log"
    with RedisServer() as server:
        with Service(server.url, log=short, WITRYNA_HISTORY_LEN="10"):
            pass
        with Service(server.url, log=enough, WITRYNA_HISTORY_LEN="50"):
            pass
    assert WARNING in short.read_text()
    assert "WITRYNA_HISTORY_LEN=50" in short.read_text()
    assert "WITRYNA_HISTORY_LEN" not in enough.read_text()
