"""One incident: its timeline, checklist state and the numbers before and after.

The incident is the single place the flow writes to; every event also goes
to the append-only journal (fsync'd before the flow acts on it), and the
history entry is rendered from ``Incident.to_record``.  The journal file
starts with the first change (``JOURNAL_STARTS``): the events before it are
held and written with it, so a dry run or a refused run leaves no file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from console.checklist import checklist_for
from console.config import ServiceConfig
from console.journal import Journal, journal_path, new_incident_id
from console.model import (
    Assessment,
    ChecklistItem,
    ChecklistMark,
    CheckPair,
    HistoryRecord,
    ItemState,
    Outcome,
    Plan,
    Revision,
    Sample,
    Severity,
    TimelineEvent,
    Verification,
    utcnow,
)
from console.severity import describe

#: The events that start an incident's journal file: the first change to the platform or
#: the database.  Before one of them nothing was changed, so there is nothing to resume.
JOURNAL_STARTS = frozenset({"execute", "db-restore"})


@dataclass
class Incident:
    """Mutable record of one rollback, owned by a ``RollbackFlow``.

    Methods are safe to call from worker threads (one lock guards the lists):
    the TUI's workers and the UI thread both touch it.
    """

    service: ServiceConfig
    operator: str
    state_dir: Path
    reason: str = ""
    impact: str = ""
    #: How the reason came: "typed" by the operator, or "accepted" as the console
    #: suggested it from the assessment ("" when not known: a headless --reason is typed).
    reason_given: str = ""
    clock: Callable[[], datetime] = utcnow
    redact: Callable[[str], str] = str
    detected_at: datetime = field(default_factory=utcnow)
    id: str = ""
    timeline: list[TimelineEvent] = field(default_factory=list)
    marks: dict[str, ChecklistMark] = field(default_factory=dict)
    assessment: Assessment | None = None
    plan: Plan | None = None
    before: Sample | None = None
    after: Sample | None = None
    verification: Verification | None = None
    recovered_at: datetime | None = None
    notes: list[str] = field(default_factory=list)
    #: A point-in-time recovery's checks, live against restored, by check name (the last
    #: run of each counts: a restore planned again runs them again).
    checks: dict[str, CheckPair] = field(default_factory=dict)
    #: True when this object continues an interrupted incident's journal (``console.resume``).
    resumed: bool = False
    _journal: Journal | None = None
    #: Encoded events held back until the journal file starts (see ``_write``);
    #: None once it has.
    _pending: list[bytes] | None = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not self.id:
            self.id = new_incident_id(self.service.name, self.detected_at)
        redact = None if self.redact is str else self.redact
        self._journal = Journal(journal_path(self.state_dir, self.id), redact=redact)
        if self.resumed:
            self._pending = None  # its journal is there already
            self._write({"event": "resumed", "operator": self.operator})
            return
        self._write(
            {
                "event": "opened",
                "service": self.service.name,
                "environment": self.service.environment,
                "operator": self.operator,
                "detected_at": self.detected_at,
            }
        )
        if self.reason or self.impact:
            self.journal_event(
                "reason",
                reason=self.redact(self.reason),
                impact=self.redact(self.impact),
                given=self.reason_given,
            )
        self.log("opened", f"Incident opened on {self.service.label} by {self.operator}")

    @property
    def checklist(self) -> tuple[ChecklistItem, ...]:
        return checklist_for(
            self.service.checklist,
            database=self.service.database is not None,
            steps=self.service.steps,
        )

    @property
    def journal_file(self) -> Path:
        return journal_path(self.state_dir, self.id)

    @property
    def journal_started(self) -> bool:
        """Whether the journal file exists: something was changed (or this is a resume)."""
        return self._pending is None

    def _write(self, event: dict[str, Any]) -> None:
        """Journal ``event``; until the first change, hold it back in memory.

        A dry run, a refused run (lock held, bad target) or an aborted
        confirmation changes nothing and leaves nothing to resume, so it must
        not leave a journal file that every later command reads again.  The
        events before the first change (``JOURNAL_STARTS``) are encoded at
        once, so they say what they said when they happened, and written with
        it in one append, fsync'd before the change is made.  The file then
        reads exactly as if each event had been written as it happened.
        """
        if self._journal is None:
            return
        line = self._journal.encode({"at": self.clock(), "incident": self.id, **event})
        if self._pending is None:
            self._journal.write_lines([line])
        elif event.get("event") in JOURNAL_STARTS:
            self._journal.write_lines([*self._pending, line])
            self._pending = None
        else:
            self._pending.append(line)

    def journal_event(self, event: str, **data: Any) -> None:
        """Journal a structured event (plan, step, ready, verified...) that resume reads back.

        Written (and fsync'd) before the caller acts on it; strings in it must
        already be redacted.
        """
        with self._lock:
            self._write({"event": event, **data})

    def log(self, kind: str, message: str) -> TimelineEvent:
        """Add a timeline line (redacted), journaled before it is shown."""
        event = TimelineEvent(at=self.clock(), kind=kind, message=self.redact(message))
        with self._lock:
            self._write({"event": "timeline", "kind": kind, "message": event.message})
            self.timeline.append(event)
        return event

    def mark(self, item_id: str, state: ItemState, note: str = "") -> None:
        """Tick, skip or fail a checklist item; skipping a required item needs a note."""
        item = next((i for i in self.checklist if i.id == item_id), None)
        if item is None:
            return
        if state is ItemState.SKIPPED and (item.required or item.skippable) and not note.strip():
            raise ValueError(f"'{item.text}' is required: say why it is skipped")
        mark = ChecklistMark(item_id, state, self.redact(note), at=self.clock())
        with self._lock:
            self._write({"event": "checklist", "item": item_id, "state": state, "note": mark.note})
            self.marks[item_id] = mark
        verb = {"done": "ticked", "skipped": "skipped", "failed": "failed", "pending": "cleared"}
        suffix = f": {mark.note}" if mark.note else ""
        self.log("checklist", f"{verb[state.value]} '{item.text}'{suffix}")

    def add_check(self, pair: CheckPair) -> None:
        """Keep one check's values on the live and the restored database (redacted), journaled
        so that a resumed incident's entry still has them."""
        pair = CheckPair(self.redact(pair.name), self.redact(pair.live), self.redact(pair.restored))
        with self._lock:
            self._write(
                {
                    "event": "db_check",
                    "name": pair.name,
                    "live": pair.live,
                    "restored": pair.restored,
                }
            )
            self.checks[pair.name] = pair

    def state_of(self, item_id: str) -> ItemState:
        mark = self.marks.get(item_id)
        return mark.state if mark else ItemState.PENDING

    def missing_required(self, phase: str = "prepare") -> list[ChecklistItem]:
        """Required items of ``phase`` that are neither done nor skipped with a reason."""
        return [
            item
            for item in self.checklist
            if item.phase == phase
            and item.required
            and self.state_of(item.id) not in (ItemState.DONE, ItemState.SKIPPED)
        ]

    def set_assessment(self, assessment: Assessment, sample: Sample | None) -> None:
        self.assessment = assessment
        if self.before is None:
            self.before = sample
        self.journal_event("assessed", severity=assessment.severity, sample=self.before)
        self.log(
            "assessed",
            describe(assessment)
            + (f" ({'; '.join(assessment.reasons)})" if assessment.reasons else ""),
        )

    def to_record(self, outcome: Outcome, finished_at: datetime | None = None) -> HistoryRecord:
        """Freeze the incident into what the history entry shows."""
        plan = self.plan
        with self._lock:
            timeline = tuple(self.timeline)
            marks = dict(self.marks)
            notes = tuple(self.notes)
            checks = tuple(self.checks.values())
        action = ""
        if plan is not None and plan.action != "rollback":
            action = f"{plan.action} {plan.argument}".strip()
        severity = self.assessment.severity if self.assessment else Severity.UNKNOWN
        from_rev: Revision | None = plan.from_revision if plan else None
        to_rev: Revision | None = plan.to_revision if plan else None
        return HistoryRecord(
            incident_id=self.id,
            service=self.service.name,
            environment=self.service.environment,
            provider=self.service.provider,
            operator=self.operator,
            reason=self.redact(self.reason) or "(none given)",
            reason_given=self.reason_given,
            severity=severity,
            impact=self.redact(self.impact) or _impact_from(self.before),
            outcome=outcome,
            detected_at=self.detected_at,
            finished_at=finished_at or self.clock(),
            # Time to recover is for verified recoveries only (``Outcome.recovered``).
            recovered_at=self.recovered_at if outcome.recovered else None,
            from_revision=from_rev,
            to_revision=to_rev,
            timeline=timeline,
            checklist=tuple((item, marks.get(item.id)) for item in self.checklist),
            before=self.before,
            after=self.after,
            verification=self.verification.message if self.verification else "not verified",
            notes=notes,
            action=action,
            changes=plan.changes if plan else (),
            undone_by=plan.undone_by if plan else (),
            checks=checks,
        )


def _impact_from(sample: Sample | None) -> str:
    """A factual default impact line when the operator gave none."""
    if sample is None or sample.error_rate is None:
        return "not measured"
    p95 = f", p95 {sample.p95_ms:.0f} ms" if sample.p95_ms is not None else ""
    return f"{sample.error_rate:.1%} of probed requests failing{p95} when assessed"
