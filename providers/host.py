"""The VM / bastion host provider: symlinked release folders or a git checkout.

This is runbook 002's "traditional deploy" rollback done by the console:
``ln -sfn /releases/v1.2.9 /current`` then ``systemctl restart app`` (and, for a
config change, ``nginx -t`` before ``systemctl reload nginx``), or runbook 000's
git-based release, where the live code is a checkout.

Two strategies (``HostConfig.strategy``):

``symlink``
    Every sub-folder of ``releases_dir`` is a release named by its version;
    ``current_link`` is a symlink to the live one.  The switch is atomic (a new
    symlink beside the link, then ``rename(2)`` over it) so a process that
    resolves the link mid-rollback sees the old or the new release, never none;
    the command shown to the operator stays the ``ln -sfn`` they would type.

``git``
    The live code is the working tree of ``repo``.  Revisions are the last
    ``history_limit`` commits, labelled with their tags.  ``git_mode =
    "checkout"`` detaches HEAD at the target; ``"revert"`` adds revert commits
    so the branch moves forward to a tree equal to the target's.

    After a checkout rollback HEAD is detached *behind* its branch, and a plain
    ``git log`` would hide the bad commits the operator is rolling back from.
    So when HEAD is detached, history is listed from the most recently
    committed local branch that contains HEAD (the branch that was checked out
    before), and a note says so; with no such branch, from HEAD itself.

Units are the service's processes, found through ``pid_file`` and/or the
``process_match`` regular expression over ``/proc/*/cmdline``.  A process's
release is the release folder its working directory lies in (``/proc/PID/cwd``),
which is how a restart is proved to have picked up the rolled-back release.
With the git strategy every release shares one folder, so a unit's revision is
left empty.

Commands (restart, reload, the git switch) run as argv lists without a shell,
in their own process group, with output streamed line by line and a time
limit; on timeout the whole group is stopped.  Nothing is reported as done
unless it was observed: the link is read back after the switch, HEAD or its
tree after a git switch, and a command only "finished" when it exited 0.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shlex
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from console.config import HostConfig, ServiceConfig
from console.model import (
    Action,
    Plan,
    ProgressEvent,
    ReadyResult,
    Revision,
    Snapshot,
    Step,
    StepKind,
    Unit,
    utcnow,
)
from providers.base import (
    CommandFailed,
    Conflict,
    Forbidden,
    InvalidTarget,
    NotFound,
    ProviderError,
    TimedOut,
    Unavailable,
)
from providers.steps import perform

#: How often ``wait_ready`` looks again.
POLL_INTERVAL_S = 0.2
#: Time limit for the read-only git commands a snapshot runs.
GIT_QUERY_TIMEOUT_S = 30.0
#: After a command exited, how long to keep reading output that a background
#: child of it may still hold open, before giving up on the rest.
_OUTPUT_DRAIN_S = 0.5
#: After SIGTERM to a timed-out command's group, how long before SIGKILL.
_KILL_GRACE_S = 2.0
#: Output without a newline is shown in pieces of at most this many bytes.
_MAX_LINE_BYTES = 64 * 1024
#: How many releases a "not found" message lists before "and N more".
_LIST_MAX = 12

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


def version_key(name: str) -> tuple[tuple[int, int, str], ...]:
    """Natural sort key: ``v1.10.0`` sorts after ``v1.9.0``, numbers compare as numbers."""
    return tuple(
        (1, int(part), "") if part.isdigit() else (0, 0, part.lower())
        for part in re.findall(r"\d+|\D+", name)
    )


# --------------------------------------------------------------------------- /proc


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


def _all_pids() -> Iterator[int]:
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if entry.isdigit():
            yield int(entry)


def _group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process belongs to process group ``pgid``."""
    for pid in _all_pids():
        try:
            stat = Path("/proc", str(pid), "stat").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in _NOT_ALIVE:
            return True
    return False


def _short_command(argv: tuple[str, ...], limit: int = 120) -> str:
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


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


# --------------------------------------------------------------------------- the provider


class HostProvider:
    """Rolls back a service on a host: switch a symlink or a git checkout, then restart.

    Built from the service's config without any I/O, so the dashboard can paint
    before the first snapshot.  Every method is blocking; the app runs them in
    worker threads.
    """

    name: str = "host"

    def __init__(self, service: ServiceConfig) -> None:
        if service.host is None:
            raise ProviderError(f"{service.label}: provider 'host' needs a [services.host] table")
        self.service = service
        self.host: HostConfig = service.host

    # ------------------------------------------------------------------ snapshot

    def snapshot(self) -> Snapshot:
        """Releases newest first, the live one, and the processes serving it."""
        notes: list[str] = []
        if self.host.strategy == "git":
            current, revisions = self._git_state(notes)
        else:
            current, revisions = self._symlink_state(notes)
        units = self._units(notes)
        return Snapshot(
            service=self.service.name,
            environment=self.service.environment,
            provider=self.name,
            taken_at=utcnow(),
            current=current,
            revisions=revisions,
            units=units,
            notes=tuple(notes),
        )

    # ------------------------------------------------------------------ plan

    def plan(self, target: str | None, *, dry_run: bool = False) -> Plan:
        """Validate ``target`` (id or version; None = the release before the live one).

        Raises ``NotFound`` (naming the release and listing the known ones) for an
        unknown target and ``InvalidTarget`` when it is already live or cannot be
        reached with the configured git mode.
        """
        snap = self.snapshot()
        to = self._resolve_target(snap, target)
        current = snap.current
        if current is not None and to.id == current.id:
            raise InvalidTarget(f"{to.version} is already the live release of {self.service.label}")
        warnings: list[str] = []
        if self.host.strategy == "git":
            switch = self._git_switch_step(snap, to, warnings)
        else:
            switch = self._symlink_switch_step(to)
        steps = [switch, *self._command_steps(to)]
        warnings.extend(self._warnings(snap, to))
        return Plan(
            service=self.service.name,
            environment=self.service.environment,
            provider=self.name,
            from_revision=current,
            to_revision=to,
            steps=tuple(steps),
            warnings=tuple(warnings),
            dry_run=dry_run,
        )

    def actions(self) -> tuple[Action, ...]:
        """Restart in place (runbook: restart before rolling back when the release is fine)."""
        if not self.host.restart:
            return ()
        return (
            Action(
                id="restart",
                title="Restart the live release",
                description=f"Run the restart command ({shlex.join(self.host.restart)}) "
                "without switching release",
            ),
        )

    def plan_action(self, action: str, argument: str | None, *, dry_run: bool = False) -> Plan:
        if action != "restart" or not self.host.restart:
            known = ", ".join(a.id for a in self.actions()) or "none"
            raise NotFound(f"unknown action {action!r} for {self.service.label} (known: {known})")
        snap = self.snapshot()
        current = snap.current
        if current is None:
            raise InvalidTarget(f"{self.service.label} has no live release to restart")
        steps = [
            self._step(
                f"Restart {self.service.label} on {current.version}",
                self.host.restart,
                StepKind.RESTART,
            )
        ]
        return Plan(
            service=self.service.name,
            environment=self.service.environment,
            provider=self.name,
            from_revision=current,
            to_revision=current,
            steps=tuple(steps),
            dry_run=dry_run,
            action="restart",
        )

    def _resolve_target(self, snap: Snapshot, target: str | None) -> Revision:
        if target is None:
            previous = snap.previous()
            if previous is None:
                live = snap.current.version if snap.current else "the live release"
                raise InvalidTarget(
                    f"{self.service.label} has no release before {live} to roll back to"
                )
            return previous
        found = snap.find(target)
        if found is None and self.host.strategy == "git":
            found = self._find_by_hash_prefix(snap, target)
        if found is None:
            raise NotFound(
                f"release {target!r} not found for {self.service.label}; "
                f"available: {self._available(snap)}"
            )
        return found

    def _find_by_hash_prefix(self, snap: Snapshot, target: str) -> Revision | None:
        prefix = target.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{4,40}", prefix):
            return None
        matches = [r for r in snap.revisions if r.id.startswith(prefix)]
        if len(matches) > 1:
            names = ", ".join(r.version for r in matches)
            raise NotFound(f"commit prefix {target!r} is ambiguous ({names}): give more digits")
        return matches[0] if matches else None

    def _available(self, snap: Snapshot) -> str:
        labels = [f"{r.version} (current)" if r.current else r.version for r in snap.revisions]
        if not labels:
            where = self.host.repo if self.host.strategy == "git" else self.host.releases_dir
            return f"none (no releases in {where})"
        text = ", ".join(labels[:_LIST_MAX])
        if len(labels) > _LIST_MAX:
            text += f" and {len(labels) - _LIST_MAX} more"
        if self.host.strategy == "git":
            text += f" (the last {self.host.history_limit} commits; history_limit lists more)"
        return text

    def _command_steps(self, to: Revision) -> list[Step]:
        host = self.host
        label = self.service.label
        steps: list[Step] = []
        if host.reload_check:
            steps.append(
                self._step(
                    f"Check the configuration before reloading ({shlex.join(host.reload_check)})",
                    host.reload_check,
                    StepKind.RELOAD,
                )
            )
        if host.restart:
            steps.append(
                self._step(
                    f"Restart {label} so it runs {to.version}", host.restart, StepKind.RESTART
                )
            )
        if host.reload:
            steps.append(
                self._step(f"Reload ({shlex.join(host.reload)})", host.reload, StepKind.RELOAD)
            )
        return steps

    def _step(self, title: str, argv: tuple[str, ...], kind: StepKind) -> Step:
        return Step(
            title=title,
            command=shlex.join(argv),
            kind=kind,
            argv=argv,
            timeout_s=self.host.command_timeout_s,
        )

    def _warnings(self, snap: Snapshot, to: Revision) -> list[str]:
        warnings: list[str] = []
        ids = [r.id for r in snap.revisions]
        current = snap.current
        if current is None:
            why = "; ".join(snap.notes) or "no current release found"
            warnings.append(f"The live release is unknown ({why}).")
        elif current.id in ids and to.id in ids:
            here, there = ids.index(current.id), ids.index(to.id)
            if there < here:
                warnings.append(
                    f"{to.version} is newer than the live {current.version}: "
                    "this rolls forward, not back."
                )
            elif there > here + 1:
                previous = snap.revisions[here + 1]
                skipped = there - here - 1
                warnings.append(
                    f"{to.version} is not the release right before {current.version} "
                    f"(that is {previous.version}); {skipped} release(s) in between are skipped."
                )
        if not self.host.restart:
            live = current.version if current else "the old release"
            warnings.append(
                "No restart command is configured: running processes keep serving "
                f"{live} until they are restarted by hand."
            )
        if self.host.reload and not self.host.reload_check:
            warnings.append("The reload runs without a configuration test (no reload_check).")
        if not (self.host.pid_file or self.host.process_match):
            warnings.append(
                "Neither pid_file nor process_match is configured: readiness is judged "
                "by the switch alone, not by the processes."
            )
        elif not any(u.ready for u in snap.units):
            warnings.append(f"No process of {self.service.label} is running now.")
        return warnings

    # ------------------------------------------------------------------ execute

    def execute(self, plan: Plan) -> Iterator[ProgressEvent]:
        """Run the plan's steps in order; a failed step yields FAILED, raises, and stops."""
        if plan.dry_run:
            raise InvalidTarget("a dry-run plan is never executed")
        for index, step in enumerate(plan.steps):
            if step.kind is StepKind.SWITCH and self.host.strategy == "git":
                body = self._git_switch(plan, step)
            elif step.kind is StepKind.SWITCH:
                body = self._symlink_switch(plan)
            else:
                body = self._run_command(step)
            yield from perform(index, step, body)

    def _run_command(self, step: Step) -> Generator[str, None, str]:
        """Run ``step.argv`` without a shell, yield its output lines, return when it exited 0.

        Output (stdout and stderr merged) is read as it comes with ``select`` so a
        silent, hung command still meets its time limit.  The command gets its own
        process group so that on timeout everything it started with it is stopped
        too; a daemon it started in a session of its own is left running, as a
        restart intends.
        """
        shown = step.command
        argv = list(step.argv)
        if not argv:
            raise CommandFailed(f"step {step.title!r} has no command to run")
        cwd = self.host.workdir
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
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

        assert proc.stdout is not None
        deadline = time.monotonic() + step.timeout_s
        fd = proc.stdout.fileno()
        os.set_blocking(fd, False)
        selector = selectors.DefaultSelector()
        selector.register(fd, selectors.EVENT_READ)
        pending = b""
        last = ""
        exited_at: float | None = None
        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    self._stop_group(proc)
                    raise TimedOut(
                        f"`{shown}` ran past its time limit of {step.timeout_s:g} s "
                        "and was stopped (its process group was killed)"
                    )
                if proc.poll() is not None:
                    if exited_at is None:
                        exited_at = now
                    elif now - exited_at >= _OUTPUT_DRAIN_S:
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
                if len(pending) > _MAX_LINE_BYTES:  # no newline in sight: show it anyway
                    lines.append(pending)
                    pending = b""
                for raw in lines:
                    line = raw.decode("utf-8", errors="replace").rstrip("\r")
                    if line.strip():
                        last = line.strip()
                    yield line
            if pending:
                line = pending.decode("utf-8", errors="replace").rstrip("\r")
                if line.strip():
                    last = line.strip()
                yield line
            try:
                code = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._stop_group(proc)
                raise TimedOut(
                    f"`{shown}` ran past its time limit of {step.timeout_s:g} s "
                    "and was stopped (its process group was killed)"
                ) from None
        finally:
            selector.close()
            proc.stdout.close()
            if proc.returncode is None:
                self._stop_group(proc)
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

    @staticmethod
    def _stop_group(proc: subprocess.Popen[bytes]) -> None:
        """Stop the command's whole process group: SIGTERM, then SIGKILL if anything lingers.

        Returns once the leader is reaped and no member of the group is alive any
        more, as seen in /proc (signals are asynchronous: "sent" is not "gone").
        """
        pgid = proc.pid
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
            deadline = time.monotonic() + _KILL_GRACE_S
            while time.monotonic() < deadline:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.05)
                if proc.returncode is not None and not _group_alive(pgid):
                    return

    # ------------------------------------------------------------------ wait_ready

    def wait_ready(self, plan: Plan, timeout_s: float) -> ReadyResult:
        """Poll until the switch is in place and, if units are configured, one runs the target.

        Health URLs are not checked here: the flow's verification does that.
        """
        start = time.monotonic()
        deadline = start + max(0.0, timeout_s)
        while True:
            try:
                ready, message = self._readiness(plan)
            except ProviderError as err:
                ready, message = False, str(err)
            now = time.monotonic()
            if ready:
                return ReadyResult(True, message, now - start)
            if now >= deadline:
                return ReadyResult(
                    False, f"not ready after {now - start:.0f} s: {message}", now - start
                )
            time.sleep(min(POLL_INTERVAL_S, deadline - now))

    def _readiness(self, plan: Plan) -> tuple[bool, str]:
        to = plan.to_revision
        if self.host.strategy == "git":
            switched, where = self._git_at_target(plan)
        else:
            current = self._current_release_id([])
            link = self._current_link()
            switched = current == to.id
            if switched:
                where = f"{link} -> {to.id}"
            else:
                where = f"{link} points to {current or 'no release'}, not {to.id}"
        if not switched:
            return False, where
        if not (self.host.pid_file or self.host.process_match):
            return True, where
        notes: list[str] = []
        units = self._units(notes)
        if self.host.strategy == "git":
            serving = [u for u in units if u.ready]
        else:
            serving = [u for u in units if u.ready and u.revision == to.id]
        if serving:
            names = ", ".join(u.name for u in serving)
            return True, f"{where}; {names} running {to.version}"
        if units:
            seen = ", ".join(
                f"{u.name} {u.state}" + (f" from {u.revision}" if u.revision else "") for u in units
            )
            return False, f"{where}, but no process runs {to.version} yet ({seen})"
        why = "; ".join(notes) or "no process found"
        return False, f"{where}, but no process of {self.service.name} runs ({why})"

    # ------------------------------------------------------------------ symlink strategy

    def _releases_dir(self) -> Path:
        if self.host.releases_dir is None:
            raise ProviderError(f"{self.service.label}: releases_dir is not configured")
        return self.host.releases_dir.absolute()

    def _current_link(self) -> Path:
        if self.host.current_link is None:
            raise ProviderError(f"{self.service.label}: current_link is not configured")
        return self.host.current_link.absolute()

    def _symlink_state(self, notes: list[str]) -> tuple[Revision | None, tuple[Revision, ...]]:
        releases_dir = self._releases_dir()
        if not releases_dir.is_dir():
            raise NotFound(f"releases folder {releases_dir} does not exist")
        current_id = self._current_release_id(notes)
        found: list[tuple[str, float, Path]] = []
        try:
            with os.scandir(releases_dir) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or not entry.is_dir():
                        continue
                    found.append((entry.name, entry.stat().st_mtime, Path(entry.path)))
        except PermissionError:
            raise Forbidden(f"cannot read the releases folder {releases_dir}") from None
        except OSError as exc:
            raise Unavailable(f"cannot read the releases folder {releases_dir}: {exc}") from None
        # Newest first: a deploy creates the folder, so its mtime is the release time.
        found.sort(key=lambda item: (item[1], version_key(item[0])), reverse=True)
        revisions = tuple(
            Revision(
                id=name,
                version=self._version_of(path, name),
                created=datetime.fromtimestamp(mtime, UTC),
                current=name == current_id,
                detail=str(path),
            )
            for name, mtime, path in found
        )
        current = next((r for r in revisions if r.current), None)
        if current_id is not None and current is None:
            notes.append(f"the live release {current_id} is not a folder in {releases_dir}")
        return current, revisions

    @staticmethod
    def _version_of(path: Path, name: str) -> str:
        """The release's own VERSION file wins over its folder name, when present."""
        try:
            with open(path / "VERSION", encoding="utf-8", errors="replace") as fh:
                text = fh.read(200).strip()
        except OSError:
            return name
        return text.splitlines()[0].strip() if text else name

    def _current_release_id(self, notes: list[str]) -> str | None:
        """The release folder the link resolves to, or None with a note saying why not."""
        link = self._current_link()
        releases_dir = self._releases_dir()
        if not os.path.lexists(link):
            notes.append(f"{link} does not exist: no release is live")
            return None
        if not link.is_symlink():
            notes.append(f"{link} is not a symlink, so no release folder is live through it")
            return None
        target = Path(os.path.realpath(link))
        if not target.exists():
            notes.append(f"{link} points to {os.readlink(link)}, which does not exist")
            return None
        try:
            rel = target.relative_to(os.path.realpath(releases_dir))
        except ValueError:
            notes.append(f"{link} points to {target}, outside {releases_dir}")
            return None
        if not rel.parts:
            notes.append(f"{link} points to the releases folder itself, not a release")
            return None
        if len(rel.parts) > 1:
            notes.append(f"{link} points inside release {rel.parts[0]} ({target})")
        return rel.parts[0]

    def _symlink_switch_step(self, to: Revision) -> Step:
        link = self._current_link()
        releases_dir = self._releases_dir()
        argv = ("ln", "-sfn", str(releases_dir / to.id), str(link))
        return Step(
            title=f"Point {link.name} at {releases_dir.name}/{to.id}",
            command=shlex.join(argv),
            kind=StepKind.SWITCH,
            argv=argv,
            timeout_s=self.host.command_timeout_s,
        )

    def _symlink_switch(self, plan: Plan) -> Generator[str, None, str]:
        """Atomically repoint the link: new symlink beside it, then rename over it."""
        link = self._current_link()
        target = self._releases_dir() / plan.to_revision.id
        live = self._current_release_id([])
        expected = plan.from_revision.id if plan.from_revision else None
        if live != expected:
            raise Conflict(
                f"{link} changed since the plan was made: it points to "
                f"{live or 'no release'}, not {expected or 'no release'}; "
                "someone else may be rolling back — look again before retrying"
            )
        if not target.is_dir():
            raise NotFound(f"release folder {target} no longer exists")
        if os.path.lexists(link) and not link.is_symlink():
            raise InvalidTarget(f"{link} is a real file or folder, not a symlink; not replacing it")
        temp = link.with_name(f".{link.name}.rollback-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            os.symlink(target, temp)
            try:
                os.replace(temp, link)
            except OSError:
                temp.unlink(missing_ok=True)
                raise
            observed = os.readlink(link)
        except PermissionError as exc:
            raise Forbidden(f"cannot point {link} at {target}: {exc.strerror}") from None
        except OSError as exc:
            raise CommandFailed(f"cannot point {link} at {target}: {exc.strerror or exc}") from None
        if observed != str(target):
            raise Conflict(f"{link} points to {observed} right after the switch, not {target}")
        yield f"created {temp.name} -> {target} and renamed it over {link} (atomic)"
        return f"{link} -> {target}"

    # ------------------------------------------------------------------ git strategy

    def _repo(self) -> Path:
        if self.host.repo is None:
            raise ProviderError(f"{self.service.label}: repo is not configured")
        return self.host.repo.absolute()

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A read-only git query, time-limited, with messages in plain English."""
        argv = ["git", "-C", str(self._repo()), *args]
        env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
        try:
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=GIT_QUERY_TIMEOUT_S,
                env=env,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise Unavailable("git is not installed (needed for strategy = 'git')") from None
        except subprocess.TimeoutExpired:
            raise TimedOut(
                f"`{shlex.join(argv)}` did not answer within {GIT_QUERY_TIMEOUT_S:g} s"
            ) from None
        if check and result.returncode != 0:
            why = _last_line(result.stderr) or _last_line(result.stdout) or "no output"
            raise Unavailable(f"`{shlex.join(argv)}` exited {result.returncode}: {why}")
        return result

    def _rev(self, ref: str) -> str:
        return self._git("rev-parse", "--verify", "--quiet", ref).stdout.strip()

    def _git_state(self, notes: list[str]) -> tuple[Revision | None, tuple[Revision, ...]]:
        repo = self._repo()
        if not repo.is_dir():
            raise NotFound(f"git repository {repo} does not exist")
        head_result = self._git("rev-parse", "--verify", "--quiet", "HEAD", check=False)
        if head_result.returncode != 0:
            probe = self._git("rev-parse", "--git-dir", check=False)
            if probe.returncode != 0:
                raise NotFound(f"{repo} is not a git repository")
            raise NotFound(f"git repository {repo} has no commits yet")
        head = head_result.stdout.strip()
        listing = self._listing_ref(head, notes)
        tags = self._tags()
        log = self._git(
            "log",
            f"-n{max(1, self.host.history_limit)}",
            "--format=%H%x1f%h%x1f%ct%x1f%an%x1f%s%x1e",
            listing,
            "--",
        ).stdout
        revisions: list[Revision] = []
        for record in log.split("\x1e"):
            parts = record.strip("\n").split("\x1f")
            if len(parts) != 5:
                continue
            revisions.append(self._commit_revision(parts, tags, head))
        current = next((r for r in revisions if r.current), None)
        if current is None:
            notes.append(
                f"HEAD ({head[:12]}) is not among the last {self.host.history_limit} commits listed"
            )
            out = self._git("log", "-n1", "--format=%H%x1f%h%x1f%ct%x1f%an%x1f%s", head, "--")
            current = self._commit_revision(out.stdout.strip("\n").split("\x1f"), tags, head)
        if self._git("status", "--porcelain", "--untracked-files=no").stdout.strip():
            notes.append(f"the working tree of {repo} has uncommitted changes")
        return current, tuple(revisions)

    def _listing_ref(self, head: str, notes: list[str]) -> str:
        """Which ref to list history from; see the module docstring for why."""
        branch = self._git("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        if branch.returncode == 0:
            return "HEAD"
        containing = self._git(
            "for-each-ref",
            "--contains",
            head,
            "--sort=-committerdate",
            "--format=%(refname)",
            "refs/heads",
        ).stdout.split()
        if containing:
            ref = containing[0]
            name = ref.removeprefix("refs/heads/")
            notes.append(
                f"HEAD is detached at {head[:12]}; history is listed from branch {name} "
                "so the commits after the live one stay visible"
            )
            return ref
        notes.append(f"HEAD is detached at {head[:12]} on no branch; only its history is listed")
        return "HEAD"

    def _tags(self) -> dict[str, list[str]]:
        """commit -> its tags, annotated tags peeled to the commit they name."""
        out = self._git(
            "for-each-ref",
            "--format=%(objectname)%1f%(*objectname)%1f%(refname:short)",
            "refs/tags",
        ).stdout
        tags: dict[str, list[str]] = {}
        for line in out.splitlines():
            parts = line.split("\x1f")
            if len(parts) != 3:
                continue
            obj, peeled, name = parts
            tags.setdefault(peeled or obj, []).append(name)
        return tags

    @staticmethod
    def _commit_revision(parts: list[str], tags: dict[str, list[str]], head: str) -> Revision:
        sha, short, ctime, author, subject = parts
        names = sorted(tags.get(sha, []), key=version_key, reverse=True)
        detail = f"{short} by {author}" + (f"; tags: {', '.join(names)}" if names else "")
        return Revision(
            id=sha,
            version=names[0] if names else short,
            created=datetime.fromtimestamp(int(ctime), UTC) if ctime.isdigit() else None,
            change_cause=subject,
            current=sha == head,
            detail=detail,
        )

    def _git_switch_step(self, snap: Snapshot, to: Revision, warnings: list[str]) -> Step:
        repo = self._repo()
        short = to.id[:12]
        label = to.version if to.version.startswith(to.id[:7]) else f"{to.version} ({to.id[:7]})"
        if self._rev(f"{to.id}^{{tree}}") == self._rev("HEAD^{tree}"):
            raise InvalidTarget(
                f"{self.service.label} already serves the same files as {to.version} "
                "(HEAD's tree equals it): nothing to roll back"
            )
        dirty = any("uncommitted changes" in note for note in snap.notes)
        if self.host.git_mode == "revert":
            is_ancestor = self._git("merge-base", "--is-ancestor", to.id, "HEAD", check=False)
            if is_ancestor.returncode != 0:
                raise InvalidTarget(
                    f"{to.version} is not in the history of HEAD, so reverting back to it is "
                    "not possible; use git_mode = 'checkout'"
                )
            merges = self._git("rev-list", "--merges", f"{to.id}..HEAD").stdout.split()
            if merges:
                raise InvalidTarget(
                    f"the commits after {to.version} include merge commits "
                    f"({', '.join(m[:7] for m in merges)}); `git revert` cannot revert them "
                    "without -m: use git_mode = 'checkout' or revert by hand"
                )
            count = int(self._git("rev-list", "--count", f"{to.id}..HEAD").stdout.strip() or 0)
            argv: tuple[str, ...] = (
                "git",
                "-C",
                str(repo),
                "revert",
                "--no-edit",
                f"{to.id}..HEAD",
            )
            title = (
                f"Revert the {count} commit(s) after {label} in {repo} "
                f"(new commits; the files become {to.version}'s)"
            )
            if dirty:
                warnings.append(
                    f"{repo} has uncommitted changes: `git revert` refuses to run over them."
                )
        else:
            argv = ("git", "-C", str(repo), "checkout", "--detach", to.id)
            title = f"Check out {label} in {repo} (detached HEAD)"
            branch = self._git("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
            if branch.returncode == 0:
                name = branch.stdout.strip()
                warnings.append(
                    f"HEAD will be detached at {short}; branch {name} keeps pointing at the bad "
                    f"commit: check {name} out again (or revert) before the next deploy."
                )
            if dirty:
                warnings.append(
                    f"{repo} has uncommitted changes: they are carried over, or the checkout "
                    "refuses if they clash with the target."
                )
        return Step(
            title=title,
            command=shlex.join(argv),
            kind=StepKind.SWITCH,
            argv=argv,
            timeout_s=self.host.command_timeout_s,
        )

    def _git_switch(self, plan: Plan, step: Step) -> Generator[str, None, str]:
        """Run the git switch after checking HEAD did not move, then prove its effect."""
        expected = plan.from_revision.id if plan.from_revision else None
        head = self._rev("HEAD")
        if expected is not None and head != expected:
            raise Conflict(
                f"HEAD of {self._repo()} moved since the plan was made: it is {head[:12]}, "
                f"not {expected[:12]}; look again before retrying"
            )
        try:
            yield from self._run_command(step)
        except CommandFailed as err:
            if self.host.git_mode == "revert":
                raise CommandFailed(
                    f"{err} (if a revert is left in progress, "
                    f"`git -C {shlex.quote(str(self._repo()))} revert --abort` undoes it)"
                ) from None
            raise
        at_target, where = self._git_at_target(plan)
        if not at_target:
            raise CommandFailed(f"`{step.command}` exited 0 but {where}")
        return where

    def _git_at_target(self, plan: Plan) -> tuple[bool, str]:
        to = plan.to_revision
        head = self._rev("HEAD")
        if self.host.git_mode == "revert":
            same = self._rev("HEAD^{tree}") == self._rev(f"{to.id}^{{tree}}")
            if same:
                return True, f"HEAD {head[:12]} has the files of {to.version}"
            return False, f"HEAD {head[:12]} does not have the files of {to.version}"
        if head == to.id:
            return True, f"HEAD is at {to.version}"
        return False, f"HEAD is at {head[:12]}, not {to.version}"

    # ------------------------------------------------------------------ units

    def _units(self, notes: list[str]) -> tuple[Unit, ...]:
        """The service's processes from pid_file and process_match; notes instead of errors."""
        pids: list[int] = []
        if self.host.pid_file is not None:
            pid = self._pid_from_file(self.host.pid_file, notes)
            if pid is not None:
                pids.append(pid)
        if self.host.process_match:
            pids.extend(p for p in self._matching_pids(self.host.process_match) if p not in pids)
            if not pids:
                notes.append(f"no process matches {self.host.process_match!r}")
        node = socket.gethostname()
        units: list[Unit] = []
        for pid in pids:
            info = read_process(pid)
            if info is None:
                notes.append(f"process {pid} exited while it was being read")
                continue
            units.append(self._unit(info, node))
        return tuple(units)

    @staticmethod
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

    @staticmethod
    def _matching_pids(pattern: str) -> list[int]:
        regex = re.compile(pattern)
        me = os.getpid()
        found: list[int] = []
        for pid in _all_pids():
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

    def _unit(self, info: ProcessInfo, node: str) -> Unit:
        return Unit(
            name=f"pid {info.pid}",
            state=_PROCESS_STATES.get(info.state, info.state),
            ready=info.alive,
            revision=self._release_of(info.cwd),
            started=info.started,
            node=node,
            detail=_short_command(info.argv),
        )

    def _release_of(self, cwd: Path | None) -> str:
        """The release folder a process runs from (symlink strategy), else ''."""
        if cwd is None or self.host.strategy != "symlink" or self.host.releases_dir is None:
            return ""
        try:
            rel = cwd.relative_to(os.path.realpath(self._releases_dir()))
        except ValueError:
            return ""
        return rel.parts[0] if rel.parts else ""


__all__ = ["POLL_INTERVAL_S", "HostProvider", "ProcessInfo", "read_process", "version_key"]
