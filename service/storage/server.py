"""A private ``redis-server`` child: the embedded default of `witryna serve`."""

from __future__ import annotations

import ctypes
import fcntl
import logging
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, Self

import redis

from service.errors import ConfigError

log = logging.getLogger(__name__)


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range.

    A port the kernel hands out (bind to 0) may be taken as the local end of any outgoing
    connection between this check and the server's own bind, or while a test has its server
    stopped; below that range only another listener can take it.
    """
    floor = _ephemeral_floor()
    pick = random.SystemRandom()
    for _ in range(200):
        port = pick.randrange(10000, floor) if floor > 11000 else 0
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            found: int = sock.getsockname()[1]
            return found
    raise OSError("no free loopback port")


def which(executable: str) -> str:
    found = shutil.which(executable)
    if found is None:
        raise FileNotFoundError(f"{executable} not on PATH; `make redis` installs it")
    return found


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: the child gets SIGTERM if its parent dies, even by SIGKILL.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class Started(ABC):
    """Started on entering a ``with`` block, closed on leaving it."""

    @abstractmethod
    def start(self) -> str: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class RedisServer(Started):
    """A loopback redis-server that can be stopped and restarted. Without ``data_dir`` it keeps
    nothing (tests' throwaway servers); with it, its append-only file lives there, so that a
    restart, or a kill, finds every key again."""

    def __init__(
        self,
        port: int | None = None,
        executable: str = "redis-server",
        options: Sequence[str] = (),
        data_dir: Path | None = None,
        appendfsync: Literal["everysec", "always", "no"] = "everysec",
    ) -> None:
        self.executable = which(executable)
        self.port = port or free_port()
        self.options = list(options)
        self.persistent = data_dir is not None
        self._dir = data_dir or Path(tempfile.mkdtemp(prefix="witryna-redis-"))
        self.appendfsync = appendfsync
        self._lock: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def _persistence(self) -> list[str]:
        if not self.persistent:
            return ["--save", "", "--appendonly", "no"]
        # The append-only file alone: snapshots would add a fork and a second copy on disk.
        return ["--save", "", "--appendonly", "yes", "--appendfsync", self.appendfsync]

    def _hold_dir(self) -> None:
        """Two servers writing one append-only file would corrupt it: the second refuses."""
        if self._lock is not None:
            return
        self._dir.mkdir(parents=True, exist_ok=True)
        lock = (self._dir / "lock").open("wb")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise ConfigError(
                f"WITRYNA_DATA_DIR: another witryna serve keeps its Redis in {self._dir}"
            ) from None
        self._lock = lock

    @property
    def pid(self) -> int:
        assert self._process is not None, "redis-server not started"
        return self._process.pid

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> str:
        if self.persistent:
            self._hold_dir()
        command = [
            self.executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            *self._persistence(),
            "--dir", str(self._dir),
            "--logfile", str(self._dir / "redis.log"),
            *self.options,
        ]  # fmt: skip
        self._process = subprocess.Popen(command, preexec_fn=_die_with_parent)
        self._wait_ready(timeout_s)
        log.info(
            "private redis-server on %s (pid %d), its files in %s",
            self.url,
            self._process.pid,
            self._dir,
        )
        return self.url

    def _wait_ready(self, timeout_s: float) -> None:
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if self._process is not None and self._process.poll() is not None:
                        raise RuntimeError(f"redis-server exited; see {self._dir}") from None
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"redis-server not ready on {self.url}") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def kill(self) -> None:
        """SIGKILL, as a crash: Redis keeps only what it had written to its files."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def close(self) -> None:
        self.stop()
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if not self.persistent:
            shutil.rmtree(self._dir, ignore_errors=True)
