from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from service.storage.server import RedisServer
from tests._support.stack import ROOT
from tests.service.model.test_publish import copy_version

# Run in a process of its own: freezing is for the whole interpreter, pytest's included.
STARTED = """
import asyncio, gc, json, sys, weakref
from pathlib import Path
from service.model.validation import publish
from service.services import Services
from service.settings import Settings

async def main():
    services = Services(Settings.from_env())
    await services.start()
    frozen, seen = gc.get_freeze_count(), len(gc.get_objects())
    # The model loaded at start is frozen with the rest: once swapped out it must still go.
    first = weakref.ref(services.runtime)
    publish(Path(sys.argv[1]), "demo", sys.argv[2])
    for _ in range(200):
        if services.runtime.version.endswith(sys.argv[2]):
            break
        await asyncio.sleep(0.05)
    swapped = services.runtime.version
    gc.collect()
    await services.stop()
    kept = first() is not None
    print(json.dumps({"frozen": frozen, "seen": seen, "swapped": swapped, "kept": kept}))

asyncio.run(main())
"""


def test_a_started_worker_keeps_what_it_built_out_of_the_cycle_collectors_sight(
    redis_server: RedisServer, artefact: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    copy_version(artefact, models / "demo", "20000101T000000Z")
    (models / "demo" / "CURRENT").write_text("20000101T000000Z\n")
    copy_version(artefact, models / "demo", "20000102T000000Z")
    env = {
        "PATH": "/usr/bin:/bin",
        "WITRYNA_REDIS_URL": redis_server.url,
        "WITRYNA_MODELS_DIR": str(models),
        "WITRYNA_MODEL_POLL_S": "0.05",
    }
    done = subprocess.run(
        [sys.executable, "-c", STARTED, str(models), "20000102T000000Z"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.splitlines()[-1])
    print(counts)
    # A full collection walks only what is left in sight: a pause a hundred times shorter.
    assert counts["frozen"] > 10_000
    assert counts["seen"] < counts["frozen"] / 100
    assert counts["swapped"].endswith("20000102T000000Z")
    assert not counts["kept"], "the model swapped out is freed, frozen or not"
