"""The local rollback lock: two consoles on one bastion never roll back one service at once.

An exclusive, non-blocking ``flock`` on ``<state_dir>/locks/<service>@<environment>.lock``
(see ``lock_path``).  The kernel drops the lock when the holder dies
(SIGKILL, lost SSH session), so a crashed console never leaves a stale lock
behind; the file's content only says who holds it, for the refusal message.

The file is the console's own: a symbolic link at its path is refused, never
followed, and the file is rewritten only once the lock is held and it proved
to be a plain file with no other name (so nobody's file is
ever truncated through it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from console.config import ServiceConfig
from console.durable import open_own, os_reason, regular_file_problem
from console.model import utcnow
from providers.base import LockHeld, ProviderError


def lock_path(state_dir: Path, service: ServiceConfig) -> Path:
    """``<state_dir>/locks/web@production.lock``: one file per service and environment.

    Distinct pairs never share a file: a service name cannot hold ``@`` (the
    config allows letters, digits, ``-``, ``_`` and ``.``), so the first ``@``
    ends it, and the environment is percent-encoded (everything but letters,
    digits, ``-``, ``_`` and ``.``), so ``web`` + ``prod-x`` and ``web-prod`` + ``x``
    are ``web@prod-x.lock`` and ``web-prod@x.lock``.
    """
    return state_dir / "locks" / f"{service.name}@{quote(service.environment, safe='-_.')}.lock"


class ServiceLock:
    """Context manager; raises ``LockHeld`` (exit 3) naming the holder when taken."""

    def __init__(self, state_dir: Path, service: ServiceConfig, operator: str):
        self.path = lock_path(state_dir, service)
        self.service = service
        self.operator = operator
        self._fd: int | None = None

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
            holder = _read_holder(fd)
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
            "since": utcnow().isoformat(timespec="seconds"),
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


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return "another console"
    if not info:
        return "another console"
    who = f"{info.get('operator', '?')} on {info.get('host', '?')}"
    return f"{who} (pid {info.get('pid', '?')}) since {info.get('since', '?')}"
