"""The VM / bastion host provider: symlinked release folders or a git checkout.

This is runbook 002's "traditional deploy" rollback done by the console:
``ln -sfn /releases/v1.2.9 /current`` then ``systemctl restart app`` (and, for a
config change, ``nginx -t`` before ``systemctl reload nginx``), or runbook 000's
git-based release, where the live code is a checkout.

What differs between the two strategies (``HostConfig.strategy``) lives behind
one interface (``providers.host.strategy.Releases``): ``symlink.py`` (release
folders, ``host.symlink`` steps) and ``git.py`` (commits of a working tree,
``host.git`` steps).  The rest is here and shared: plans, the restart and
reload commands (``host.run``, ``commands.py``), the processes serving the
service (``processes.py``), readiness and warnings.

Nothing is reported as done unless it was observed: the link is read back
after the switch, HEAD or its tree after a git switch, and a command only
"finished" when it exited 0.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path

from console.config import HostConfig, ServiceConfig
from console.model import (
    Action,
    Difference,
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
from console.poll import poll_until
from console.runner import run_steps
from providers.base import InvalidTarget, NotFound, Part, ProviderError
from providers.host import facts, logs, pitr
from providers.host.commands import CommandPart, command_step
from providers.host.git import GitReleases
from providers.host.processes import find_units, service_pids
from providers.host.strategy import Releases
from providers.host.symlink import SymlinkReleases

#: How often ``wait_ready`` looks again.
POLL_INTERVAL_S = 0.2
#: How many releases a "not found" message lists before "and N more".
_LIST_MAX = 12


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
        self.strategy: Releases = (
            GitReleases(service.label, self.host)
            if self.host.strategy == "git"
            else SymlinkReleases(service.label, self.host)
        )
        self._parts: tuple[Part, ...] = (self.strategy.part, CommandPart(self.host.workdir))
        if pitr.offered(service):
            from providers.database.pitr_part import PitrPart

            self._parts = (*self._parts, PitrPart(service))

    def parts(self) -> tuple[Part, ...]:
        """The switch of the configured strategy and the host's commands."""
        return self._parts

    def release_folder(self, revision_id: str) -> Path | None:
        """``releases_dir/ID`` with the symlink strategy; None with git (one working tree)."""
        return self.strategy.release_folder(revision_id)

    def differences(self, live: Revision, target: Revision) -> tuple[Difference, ...]:
        """What changes from ``live`` to ``target`` (``SupportsDiff``): commits and files with
        git, the release folders compared with symlinks (``providers.host.diff``)."""
        return self.strategy.differences(live, target)

    # ------------------------------------------------------------------ snapshot

    def snapshot(self) -> Snapshot:
        """Releases newest first, the live one, and the processes serving it."""
        notes: list[str] = []
        current, revisions = self.strategy.state(notes)
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

    def _units(self, notes: list[str]) -> tuple[Unit, ...]:
        return find_units(self.host, self.strategy.release_of, notes)

    # ------------------------------------------------------------------ details and logs

    def details(self) -> tuple[tuple[str, str], ...]:
        """What ``ps``, ``ss -ltnp``, ``systemctl status`` and ``df`` would say (blocking).

        The service's processes (pid, user, start, RSS, command line, listening
        TCP ports), its systemd unit when one is configured, and the live
        release folder's size and the free space of its filesystem.
        """
        notes: list[str] = []
        found: list[tuple[str, str]] = []
        pids = service_pids(self.host, notes)
        if pids:
            found += facts.process_facts(pids)
        elif not (self.host.pid_file or self.host.process_match):
            found.append(("processes", "not known: configure pid_file or process_match"))
        found += [("processes", note) for note in notes]
        if self.host.systemd_unit:
            found.append(facts.systemd_fact(self.host.systemd_unit))
        found += self._disk_facts()
        return tuple(found)

    def _disk_facts(self) -> list[tuple[str, str]]:
        if self.host.strategy == "git":
            repo = self.host.repo
            return facts.disk_facts("working tree", repo) if repo is not None else []
        current, _ = self.strategy.state([])
        folder = self.strategy.release_folder(current.id) if current is not None else None
        if current is None or folder is None:
            return [("live release", "not known: the live link names no release")]
        return facts.disk_facts(f"release {current.version}", folder)

    def logs(self, unit: str, lines: int = 50) -> tuple[str, ...]:
        """The service's last ``lines`` log lines: ``log_file``'s end, or its systemd journal.

        ``unit`` is not used: every process of a host service writes the same log.
        """
        return logs.read_logs(self.host, self.service.label, lines)

    def log_source(self, unit: str) -> str:
        """Where ``logs`` reads from (the file, or ``journalctl -u UNIT``)."""
        return logs.log_source(self.host)

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
        switch = self.strategy.switch_step(snap, to, warnings)
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
        """Restart in place (runbook: restart before rolling back when the release is fine),
        and point-in-time recovery of the database when ``[services.database.pitr]`` is set."""
        found = (pitr.action(self.service),) if pitr.offered(self.service) else ()
        if not self.host.restart:
            return found
        return (
            Action(
                id="restart",
                title="Restart the live release",
                description=f"Run the restart command ({shlex.join(self.host.restart)}) "
                "without switching release",
            ),
            *found,
        )

    def plan_action(
        self,
        action: str,
        argument: str | None,
        *,
        dry_run: bool = False,
        resume_from: Plan | None = None,
    ) -> Plan:
        if action == pitr.ACTION and pitr.offered(self.service):
            current = self.snapshot().current
            if current is None:
                raise InvalidTarget(f"{self.service.label} has no live release")
            return pitr.plan(self.service, self.host, current, argument, dry_run=dry_run)
        if action != "restart" or not self.host.restart:
            known = ", ".join(a.id for a in self.actions()) or "none"
            raise NotFound(f"unknown action {action!r} for {self.service.label} (known: {known})")
        snap = self.snapshot()
        current = snap.current
        if current is None:
            raise InvalidTarget(f"{self.service.label} has no live release to restart")
        step = command_step(
            f"Restart {self.service.label} on {current.version}",
            self.host.restart,
            "restart",
            self.host.command_timeout_s,
        )
        return Plan(
            service=self.service.name,
            environment=self.service.environment,
            provider=self.name,
            from_revision=current,
            to_revision=current,
            steps=(step,),
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
        found = snap.find(target) or self.strategy.find(snap, target)
        if found is None:
            raise NotFound(
                f"release {target!r} not found for {self.service.label}; "
                f"available: {self._available(snap)}"
            )
        return found

    def _available(self, snap: Snapshot) -> str:
        labels = [f"{r.version} (current)" if r.current else r.version for r in snap.revisions]
        if not labels:
            return f"none (no releases in {self.strategy.where})"
        text = ", ".join(labels[:_LIST_MAX])
        if len(labels) > _LIST_MAX:
            text += f" and {len(labels) - _LIST_MAX} more"
        return text + self.strategy.listing_note

    def _command_steps(self, to: Revision) -> list[Step]:
        host = self.host
        timeout = host.command_timeout_s
        steps: list[Step] = []
        if host.reload_check:
            steps.append(
                command_step(
                    f"Check the configuration before reloading ({shlex.join(host.reload_check)})",
                    host.reload_check,
                    "reload_check",
                    timeout,
                )
            )
        if host.restart:
            steps.append(
                command_step(
                    f"Restart {self.service.label} so it runs {to.version}",
                    host.restart,
                    "restart",
                    timeout,
                )
            )
        if host.reload:
            steps.append(
                command_step(f"Reload ({shlex.join(host.reload)})", host.reload, "reload", timeout)
            )
        return steps

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
        yield from run_steps(self._typed(plan), self.parts())

    def _typed(self, plan: Plan) -> Plan:
        """``plan`` with steps journaled before steps were typed (no op) made ``host.run`` steps.

        Only the commands after the switch are ever run from such a journal
        (resume plans a switch that did not take effect anew): their argv is
        what was confirmed, and is run as it is.
        """
        if all(step.op for step in plan.steps):
            return plan
        steps: list[Step] = []
        for step in plan.steps:
            if step.op:
                steps.append(step)
            elif step.kind is StepKind.SWITCH or not step.argv:
                raise InvalidTarget(
                    f"step {step.title!r} was planned by an older version of the console: "
                    "plan the rollback again"
                )
            else:
                kind = "restart" if step.kind is StepKind.RESTART else "reload"
                steps.append(
                    command_step(step.title, step.argv, kind, step.timeout_s, shown=step.command)
                )
        return dataclasses.replace(plan, steps=tuple(steps))

    # ------------------------------------------------------------------ wait_ready

    def wait_ready(
        self,
        plan: Plan,
        timeout_s: float,
        on_progress: Callable[[str], None] | None = None,
    ) -> ReadyResult:
        """Poll until the switch is in place and, if units are configured, one runs the target.

        Health URLs are not checked here: the flow's verification does that.
        """
        return poll_until(
            lambda _left: self._readiness(plan),
            timeout_s,
            interval_s=POLL_INTERVAL_S,
            on_progress=on_progress,
        )

    def _readiness(self, plan: Plan) -> tuple[bool, str]:
        to = plan.to_revision
        switched, where = self.strategy.at_target(to)
        if not switched:
            return False, where
        if not (self.host.pid_file or self.host.process_match):
            return True, where
        notes: list[str] = []
        units = self._units(notes)
        serving = [u for u in units if self.strategy.serves(u, to)]
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
