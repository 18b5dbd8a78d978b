"""The local rollback lock: two consoles on one bastion never roll back one service at once.

An exclusive, non-blocking ``flock`` on ``<state_dir>/locks/<service>@<environment>.lock``
(see ``lock_path``).  The kernel drops the lock when the holder dies
(SIGKILL, lost SSH session), so a crashed console never leaves a stale lock
behind.  The file's content says who holds it: operator, host, pid (with the
process's start time, so a recycled pid is not mistaken for the holder) and
the incident it is for.

The lock is held from the first change of a rollback until its history entry
is written (or the operator leaves it), through the rollout *and* the
verification: a second console that looks meanwhile finds the incident
*live* (``holder``), not interrupted, and refuses with exit 3.

The file is the console's own: a symbolic link at its path is refused, never
followed, and the file is rewritten only once the lock is held and it proved
to be a plain file with no other name (so nobody's file is ever truncated
through it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from console.config import ServiceConfig
from console.durable import open_own, os_reason, regular_file_problem
from console.model import utcnow
from providers.base import LockHeld, ProviderError


@dataclass(frozen=True)
class LockInfo:
    """Who holds a service's lock, as its file says; only returned for a live holder."""

    operator: str
    host: str
    pid: int
    since: str
    incident: str = ""

    def describe(self) -> str:
        """``alice on bastion-1 (pid 4242) since 2026-12-06T02:01:07+00:00``."""
        return f"{self.operator} on {self.host} (pid {self.pid}) since {self.since}"


def lock_path(state_dir: Path, service: str, environment: str) -> Path:
    """``<state_dir>/locks/web@production.lock``: one file per service and environment.

    Distinct pairs never share a file: a service name cannot hold ``@`` (the
    config allows letters, digits, ``-``, ``_`` and ``.``), so the first ``@``
    ends it, and the environment is percent-encoded (everything but letters,
    digits, ``-``, ``_`` and ``.``), so ``web`` + ``prod-x`` and ``web-prod`` + ``x``
    are ``web@prod-x.lock`` and ``web-prod@x.lock``.
    """
    return state_dir / "locks" / f"{service}@{quote(environment, safe='-_.')}.lock"


class ServiceLock:
    """Context manager; raises ``LockHeld`` (exit 3) naming the holder when taken."""

    def __init__(
        self, state_dir: Path, service: ServiceConfig, operator: str, incident: str = ""
    ) -> None:
        self.path = lock_path(state_dir, service.name, service.environment)
        self.service = service
        self.operator = operator
        self.incident = incident
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = open_own(self.path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK, 0o644)
        except OSError as exc:
            raise ProviderError(
                f"cannot take the rollback lock {self.path}: {os_reason(exc)}"
            ) from None
        try:
            problem = regular_file_problem(fd)
            if problem:
                raise ProviderError(
                    f"cannot take the rollback lock {self.path}: {problem}; "
                    "the console left it untouched: remove it if it is not yours"
                )
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(_read_info(fd))
            os.close(fd)
            raise LockHeld(
                f"{self.service.label} is being rolled back by {holder} "
                f"(lock {self.path}); wait for them or coordinate"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        info = {
            "operator": self.operator,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "pid_start": process_start(os.getpid()),
            "since": utcnow().isoformat(timespec="seconds"),
            "incident": self.incident,
        }
        data = json.dumps(info).encode()
        try:
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))  # what an earlier holder wrote past it
        except OSError:
            pass  # a full disk: the lock holds without saying whose it is
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ServiceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def holder(state_dir: Path, service: str, environment: str) -> LockInfo | None:
    """The live holder of ``service``'s lock, or None when nobody holds it.

    Read from the lock file without touching the lock itself (a probe that
    took it for a moment could make a real rollback starting at that instant
    fail).  A holder is live when it is on this host and its process still
    runs with the start time it wrote; what a killed console left in the file
    is ignored, as the kernel already dropped its lock.
    """
    try:
        fd = os.open(
            lock_path(state_dir, service, environment),
            os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0),
        )
    except OSError:
        return None
    try:
        raw = _read_info(fd)
    finally:
        os.close(fd)
    if not raw:
        return None
    pid = raw.get("pid")
    if not isinstance(pid, int):
        return None
    if raw.get("host") != socket.gethostname() or pid <= 0:
        return None
    start = process_start(pid)
    if start is None or start != raw.get("pid_start"):
        return None
    return LockInfo(
        operator=str(raw.get("operator", "?")),
        host=str(raw.get("host", "?")),
        pid=pid,
        since=str(raw.get("since", "?")),
        incident=str(raw.get("incident", "")),
    )


def process_start(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (``/proc/PID/stat`` field 22)."""
    try:
        # A recycled pid may be any process: its name need not be UTF-8.
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat.rpartition(")")[2].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _read_info(fd: int) -> dict[str, object]:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _describe(info: dict[str, object]) -> str:
    if not info:
        return "another console"
    who = f"{info.get('operator', '?')} on {info.get('host', '?')}"
    incident = f", incident {info['incident']}" if info.get("incident") else ""
    return f"{who} (pid {info.get('pid', '?')}{incident}) since {info.get('since', '?')}"
