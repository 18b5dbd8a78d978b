"""The append-only incident journal: one JSON object per line, fsync'd before anyone acts on it.

Every event of an incident (opened, assessed, a checklist tick, a step of the
rollback, verified, recorded) is appended to
``<state_dir>/journal/<incident id>.jsonl`` before the console shows it or
acts on it, so a crash or a lost SSH session leaves a faithful account of
what happened (a later feature resumes an incident from it).

Lines are written whole: serialised first, then appended with ``O_APPEND``
under an ``flock`` in one write loop and fsync'd before ``append`` returns.
A line torn by a crash mid-write is never acknowledged; ``read`` skips it,
and the next ``append`` starts on a fresh line so it is never glued to it.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path, PurePath
from typing import Any

from console.durable import fsync_dir, open_locked, os_reason, read_own, write_all
from console.errors import ConsoleError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class JournalWriteError(ConsoleError):
    """An event could not be journaled; the journal is as it was before the call.

    The console stops rather than act without its journal (exit 1).
    """

    exit_code = 1
    hint = (
        "the console stopped rather than act without its journal (no history entry was "
        "written): once the journal can be written, `rollback-console resume` finishes any "
        "rollback it left half-way"
    )

    def __init__(self, path: Path, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(" ".join(f"cannot write incident journal {path}: {reason}".split()))

    def __reduce__(self) -> tuple[type[JournalWriteError], tuple[Path, str]]:
        return (type(self), (self.path, self.reason))


def journal_path(state_dir: Path, incident_id: str) -> Path:
    """``<state_dir>/journal/<incident id>.jsonl``; the id cannot climb out of the folder."""
    name = _UNSAFE.sub("_", incident_id).lstrip(".") or "_"
    return state_dir / "journal" / f"{name}.jsonl"


def new_incident_id(service: str, now: datetime) -> str:
    """``web-20261125T021405Z-3f9a``: service, UTC time of detection, 4 random hex digits.

    A naive ``now`` is taken as UTC (the model's clock is UTC).
    """
    slug = re.sub(r"[^a-z0-9]+", "-", service.lower()).strip("-") or "incident"
    when = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return f"{slug}-{when:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One journal line (without the newline): compact JSON, sorted keys, UTF-8.

    Datetimes become ISO 8601 strings, enums their value, dataclasses objects,
    paths strings, durations seconds.  Anything else raises ``TypeError``.  A
    lone surrogate (an argv byte that was not UTF-8, say in ``--reason``) is
    written as its JSON escape, so it reads back as the same string.
    """
    return json.dumps(
        dict(event), sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_default
    ).encode("utf-8", errors="backslashreplace")


def _redacted(value: Any, redact: Callable[[str], str]) -> Any:
    """A decoded event with every string value (not the keys: ours) passed through ``redact``."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item, redact) for item in value]
    return value


def _default(obj: object) -> Any:
    if isinstance(obj, datetime | date | time):
        return obj.isoformat()
    if isinstance(obj, timedelta):
        return obj.total_seconds()
    if isinstance(obj, enum.Enum):
        return obj.value
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=str)
    if isinstance(obj, Mapping):  # a read-only view (a step's params)
        return dict(obj)
    raise TypeError(f"cannot journal a {type(obj).__name__}: {obj!r}")


class Journal:
    """Appends events to one incident's journal file; safe across threads and processes.

    ``redact``, when given, is applied to every string of every event as it is
    written (the journal is an output channel like any other: a verification
    quoting a health URL must not put its password on disk).
    """

    def __init__(self, path: Path, redact: Callable[[str], str] | None = None):
        self.path = path
        self.redact = redact
        self._lock = threading.Lock()

    def append(self, event: Mapping[str, Any]) -> None:
        """Write ``event`` as one line and fsync it; raise ``JournalWriteError`` if that fails.

        On failure nothing of the line is left behind (the file is cut back).
        """
        self.write_lines([self.encode(event)])

    def encode(self, event: Mapping[str, Any]) -> bytes:
        """``event`` as this journal writes it: one line, every string redacted."""
        line = encode_event(event)
        if self.redact is not None:
            line = encode_event(_redacted(json.loads(line), self.redact))
        return line

    def write_lines(self, lines: Sequence[bytes]) -> None:
        """Append already encoded events (``encode``) in one write and one fsync.

        All of them or, on failure, none: the file is cut back to where it was.
        The file is the console's own: a symbolic link at its path is refused,
        never followed.
        """
        data = b"".join(line + b"\n" for line in lines)
        if not data:
            return
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, created = open_locked(self.path, 0o600)
            except OSError as exc:
                raise JournalWriteError(self.path, os_reason(exc)) from exc
            try:
                self._append_locked(fd, data)
            finally:
                os.close(fd)
            if created:
                fsync_dir(self.path.parent)

    def _append_locked(self, fd: int, line: bytes) -> None:
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # isolate a line torn by an earlier crash
        except OSError as exc:
            raise JournalWriteError(self.path, os_reason(exc)) from exc
        try:
            write_all(fd, line)
            os.fsync(fd)
        except BaseException as exc:
            try:
                os.ftruncate(fd, size)
                os.fsync(fd)
            except OSError:
                pass
            if isinstance(exc, OSError):
                raise JournalWriteError(self.path, os_reason(exc)) from exc
            raise

    def read(self) -> list[dict[str, Any]]:
        """The events written so far (see the module-level ``read``)."""
        return read(self.path)


def read(path: Path) -> list[dict[str, Any]]:
    """Every complete event in the journal at ``path``, in order.

    The final line is used only if it ends with a newline (otherwise a crash
    tore it mid-write); any other line that is not a JSON object is such a torn
    fragment too and is skipped.  A missing file raises ``FileNotFoundError``; a
    symbolic link, a FIFO or a device where the journal should be raises
    ``OSError`` (it is not followed or waited on).
    """
    return [event for _line, event in read_numbered(path) if event is not None]


def read_numbered(path: Path) -> list[tuple[int, dict[str, Any] | None]]:
    """``read`` with each event's line number (1-based), for messages naming ``file:line``.

    A line that is JSON but not an object (``5``, ``[]``: not something the
    console wrote) comes back as ``(line, None)`` so the reader can say it
    skipped it; torn fragments (not JSON at all) and blank lines are left out.
    """
    data = read_own(path)
    events: list[tuple[int, dict[str, Any] | None]] = []
    for number, raw in enumerate(data.split(b"\n")[:-1], 1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw.decode("utf-8"))
        except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
            continue
        events.append((number, value if isinstance(value, dict) else None))
    return events
