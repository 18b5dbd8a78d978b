"""The database side: migrations, data loss, schema targets, checks, backups, status."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from console.clock import utcnow

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
