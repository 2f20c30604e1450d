"""The benchmark's local stack: what it starts, it stops."""

from __future__ import annotations

import signal
import subprocess
import sys

from bench.stack import stop


def test_a_server_that_ignores_sigterm_is_killed_after_its_grace() -> None:
    stubborn = subprocess.Popen(
        [sys.executable, "-c",
         "import signal, sys, time\n"
         "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
         "print('ready', flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert stubborn.stdout is not None
    assert stubborn.stdout.readline() == b"ready\n"
    stop(stubborn, grace_s=0.5)
    assert stubborn.returncode == -signal.SIGKILL
