"""The crash report: an unexpected error's traceback, written where only its owner reads it.

An unexpected error (a bug) is shown as one line naming this file; the
traceback goes into it.  It lives in the console's ``state_dir`` (the XDG
state folder when the config is not known yet), created with mode 0600 and
``O_EXCL | O_NOFOLLOW`` under a name of its own, so another user can neither
read it nor make the console write through a link or over a file they chose.
Only when the state folder cannot be written does it go to the temp folder,
under a random name (``mkstemp``: also exclusive and 0600).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import traceback
from pathlib import Path

from console.config import default_state_dir
from console.durable import OPEN_ATTEMPTS, create_new, os_reason, write_all
from console.model import utcnow

PREFIX = "rollback-console-crash-"


def crash_text(error: BaseException | None) -> str:
    """The traceback of ``error`` (or of the exception being handled)."""
    return "".join(traceback.format_exception(error)) if error else traceback.format_exc()


def write_crash_report(state_dir: Path | None, text: str) -> tuple[Path | None, str]:
    """Write ``text`` to a new crash report; its path, or None and why it could not be.

    Never raises: the crash is being reported already.
    """
    folder = state_dir if state_dir is not None else default_state_dir()
    stamp = f"{utcnow():%Y%m%dT%H%M%SZ}-{os.getpid()}"
    reason = ""
    for attempt in range(OPEN_ATTEMPTS):
        suffix = f"-{secrets.token_hex(3)}" if attempt else ""
        path = folder / f"{PREFIX}{stamp}{suffix}.txt"
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = create_new(path, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            reason = f"{folder}: {os_reason(exc)}"
            break
        if _fill(fd, text):
            return path, ""
        reason = f"{path}: could not be written"
        with contextlib.suppress(OSError):
            os.unlink(path)
        break
    try:
        fd, name = tempfile.mkstemp(prefix=PREFIX, suffix=".txt")
    except OSError as exc:
        return None, reason or os_reason(exc)
    if _fill(fd, text):
        return Path(name), ""
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None, reason or f"{name}: could not be written"


def _fill(fd: int, text: str) -> bool:
    try:
        write_all(fd, text.encode("utf-8", errors="backslashreplace"))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
