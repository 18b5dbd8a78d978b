"""One ``HistoryRecord`` as the markdown of its entry (``render_entry``).

Runbook 003 asks for 日時, 実施者, 対象環境, ロールバック元, ロールバック先, 理由,
影響 and 復旧時間; DESIGN.md ("History") adds the severity, outcome, timeline,
checklist and the error rate / latency before and after; issue 14 "What
changes" (live revision against target) and "Who will undo it" (a GitOps
controller, the next ``helm upgrade``: what the plan did about it).  Times are shown in
the operator's zone with its abbreviation and UTC offset.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo

from console.history.format import MARKER_PREFIX, escape_cell, escape_text, marker_id
from console.model import (
    ChecklistItem,
    ChecklistMark,
    HistoryRecord,
    ItemState,
    Outcome,
    Revision,
    Sample,
    TimelineEvent,
)
from console.outcomes import outcome_text


def render_entry(
    record: HistoryRecord,
    redact: Callable[[str], str] | None = None,
    *,
    tz: tzinfo | None = None,
) -> str:
    """The markdown of one entry, ending with a single newline.

    Times are shown in ``tz`` (default: this machine's local zone) with the
    zone's abbreviation and UTC offset.  Every piece of text goes through
    ``redact`` when given, and is escaped so it stays inside its cell or line.
    """
    red: Callable[[str], str] = redact if redact is not None else _identity

    def text(value: str) -> str:
        return escape_text(red(value))

    def cell(value: str) -> str:
        return escape_cell(red(value))

    finished = _local(record.finished_at, tz)
    day = finished.date()
    zone = _zone_label(finished)
    offset = _offset(finished)

    from_label = _version_label(record.from_revision, "(unknown)")
    to_label = _version_label(record.to_revision, "(none)")
    what = _headline(record.outcome, text(from_label), text(to_label), text(record.action))
    lines = [
        f"{MARKER_PREFIX} id={marker_id(red(record.incident_id))} -->",
        f"## {finished:%Y-%m-%d %H:%M} {zone} — "
        f"{text(record.service)} ({text(record.environment)}) {what}",
        "",
        "| Field | Value |",
        "|---|---|",
    ]
    stamp = finished.isoformat(sep=" ", timespec="seconds")
    if zone != offset:
        stamp += f" ({zone})"
    rows: list[tuple[str, str]] = [
        ("Date", stamp),
        ("Incident id", cell(record.incident_id)),
        ("Operator", cell(record.operator)),
        ("Environment", cell(record.environment)),
        ("Service", cell(record.service)),
        ("Provider", cell(record.provider)),
        ("From", cell(_revision_label(record.from_revision, "(unknown)"))),
        ("To", cell(_revision_label(record.to_revision, "(none)"))),
        *([("Action", cell(record.action))] if record.action else []),
        ("Reason", cell(record.reason)),
        *(
            [("Reason given", cell(_GIVEN.get(record.reason_given, record.reason_given)))]
            if record.reason_given
            else []
        ),
        ("Severity", cell(record.severity.value)),
        ("Impact", cell(record.impact)),
        ("Outcome", cell(outcome_text(record.outcome, record.action))),
        ("Time to recover", _time_to_recover(record, tz, day)),
        ("Error rate before", cell(_error_rate(record.before))),
        ("Error rate after", cell(_error_rate(record.after))),
        ("p95 before", cell(_p95(record.before))),
        ("p95 after", cell(_p95(record.after))),
    ]
    lines += [f"| {name} | {value or '—'} |" for name, value in rows]

    if record.changes:
        lines += ["", "### What changes", ""]
        lines += [f"- {text(change.line())}" for change in record.changes]
    if record.undone_by:
        lines += ["", "### Who will undo it", ""]
        lines += [f"- {text(line)}" for line in record.undone_by]
    if record.checks:
        lines += ["", f"### {CHECKS_TITLE}", ""]
        lines += ["| Check | Live database (before) | Restored database (after) |", "|---|---|---|"]
        lines += [
            f"| {cell(c.name)} | {cell(c.live) or '—'} | {cell(c.restored) or '—'} |"
            for c in record.checks
        ]
    lines += ["", "### Timeline", ""]
    lines += [_timeline_line(ev, text, tz, day) for ev in record.timeline] or [
        "- (no events recorded)"
    ]
    lines += ["", "### Checklist", ""]
    lines += [_checklist_line(item, mark, text) for item, mark in record.checklist] or [
        "- (no checklist)"
    ]
    lines += ["", "### Verification", "", f"- {text(record.verification) or 'not verified'}"]
    if record.notes:
        lines += ["", "### Notes", ""]
        lines += [f"- {text(note)}" for note in record.notes]
    return "\n".join(lines) + "\n"


#: The section of a point-in-time recovery's checks (``history --json`` reads it back).
CHECKS_TITLE = "Database checks"


def _identity(value: str) -> str:
    return value


def _headline(outcome: Outcome, frm: str, to: str, action: str = "") -> str:
    span = f"{frm} → {to}"
    if action:
        # A restart or an image rollback is not "rolled back": say what was done
        # ("restarted and verified (v1.3.0 → v1.3.0)"); the Action row names it in full.
        return f"{outcome_text(outcome, action)} ({span})"
    if outcome is Outcome.ROLLED_BACK:
        return f"rolled back {span}"
    if outcome is Outcome.NOT_VERIFIED:
        return f"rolled back {span} (not verified)"
    if outcome is Outcome.FAILED:
        return f"rollback {span} failed"
    if outcome is Outcome.ABORTED:
        return f"rollback {span} aborted"
    if outcome is Outcome.UNDONE:
        return f"not rolled back {span}: the switch was undone"
    return f"dry run {span}"


def _version_label(rev: Revision | None, missing: str) -> str:
    if rev is None:
        return missing
    return rev.version or rev.id or missing


#: How the "Reason given" row says where the reason came from.
_GIVEN = {
    "typed": "typed by the operator",
    "accepted": "suggested by the console from the assessment, accepted by the operator",
}


def _revision_label(rev: Revision | None, missing: str) -> str:
    """``v1.3.0 (revision 7)``, or just the one label when id and version agree."""
    if rev is None:
        return missing
    if rev.version and rev.id and rev.version != rev.id:
        return f"{rev.version} (revision {rev.id})"
    return rev.version or rev.id or missing


def _timeline_line(
    ev: TimelineEvent, text: Callable[[str], str], tz: tzinfo | None, day: date
) -> str:
    return f"- {_clock(ev.at, tz, day)} {text(ev.kind)}: {text(ev.message)}"


_BOX = {
    ItemState.DONE: "x",
    ItemState.PENDING: " ",
    ItemState.SKIPPED: "~",
    ItemState.FAILED: "!",
}


def _checklist_line(
    item: ChecklistItem, mark: ChecklistMark | None, text: Callable[[str], str]
) -> str:
    state = mark.state if mark is not None else ItemState.PENDING
    line = f"- [{_BOX[state]}] {text(item.text)}"
    note = text(mark.note) if mark is not None else ""
    if state is ItemState.SKIPPED:
        line += f" — skipped: {note or '(no reason given)'}"
    elif state is ItemState.FAILED:
        line += f" — failed: {note or '(no note)'}"
    elif note:
        line += f" — {note}"
    return line


def _time_to_recover(record: HistoryRecord, tz: tzinfo | None, day: date) -> str:
    seconds = record.time_to_recover_s
    detected = _clock(record.detected_at, tz, day)
    if record.outcome is Outcome.RESTORED:
        return f"not measured: a database restore verifies no service (detected {detected})"
    if seconds is None or record.recovered_at is None:
        return f"not recovered (detected {detected})"
    recovered = _clock(record.recovered_at, tz, day)
    return f"{format_duration(seconds)} (detected {detected} → verified {recovered})"


def format_duration(seconds: float) -> str:
    """``7m 12s``, ``0m 05s``, ``1h 02m 03s``: what the Time to recover cell shows."""
    minutes, secs = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _error_rate(sample: Sample | None) -> str:
    if sample is None or sample.error_rate is None:
        return "not measured"
    return f"{sample.error_rate:.2%}{_sample_detail(sample)}"


def _p95(sample: Sample | None) -> str:
    if sample is None or sample.p95_ms is None:
        return "not measured"
    value = f"{sample.p95_ms:.1f}" if sample.p95_ms < 10 else f"{sample.p95_ms:.0f}"
    return f"{value} ms"


def _sample_detail(sample: Sample) -> str:
    parts = []
    if sample.requests:
        parts.append(f"{sample.requests} requests")
    if sample.source:
        parts.append(sample.source)
    return f" ({', '.join(parts)})" if parts else ""


# ---------------------------------------------------------------- times and zones


def _local(dt: datetime, tz: tzinfo | None) -> datetime:
    """``dt`` in ``tz`` (default local); a naive ``dt`` is taken as UTC, like the model's."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(tz)
    except (OverflowError, ValueError):  # the calendar's very edge (datetime.min): keep UTC
        return dt


def _offset(local: datetime) -> str:
    raw = local.strftime("%z")  # +0900
    return f"{raw[:3]}:{raw[3:5]}" if len(raw) >= 5 else "+00:00"


def _zone_label(local: datetime) -> str:
    """``JST``; the UTC offset instead when the zone has no real abbreviation."""
    name = local.tzname() or ""
    if not name or name[0] in "+-" or (name.startswith("UTC") and len(name) > 3):
        return _offset(local)
    return name


def _clock(dt: datetime, tz: tzinfo | None, day: date) -> str:
    """``02:07:01``, with the date in front when it is not the entry's day."""
    local = _local(dt, tz)
    if local.date() != day:
        return f"{local:%Y-%m-%d %H:%M:%S}"
    return f"{local:%H:%M:%S}"
