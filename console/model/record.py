"""The incident record: checklist, timeline, outcome, verification, the history entry."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from console.clock import utcnow
from console.model.plan import Difference
from console.model.platform import Revision
from console.model.signals import HealthResult, Sample, Severity

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
class CheckPair:
    """One configured database check on the live database (before) and on the restored one
    (after a point-in-time recovery): the values side by side, as the entry shows them."""

    name: str
    live: str
    restored: str


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
    #: The plan's "What changes" and "Who will undo it" (``Plan.changes``, ``.undone_by``).
    changes: tuple[Difference, ...] = ()
    undone_by: tuple[str, ...] = ()
    #: "typed" or "accepted" (the console's suggestion from the assessment); "" unknown.
    reason_given: str = ""
    #: A point-in-time recovery's checks, live against restored (none otherwise).
    checks: tuple[CheckPair, ...] = ()

    @property
    def time_to_recover_s(self) -> float | None:
        if self.recovered_at is None or not self.outcome.recovered:
            return None
        return (self.recovered_at - self.detected_at).total_seconds()
