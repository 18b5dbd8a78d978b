"""A host service's recent log lines: the end of its ``log_file``, or its systemd journal.

Enter on a unit of the dashboard shows them.  Every process of a host
service writes the same log (a pid file's daemon, a master and its
workers), so the unit chosen does not change what is read:

* ``[services.host] log_file``: its last lines, read from the end of the file
  backwards in blocks (a log of gigabytes is never loaded whole; at most
  ``MAX_TAIL_BYTES`` are read, and a line longer than ``MAX_LINE_CHARS`` is cut);
* else, with a systemd unit (``systemd_unit``, or the one the restart command
  names): ``journalctl -u UNIT -n 50 --no-pager``, time-limited.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

from console.config import HostConfig
from console.errors import NotFound, ProviderError, Unavailable
from console.process import last_line, run_collect

#: The most of a log file's end that is read for its last lines.
MAX_TAIL_BYTES = 4 * 1024 * 1024
#: Read backwards in blocks of this size.
BLOCK_BYTES = 64 * 1024
#: A longer line is cut, with "…".
MAX_LINE_CHARS = 4000
#: How long ``journalctl`` may take.
JOURNALCTL_TIMEOUT_S = 10.0


def log_source(host: HostConfig) -> str:
    """Where the logs come from, in words ("" when nothing is configured)."""
    if host.log_file is not None:
        return str(host.log_file)
    if host.systemd_unit:
        return f"journalctl -u {host.systemd_unit}"
    return ""


def read_logs(host: HostConfig, label: str, lines: int) -> tuple[str, ...]:
    """The service's last ``lines`` log lines; ``NotFound`` / ``Unavailable`` saying why not."""
    if host.log_file is not None:
        return tail_lines(host.log_file, lines)
    if host.systemd_unit:
        return journal_lines(host.systemd_unit, lines)
    raise NotFound(
        f"{label} has no log source: set log_file (or systemd_unit) in its [services.host]"
    )


def tail_lines(path: Path, count: int) -> tuple[str, ...]:
    """The last ``count`` lines of the file at ``path`` (a final line without newline counts)."""
    try:
        # Not blocking: a FIFO in its place must not hang the worker until a writer comes.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise NotFound(f"log file {path} does not exist (yet)") from None
    except OSError as exc:
        raise Unavailable(f"log file {path} cannot be read: {_reason(exc)}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Unavailable(f"log file {path} is not a regular file")
        data, partial = _read_end(fd, count)
    except OSError as exc:
        raise Unavailable(f"log file {path} cannot be read: {_reason(exc)}") from None
    finally:
        os.close(fd)
    found = data.decode("utf-8", errors="replace").split("\n")
    if found and found[-1] == "":
        found.pop()  # the newline ending the last line
    if partial and found:
        if len(found) > count:
            found.pop(0)  # the line cut at the start is not needed
        else:
            found[0] = "…" + found[0]  # the end of a line too long to read whole
    return tuple(_cut(line.rstrip("\r")) for line in found[-count:])


def _read_end(fd: int, count: int) -> tuple[bytes, bool]:
    """The end of the file holding its last ``count`` lines (or ``MAX_TAIL_BYTES`` of it), and
    whether it starts inside a line (the read stopped before the line's beginning)."""
    end = os.lseek(fd, 0, os.SEEK_END)
    position, data = end, b""
    while position > 0 and end - position < MAX_TAIL_BYTES:
        size = min(BLOCK_BYTES, position, MAX_TAIL_BYTES - (end - position))
        position -= size
        data = os.pread(fd, size, position) + data
        # count lines, plus the newline ending the last line, plus the one before the first
        if data.count(b"\n") > count + 1:
            break
    return data, position > 0 and os.pread(fd, 1, position - 1) != b"\n"


def journal_lines(unit: str, count: int) -> tuple[str, ...]:
    """``journalctl -u UNIT -n COUNT --no-pager``'s lines; ``Unavailable`` when it cannot run."""
    if shutil.which("journalctl") is None:
        raise Unavailable(
            f"journalctl is not installed on this machine: set log_file to read {unit}'s logs"
        )
    argv = ["journalctl", "-u", unit, "-n", str(count), "--no-pager"]
    try:
        code, lines = run_collect(argv, shown=" ".join(argv), timeout_s=JOURNALCTL_TIMEOUT_S)
    except ProviderError as exc:
        raise Unavailable(str(exc)) from None
    if code != 0:
        raise Unavailable(f"`{' '.join(argv)}` exited {code}: {last_line(lines) or 'no output'}")
    return tuple(_cut(line) for line in lines)


def _cut(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…"


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EACCES:
        return "permission denied (run the console as a user who can read it)"
    return exc.strerror or str(exc)
