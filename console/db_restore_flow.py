"""Restoring a database backup: its own plan, confirmation, run and history entry.

Not a rollback: the operator picks a backup (``db-restore --from FILE``, the
dashboard's restore dialog), the console verifies it and takes a backup of
what it replaces first (unless skipped with a reason), restores it with
``pg_restore --single-transaction``, and records a "restored" entry.  The steps
are the database part's own (``console.db_flow.DatabaseSide``), run by the
one step runner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from console.config import Config, ServiceConfig
from console.db_flow import (
    DatabaseSide,
    backup_dir_for,
    platform_of,
    releases_dir,
    running_release,
)
from console.history.git import GitResult
from console.incident import Incident
from console.lock import ServiceLock
from console.model import (
    BackupInfo,
    ChecklistItem,
    HistoryRecord,
    ItemState,
    Outcome,
    Plan,
    ProgressEvent,
    ProgressStatus,
    Revision,
    Step,
    utcnow,
)
from console.redact import Redactor
from console.runner import run_steps
from providers import load_database
from providers.base import InvalidTarget, Provider, ProviderError


def list_backups(service: ServiceConfig, state_dir: Path) -> tuple[BackupInfo, ...]:
    """The service's backups in its backup folder, newest first (size and time; not verified)."""
    folder = backup_dir_for(service, state_dir)
    try:
        files = [p for p in folder.glob(f"{service.name}-*.dump") if p.is_file()]
    except OSError:
        return ()
    found = []
    for path in files:
        try:
            info = path.stat()
        except OSError:
            continue
        taken = datetime.fromtimestamp(info.st_mtime, UTC)
        found.append(BackupInfo(str(path), info.st_size, False, taken_at=taken))
    return tuple(sorted(found, key=lambda b: b.taken_at or utcnow(), reverse=True))


def verify_backup(service: ServiceConfig, path: Path) -> BackupInfo:
    """``pg_restore --list`` on ``path`` (``NotFound`` when it does not exist)."""
    return load_database(service).verify_backup(path)


def backup_schema(
    service: ServiceConfig,
    path: Path,
    redact: Callable[[str], str] | None = None,
    platform: Provider | None = None,
) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """The schema revision(s) a backup holds (its ``alembic_version``; None: not known),
    and warnings when they do not fit the running release.

    A backup taken before an app rollback holds the newer schema: restoring it
    under the older release leaves the database at a revision that release's
    scripts do not know.  The restore's plan and the restore dialog say so
    before anything is confirmed, naming the revisions.  The running release's
    scripts are found through ``platform`` (the service's provider, loaded when
    not given) when its releases are folders here.
    """
    red = redact or Redactor()
    if service.database is None or service.database.migrations != "alembic":
        return None, ()
    db = load_database(service)
    try:
        recorded = db.backup_revisions(path)
    except ProviderError as err:
        return None, (f"Cannot tell which schema revision the backup holds: {red(str(err))}",)
    platform = platform or platform_of(service)
    release = running_release(platform)
    releases = releases_dir(platform, release)
    history = db.release_history(releases, release)
    if not recorded or not history:
        return recorded, ()
    if release is not None and db.release_ini(releases, release) is not None:
        who = f"the running release {release.version}"
    else:
        who = "the configured migration scripts (alembic_ini)"
    shown = ", ".join(recorded)
    heads = [r.id for r in history if r.is_head]
    ends = ", ".join(heads)
    if any(rev not in {r.id for r in history} for rev in recorded):
        return recorded, (
            f"NEWER SCHEMA: the backup records schema revision {shown}, which {who} does "
            f"not know (its migrations end at {ends}): after the restore the database is "
            "at a schema newer than the running app expects. Restore it with the release "
            f"that ships {shown}, or downgrade to {heads[0] if heads else 'its head'} "
            "afterwards with that release's scripts.",
        )
    if not set(recorded) & set(heads):
        return recorded, (
            f"OLDER SCHEMA: the backup records schema revision {shown}, but {who} expects "
            f"{ends}: after the restore the running app meets an older schema until it is "
            "upgraded.",
        )
    return recorded, ()


#: The restore's own checklist (the database items are added to it).
RESTORE_CHECKLIST: tuple[ChecklistItem, ...] = (
    ChecklistItem(
        "restore-confirmed",
        "prepare",
        "Restore confirmed by the operator (the database's current contents are replaced)",
        required=True,
    ),
    ChecklistItem("restore-run", "execute", "pg_restore ran in one transaction", auto=True),
    ChecklistItem("notify-done", "after", "Team told the database was restored"),
)


@dataclass
class RestoreResult:
    outcome: Outcome
    message: str
    history_file: Path | None = None
    #: ``[console] history_git``: what git did with the entry (None: not asked to).
    git: GitResult | None = None


@dataclass
class DatabaseRestore:
    """Restore a backup into the service's database: its own plan, confirmation and record.

    Runs under the same service lock as a rollback.  Not resumable on
    purpose: ``pg_restore --single-transaction`` leaves the database as it
    was when interrupted, so the operator simply runs it again.
    """

    config: Config
    service: ServiceConfig
    backup_file: Path
    reason: str
    operator: str = ""
    #: Skip the safety backup of the current contents (the reason is recorded).
    skip_backup_reason: str = ""
    incident: Incident = field(init=False)
    side: DatabaseSide = field(init=False)
    redact: Callable[[str], str] = field(init=False)
    plan: Plan | None = field(init=False, default=None)
    error: str = field(init=False, default="")
    executed: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        if self.service.database is None:
            raise InvalidTarget(f"{self.service.label} has no [services.database] table")
        self.operator = self.operator or self.config.console.operator
        self.redact = self.config.redactor
        restore_service = dataclasses.replace(self.service, checklist=RESTORE_CHECKLIST)
        self.incident = Incident(
            service=restore_service,
            operator=self.operator,
            state_dir=self.config.console.state_dir,
            reason=self.reason,
            redact=self.redact,
        )
        self.side = DatabaseSide(
            restore_service, self.incident, self.config.console.state_dir, self.redact
        )

    def make_plan(self) -> Plan:
        """Verify the file (``NotFound`` / ``CommandFailed`` if unusable) and list the steps."""
        db = self.side.provider
        path = self.backup_file.expanduser().resolve()
        info = db.verify_backup(path)
        if not info.verified:
            raise InvalidTarget(f"{path} is not a usable backup: {info.message}")
        steps: list[Step] = []
        warnings = [
            f"The current contents of {db.target_label()} are REPLACED by the backup "
            f"{path.name} ({info.entries} entries, {info.message or 'verified'}): "
            "changes made since the backup was taken are lost.",
        ]
        if self.skip_backup_reason:
            self.incident.mark("db-backup", ItemState.SKIPPED, self.skip_backup_reason)
            warnings.append(
                f"No backup of the current contents is taken: skipped ({self.skip_backup_reason})."
            )
        else:
            steps.append(db.backup_step(db.new_backup_path(self.side.backup_dir)))
        steps.append(db.restore_step(path))
        if self.side.has_checks():
            steps.insert(len(steps) - 1, db.checks_step("before"))
            steps.append(db.checks_step("after"))
        try:
            current = ", ".join(db.current()) or "no revision"
        except ProviderError as err:
            current = "unknown"
            warnings.append(f"The database could not be read: {self.redact(str(err))}")
        warnings.extend(self._schema_warnings(path))
        plan = Plan(
            service=self.service.name,
            environment=self.service.environment,
            provider="database",
            from_revision=Revision(id=current, version=f"schema {current}"),
            to_revision=Revision(id=path.name, version=f"backup {path.name}"),
            steps=tuple(steps),
            warnings=tuple(warnings),
            action="db-restore",
            argument=str(path),
        )
        self.plan = plan
        self.incident.plan = plan
        self.incident.log("plan", f"restore {db.target_label()} from {path}")
        return plan

    def _schema_warnings(self, path: Path) -> list[str]:
        recorded, warnings = backup_schema(self.service, path, self.redact)
        self.side.restore_expects = recorded
        return list(warnings)

    def confirm(self, how: str) -> None:
        self.incident.mark("restore-confirmed", ItemState.DONE, how)

    def execute(self, on_event: Callable[[ProgressEvent], None] | None = None) -> None:
        """Run the steps under the service lock; raises the first ``ProviderError``."""
        plan = self.plan or self.make_plan()
        if self.incident.state_of("restore-confirmed") is not ItemState.DONE:
            raise InvalidTarget("the restore was not confirmed")
        lock = ServiceLock(self.config.console.state_dir, self.service, self.operator)
        with lock:
            self.executed = True
            self.incident.journal_event("db-restore", file=str(self.backup_file))
            self.incident.log("execute", f"started: {plan.summary}")
            try:
                for raw in run_steps(self.side.prepare(plan), (self.side,)):
                    event = dataclasses.replace(raw, message=self.redact(raw.message))
                    if event.status is ProgressStatus.OUTPUT:
                        self.incident.log("output", f"  {event.message}")
                    else:
                        title = plan.steps[event.step].title
                        self.incident.log(event.status.value, f"{title}: {event.message}")
                    if on_event:
                        on_event(event)
            except ProviderError as err:
                self.error = self.redact(str(err))
                self.incident.mark("restore-run", ItemState.FAILED, self.error)
                self.incident.log("failed", f"restore failed: {self.error}")
                raise
        self.incident.mark("restore-run", ItemState.DONE)

    def outcome(self) -> Outcome:
        if self.error:
            return Outcome.FAILED
        if not self.executed:
            return Outcome.ABORTED
        return Outcome.RESTORED

    def record(self) -> RestoreResult:
        """Append the history entry for the restore (even a failed one).

        A restore is "restored", not "rolled back and verified": no service was
        watched, so there is no time to recover, and the Verification section
        says what was observed instead (pg_restore's result, the revision read
        afterwards; the checks are in the notes).
        """
        from console.history import append_entry

        outcome = self.outcome()
        finished = utcnow()
        record = self.incident.to_record(outcome, finished_at=finished)
        if outcome is Outcome.RESTORED:
            seen = self.side.restored or "restored"
            record = dataclasses.replace(
                record, verification=f"{seen} (a restore: no service verification window)"
            )
        path = self.config.console.history_file
        append_entry(path, record, redact=self.redact)
        self.incident.journal_event("recorded", history_file=path)
        message = self.error or "restored"
        return RestoreResult(outcome, message, path, git=self._commit(record))

    def _commit(self, record: HistoryRecord) -> GitResult | None:
        """``history_git``: commit (and push) the entry, as a rollback's is."""
        if not self.config.console.history_git:
            return None
        from console.history import render_entry
        from console.history.git import commit_entry, headline

        message = headline(render_entry(record, self.redact))
        return commit_entry(self.config.console, message, record.operator)
