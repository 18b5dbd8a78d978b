"""Running a command the way a rollback needs: no shell, streamed, bounded, its group stopped.

One runner for every command the console starts (a host's restart and
reload, ``git``, ``pg_dump`` / ``pg_restore``, a migration tool): the argv runs
without a shell in a process group of its own, its output (stdout and stderr
merged) is read as it comes with ``select`` so a silent, hung command still
meets its time limit, and on timeout the whole group is stopped, SIGTERM then
SIGKILL, until /proc shows none of it alive ("sent" is not "gone").  A daemon
the command started in a session of its own is left running, as a restart
intends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from pathlib import Path

from console.errors import CommandFailed, TimedOut

#: After a command exited, how long to keep reading output that a background
#: child of it may still hold open, before giving up on the rest.
OUTPUT_DRAIN_S = 0.5
#: After SIGTERM to a timed-out command's group, how long before SIGKILL.
KILL_GRACE_S = 2.0
#: Output without a newline is shown in pieces of at most this many bytes.
MAX_LINE_BYTES = 64 * 1024
_NOT_ALIVE = frozenset("ZXx")

#: ``--log-file`` (``console.oplog``): one line a command run.
_log = logging.getLogger("rollback_console.command")


def stream(
    argv: Sequence[str],
    *,
    shown: str,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    scrub: Sequence[str] = (),
) -> Generator[str, None, int]:
    """Run ``argv``, yield its output lines as they come, return its exit code.

    ``shown`` is the (secret-free) command the messages name; every line is
    scrubbed of the ``scrub`` strings.  A command that cannot start raises
    ``CommandFailed``; one still running at ``timeout_s`` has its group stopped
    and raises ``TimedOut``.  Closing the generator early stops the command too.
    """
    if not argv:
        raise CommandFailed(f"`{shown}`: no command to run")
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        if cwd is not None and exc.filename is not None and Path(exc.filename) == cwd:
            raise CommandFailed(f"`{shown}` cannot run: workdir {cwd} does not exist") from None
        raise CommandFailed(f"`{shown}` cannot run: {argv[0]} not found") from None
    except PermissionError:
        raise CommandFailed(
            f"`{shown}` cannot run: {argv[0]} is not executable (permission denied)"
        ) from None
    except OSError as exc:
        raise CommandFailed(f"`{shown}` cannot run: {exc.strerror or exc}") from None

    def too_long() -> TimedOut:
        stop_group(proc)
        return TimedOut(
            f"`{shown}` ran past its time limit of {timeout_s:g} s "
            "and was stopped (its process group was killed)"
        )

    assert proc.stdout is not None
    started = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    pending = b""
    exited_at: float | None = None
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise too_long()
            if proc.poll() is not None:
                if exited_at is None:
                    exited_at = now
                elif now - exited_at >= OUTPUT_DRAIN_S:
                    break  # a background child still holds the output open
            if not selector.select(timeout=min(0.1, deadline - now)):
                continue
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > MAX_LINE_BYTES:  # no newline in sight: show it anyway
                lines.append(pending)
                pending = b""
            for raw in lines:
                yield _decoded(raw, scrub)
        if pending:
            yield _decoded(pending, scrub)
        try:
            return proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise too_long() from None
    finally:
        selector.close()
        proc.stdout.close()
        if proc.returncode is None:
            stop_group(proc)
        if _log.isEnabledFor(logging.INFO):  # --log-file: the command, as shown, and its time
            ms = (time.perf_counter() - started) * 1000
            _log.info("`%s` exit %s %.1f ms", shown, proc.returncode, ms)


def run_checked(
    argv: Sequence[str],
    *,
    shown: str,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    scrub: Sequence[str] = (),
) -> Generator[str, None, str]:
    """``stream``, and only a command that exited 0 finished ("exited 0").

    Any other end raises ``CommandFailed`` quoting the last line it printed.
    """
    last = ""
    body = stream(argv, shown=shown, timeout_s=timeout_s, env=env, cwd=cwd, scrub=scrub)
    while True:
        try:
            line = next(body)
        except StopIteration as stop:
            code: int = stop.value
            break
        if line.strip():
            last = line.strip()
        yield line
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        raise CommandFailed(f"`{shown}` was killed by {name}" + (f": {last}" if last else ""))
    if code != 0:
        detail = f": {last}" if last else " with no output"
        raise CommandFailed(f"`{shown}` exited {code}{detail}")
    return "exited 0"


def run_collect(
    argv: Sequence[str],
    *,
    shown: str,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    scrub: Sequence[str] = (),
) -> tuple[int, list[str]]:
    """``stream`` to completion: the exit code and every output line."""
    lines: list[str] = []
    body = stream(argv, shown=shown, timeout_s=timeout_s, env=env, cwd=cwd, scrub=scrub)
    while True:
        try:
            lines.append(next(body))
        except StopIteration as stop:
            code: int = stop.value
            return code, lines


def last_line(lines: Sequence[str]) -> str:
    """The last non-blank line (what a one-line error quotes)."""
    for line in reversed(lines):
        if line.strip():
            return line.strip()
    return ""


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the command's whole process group: SIGTERM, then SIGKILL if anything lingers.

    Returns once the leader is reaped and no member of the group is alive any
    more, as seen in /proc.
    """
    pgid = proc.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + KILL_GRACE_S
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
            if proc.returncode is not None and not group_alive(pgid):
                return


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process belongs to process group ``pgid``."""
    for pid in all_pids():
        try:
            stat = Path("/proc", str(pid), "stat").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in _NOT_ALIVE:
            return True
    return False


def all_pids() -> Iterator[int]:
    """Every process id /proc lists now."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if entry.isdigit():
            yield int(entry)


def _decoded(raw: bytes, scrub: Sequence[str]) -> str:
    line = raw.decode("utf-8", errors="replace").rstrip("\r")
    for secret in sorted((s for s in scrub if s), key=len, reverse=True):
        line = line.replace(secret, "***")
    return line
