"""Where the time of a request goes: py-spy samples the server worker during a load run."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

SAMPLE_RATE = 200


def server_pid(port: int) -> int | None:
    """The `witryna serve` process listening on ``port``, found by its command line."""
    wanted = ["serve", "--port", str(port)]
    for process in psutil.process_iter(["cmdline"]):
        # Processes that cannot be read (another user's, a zombie) have no command line here.
        cmdline: list[str] = process.info["cmdline"] or []
        if any(cmdline[i : i + 3] == wanted for i in range(len(cmdline))):
            return process.pid
    return None


def worker_pids(server_pid: int) -> list[int]:
    """The server's workers: granian serves from child processes."""
    try:
        children = psutil.Process(server_pid).children()
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "python" in child.name():
                found.append(child.pid)
        except psutil.NoSuchProcess:  # a worker that ended meanwhile
            continue
    return found


def worker_pid(server_pid: int) -> int:
    """The server's first worker, or the server itself when it has none."""
    return next(iter(worker_pids(server_pid)), server_pid)


def record(pid: int, seconds: float, raw: Path) -> threading.Thread:
    """Start py-spy on ``pid`` in the background; join the thread to wait for it."""
    spy = Path(sys.executable).parent / "py-spy"
    command = [str(spy), "record", "--pid", str(pid), "--duration", str(int(seconds)),
               "--rate", str(SAMPLE_RATE), "--format", "raw", "--output", str(raw),
               "--nonblocking"]  # fmt: skip
    thread = threading.Thread(
        target=subprocess.run, args=(command,), kwargs={"capture_output": True}, daemon=True
    )
    thread.start()
    return thread


def _frame(text: str) -> str:
    """`function (path/to/file.py:line)` → `function (file.py)`."""
    name, _, where = text.partition(" (")
    return f"{name} ({Path(where.split(':')[0]).name})" if where else name


def _ours(text: str) -> bool:
    """Frames of Witryna's own request path: the inclusive view shows where a request goes."""
    return "service/" in text and "site-packages" not in text


def summarise(raw: Path, top: int = 15) -> dict[str, Any]:
    """Share of samples per frame: inclusive (anywhere on the stack) and where it was on top."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    # py-spy needs ptrace rights; without them it writes nothing and the report says so.
    text = raw.read_text() if raw.exists() else ""
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        n = int(count)
        total += n
        own[_frame(frames[-1])] += n
        for frame in {_frame(f) for f in frames if _ours(f)}:
            inclusive[frame] += n
    share = {name: n / total for name, n in inclusive.most_common(top)} if total else {}
    leaf = {name: n / total for name, n in own.most_common(top)} if total else {}
    return {"samples": total, "inclusive": share, "self": leaf}


def table(profile: dict[str, Any]) -> list[str]:
    lines = [f"{profile['samples']} samples of the server worker at {SAMPLE_RATE} Hz.", "",
             "| Witryna's code (inclusive) | share | | on top of the stack (self) | share |",
             "|---|---|---|---|---|"]  # fmt: skip
    pairs = zip(profile["inclusive"].items(), profile["self"].items(), strict=False)
    for (name, share), (leaf, own) in pairs:
        lines.append(f"| `{name}` | {share:.0%} | | `{leaf}` | {own:.0%} |")
    return lines
