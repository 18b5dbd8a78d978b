"""Appending one entry to the history file: atomic, locked, never twice for one incident.

Two consoles on one bastion never interleave or lose an entry, a full disk
leaves the file byte-for-byte as it was, and an incident that already has its
entry (a live console and a resume both recording it) gets no second one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path

from console.durable import fsync_dir, open_locked, os_reason, write_all
from console.errors import ConsoleError
from console.history.format import TITLE, holds_entry
from console.history.render import render_entry
from console.model import HistoryRecord
from console.textsafe import one_line


class HistoryWriteError(ConsoleError):
    """The entry could not be appended; the history file is as it was before.

    ``str(err)`` is one line naming the file and the reason (exit 1).
    """

    exit_code = 1

    def __init__(self, path: Path, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(one_line(f"cannot append to history file {path}: {reason}"))

    def __reduce__(self) -> tuple[type[HistoryWriteError], tuple[Path, str]]:
        return (type(self), (self.path, self.reason))


def append_entry(
    path: Path,
    record: HistoryRecord,
    redact: Callable[[str], str] | None = None,
    *,
    tz: tzinfo | None = None,
) -> bool:
    """Append one entry to ``path`` atomically; raise ``HistoryWriteError`` if it cannot.

    Returns False, writing nothing, when the file already holds an entry of the
    record's incident: one incident never gets two entries, even when two
    consoles (a live one and a resume) both try to record it.

    The file itself carries the lock (``flock``): opening with ``O_CREAT`` is
    atomic, so two consoles racing to create it open the same inode and queue
    on the same lock.  Because an editor may have replaced the file (rename) or
    a failed first append may have removed it while we waited, the lock only
    counts once the path still names the inode we locked; otherwise we reopen.
    (A sibling ``.lock`` file would work too, but would litter the docs folder
    the history lives in, which is usually a git checkout.)

    Under the lock: a new (empty) file gets the title first; the entry is
    separated from what is there by a blank line; everything goes out in one
    write loop and is fsync'd.  On any error the file is truncated back to its
    previous size (a file we created is removed again), so nothing earlier is
    ever rewritten and a failed append leaves no trace.
    """
    payload = render_entry(record, redact, tz=tz).encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, created = _open_locked(path)
    except OSError as exc:
        raise HistoryWriteError(path, os_reason(exc)) from exc
    try:
        try:
            size = os.fstat(fd).st_size
            if size and holds_entry(_read_all(fd, size), _redacted_id(record, redact)):
                return False
            data = _with_separator(fd, size, payload)
        except OSError as exc:
            raise HistoryWriteError(path, os_reason(exc)) from exc
        try:
            write_all(fd, data)
            os.fsync(fd)
        except BaseException as exc:
            _restore(fd, size)
            if created and size == 0:
                _remove_if_same(path, fd)
            if isinstance(exc, OSError):
                raise HistoryWriteError(path, os_reason(exc)) from exc
            raise
        if created:
            fsync_dir(path.parent)
        return True
    finally:
        os.close(fd)  # releases the lock


def _redacted_id(record: HistoryRecord, redact: Callable[[str], str] | None) -> str:
    return redact(record.incident_id) if redact is not None else record.incident_id


def _read_all(fd: int, size: int) -> str:
    chunks = []
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(1 << 20, size - offset), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


def _open_locked(path: Path) -> tuple[int, bool]:
    """An fd on the file at ``path`` holding its exclusive lock, and whether we created it.

    The history file may be a symbolic link to an existing file (a team's
    shared checkout); a dangling one is an error, never a file created
    through it (see ``console.durable.open_locked``).
    """
    return open_locked(path, 0o644, follow_link=True)


def _with_separator(fd: int, size: int, payload: bytes) -> bytes:
    if size == 0:
        return TITLE.encode() + payload
    tail = os.pread(fd, 2, max(0, size - 2))
    if tail.endswith(b"\n\n") or tail == b"\n":
        return payload
    if tail.endswith(b"\n"):
        return b"\n" + payload
    return b"\n\n" + payload  # a hand edit or a torn write left no final newline


def _restore(fd: int, size: int) -> None:
    """Cut the file back to ``size``; best effort (a device like /dev/full cannot be cut)."""
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError:
        pass


def _remove_if_same(path: Path, fd: int) -> None:
    try:
        mine, there = os.fstat(fd), os.stat(path)
        if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino):
            os.unlink(path)
            fsync_dir(path.parent)
    except OSError:
        pass


def has_entry(path: Path, incident_id: str) -> bool:
    """Whether the history file at ``path`` holds an entry of ``incident_id`` (no file: no).

    How a resumed incident avoids writing its entry twice when the console
    stopped between appending it and journaling that it did.
    """
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise HistoryWriteError(path, os_reason(exc)) from exc
    return holds_entry(text, incident_id)
