"""Plain data shared by providers, signals, the flow and the screens.

Everything here is a frozen dataclass or an enum with no I/O, so providers can
translate SDK objects or raw JSON into it at the edge and every other module can
be tested without a terminal or a platform.  Times are timezone-aware UTC
``datetime`` values; durations are seconds as ``float``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

# The one clock the core reads (its own module: the first frame needs nothing else of ours).
from console.clock import utcnow as utcnow

# --------------------------------------------------------------------------- platform state


@dataclass(frozen=True)
class Revision:
    """One deployable version of a service as the platform knows it.

    ``id`` is what the platform calls it (a release folder name, a git commit,
    a Kubernetes revision number, an ECS ``family:rev``, a Cloud Run revision
    name) and is what ``--to`` accepts; ``version`` is the human label (tag,
    image tag, release name) shown beside it.
    """

    id: str
    version: str
    created: datetime | None = None
    change_cause: str = ""
    image: str = ""
    current: bool = False
    detail: str = ""


@dataclass(frozen=True)
class Unit:
    """One running piece of the service: a process, a pod, a task, an instance."""

    name: str
    state: str
    ready: bool
    revision: str = ""
    restarts: int = 0
    started: datetime | None = None
    node: str = ""
    detail: str = ""


@dataclass(frozen=True)
class TrafficTarget:
    """Share of traffic a revision receives (Cloud Run, blue/green, canaries)."""

    revision: str
    percent: int
    tag: str = ""
    #: The share follows the latest Ready revision (Cloud Run's LATEST); ``revision``
    #: is the one it resolves to now.
    latest: bool = False


@dataclass(frozen=True)
class PlatformEvent:
    """Something the platform reported about the service (a Kubernetes Event, an ECS event)."""

    at: datetime | None
    kind: str
    reason: str
    object: str
    message: str
    count: int = 1


@dataclass(frozen=True)
class RestorePoint:
    """A copy of the service's data the platform can restore from (an RDS snapshot).

    Listed on the dashboard so the operator sees, before deciding, how old the
    newest copy is; restoring one is a provider action of its own.
    """

    id: str
    created: datetime | None
    status: str
    detail: str = ""


@dataclass(frozen=True)
class Snapshot:
    """What a provider saw of one service at one moment."""

    service: str
    environment: str
    provider: str
    taken_at: datetime
    current: Revision | None
    revisions: tuple[Revision, ...] = ()
    units: tuple[Unit, ...] = ()
    traffic: tuple[TrafficTarget, ...] = ()
    paused: bool = False
    notes: tuple[str, ...] = ()
    #: Recent platform events, newest first.
    events: tuple[PlatformEvent, ...] = ()
    #: Provider-specific facts shown as "key: value" lines (generation, conditions,
    #: deployments, circuit breaker...): label -> value.
    facts: tuple[tuple[str, str], ...] = ()
    #: Where ``restore_points`` come from ("RDS orders-db"); "" = this provider has none.
    restore_source: str = ""
    #: Restore points, newest first (RDS snapshots of the service's database).
    restore_points: tuple[RestorePoint, ...] = ()
    #: Why the restore points could not be read ("" when they were).
    restore_error: str = ""

    def previous(self) -> Revision | None:
        """The revision a plain "roll back" goes to: the one listed right after the current one.

        Revisions are newest first, so this is the release deployed before the live
        one (kubectl's "previous" for Kubernetes).  With no known current revision,
        the newest revision is returned.
        """
        ids = [r.id for r in self.revisions]
        if self.current is None or self.current.id not in ids:
            return self.revisions[0] if self.revisions else None
        idx = ids.index(self.current.id)
        return self.revisions[idx + 1] if idx + 1 < len(self.revisions) else None

    def find(self, rev_id: str) -> Revision | None:
        """The revision whose id (or, failing that, version label) equals ``rev_id``."""
        for rev in self.revisions:
            if rev.id == rev_id:
                return rev
        for rev in self.revisions:
            if rev.version == rev_id:
                return rev
        return None


# --------------------------------------------------------------------------- plans and progress


class StepKind(enum.StrEnum):
    """What a step touches, so the flow can order and describe it."""

    BACKUP = "backup"
    SWITCH = "switch"
    COMMAND = "command"
    RESTART = "restart"
    RELOAD = "reload"
    WAIT = "wait"
    MIGRATION = "migration"


@dataclass(frozen=True)
class Step:
    """One step of a plan: the sentence an operator reads, and what runs, as data.

    ``op`` is a namespaced verb owned by one part of the plan (``host.symlink``,
    ``k8s.undo``, ``ecs.update_service``, ``db.backup``...) and ``params`` its
    arguments: JSON values only, never a secret, journaled as they are, so
    that resume can ask the op's owner whether the step took effect.
    ``command`` is the shell command an operator could type instead, rendered
    from op and params by the owning part when the plan is made: what is shown
    is what runs, and nothing ever parses it back.
    """

    title: str
    command: str
    kind: StepKind = StepKind.COMMAND
    #: Only for a step read from a journal of the previous version (no ``op``): its argv.
    argv: tuple[str, ...] = ()
    timeout_s: float = 60.0
    op: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """An ordered, validated rollback of one service from one revision to another.

    A plan is made of parts (the platform switch, the database, and later
    traffic, the CDN, GitOps, custom steps), each contributing steps whose ops
    it owns; one runner executes any plan (``console.runner``).
    """

    service: str
    environment: str
    provider: str
    from_revision: Revision | None
    to_revision: Revision
    steps: tuple[Step, ...]
    warnings: tuple[str, ...] = ()
    dry_run: bool = False
    #: "rollback", or the id of a provider ``Action`` (restart, restore-manifest, ...).
    action: str = "rollback"
    #: What the action acts on when it is not a revision (a manifest file, an image tag).
    argument: str = ""
    #: Only for a plan read from a journal of the previous version (steps without
    #: ``op``): what it journaled for resume (``{"resume": ...}``), read by the providers'
    #: legacy modules.  Plans made now carry everything in their steps' params.
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    #: What a part worked out at plan time and needs again when a step runs, but that
    #: is too large or too private for the journal (a copied task definition with its
    #: environment): read-only, never journaled.  After a crash the plan is made anew.
    context: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False
    )

    @property
    def summary(self) -> str:
        """The sentence every confirmation shows."""
        frm = self.from_revision.version if self.from_revision else "(unknown)"
        if self.action != "rollback":
            what = f" {self.argument}" if self.argument else ""
            return f"{self.action}{what} on {self.service} ({self.environment}), now at {frm}"
        return (
            f"Roll back {self.service} ({self.environment}) "
            f"from {frm} to {self.to_revision.version}"
        )


class ProgressStatus(enum.StrEnum):
    STARTED = "started"
    OUTPUT = "output"
    FINISHED = "finished"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Action:
    """Something a provider can do besides "roll back to a revision".

    ``argument`` says what the operator must choose: "" (nothing), "revision",
    "file" (a saved manifest, a backup), "image" (an image tag), "snapshot".
    ``choices`` lists what may be chosen, when the provider knows.
    """

    id: str
    title: str
    description: str
    argument: str = ""
    choices: tuple[str, ...] = ()
    dangerous: bool = False


@dataclass(frozen=True)
class ProgressEvent:
    """One thing that happened while a plan ran; the timeline is made of these."""

    step: int
    status: ProgressStatus
    message: str
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class ReadyResult:
    """What ``wait_ready`` observed: ready or not, and why."""

    ready: bool
    message: str
    waited_s: float = 0.0


# --------------------------------------------------------------------------- signals


@dataclass(frozen=True)
class HealthResult:
    """One health-check request and what came back."""

    url: str
    ok: bool
    status_code: int | None
    latency_ms: float | None
    error: str = ""
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class Sample:
    """Error rate and latency over the source's window at one moment."""

    at: datetime
    error_rate: float | None
    p95_ms: float | None
    requests: int = 0
    source: str = ""
    #: Of ``requests``, how many were still waiting for an answer when the sample was
    #: taken; they count as errors until answered (``ProbeSource.sample(since=...)``).
    pending: int = 0


# --------------------------------------------------------------------------- assessment


class Severity(enum.StrEnum):
    """Runbook 002's scale; CRITICAL and HIGH mean roll back, the rest forward-fix."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Assessment:
    """How urgent a rollback is and by when the operator must decide."""

    severity: Severity
    recommendation: str
    reasons: tuple[str, ...]
    deadline: datetime | None
    error_rate: float | None = None
    p95_ms: float | None = None
    #: True while there is too little data for a verdict (fewer requests than
    #: ``thresholds.min_requests``, or no health result yet): the severity is then
    #: UNKNOWN and the recommendation says "assessing (n of N samples)".
    assessing: bool = False
    #: Requests the error-rate source had measured, and how many a verdict needs.
    samples: int = 0
    samples_needed: int = 0


# --------------------------------------------------------------------------- incident record


class ItemState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class ChecklistItem:
    """One runbook checklist line; ``auto`` items are ticked by the console itself."""

    id: str
    phase: str
    text: str
    auto: bool = False
    required: bool = False
    #: An ``auto`` item the operator may still skip, always with a reason (the database
    #: backup: ticked when the backup step verified it, or skipped saying why).
    skippable: bool = False


@dataclass(frozen=True)
class ChecklistMark:
    """The state an operator (or the console) gave an item, and why."""

    item_id: str
    state: ItemState
    note: str = ""
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str
    message: str


class Outcome(enum.StrEnum):
    """How an incident ended.  The values are a contract: history files hold them (an
    action's entry holds ``outcome_text`` instead, read back to these), and
    ``history --json`` gives them to scripts.  Add values; never rename one."""

    ROLLED_BACK = "rolled back and verified"
    NOT_VERIFIED = "rolled back, not verified"
    FAILED = "rollback failed"
    ABORTED = "aborted"
    DRY_RUN = "dry run"
    #: Resume found the switch the console had made no longer live (someone put another
    #: release back after it stopped): never "rolled back".
    UNDONE = "not rolled back: the switch was undone"
    #: A database backup was restored (``db-restore``): no service was verified.
    RESTORED = "restored"

    @property
    def recovered(self) -> bool:
        """Whether this outcome is a verified recovery: the only kind with a time to recover.

        A new outcome that stands for a verified recovery must say so here, or
        its entries drop out of the median time to recover.
        """
        return self is Outcome.ROLLED_BACK


@dataclass(frozen=True)
class Verification:
    """The verdict of watching the service after a rollback."""

    passed: bool
    message: str
    window_s: float
    before: Sample | None
    after: Sample | None
    health: tuple[HealthResult, ...] = ()
    #: Whether every health round of the whole window passed (None: not known, an
    #: older journal), so each checklist item is ticked from its own evidence.
    health_held: bool | None = None


@dataclass(frozen=True)
class HistoryRecord:
    """Everything one rollback-history entry holds, frozen at the moment it is written.

    ``detected_at`` is when the incident was opened (the operator saw the
    problem); ``recovered_at`` is when verification passed; time to recover is
    the difference, and is None when the service was not verified (an outcome
    that is not a verified recovery never has one, whatever ``recovered_at`` says).
    """

    incident_id: str
    service: str
    environment: str
    provider: str
    operator: str
    reason: str
    severity: Severity
    impact: str
    outcome: Outcome
    detected_at: datetime
    finished_at: datetime
    recovered_at: datetime | None
    from_revision: Revision | None
    to_revision: Revision | None
    timeline: tuple[TimelineEvent, ...] = ()
    checklist: tuple[tuple[ChecklistItem, ChecklistMark | None], ...] = ()
    before: Sample | None = None
    after: Sample | None = None
    verification: str = ""
    notes: tuple[str, ...] = ()
    #: "" for a rollback; else the provider action and its argument ("restart",
    #: "rollback-image v1.2.9"), which the entry's headline and table name.
    action: str = ""
    #: "typed" or "accepted" (the console's suggestion from the assessment); "" unknown.
    reason_given: str = ""

    @property
    def time_to_recover_s(self) -> float | None:
        if self.recovered_at is None or not self.outcome.recovered:
            return None
        return (self.recovered_at - self.detected_at).total_seconds()


# --------------------------------------------------------------------------- database side


@dataclass(frozen=True)
class MigrationRevision:
    """One migration as the migration tool's scripts know it (an Alembic revision).

    ``down`` holds the revisions it follows (several for a merge point).
    """

    id: str
    message: str
    down: tuple[str, ...] = ()
    is_head: bool = False
    path: str = ""


@dataclass(frozen=True)
class DataLoss:
    """Something a downgrade destroys, named: a column or a table, and the revision doing it."""

    revision: str
    table: str
    column: str = ""
    #: "drop_column", "drop_table", or "sql" (a DROP found in raw SQL).
    operation: str = "drop_column"

    @property
    def label(self) -> str:
        """``table.column`` or ``table``, as the warning names it."""
        return f"{self.table}.{self.column}" if self.column else self.table


@dataclass(frozen=True)
class SchemaTarget:
    """What the rollback does to the schema: nothing, N steps down, down to a revision, or stamp.

    ``mode`` is "none", "steps", "revision" or "stamp".  Stamp only rewrites
    the recorded revision (runbook 004's repair case); it runs no migration.
    """

    mode: str = "none"
    steps: int = 0
    revision: str = ""

    @property
    def changes_schema(self) -> bool:
        return self.mode != "none"

    def describe(self) -> str:
        if self.mode == "steps":
            return f"downgrade {self.steps} step{'s' if self.steps != 1 else ''}"
        if self.mode == "revision":
            return f"downgrade to {self.revision}"
        if self.mode == "stamp":
            return f"stamp {self.revision} (no migration runs)"
        return "no schema change"


@dataclass(frozen=True)
class CheckResult:
    """One configured SQL check (a row count...) and what it returned."""

    name: str
    value: str
    ok: bool
    error: str = ""
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class BackupInfo:
    """A ``pg_dump -Fc`` file and what verifying it with ``pg_restore --list`` found."""

    path: str
    size_bytes: int
    verified: bool
    #: Table-of-contents entries ``pg_restore --list`` printed (0 when not verified).
    entries: int = 0
    duration_s: float | None = None
    taken_at: datetime | None = None
    #: The database it holds ("mks_db"); never a DSN.
    database: str = ""
    message: str = ""

    @property
    def summary(self) -> str:
        """``FILE, 1.2 MB in 0.4 s, verified (23 entries)``: what the screens and history show."""
        size = format_bytes(self.size_bytes)
        took = f" in {self.duration_s:.1f} s" if self.duration_s is not None else ""
        if not self.verified:
            state = "NOT verified"
        elif self.entries:
            state = f"verified ({self.entries} entries)"
        else:  # verified when taken, its entries not counted now
            state = self.message or "verified"
        return f"{self.path}, {size}{took}, {state}"


@dataclass(frozen=True)
class DatabaseStatus:
    """What the database panel and ``db-status`` show; never holds the DSN."""

    connected: bool
    checked_at: datetime
    #: "mks_db on db.internal:5432 as mks_user" (no password).
    target: str = ""
    server_version: str = ""
    migrations: str = "alembic"
    #: The revision(s) the database records (alembic_version), or the status command's output.
    current: tuple[str, ...] = ()
    heads: tuple[str, ...] = ()
    #: Migration scripts, newest first.
    history: tuple[MigrationRevision, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    last_backup: BackupInfo | None = None
    error: str = ""
    notes: tuple[str, ...] = ()
    #: The release a rollback would go to (the dashboard's target), and the schema
    #: head(s) its scripts end at: () when that is not knowable.
    release: str = ""
    release_heads: tuple[str, ...] = ()
    #: Migrations whose downgrade() a schema rollback to ``release_heads`` would run,
    #: newest first, and the columns and tables those downgrades drop.
    crossing: tuple[MigrationRevision, ...] = ()
    losses: tuple[DataLoss, ...] = ()


def format_bytes(size: int) -> str:
    """A file size as an operator reads it: 812 B, 14.2 kB, 1.2 MB, 3.4 GB."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover
