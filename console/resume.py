"""Finding an interrupted rollback in the journal and rebuilding it.

The journal (``console.journal``) holds every event of an incident, fsync'd
before the console acted on it.  When the console, the SSH session or the
bastion died mid-rollback, the journal of that incident has an ``execute``
event but no ``recorded`` one: that incident is *open*.  This module reads it
back into a ``JournalState`` (what was planned, which steps started and
finished, whether the platform was seen ready, the verification) and into an
``Incident`` that continues the same journal, so the resumed rollback ends in
one history entry that shows the interruption.

What "already took effect" means is decided by the flow from the platform's
real state, not from the journal alone (see ``RollbackFlow.resume_execute``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from console import journal
from console.lock import LockInfo, holder
from console.model import (
    ChecklistMark,
    CheckPair,
    Difference,
    ItemState,
    Plan,
    ReadyResult,
    Revision,
    Sample,
    Severity,
    Step,
    StepKind,
    TimelineEvent,
    Verification,
)


@dataclass
class JournalState:
    """What one incident's journal says happened, in the order it happened."""

    incident_id: str
    path: Path
    service: str = ""
    environment: str = ""
    operator: str = ""
    detected_at: datetime | None = None
    reason: str = ""
    reason_given: str = ""
    impact: str = ""
    plan: Plan | None = None
    #: Indices of plan steps seen FINISHED / SKIPPED, and the last one seen STARTED.
    steps_done: set[int] = field(default_factory=set)
    step_started: int | None = None
    step_failed: int | None = None
    executing: bool = False
    #: When execution started (the first ``execute`` event), and on which host.
    executed_at: datetime | None = None
    host: str = ""
    ready: ReadyResult | None = None
    verification: Verification | None = None
    recovered_at: datetime | None = None
    recorded: bool = False
    #: The rollback finished but its history entry could not be written (disk full...).
    record_failed: bool = False
    closed: bool = False
    before: Sample | None = None
    severity: Severity = Severity.UNKNOWN
    timeline: list[TimelineEvent] = field(default_factory=list)
    marks: dict[str, ChecklistMark] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: A point-in-time recovery's checks (``db_check`` events), by name.
    checks: dict[str, CheckPair] = field(default_factory=dict)
    #: The plan was held before this step on purpose (``held``): the switch not confirmed.
    held_at: int | None = None
    #: When the last event was written: about when the console stopped.
    last_at: datetime | None = None
    resumes: int = 0
    #: The console that holds this incident's lock now (``open_incidents`` fills it in):
    #: a rollback still running, not an interrupted one.
    live: LockInfo | None = None
    #: ``file:line: ...`` for each line skipped because it could not be read (a value
    #: of the wrong type, hand-edited or written by something else).
    warnings: list[str] = field(default_factory=list)

    @property
    def open(self) -> bool:
        """Execution started and no history entry was written: a rollback left half-way."""
        return self.executing and not self.recorded and not self.closed

    @property
    def interrupted(self) -> bool:
        """Open, and no live console holds it: the console running it stopped."""
        return self.open and self.live is None

    def describe(self) -> list[str]:
        """What was done and what was not, one line each, for the resume offer."""
        lines: list[str] = []
        plan = self.plan
        if plan is None:
            return ["no plan was journaled"]
        lines.append(plan.summary)
        for index, step in enumerate(plan.steps):
            if index in self.steps_done:
                state = "done"
            elif index == self.step_failed:
                state = "FAILED"
            elif index == self.step_started:
                state = "started, not seen finishing"
            else:
                state = "not started"
            lines.append(f"{index + 1}. {step.title}: {state}")
        if self.ready is not None:
            lines.append(
                f"platform {'ready' if self.ready.ready else 'NOT ready'}: {self.ready.message}"
            )
        if self.verification is not None:
            lines.append(
                f"{'verified' if self.verification.passed else 'not verified'}: "
                f"{self.verification.message}"
            )
        if self.record_failed:
            lines.append("finished, but the history entry could not be saved")
        return lines


def read_state(path: Path) -> JournalState:
    """Fold one journal file into a ``JournalState``.

    Torn lines are skipped by the reader.  A line whose values have the wrong
    type (``"index": "x"``, ``"plan": 5``) is skipped whole, with a warning
    naming ``file:line`` in ``warnings``: the rest of the journal still counts,
    so an open incident is neither lost nor a crash of ``status`` or ``resume``.
    """
    state = JournalState(incident_id=path.stem, path=path)
    for line, event in journal.read_numbered(path):
        if event is None:
            state.warnings.append(f"{path}:{line}: skipped a line that is not a journal event")
            continue
        try:
            _fold(state, event)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            state.warnings.append(
                f"{path}:{line}: skipped an event that cannot be read "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})"
            )
            continue
        state.last_at = _dt(event.get("at")) or state.last_at
        state.incident_id = str(event.get("incident") or state.incident_id)
    return state


def _fold(state: JournalState, event: dict[str, Any]) -> None:
    """Apply one event to ``state``: all of it, or (raising) nothing."""
    kind = event.get("event")
    at = _dt(event.get("at"))
    if kind == "opened":
        state.service = str(event.get("service", ""))
        state.environment = str(event.get("environment", ""))
        state.operator = str(event.get("operator", ""))
        state.detected_at = _dt(event.get("detected_at"))
    elif kind == "detected":  # the first unhealthy observation, after the opening
        state.detected_at = _dt(event.get("detected_at")) or state.detected_at
    elif kind == "resumed":
        state.resumes += 1
    elif kind == "timeline":
        state.timeline.append(
            TimelineEvent(
                at=at or datetime.min,
                kind=str(event.get("kind", "")),
                message=str(event.get("message", "")),
            )
        )
    elif kind == "checklist":
        item = str(event.get("item", ""))
        state.marks[item] = ChecklistMark(
            item,
            ItemState(event.get("state", "pending")),
            str(event.get("note", "")),
            at=at or datetime.min,
        )
    elif kind == "reason":
        state.reason = str(event.get("reason", ""))
        state.impact = str(event.get("impact", ""))
        state.reason_given = str(event.get("given", ""))
    elif kind == "assessed":
        severity = Severity(event.get("severity", "unknown"))
        if state.before is None and event.get("sample"):
            state.before = sample_from(event["sample"])
        state.severity = severity
    elif kind == "plan":
        state.plan = plan_from(event["plan"])
        state.steps_done, state.step_started, state.step_failed = set(), None, None
        state.held_at = None
        state.ready = None
        state.verification, state.recovered_at, state.record_failed = None, None, False
    elif kind == "execute":
        state.executing = True
        state.executed_at = state.executed_at or at
        state.host = str(event.get("host") or state.host)
    elif kind == "step":
        index, status = int(event.get("index", -1)), event.get("status")
        if status == "started":
            state.step_started = index
        elif status in ("finished", "skipped"):
            state.steps_done.add(index)
        elif status == "failed":
            state.step_failed = index
    elif kind == "ready":
        state.ready = ReadyResult(
            bool(event.get("ready")),
            str(event.get("message", "")),
            float(event.get("waited_s", 0.0)),
        )
    elif kind == "verified":
        state.verification = verification_from(event["verification"])
        state.recovered_at = _dt(event.get("recovered_at"))
    elif kind == "note":
        state.notes.append(str(event.get("note", "")))
    elif kind == "db_check":
        name = str(event["name"])
        state.checks[name] = CheckPair(
            name, str(event.get("live", "")), str(event.get("restored", ""))
        )
    elif kind == "held":
        state.held_at = int(event["index"])
    elif kind == "recorded":
        state.recorded = True
    elif kind == "record_failed":
        state.record_failed = True
    elif kind == "closed":
        state.closed = True


def incidents(state_dir: Path, service: str | None = None) -> list[JournalState]:
    """Every readable incident journal in ``state_dir`` (only ``service``'s when given)."""
    folder = state_dir / "journal"
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.jsonl")):
        try:
            state = read_state(path)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable journal: not something we can resume
        if service is None or state.service == service:
            found.append(state)
    return found


def open_incidents(state_dir: Path, service: str | None = None) -> list[JournalState]:
    """Open incidents in ``state_dir``, oldest first; only ``service``'s when given.

    Each says whether a console still runs it (``live``: it holds the
    service's lock on this host) or it was interrupted (``interrupted``).
    """
    found = [state for state in incidents(state_dir, service) if state.open]
    for state in found:
        owner = holder(state_dir, state.service, state.environment)
        if owner is not None and owner.incident == state.incident_id:
            state.live = owner
    return found


# --------------------------------------------------------------------------- encoding


def plan_for_journal(plan: Plan) -> dict[str, Any]:
    """The plan as the journal keeps it: every field but ``context`` (large, private).

    What resume needs is in the steps' params.  ``data`` is journaled as it was
    read only for a plan of the previous version's journal (``legacy_data``).
    """
    fields = {
        f.name: getattr(plan, f.name)
        for f in dataclasses.fields(plan)
        if f.name not in ("data", "context")
    }
    if plan.data:
        fields["data"] = dict(plan.data)
    return fields


def revision_from(raw: dict[str, Any] | None) -> Revision | None:
    if not raw:
        return None
    return Revision(
        id=str(raw["id"]),
        version=str(raw.get("version", raw["id"])),
        created=_dt(raw.get("created")),
        change_cause=str(raw.get("change_cause", "")),
        image=str(raw.get("image", "")),
        current=bool(raw.get("current", False)),
        detail=str(raw.get("detail", "")),
    )


def plan_from(raw: dict[str, Any]) -> Plan:
    to_revision = revision_from(raw["to_revision"])
    if to_revision is None:
        raise ValueError("journaled plan has no target revision")
    return Plan(
        service=str(raw["service"]),
        environment=str(raw["environment"]),
        provider=str(raw["provider"]),
        from_revision=revision_from(raw.get("from_revision")),
        to_revision=to_revision,
        steps=tuple(step_from(s) for s in raw.get("steps", ())),
        warnings=tuple(raw.get("warnings", ())),
        dry_run=bool(raw.get("dry_run", False)),
        action=str(raw.get("action", "rollback")),
        argument=str(raw.get("argument", "")),
        data=dict(raw.get("data") or {}),
        # Not in a journal written before "What changes" (issue 14): then none.
        changes=tuple(difference_from(d) for d in _list(raw, "changes")),
        undone_by=tuple(str(line) for line in _list(raw, "undone_by")),
    )


def _list(raw: dict[str, Any], key: str) -> list[Any]:
    """``raw[key]``, a JSON array (absent or null: empty); another type is unreadable."""
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"{key} must be a list, not {type(value).__name__}")
    return value


def difference_from(raw: dict[str, Any]) -> Difference:
    """A journaled line of "What changes" (``Difference``'s fields as an object)."""
    if not isinstance(raw, dict):
        raise TypeError(f"a change must be an object, not {type(raw).__name__}")
    return Difference(
        what=str(raw["what"]),
        live=str(raw.get("live", "")),
        target=str(raw.get("target", "")),
        note=str(raw.get("note", "")),
    )


def step_from(raw: dict[str, Any]) -> Step:
    """A journaled step.  One journaled before steps were typed (no ``op``) keeps its argv:
    the flow plans such an interrupted rollback anew from the live state."""
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise TypeError(f"step params must be an object, not {type(params).__name__}")
    return Step(
        title=str(raw["title"]),
        command=str(raw["command"]),
        kind=StepKind(raw["kind"]),
        argv=tuple(str(a) for a in raw.get("argv", ())),
        timeout_s=float(raw.get("timeout_s", 60.0)),
        op=str(raw.get("op", "")),
        params=params,
        confirm_before=bool(raw.get("confirm_before", False)),
    )


def sample_from(raw: dict[str, Any] | None) -> Sample | None:
    if not raw:
        return None
    return Sample(
        at=_dt(raw.get("at")) or datetime.min,
        error_rate=_optional_number(raw.get("error_rate")),
        p95_ms=_optional_number(raw.get("p95_ms")),
        requests=int(raw.get("requests", 0)),
        source=str(raw.get("source", "")),
        pending=int(raw.get("pending", 0)),
    )


def verification_from(raw: dict[str, Any]) -> Verification:
    return Verification(
        passed=bool(raw["passed"]),
        message=str(raw.get("message", "")),
        window_s=float(raw.get("window_s", 0.0)),
        before=sample_from(raw.get("before")),
        after=sample_from(raw.get("after")),
    )


def _optional_number(raw: Any) -> float | None:
    """A journaled measurement: a finite number or null; anything else: the event is unreadable."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise TypeError(f"expected a number, got {type(raw).__name__}")
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return value


def _dt(raw: Any) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(str(raw))
    except ValueError:
        return None
