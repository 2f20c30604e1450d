"""Events Redis did not take, on disk until it does: a 202 means kept.

Each worker appends to a segment of its own, locked for as long as the worker lives. A
segment nobody holds is a stopped or crashed worker's: the next worker to look adopts it
and replays it first, in order. Beside each segment, a mark says how far it has reached
Redis; replaying from there once more after a crash is harmless, as an event already in a
history is not added or counted again.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import struct
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec

from service.errors import BufferFull
from service.schema import StoredEvent

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("<I")
# After the length, one byte: whether the sender may convert experiment arms (a secret key).
_CONVERTS, _PLAIN = b"c", b"-"
_MARK = struct.Struct("<Q")
_encode = msgspec.msgpack.Encoder().encode
# A journalled event and whether it converts experiment arms.
Kept = tuple[StoredEvent, bool]
_decode = msgspec.msgpack.Decoder(StoredEvent).decode


class Segment:
    """One append-only file of framed events and the offset up to which Redis has them."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd
        self.mark_path = path.with_suffix(".mark")
        self.size = os.fstat(fd).st_size
        self.done = _read_mark(self.mark_path)
        self.waiting = sum(1 for _ in _frames(fd, self.done, self.size))
        self.dirty = False

    def append(self, frames: bytes, count: int) -> None:
        os.pwrite(self.fd, frames, self.size)
        self.size += len(frames)
        self.waiting += count
        self.dirty = True

    def read(self, limit: int) -> tuple[list[Kept], int]:
        """Up to ``limit`` events after the mark, and the offset just past them."""
        events: list[Kept] = []
        end = self.done
        for raw, after in _frames(self.fd, self.done, self.size):
            events.append((_decode(raw[1:]), raw[:1] == _CONVERTS))
            end = after
            if len(events) == limit:
                break
        return events, end

    def reached(self, offset: int, count: int) -> None:
        """Redis has everything up to ``offset``: an emptied segment starts over."""
        self.waiting -= count
        if offset >= self.size:
            os.ftruncate(self.fd, 0)
            self.size = self.done = 0
            self.mark_path.unlink(missing_ok=True)
        else:
            self.done = offset
            self.mark_path.write_bytes(_MARK.pack(offset))

    def sync(self) -> None:
        if self.dirty:
            self.dirty = False
            os.fsync(self.fd)

    def release(self, remove: bool) -> None:
        if remove:
            self.path.unlink(missing_ok=True)
            self.mark_path.unlink(missing_ok=True)
        os.close(self.fd)


class Journal:
    """This worker's segment and the ones it adopted, oldest first."""

    def __init__(self, directory: Path, max_bytes: int, fsync_always: bool) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.fsync_always = fsync_always
        self.own: Segment | None = None
        self.adopted: list[Segment] = []

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{uuid.uuid4().hex}.journal"
        self.own = Segment(path, _locked(path, create=True))
        self.adopt()

    def adopt(self) -> int:
        """Take over the segments of workers that are gone; returns the events they hold."""
        held = {s.path for s in self.segments}
        found = 0
        for path in sorted(self.directory.glob("*.journal"), key=_mtime):
            if path in held:
                continue
            fd = _locked(path, create=False)
            if fd < 0:
                continue
            segment = Segment(path, fd)
            if segment.waiting == 0:
                segment.release(remove=True)
                continue
            self.adopted.append(segment)
            found += segment.waiting
        if found:
            log.warning("adopted %d events from a stopped worker's journal", found)
        return found

    @property
    def segments(self) -> list[Segment]:
        return [*self.adopted, *([self.own] if self.own is not None else [])]

    @property
    def waiting(self) -> int:
        return sum(s.waiting for s in self.segments)

    def append(self, events: Sequence[StoredEvent], converts: bool = False) -> None:
        """Keep ``events`` for Redis; BufferFull when this worker's segment has no room.
        ``converts``: their purchases convert experiment arms once written."""
        own = self.own
        assert own is not None, "journal not opened"
        flag = _CONVERTS if converts else _PLAIN
        frames = b"".join(_LENGTH.pack(len(b) + 1) + flag + b for b in map(_encode, events))
        if own.size + len(frames) > self.max_bytes:
            raise BufferFull(
                f"redis is unreachable and this worker's journal of {self.max_bytes} bytes is full"
            )
        own.append(frames, len(events))
        if self.fsync_always:
            own.sync()

    def next_batch(self, limit: int) -> tuple[Segment, list[Kept], int] | None:
        """The oldest waiting events, where they come from and where they end."""
        for segment in self.segments:
            if segment.waiting:
                events, end = segment.read(limit)
                return segment, events, end
        return None

    def reached(self, segment: Segment, end: int, count: int) -> None:
        segment.reached(end, count)
        if segment is not self.own and segment.waiting == 0:
            self.adopted.remove(segment)
            segment.release(remove=True)

    async def sync_forever(self, interval_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await asyncio.to_thread(self.sync)

    def sync(self) -> None:
        for segment in self.segments:
            segment.sync()

    def close(self) -> int:
        """Flushed to disk and let go; returns the events that wait for the next start."""
        waiting = self.waiting
        for segment in self.segments:
            segment.sync()
            segment.release(remove=segment.waiting == 0)
        self.own, self.adopted = None, []
        return waiting


def _locked(path: Path, create: bool) -> int:
    """A descriptor holding ``path``'s lock, or -1 when a live worker holds it."""
    fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return -1
    return fd


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _read_mark(path: Path) -> int:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return 0
    return _MARK.unpack(raw)[0] if len(raw) == _MARK.size else 0


def _frames(fd: int, start: int, end: int) -> Iterator[tuple[bytes, int]]:
    """Each whole frame between ``start`` and ``end`` with the offset after it; a frame cut
    short by a crash ends the segment."""
    offset = start
    while offset + _LENGTH.size <= end:
        (length,) = _LENGTH.unpack(os.pread(fd, _LENGTH.size, offset))
        body_end = offset + _LENGTH.size + length
        if body_end > end:
            return
        yield os.pread(fd, length, offset + _LENGTH.size), body_end
        offset = body_end
