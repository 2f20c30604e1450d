from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from service.redis_server import RedisServer
from tests.conftest import ROOT

# Run in a process of its own: freezing is for the whole interpreter, pytest's included.
STARTED = """
import asyncio, gc, json, sys
from service.services import Services
from service.settings import Settings

async def main():
    services = Services(Settings.from_env())
    await services.start()
    frozen, seen = gc.get_freeze_count(), len(gc.get_objects())
    await services.stop()
    print(json.dumps({"frozen": frozen, "seen": seen}))

asyncio.run(main())
"""


def test_a_started_worker_keeps_what_it_built_out_of_the_cycle_collectors_sight(
    redis_server: RedisServer, artefact: Path
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "WITRYNA_REDIS_URL": redis_server.url,
        "WITRYNA_MODELS_DIR": str(artefact.parent.parent),
        "WITRYNA_MODEL_NAME": artefact.parent.name,
        "WITRYNA_MODEL_POLL_S": "0",
    }
    done = subprocess.run(
        [sys.executable, "-c", STARTED], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.splitlines()[-1])
    print(counts)
    # A full collection walks only what is left in sight: a pause a hundred times shorter.
    assert counts["frozen"] > 10_000
    assert counts["seen"] < counts["frozen"] / 100
