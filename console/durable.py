"""Low-level pieces of durable appends, shared by the history file and the incident journal.

Both write whole records with ``O_APPEND`` under an ``flock``, fsync the file,
and fsync the folder once so a new file survives a crash; both report an
``OSError`` as one short reason.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data``; a write that makes no progress is an I/O error."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "short write")
        view = view[written:]


def fsync_dir(folder: Path) -> None:
    """Make a new directory entry in ``folder`` durable; best effort (some filesystems refuse)."""
    try:
        dfd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def os_reason(exc: OSError) -> str:
    """The short human reason of an ``OSError`` ("No space left on device")."""
    return exc.strerror or str(exc) or type(exc).__name__
