"""What ``e`` shows of a host service: its processes, their ports, its systemd unit, its disk.

The dashboard's snapshot says which release is live and which processes run
it; an operator deciding whether to roll back also asks what ``ps``, ``ss
-ltnp``, ``systemctl status`` and ``df`` would say.  Each answer here is read
from the machine when the details screen opens (in a worker: ``systemctl``
and a walk of the release folder take time), never on every poll:

* a process: pid, user, start time, resident memory and command line, from
  ``/proc/PID/{stat,status,cmdline}``;
* its listening TCP ports: the socket inodes among ``/proc/PID/fd`` matched
  against the LISTEN rows of ``/proc/PID/net/tcp`` and ``tcp6`` (the
  process's own network namespace, as ``ss`` would see from inside it);
* the systemd unit, when one is configured and ``systemctl`` is there:
  ``systemctl show`` (ActiveState, SubState, since when, main pid);
* the live release folder: its size (a bounded walk, not following links)
  and the free space of the filesystem it is on.

Nothing here raises: a fact that cannot be read is a fact saying why.
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import shutil
import stat
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from console.errors import ProviderError
from console.model import format_bytes
from console.process import last_line, run_collect
from providers.host.processes import read_process

#: One fact: label, value (as ``Snapshot.facts``).
Fact = tuple[str, str]

#: How long ``systemctl show`` may take.
SYSTEMCTL_TIMEOUT_S = 5.0
#: The properties of ``systemctl show`` that are read.
UNIT_PROPERTIES = (
    "Id",
    "LoadState",
    "ActiveState",
    "SubState",
    "StateChangeTimestamp",
    "ActiveEnterTimestamp",
    "MainPID",
    "NRestarts",
    "Result",
)
#: A release folder walk stops after this many entries or seconds (and says so).
WALK_MAX_ENTRIES = 200_000
WALK_MAX_S = 2.0
#: A command line longer than this is cut (with "…").
CMDLINE_MAX = 300
#: ``st`` of a listening socket in /proc/net/tcp.
_TCP_LISTEN = "0A"


# --------------------------------------------------------------------------- processes


def process_facts(pids: Sequence[int], now: datetime | None = None) -> list[Fact]:
    """Per process: "process PID" (user, start, RSS), then its command and listening ports."""
    now = now or datetime.now(UTC)
    facts: list[Fact] = []
    for pid in pids:
        info = read_process(pid)
        if info is None:
            facts.append((f"process {pid}", "exited while it was being read"))
            continue
        user, rss = _status(pid)
        parts = [f"user {user}", f"RSS {format_bytes(rss)}" if rss is not None else "RSS -"]
        if info.started is not None:
            local = info.started.astimezone()
            ago = _ago((now - info.started).total_seconds())
            parts.append(f"started {local:%Y-%m-%d %H:%M:%S} ({ago} ago)")
        command = info.cmdline or "(no command line: a kernel thread or a zombie)"
        if len(command) > CMDLINE_MAX:
            command = command[: CMDLINE_MAX - 1] + "…"
        facts.append((f"process {pid}", ", ".join(parts)))
        facts.append(("  command", command))
        facts.append(("  listening", _ports_text(pid)))
    return facts


def _status(pid: int) -> tuple[str, int | None]:
    """The process's user name (or uid) and resident memory in bytes (None if not known)."""
    user, rss = "?", None
    try:
        text = Path("/proc", str(pid), "status").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return user, rss
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == "Uid" and value.split():
            uid = int(value.split()[0])
            try:
                user = pwd.getpwuid(uid).pw_name
            except KeyError:
                user = str(uid)
        elif key == "VmRSS" and value.split():
            rss = int(value.split()[0]) * 1024  # always kB
    return user, rss


def _ports_text(pid: int) -> str:
    try:
        ports = listening_ports(pid)
    except PermissionError:
        return "cannot be read (permission denied: run the console as the service's user or root)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return ", ".join(ports) if ports else "no listening TCP socket"


def listening_ports(pid: int) -> tuple[str, ...]:
    """``ADDRESS:PORT`` of every TCP socket ``pid`` holds that is listening, sorted by port.

    ``PermissionError`` when the process's descriptors cannot be read.
    """
    inodes = socket_inodes(pid)
    if not inodes:
        return ()
    found: dict[tuple[int, str], str] = {}
    for table in ("tcp", "tcp6"):
        try:
            text = Path("/proc", str(pid), "net", table).read_text(encoding="ascii")
        except FileNotFoundError:
            continue  # no IPv6 in this kernel
        for address, port, inode in listening_sockets(text):
            if inode in inodes:
                shown = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
                found[(port, shown)] = shown
    return tuple(found[key] for key in sorted(found))


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets among ``/proc/PID/fd`` (``socket:[INODE]``)."""
    base = Path("/proc", str(pid), "fd")
    inodes: set[int] = set()
    for name in os.listdir(base):
        try:
            target = os.readlink(base / name)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:[") and target.endswith("]"):
            inodes.add(int(target[8:-1]))
    return inodes


def listening_sockets(table: str) -> Iterable[tuple[str, int, int]]:
    """``(address, port, inode)`` of each LISTEN row of a ``/proc/net/tcp`` or ``tcp6`` text."""
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != _TCP_LISTEN:
            continue
        hex_address, _, hex_port = fields[1].partition(":")
        try:
            yield _address(hex_address), int(hex_port, 16), int(fields[9])
        except ValueError:
            continue


def _address(hexed: str) -> str:
    """An address as /proc/net/tcp writes it: 32-bit words in the machine's byte order."""
    raw = bytes.fromhex(hexed)
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(raw))


# --------------------------------------------------------------------------- systemd


def systemd_fact(unit: str) -> Fact:
    """``systemd unit UNIT``: its state as ``systemctl show`` gives it, or why there is none."""
    label = f"systemd unit {unit}"
    if shutil.which("systemctl") is None:
        return label, "not read: systemctl is not installed on this machine"
    argv = ["systemctl", "show", "--no-pager", f"--property={','.join(UNIT_PROPERTIES)}", unit]
    try:
        code, lines = run_collect(
            argv, shown=f"systemctl show {unit}", timeout_s=SYSTEMCTL_TIMEOUT_S
        )
    except ProviderError as exc:
        return label, f"not read: {exc}"
    props = dict(line.partition("=")[::2] for line in lines if "=" in line)
    if code != 0 or "ActiveState" not in props:
        return label, f"not read: {last_line(lines) or f'systemctl exited {code}'}"
    return label, describe_unit(props)


def describe_unit(props: dict[str, str]) -> str:
    """``active (running) since Tue 2026-01-27 02:05:00 UTC, main pid 1234, 0 restarts``."""
    if props.get("LoadState") == "not-found":
        return "not found (systemd has no such unit)"
    text = f"{props.get('ActiveState', '?')} ({props.get('SubState', '?')})"
    since = props.get("StateChangeTimestamp") or props.get("ActiveEnterTimestamp")
    if since:
        text += f" since {since}"
    main = props.get("MainPID", "")
    if main and main != "0":
        text += f", main pid {main}"
    restarts = props.get("NRestarts", "")
    if restarts:
        text += f", {restarts} restart{'' if restarts == '1' else 's'}"
    result = props.get("Result", "")
    if result and result != "success":
        text += f", last result {result}"
    return text


# --------------------------------------------------------------------------- disk


def disk_facts(label: str, folder: Path) -> list[Fact]:
    """``folder``'s size and the free space of its filesystem, as two facts."""
    try:
        st = os.statvfs(folder)
    except OSError as exc:
        return [(label, f"{folder}: cannot be read ({exc.strerror or exc})")]
    size, complete = folder_size(folder)
    counted = format_bytes(size) if complete else f"at least {format_bytes(size)} (still counting)"
    total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
    taken = (st.f_blocks - st.f_bfree) * st.f_frsize
    # As df counts it: of what non-root users could have, the share already taken.
    used = -(-100 * taken // (taken + free)) if taken + free else 0
    room = f"{format_bytes(free)} free of {format_bytes(total)} ({used}% used)"
    return [(label, f"{folder}, {counted}"), ("  filesystem", f"{room} on {mount_of(folder)}")]


def folder_size(folder: Path) -> tuple[int, bool]:
    """Bytes the files under ``folder`` take (each inode once, links not followed); whether
    the walk finished (it stops after ``WALK_MAX_ENTRIES`` entries or ``WALK_MAX_S``)."""
    total, entries, seen = 0, 0, set()
    deadline = time.monotonic() + WALK_MAX_S
    stack = [str(folder)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    entries += 1
                    if entries > WALK_MAX_ENTRIES or time.monotonic() > deadline:
                        return total, False
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(entry.path)
                    elif (st.st_dev, st.st_ino) not in seen:
                        seen.add((st.st_dev, st.st_ino))
                        total += st.st_blocks * 512
        except OSError:
            continue  # unreadable or removed meanwhile: what can be counted is
    return total, True


def mount_of(path: Path) -> str:
    """The mount point ``path`` is under (the last folder up on the same device)."""
    path = path.resolve()
    try:
        device = path.stat().st_dev
    except OSError:
        return str(path)
    while path != path.parent:
        try:
            if path.parent.stat().st_dev != device:
                break
        except OSError:
            break
        path = path.parent
    return str(path)


# --------------------------------------------------------------------------- words


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d"
