"""The local rollback lock: two consoles on one bastion never roll back one service at once.

An exclusive, non-blocking ``flock`` on ``<state_dir>/locks/<service>.lock``.
The kernel drops the lock when the holder dies (SIGKILL, lost SSH session),
so a crashed console never leaves a stale lock behind; the file's content
only says who holds it, for the refusal message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from pathlib import Path
from types import TracebackType

from console.config import ServiceConfig
from console.model import utcnow
from providers.base import LockHeld, ProviderError


class ServiceLock:
    """Context manager; raises ``LockHeld`` (exit 3) naming the holder when taken."""

    def __init__(self, state_dir: Path, service: ServiceConfig, operator: str):
        self.path = state_dir / "locks" / f"{service.name}-{service.environment}.lock"
        self.service = service
        self.operator = operator
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ProviderError(
                f"cannot take the rollback lock {self.path}: {exc.strerror or exc}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockHeld(
                f"{self.service.label} is being rolled back by {holder} "
                f"(lock {self.path}); wait for them or coordinate"
            ) from None
        info = {
            "operator": self.operator,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": utcnow().isoformat(timespec="seconds"),
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
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
