"""The database half of a rollback, as the flow plans, runs and records it.

A service with a ``[services.database]`` table gets, around the platform's
own steps, in this order (runbook 004 "完全ロールバック", 002 step 4):

1. a verified backup (``pg_dump -Fc``, then ``pg_restore --list``), unless the
   operator skipped the ``db-backup`` checklist item saying why;
2. the configured checks, before anything changes;
3. the schema step the operator chose (downgrade N steps, down to a revision,
   or stamp), if any: **before** the app rollback, because the downgrade
   scripts ship with the release being rolled back (after the switch the old
   release's scripts no longer know the newer revisions) and the old release
   expects the old schema;
4. the platform's steps (switch, restart...);
5. the checks again, compared with step 2.

Each is an explicit ``Step`` in the plan, with the command an operator could
type (the DSN always as ``"$DSN_ENV"``).  Results go to the incident: the
checklist items ``db-backup`` / ``db-schema`` / ``db-checks``, the timeline,
and notes that end up in the history entry (backup file, size, duration;
schema from and to; check values before and after).

The restore of a backup (``DatabaseRestore``) is a separate flow with its own
confirmation and history entry.  Nothing here imports psycopg or Alembic at
module level.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from console.config import Config, ServiceConfig
from console.incident import Incident
from console.lock import ServiceLock
from console.model import (
    BackupInfo,
    ChecklistItem,
    CheckResult,
    DatabaseStatus,
    ItemState,
    Outcome,
    Plan,
    ProgressEvent,
    ProgressStatus,
    Revision,
    SchemaTarget,
    Step,
    StepKind,
    utcnow,
)
from console.redact import Redactor
from providers.base import InvalidTarget, ProviderError
from providers.database import (
    DB_RUNNER,
    DatabaseProvider,
    SchemaPlan,
    is_database_step,
)


class StepRunner(Protocol):
    """What runs the platform's steps: ``Provider.execute``."""

    def execute(self, plan: Plan) -> Iterator[ProgressEvent]: ...


def backup_dir_for(service: ServiceConfig, state_dir: Path) -> Path:
    """Where backups go: ``backup_dir`` from the config, else STATE_DIR/backups."""
    db = service.database
    return db.backup_dir if db is not None and db.backup_dir else state_dir / "backups"


def _releases_dir(service: ServiceConfig) -> Path | None:
    host = service.host
    if service.provider == "host" and host is not None and host.strategy == "symlink":
        return host.releases_dir
    return None


def _running_release(service: ServiceConfig) -> Revision | None:
    """The release the ``current`` link names now (host provider, symlink strategy)."""
    host = service.host
    if _releases_dir(service) is None or host is None or host.current_link is None:
        return None
    try:
        live = host.current_link.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return Revision(id=live.name, version=live.name)


def _checks_line(results: tuple[CheckResult, ...]) -> str:
    return "; ".join(
        f"{r.name} = {r.value}" if r.ok else f"{r.name}: ERROR {r.error}" for r in results
    )


@dataclass
class DatabaseSide:
    """The database steps of one incident: planned, run, and remembered for the record."""

    service: ServiceConfig
    incident: Incident
    state_dir: Path
    redact: Callable[[str], str] = field(default_factory=Redactor)
    provider: DatabaseProvider = field(init=False)
    #: What the operator chose for the schema (CLI --db-*, the target screen).
    target: SchemaTarget = field(default_factory=SchemaTarget)
    schema: SchemaPlan | None = field(init=False, default=None)
    backup: BackupInfo | None = field(init=False, default=None)
    checks_before: tuple[CheckResult, ...] | None = field(init=False, default=None)
    checks_after: tuple[CheckResult, ...] | None = field(init=False, default=None)
    #: A restore: the schema revision(s) the backup records (None: not known), and
    #: what the restore was seen to do (for the entry's Verification section).
    restore_expects: tuple[str, ...] | None = field(init=False, default=None)
    restored: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.provider = DatabaseProvider(self.service)

    @property
    def backup_dir(self) -> Path:
        return backup_dir_for(self.service, self.state_dir)

    @property
    def required(self) -> bool:
        return self.service.database is not None and self.service.database.require_backup

    def backup_skip_reason(self) -> str:
        """The operator's reason when the ``db-backup`` item was skipped ("" otherwise)."""
        mark = self.incident.marks.get("db-backup")
        if mark is not None and mark.state is ItemState.SKIPPED and mark.note.strip():
            return mark.note
        return ""

    # ----------------------------------------------------------------- planning

    def extend(self, plan: Plan) -> Plan:
        """``plan`` (the platform's) with the database steps around it, and their warnings.

        Raises what ``DatabaseProvider.plan_schema`` raises for a schema target
        that cannot be reached (bad input, exit 2) or read (database down).
        """
        db = self.provider
        skipped = self.backup_skip_reason()
        if not skipped or self.target.changes_schema:
            db.dsn()  # a missing or malformed DSN: bad config (exit 2) before anything runs
        schema = db.plan_schema(self.target)
        self.schema = schema
        before: list[Step] = []
        warnings: list[str] = []
        if skipped:
            warnings.append(
                f"No database backup will be taken: skipped by the operator ({skipped})."
            )
        else:
            before.append(db.backup_step(db.new_backup_path(self.backup_dir)))
        if self.service.database is not None and self.service.database.checks:
            before.append(db.checks_step("before"))
        before.extend(schema.steps)
        after = [db.checks_step("after")] if self._has_checks() else []
        warnings.extend(schema.warnings)
        if schema.steps:
            warnings.append(
                f"Order (runbook 004): the schema step runs before the app rollback to "
                f"{plan.to_revision.version}, while the scripts of the release being rolled "
                "back are still in place; until the app step finishes, the running release "
                "meets the older schema."
            )
        warnings.extend(self._release_warnings(plan, schema))
        return dataclasses.replace(
            plan,
            steps=(*before, *plan.steps, *after),
            warnings=(*plan.warnings, *warnings),
        )

    def _has_checks(self) -> bool:
        return self.service.database is not None and bool(self.service.database.checks)

    def _release_warnings(self, plan: Plan, schema: SchemaPlan) -> list[str]:
        """Whether the target release expects another schema, when that is knowable."""
        heads = self.provider.heads_for_release(_releases_dir(self.service), plan.to_revision)
        if not heads:
            if not schema.steps and self.service.database is not None:
                return [
                    "No schema change planned (the default). If "
                    f"{plan.to_revision.version} needs an older schema, choose a downgrade "
                    "(--db-steps N / --db-to REV)."
                ]
            return []
        version = plan.to_revision.version
        expected = ", ".join(heads)
        if schema.steps:
            if schema.to_revision and schema.to_revision not in heads:
                return [
                    f"{version} ships migrations up to {expected}, but the schema step leaves "
                    f"the database at {schema.to_revision}."
                ]
            return []
        try:
            current = self.provider.current()
        except ProviderError as err:
            return [f"Cannot tell whether {version} needs a schema change: {self.redact(str(err))}"]
        if current and not set(current) & set(heads):
            here = ", ".join(current)
            return [
                f"SCHEMA MISMATCH: {version} ships migrations up to {expected} but the database "
                f"is at {here}; no schema change is planned (choose --db-to {heads[0]} to "
                "downgrade with the app)."
            ]
        return []

    def resumed_target(self, old: Plan) -> SchemaTarget:
        """The schema step an interrupted plan still owes, as a target (none if done).

        The journaled plan's schema step names the revision it ends at; when
        the database already records it, nothing is left to do.
        """
        for step in old.steps:
            if is_database_step(step) and len(step.argv) > 4 and step.argv[1] == "alembic":
                operation, to = step.argv[2], step.argv[3]
                try:
                    current = self.provider.current()
                except ProviderError:
                    current = ()
                if current == (() if to == "base" else (to,)):
                    return SchemaTarget()
                mode = "stamp" if operation == "stamp" else "revision"
                return SchemaTarget(mode, revision=to)
        return SchemaTarget()

    def require_backup(self, plan: Plan) -> None:
        """Refuse to run a plan without a backup step unless the skip has a reason."""
        if not self.required or any(
            is_database_step(s) and s.argv[1] == "backup" for s in plan.steps
        ):
            return
        if self.incident.state_of("db-backup") is ItemState.DONE:
            return  # taken earlier in this incident (a resumed rollback)
        if not self.backup_skip_reason():
            raise InvalidTarget(
                f"a verified backup of {self.provider.target_label()} is required before "
                "the rollback: plan again with the backup step, or skip it saying why"
            )

    # ----------------------------------------------------------------- running

    def execute(self, plan: Plan, platform: StepRunner) -> Iterator[ProgressEvent]:
        """All of ``plan``: database steps here, runs of platform steps by ``platform``.

        Event step numbers are ``plan``'s.  The first failure raises (after its
        FAILED event), so nothing later runs.
        """
        self.require_backup(plan)
        steps = plan.steps
        ops = {s.argv[1] for s in steps if is_database_step(s) and len(s.argv) > 1}
        pending = ItemState.PENDING
        if not ops & {"alembic", "command-down", "restore"} and (
            self.incident.state_of("db-schema") is pending
        ):
            self.incident.mark("db-schema", ItemState.SKIPPED, "no schema change planned")
        if "checks" not in ops and self.incident.state_of("db-checks") is pending:
            self.incident.mark("db-checks", ItemState.SKIPPED, "no checks configured")
        index = 0
        while index < len(steps):
            if is_database_step(steps[index]):
                yield from self.run(index, steps[index])
                index += 1
                continue
            end = index
            while end < len(steps) and not is_database_step(steps[end]):
                end += 1
            segment = dataclasses.replace(plan, steps=steps[index:end])
            for event in platform.execute(segment):
                yield dataclasses.replace(event, step=event.step + index)
            index = end

    def run(self, index: int, step: Step) -> Iterator[ProgressEvent]:
        """One database step: STARTED, its output, FINISHED (or FAILED, then raise)."""
        op = step.argv[1] if len(step.argv) > 1 else ""
        yield ProgressEvent(index, ProgressStatus.STARTED, self.redact(step.command))
        try:
            if op == "backup":
                body: Generator[str, None, str] = self._backup(Path(step.argv[2]))
            elif op == "checks":
                body = self._checks(step.argv[2])
            elif op == "restore":
                body = self._restore(Path(step.argv[2]))
            else:
                body = self._schema(step)
            while True:
                try:
                    line = next(body)
                except StopIteration as stop:
                    message: str = stop.value
                    break
                yield ProgressEvent(index, ProgressStatus.OUTPUT, self.redact(line))
        except ProviderError as err:
            text = self.redact(str(err))
            if op == "backup" and not self.required:
                self.incident.mark("db-backup", ItemState.FAILED, text)
                yield ProgressEvent(
                    index,
                    ProgressStatus.SKIPPED,
                    f"backup failed, continuing (require_backup = false): {text}",
                )
                return
            if op == "checks":
                # Checks inform; they never stop a rollback (the database may be the
                # thing that is down, and the backup was skipped for that reason).
                self.incident.mark("db-checks", ItemState.FAILED, f"could not run: {text}")
                self._note(f"Database checks ({step.argv[2]}) could not run: {text}")
                yield ProgressEvent(index, ProgressStatus.SKIPPED, f"checks could not run: {text}")
                return
            self._failed(op, text)
            yield ProgressEvent(index, ProgressStatus.FAILED, text)
            raise
        except Exception as err:
            text = self.redact(f"{type(err).__name__}: {err}")
            self._failed(op, text)
            yield ProgressEvent(index, ProgressStatus.FAILED, text)
            raise
        yield ProgressEvent(index, ProgressStatus.FINISHED, self.redact(message))

    def _note(self, text: str) -> None:
        """A line for the history entry's notes, journaled so a resumed rollback keeps it."""
        note = self.redact(text)
        self.incident.notes.append(note)
        self.incident.journal_event("note", note=note)

    def _failed(self, op: str, text: str) -> None:
        item = {"backup": "db-backup", "checks": "db-checks"}.get(op, "db-schema")
        self.incident.mark(item, ItemState.FAILED, text)
        if item == "db-schema":
            # The error says where the database was left (read again after the failure).
            self._note(f"Database schema step failed: {text}")

    def _backup(self, path: Path) -> Generator[str, None, str]:
        info = yield from self.provider.backup(path)
        self.record_backup(info)
        return info.summary

    def record_backup(self, info: BackupInfo) -> None:
        """Tick ``db-backup`` with the file, size and duration, and note it for the history."""
        self.backup = info
        self.incident.mark("db-backup", ItemState.DONE, info.summary)
        self._note(f"Database backup: {info.summary}")
        self.incident.journal_event(
            "db-backup",
            path=info.path,
            size_bytes=info.size_bytes,
            duration_s=info.duration_s,
            entries=info.entries,
        )

    def _checks(self, phase: str) -> Generator[str, None, str]:
        results = self.provider.run_checks()
        for result in results:
            yield (
                f"{result.name}: {result.value}"
                if result.ok
                else (f"{result.name}: ERROR {result.error}")
            )
        failed = [r for r in results if not r.ok]
        line = _checks_line(results)
        if phase == "before":
            self.checks_before = results
            self._note(f"Database checks before: {line}")
            return f"{len(results) - len(failed)} of {len(results)} checks answered: {line}"
        self.checks_after = results
        before = {r.name: r for r in self.checks_before or ()}
        changed = [
            f"{r.name} {before[r.name].value} -> {r.value}"
            for r in results
            if r.name in before and r.ok and before[r.name].ok and before[r.name].value != r.value
        ]
        if self.checks_before is None:
            summary = line + " (compare with the values before, in the notes)"
        else:
            summary = line + (f" (changed: {'; '.join(changed)})" if changed else " (unchanged)")
        self._note(f"Database checks after: {summary}")
        if failed:
            # Not raised: the rollback itself is done; the failed item and the
            # history entry say which check no longer answers.
            names = ", ".join(r.name for r in failed)
            self.incident.mark("db-checks", ItemState.FAILED, f"failed after: {names}")
            return f"checks failed after the rollback ({names}): {summary}"
        self.incident.mark("db-checks", ItemState.DONE, summary)
        return summary

    def _schema(self, step: Step) -> Generator[str, None, str]:
        message = yield from self.provider.run_step(step)
        self.incident.mark("db-schema", ItemState.DONE, message)
        self._note(f"Database schema: {message} ({step.command})")
        return message

    def _restore(self, path: Path) -> Generator[str, None, str]:
        message = yield from self.provider.restore(path)
        self._note(f"Database restored from {path}: {message}")
        try:
            current = self.provider.current()
        except ProviderError as err:
            self.incident.mark(
                "db-schema", ItemState.FAILED, f"the revision could not be read: {err}"
            )
            self.restored = f"{message}; the schema revision could not be read afterwards"
            return message
        now = ", ".join(current) or "no revision"
        expected = self.restore_expects
        if expected is None or tuple(expected) == tuple(current):
            same = ", as the backup does" if expected is not None else ""
            self.incident.mark("db-schema", ItemState.DONE, f"the database now records {now}{same}")
        else:
            wanted = ", ".join(expected) or "no revision"
            self.incident.mark(
                "db-schema",
                ItemState.FAILED,
                f"the database now records {now}, but the backup records {wanted}",
            )
        self.restored = f"{message}; the database now records {now}"
        return message


# --------------------------------------------------------------------------- stand-alone


def take_backup(
    service: ServiceConfig, state_dir: Path, on_line: Callable[[str], None] | None = None
) -> BackupInfo:
    """A verified backup now, outside a rollback (``db-backup``, the panel's key)."""
    provider = DatabaseProvider(service)
    path = provider.new_backup_path(backup_dir_for(service, state_dir))
    gen = provider.backup(path)
    while True:
        try:
            line = next(gen)
        except StopIteration as stop:
            info: BackupInfo = stop.value
            return info
        if on_line:
            on_line(provider.scrub(line))


def read_status(
    service: ServiceConfig,
    state_dir: Path,
    *,
    checks: bool = True,
    release: Revision | None = None,
) -> DatabaseStatus:
    """What the database panel and ``db-status`` show (never raises; see ``status``).

    ``release``: the revision a rollback would go to; the status then says
    which schema it expects (when its folder holds its scripts) and which
    migrations a schema rollback to it would cross.
    """
    provider = DatabaseProvider(service)
    status = provider.status(checks=checks, backup_dir=backup_dir_for(service, state_dir))
    if release is None:
        return status
    try:
        heads = provider.heads_for_release(_releases_dir(service), release)
        crossed, losses = provider.crossing(status.current, heads) if status.connected else ((), ())
    except ProviderError:
        heads, crossed, losses = (), (), ()
    return dataclasses.replace(
        status, release=release.version, release_heads=heads, crossing=crossed, losses=losses
    )


def list_backups(service: ServiceConfig, state_dir: Path) -> tuple[BackupInfo, ...]:
    """The service's backups in its backup folder, newest first (size and time; not verified)."""
    from datetime import UTC, datetime

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
    return DatabaseProvider(service).verify_backup(path)


def backup_schema(
    service: ServiceConfig, path: Path, redact: Callable[[str], str] | None = None
) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """The schema revision(s) a backup holds (its ``alembic_version``; None: not known),
    and warnings when they do not fit the running release.

    A backup taken before an app rollback holds the newer schema: restoring it
    under the older release leaves the database at a revision that release's
    scripts do not know.  The restore's plan and the restore dialog say so
    before anything is confirmed, naming the revisions.
    """
    red = redact or Redactor()
    db = DatabaseProvider(service)
    if service.database is None or service.database.migrations != "alembic":
        return None, ()
    try:
        recorded = db.backup_revisions(path)
    except ProviderError as err:
        return None, (f"Cannot tell which schema revision the backup holds: {red(str(err))}",)
    release = _running_release(service)
    releases = _releases_dir(service)
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
        steps.append(
            Step(
                title=f"Restore {db.target_label()} from {path.name} in one transaction",
                command=db.restore_command(path),
                kind=StepKind.BACKUP,
                argv=(DB_RUNNER, "restore", str(path)),
                timeout_s=self.service.database.command_timeout_s if self.service.database else 300,
            )
        )
        if self.side._has_checks():
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
                for event in self.side.execute(plan, _NoPlatform()):
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
        return RestoreResult(outcome, message, path)


class _NoPlatform:
    """The restore has only database steps; a platform step would be a bug."""

    name = "none"

    def execute(self, plan: Plan) -> Iterator[ProgressEvent]:
        raise ProviderError(f"the restore has no platform steps ({len(plan.steps)} given)")
        yield  # pragma: no cover
