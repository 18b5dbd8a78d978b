"""A host service's processes, read from /proc: its units, and the release each runs.

Units are found through ``pid_file`` and/or the ``process_match`` regular
expression over ``/proc/*/cmdline``.  A process's release is the release
folder its working directory lies in (``/proc/PID/cwd``), which is how a
restart is proved to have picked up the rolled-back release; the strategy
says which folder that is (``release_of``; with git every release shares one
folder, so a unit's revision is left empty).  Nothing here raises for a
process that is missing or gone: it becomes a note on the snapshot.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from console.config import HostConfig
from console.model import Unit
from console.process import all_pids

_PROCESS_STATES = {
    "R": "running",
    "S": "sleeping",
    "D": "disk-sleep",
    "Z": "zombie",
    "T": "stopped",
    "t": "tracing-stop",
    "X": "dead",
    "x": "dead",
    "I": "idle",
    "P": "parked",
    "W": "paging",
    "K": "wakekill",
}
_NOT_ALIVE = frozenset("ZXx")

#: Given a process's working directory, the release it runs ("" when not known).
ReleaseOf = Callable[[Path | None], str]


@dataclass(frozen=True)
class ProcessInfo:
    """What ``/proc`` says about one process, read once."""

    pid: int
    state: str
    started: datetime | None
    cwd: Path | None
    cmdline: str
    argv: tuple[str, ...] = ()

    @property
    def alive(self) -> bool:
        """Running in any sense; a zombie has exited and only waits to be reaped."""
        return self.state not in _NOT_ALIVE


@lru_cache(maxsize=1)
def _boot_time() -> float:
    """``btime`` of /proc/stat: process start times are counted from it."""
    with open("/proc/stat", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


def read_process(pid: int) -> ProcessInfo | None:
    """The process ``pid`` as /proc shows it, or None when there is no such process."""
    base = Path("/proc", str(pid))
    try:
        stat = (base / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    if not fields:
        return None
    started: datetime | None = None
    try:
        ticks = int(fields[19])
        started = datetime.fromtimestamp(_boot_time() + ticks / os.sysconf("SC_CLK_TCK"), UTC)
    except (IndexError, ValueError, OSError):
        pass
    cwd: Path | None = None
    try:
        raw_cwd = os.readlink(base / "cwd")
        cwd = Path(raw_cwd.removesuffix(" (deleted)"))
    except OSError:
        pass
    try:
        raw = (base / "cmdline").read_bytes()
    except OSError:
        raw = b""
    argv = tuple(arg.decode("utf-8", errors="replace") for arg in raw.split(b"\0") if arg)
    return ProcessInfo(
        pid=pid, state=fields[0], started=started, cwd=cwd, cmdline=" ".join(argv), argv=argv
    )


def short_command(argv: tuple[str, ...], limit: int = 120) -> str:
    """A command line that fits a table cell: long paths keep only their last two parts.

    ``/srv/app/releases/v1.3.0/app.py`` becomes ``…/v1.3.0/app.py``: the release
    and the program are what an operator scans for.
    """
    parts = []
    for arg in argv:
        pieces = arg.split("/")
        if arg.startswith("/") and len(pieces) > 3 and len(arg) > 24:
            arg = "…/" + "/".join(pieces[-2:])
        parts.append(arg)
    text = " ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def service_pids(host: HostConfig, notes: list[str]) -> list[int]:
    """The service's process ids from pid_file and process_match; notes instead of errors."""
    pids: list[int] = []
    if host.pid_file is not None:
        pid = _pid_from_file(host.pid_file, notes)
        if pid is not None:
            pids.append(pid)
    if host.process_match:
        pids.extend(p for p in _matching_pids(host.process_match) if p not in pids)
        if not pids:
            notes.append(f"no process matches {host.process_match!r}")
    return pids


def find_units(host: HostConfig, release_of: ReleaseOf, notes: list[str]) -> tuple[Unit, ...]:
    """The service's processes from pid_file and process_match; notes instead of errors."""
    pids = service_pids(host, notes)
    node = socket.gethostname()
    units: list[Unit] = []
    for pid in pids:
        info = read_process(pid)
        if info is None:
            notes.append(f"process {pid} exited while it was being read")
            continue
        units.append(
            Unit(
                name=f"pid {info.pid}",
                state=_PROCESS_STATES.get(info.state, info.state),
                ready=info.alive,
                revision=release_of(info.cwd),
                started=info.started,
                node=node,
                detail=short_command(info.argv),
            )
        )
    return tuple(units)


def _pid_from_file(pid_file: Path, notes: list[str]) -> int | None:
    try:
        text = pid_file.read_text(encoding="ascii", errors="replace").strip()
    except FileNotFoundError:
        notes.append(f"pid file {pid_file} not found: the service is not running")
        return None
    except OSError as exc:
        notes.append(f"pid file {pid_file} cannot be read: {exc.strerror}")
        return None
    if not text.isdigit():
        notes.append(f"pid file {pid_file} holds {text[:20]!r}, not a process id")
        return None
    pid = int(text)
    info = read_process(pid)
    if info is None or not info.alive:
        notes.append(f"pid {pid} from {pid_file} is not running")
        return None
    return pid


def _matching_pids(pattern: str) -> list[int]:
    regex = re.compile(pattern)
    me = os.getpid()
    found: list[int] = []
    for pid in all_pids():
        if pid == me:
            continue
        try:
            raw = Path("/proc", str(pid), "cmdline").read_bytes()
        except OSError:
            continue
        cmdline = raw.replace(b"\0", b" ").decode("utf-8", errors="replace").strip()
        if cmdline and regex.search(cmdline):
            found.append(pid)
    return found
