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

Each is an explicit typed step in the plan (``db.backup``, ``db.checks``,
``db.schema``, ``db.restore``), with the command an operator could type (the
DSN always as ``"$DSN_ENV"``).  ``DatabaseSide`` is the plan part that owns
those ops: the flow's step runner gives it each of them.  Results go to the
incident: the checklist items ``db-backup`` / ``db-schema`` / ``db-checks``,
the timeline, and notes that end up in the history entry (backup file, size,
duration; schema from and to; check values before and after).

The database backend (``providers.database``) is reached through the
registry (``providers.load_database``), and a release's own migration scripts
through the service's provider when its releases are folders here
(``SupportsReleaseFiles``).  The restore of a backup is a separate flow
(``console.db_restore_flow``).  Nothing here imports psycopg or Alembic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from console.config import ServiceConfig
from console.incident import Incident
from console.model import (
    BackupInfo,
    CheckResult,
    DatabaseStatus,
    ItemState,
    MigrationRevision,
    Plan,
    Revision,
    SchemaTarget,
    Step,
)
from console.redact import Redactor
from console.runner import Skipped
from providers import load_database, load_provider
from providers.base import InvalidTarget, Provider, ProviderError, SupportsReleaseFiles

if TYPE_CHECKING:
    from providers.database import DatabaseProvider, SchemaPlan


def backup_dir_for(service: ServiceConfig, state_dir: Path) -> Path:
    """Where backups go: ``backup_dir`` from the config, else STATE_DIR/backups."""
    db = service.database
    return db.backup_dir if db is not None and db.backup_dir else state_dir / "backups"


def releases_dir(platform: Provider | None, release: Revision | None) -> Path | None:
    """The folder release folders lie in, when ``platform``'s releases are folders here.

    A release's own migration scripts are the configured ``alembic_ini``'s
    counterpart in its folder (``DatabaseProvider.release_ini``).
    """
    if release is None or not isinstance(platform, SupportsReleaseFiles):
        return None
    folder = platform.release_folder(release.id)
    return folder.parent if folder is not None else None


def running_release(platform: Provider | None) -> Revision | None:
    """The release live now, when ``platform``'s releases are folders here (else None)."""
    if not isinstance(platform, SupportsReleaseFiles):
        return None
    try:
        current = platform.snapshot().current
    except ProviderError:
        return None
    if current is None or platform.release_folder(current.id) is None:
        return None
    return Revision(id=current.id, version=current.id)


def platform_of(service: ServiceConfig) -> Provider | None:
    """The service's provider (built without I/O), or None when it cannot be loaded."""
    try:
        return load_provider(service)
    except ProviderError:
        return None


def _checks_line(results: tuple[CheckResult, ...]) -> str:
    return "; ".join(
        f"{r.name} = {r.value}" if r.ok else f"{r.name}: ERROR {r.error}" for r in results
    )


@dataclass
class DatabaseSide:
    """The database part of one incident's plans: planned, run, and remembered for the record."""

    service: ServiceConfig
    incident: Incident
    state_dir: Path
    redact: Callable[[str], str] = field(default_factory=Redactor)
    #: The service's own provider, asked for a release's folder (its migration scripts).
    platform: Provider | None = None
    provider: DatabaseProvider = field(init=False)
    #: The ops this part runs (``Part``): the database backend's.
    ops: frozenset[str] = field(init=False, default=frozenset())
    #: What the operator chose for the schema (CLI --db-*, the target screen).
    target: SchemaTarget = field(default_factory=SchemaTarget)
    schema: SchemaPlan | None = field(init=False, default=None)
    #: Migrations the database keeps although the target release does not ship them (no
    #: schema step planned): "What changes" names them (``console.changes``).
    left_applied: tuple[MigrationRevision, ...] = field(init=False, default=())
    backup: BackupInfo | None = field(init=False, default=None)
    checks_before: tuple[CheckResult, ...] | None = field(init=False, default=None)
    checks_after: tuple[CheckResult, ...] | None = field(init=False, default=None)
    #: A restore: the schema revision(s) the backup records (None: not known), and
    #: what the restore was seen to do (for the entry's Verification section).
    restore_expects: tuple[str, ...] | None = field(init=False, default=None)
    restored: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.provider = load_database(self.service)
        self.ops = self.provider.ops

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
        self.left_applied = ()
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
        if self.has_checks():
            before.append(db.checks_step("before"))
        before.extend(schema.steps)
        after = [db.checks_step("after")] if self.has_checks() else []
        # What suspends a GitOps controller stays first: a controller re-syncing while the
        # backup runs would undo the rollback as surely as afterwards.
        lead = 0
        while lead < len(plan.steps) and plan.steps[lead].op.startswith("gitops."):
            lead += 1
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
            steps=(*plan.steps[:lead], *before, *plan.steps[lead:], *after),
            warnings=(*plan.warnings, *warnings),
        )

    def schema_matches(self, target: Revision) -> str | None:
        """A note when the database is already at a schema ``target`` ships, so rolling the
        app back to it alone is safe; None when that cannot be known or is not so (the
        plan's warnings then say what differs and the operator decides)."""
        try:
            heads = self.provider.heads_for_release(releases_dir(self.platform, target), target)
            if not heads:
                return None
            current = self.provider.current()
        except ProviderError:
            return None
        common = sorted(set(current or ()) & set(heads))
        if not common:
            return None
        return (
            f"the database is at {', '.join(common)}, which {target.version} ships: "
            "no migration in the range to undo"
        )

    def has_checks(self) -> bool:
        return self.service.database is not None and bool(self.service.database.checks)

    def _release_warnings(self, plan: Plan, schema: SchemaPlan) -> list[str]:
        """Whether the target release expects another schema, when that is knowable."""
        target = plan.to_revision
        heads = self.provider.heads_for_release(releases_dir(self.platform, target), target)
        if not heads:
            if not schema.steps and self.service.database is not None:
                return [
                    "No schema change planned (the default). If "
                    f"{target.version} needs an older schema, choose a downgrade "
                    "(--db-steps N / --db-to REV)."
                ]
            return []
        version = target.version
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
            try:
                self.left_applied = self.provider.crossing(current, heads)[0]
            except ProviderError:
                self.left_applied = ()
            return [
                f"SCHEMA MISMATCH: {version} ships migrations up to {expected} but the database "
                f"is at {here}; no schema change is planned (choose --db-to {heads[0]} to "
                "downgrade with the app)."
            ]
        return []

    def typed(self, plan: Plan) -> Plan:
        """``plan`` with database steps journaled before steps were typed made typed ones."""
        if all(step.op for step in plan.steps):
            return plan
        return dataclasses.replace(plan, steps=tuple(self.provider.typed(s) for s in plan.steps))

    def resumed_target(self, old: Plan) -> SchemaTarget:
        """The schema step an interrupted plan still owes, as a target (none if done).

        The journaled plan's schema step names the revision it ends at; when
        the database already records it, nothing is left to do.
        """
        for step in self.typed(old).steps:
            mode = step.params.get("mode")
            if step.op != self.provider.SCHEMA_OP or mode not in ("downgrade", "stamp"):
                continue
            to = str(step.params["to"])
            try:
                current = self.provider.current()
            except ProviderError:
                current = ()
            if current == (() if to == "base" else (to,)):
                return SchemaTarget()
            return SchemaTarget("stamp" if mode == "stamp" else "revision", revision=to)
        return SchemaTarget()

    def require_backup(self, plan: Plan) -> None:
        """Refuse to run a plan without a backup step unless the skip has a reason.

        A point-in-time recovery is exempt: it restores into a NEW instance and never
        writes to the live database (which may not even be reachable by pg_dump: RDS,
        Cloud SQL, Neon), so a dump of it protects nothing the plan changes."""
        if plan.action == "pitr":
            return
        if not self.required or any(s.op == self.provider.BACKUP_OP for s in plan.steps):
            return
        if self.incident.state_of("db-backup") is ItemState.DONE:
            return  # taken earlier in this incident (a resumed rollback)
        if not self.backup_skip_reason():
            raise InvalidTarget(
                f"a verified backup of {self.provider.target_label()} is required before "
                "the rollback: plan again with the backup step, or skip it saying why"
            )

    # ----------------------------------------------------------------- running

    def prepare(self, plan: Plan) -> Plan:
        """Before ``plan`` (or what is left of it) runs: refuse it without its backup, and
        mark the items no step of it will tick.  Returns it with its steps typed."""
        plan = self.typed(plan)
        self.require_backup(plan)
        db = self.provider
        ops = {step.op for step in plan.steps}
        pending = ItemState.PENDING
        if not ops & {db.SCHEMA_OP, db.RESTORE_OP} and (
            self.incident.state_of("db-schema") is pending
        ):
            self.incident.mark("db-schema", ItemState.SKIPPED, "no schema change planned")
        if db.CHECKS_OP not in ops and self.incident.state_of("db-checks") is pending:
            self.incident.mark("db-checks", ItemState.SKIPPED, "no checks configured")
        return plan

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        """One database step: its output lines, then the line saying how it ended.

        A backup that is not required, or checks that cannot run, end the step
        SKIPPED (a ``Skipped`` line) and the plan goes on; any other failure is
        marked on its checklist item and raised.
        """
        db = self.provider
        op = step.op
        try:
            if op == db.BACKUP_OP:
                return (yield from self._backup(Path(step.params["path"])))
            if op == db.CHECKS_OP:
                return (yield from self._checks(str(step.params["phase"])))
            if op == db.RESTORE_OP:
                return (yield from self._restore(Path(step.params["path"])))
            return (yield from self._schema(step))
        except ProviderError as err:
            text = self.redact(str(err))
            if op == db.BACKUP_OP and not self.required:
                self.incident.mark("db-backup", ItemState.FAILED, text)
                return Skipped(f"backup failed, continuing (require_backup = false): {text}")
            if op == db.CHECKS_OP:
                # Checks inform; they never stop a rollback (the database may be the
                # thing that is down, and the backup was skipped for that reason).
                phase = step.params.get("phase", "")
                self.incident.mark("db-checks", ItemState.FAILED, f"could not run: {text}")
                self._note(f"Database checks ({phase}) could not run: {text}")
                return Skipped(f"checks could not run: {text}")
            self._failed(op, text)
            raise
        except Exception as err:
            self._failed(op, self.redact(f"{type(err).__name__}: {err}"))
            raise

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        """A backup: its verified file is there; a schema step: the database records its
        target.  Checks and a restore cannot be told from the database: None."""
        db = self.provider
        if step.op == db.BACKUP_OP:
            return Path(step.params["path"]).is_file()
        if step.op == db.SCHEMA_OP:
            return db.schema_took_effect(step)
        return None

    def _note(self, text: str) -> None:
        """A line for the history entry's notes, journaled so a resumed rollback keeps it."""
        note = self.redact(text)
        self.incident.notes.append(note)
        self.incident.journal_event("note", note=note)

    def _failed(self, op: str, text: str) -> None:
        db = self.provider
        item = {db.BACKUP_OP: "db-backup", db.CHECKS_OP: "db-checks"}.get(op, "db-schema")
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
    provider = load_database(service)
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
    platform: Provider | None = None,
) -> DatabaseStatus:
    """What the database panel and ``db-status`` show (never raises; see ``status``).

    ``release``: the revision a rollback would go to; the status then says
    which schema it expects (when its folder holds its scripts: ``platform``,
    the service's provider, loaded when not given) and which migrations a
    schema rollback to it would cross.
    """
    provider = load_database(service)
    status = provider.status(checks=checks, backup_dir=backup_dir_for(service, state_dir))
    if release is None:
        return status
    folder = releases_dir(platform or platform_of(service), release)
    try:
        heads = provider.heads_for_release(folder, release)
        crossed, losses = provider.crossing(status.current, heads) if status.connected else ((), ())
    except ProviderError:
        heads, crossed, losses = (), (), ()
    return dataclasses.replace(
        status, release=release.version, release_heads=heads, crossing=crossed, losses=losses
    )
