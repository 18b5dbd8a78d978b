"""Reading the history file back: its entries, for the ``history`` command and screen.

Console entries are split at their markers; hand-written entries in the
runbook's table format (English or Japanese field names) are read best effort
and noted as such.  Reading never raises on content.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from console.history.format import MARKER, MARKER_ID, unescape_cell, unescape_text
from console.model import Outcome
from console.outcomes import outcome_from_text


@dataclass(frozen=True)
class HistoryEntrySummary:
    """One entry as the ``history`` command lists it.

    ``note`` is empty for a complete console entry; otherwise it says what is
    off (an entry torn by a crash, hand-edited, or hand-written in the
    runbook's format) and the fields hold whatever could be read.
    """

    id: str
    date: str
    service: str
    environment: str
    from_revision: str
    to_revision: str
    outcome: str
    time_to_recover_s: float | None
    operator: str
    reason: str
    raw: str
    at: datetime | None = None
    severity: str = ""
    impact: str = ""
    from_id: str = ""
    to_id: str = ""
    note: str = ""
    #: "" for a rollback; the provider action ("restart", "gradual rev-00041").
    action: str = ""
    #: The Outcome cell as written: ``outcome`` is the ``Outcome`` value it stands for
    #: ("rolled back, not verified"), this is what it says ("restart, not verified").
    result: str = ""
    #: The entry's "What changes" and "Who will undo it" lines (none in older entries).
    changes: tuple[str, ...] = ()
    undone_by: tuple[str, ...] = ()
    #: A point-in-time recovery's checks: (name, live before, restored after) each.
    checks: tuple[tuple[str, str, str], ...] = ()


def read_entries(path: Path) -> list[HistoryEntrySummary]:
    """The entries of the history file at ``path``, oldest first.  Never raises on content."""
    return parse_entries(path.read_bytes().decode("utf-8", errors="replace"))


def parse_entries(text: str) -> list[HistoryEntrySummary]:
    """Parse history markdown: console entries by their markers, and best effort the rest.

    Text outside console entries (the title, hand-written entries in the
    runbook's table format) is split at ``##`` headings; a section whose table
    names at least two known fields becomes an entry noted "hand-written".
    """
    text = text.replace("\r\n", "\n")
    markers = list(MARKER.finditer(text))
    entries: list[HistoryEntrySummary] = []
    entries += _foreign(text[: markers[0].start()] if markers else text)
    for i, match in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        chunk = text[match.start() : end]
        own, rest = _split_own(chunk, len(match.group(0)))
        id_match = MARKER_ID.search(match.group("attrs"))
        entry_id = id_match.group("id").rstrip("-") if id_match else ""
        entries.append(_summary(own, entry_id, console=True))
        entries += _foreign(rest)
    return entries


def _split_own(chunk: str, marker_len: int) -> tuple[str, str]:
    """The entry's own text, and anything hand-written after it before the next marker."""
    heading = re.compile(r"^#{1,2}[ \t]", re.MULTILINE)
    first = heading.search(chunk, marker_len)
    cut = heading.search(chunk, first.end()) if first else None
    if cut is None:
        return chunk.rstrip("\n") + "\n", ""
    return chunk[: cut.start()].rstrip("\n") + "\n", chunk[cut.start() :]


def _foreign(text: str) -> list[HistoryEntrySummary]:
    out = []
    for section in re.split(r"(?m)^(?=##[ \t])", text):
        fields = _table(section)
        if len(fields.keys() & _KNOWN) >= 2:
            summary = _summary(section.rstrip("\n") + "\n", "", console=False, fields=fields)
            out.append(summary)
    return out


#: Field name (lower case) -> summary attribute; English (this console) and the
#: runbook's Japanese names (hand-written entries).
_FIELD_ALIASES: dict[str, str] = {
    "date": "date",
    "日時": "date",
    "incident id": "incident",
    "operator": "operator",
    "実施者": "operator",
    "environment": "environment",
    "対象環境": "environment",
    "service": "service",
    "サービス": "service",
    "from": "from",
    "ロールバック元": "from",
    "to": "to",
    "ロールバック先": "to",
    "reason": "reason",
    "理由": "reason",
    "severity": "severity",
    "impact": "impact",
    "影響": "impact",
    "outcome": "outcome",
    "action": "action",
    "time to recover": "ttr",
    "復旧時間": "ttr",
}
_KNOWN = set(_FIELD_ALIASES.values())
#: Outcome cells of a verified recovery: the only entries with a time to recover.
_RECOVERED = frozenset(outcome.value for outcome in Outcome if outcome.recovered)
_REQUIRED = ("date", "service", "environment", "from", "to", "outcome", "ttr")


def _table(text: str) -> dict[str, str]:
    """Two-column table rows of ``text`` as {summary attribute: value}; the first wins."""
    fields: dict[str, str] = {}
    for line in text.split("\n"):
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = _split_row(line)
        if len(cells) < 2:
            continue
        key = _FIELD_ALIASES.get(unescape_cell(cells[0]).strip("*_ ").lower())
        if key is not None and key not in fields:
            fields[key] = unescape_cell(cells[1])
    return fields


def _split_row(line: str) -> list[str]:
    body = line[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return re.split(r"(?<!\\)\|", body)


def _summary(
    raw: str, entry_id: str, *, console: bool, fields: dict[str, str] | None = None
) -> HistoryEntrySummary:
    fields = _table(raw) if fields is None else fields
    stamp = fields.get("date", "")
    from_version, from_id = _split_revision(fields.get("from", ""))
    to_version, to_id = _split_revision(fields.get("to", ""))
    notes = []
    if not console:
        notes.append("hand-written entry (no console marker)")
    else:
        missing = [name for name in _REQUIRED if name not in fields]
        if missing:
            notes.append(f"incomplete entry: no {', '.join(missing)}")
    action = fields.get("action", "")
    written = fields.get("outcome", "" if console else "unknown")
    known = outcome_from_text(written, action)
    outcome = known.value if known is not None else written
    ttr = parse_duration(fields.get("ttr", ""))
    if "outcome" in fields and outcome not in _RECOVERED:
        # Only a verified recovery has a time to recover, whatever the cell says (an
        # entry written before this rule, or a hand edit).
        ttr = None
    return HistoryEntrySummary(
        id=entry_id or fields.get("incident", ""),
        date=stamp.split(" (")[0].strip(),
        service=fields.get("service", ""),
        environment=fields.get("environment", ""),
        from_revision=from_version,
        to_revision=to_version,
        outcome=outcome,
        time_to_recover_s=ttr,
        operator=fields.get("operator", ""),
        reason=fields.get("reason", ""),
        raw=raw,
        at=_parse_date(stamp),
        severity=fields.get("severity", ""),
        impact=fields.get("impact", ""),
        from_id=from_id,
        to_id=to_id,
        note="; ".join(notes),
        action=action,
        result=written,
        changes=section_items(raw, "What changes"),
        undone_by=section_items(raw, "Who will undo it"),
        checks=section_checks(raw),
    )


def section_items(raw: str, title: str) -> tuple[str, ...]:
    """The ``- `` items of the entry's ``### title`` section, as they were before escaping."""
    match = re.search(rf"(?m)^###[ \t]+{re.escape(title)}[ \t]*\n", raw)
    if match is None:
        return ()
    items: list[str] = []
    for line in raw[match.end() :].split("\n"):
        if line.startswith("#"):
            break
        if line.startswith("- "):
            items.append(unescape_text(line[2:].strip()))
    return tuple(items)


def section_checks(raw: str) -> tuple[tuple[str, str, str], ...]:
    """The rows of the entry's "Database checks" table: (check, live, restored)."""
    match = re.search(r"(?m)^###[ \t]+Database checks[ \t]*\n", raw)
    if match is None:
        return ()
    rows: list[tuple[str, str, str]] = []
    for line in raw[match.end() :].split("\n"):
        if line.startswith("#"):
            break
        if not line.startswith("|") or line.startswith("|---") or line.startswith("| Check |"):
            continue
        cells = [unescape_cell(c) for c in _split_row(line.strip())]
        if len(cells) >= 3:
            live, restored = (v if v != "—" else "" for v in cells[1:3])
            rows.append((cells[0], live, restored))
    return tuple(rows)


def _split_revision(value: str) -> tuple[str, str]:
    match = re.fullmatch(r"(?s)(?P<version>.*?) \(revision (?P<id>.*)\)", value)
    if match:
        return match["version"], match["id"]
    return value, value


def _parse_date(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.split(" (")[0].strip())
    except ValueError:
        return None


_AMOUNT = re.compile(
    r"(?P<n>\d+(?:\.\d+)?)\s*(?:(?P<h>hours?|hrs?|h|時間)|(?P<m>minutes?|mins?|m|分)"
    r"|(?P<s>seconds?|secs?|s|秒))(?![A-Za-z])"
)
_CLOCK = re.compile(r"(?:(?P<h>\d+):)?(?P<m>\d{1,2}):(?P<s>\d{2})")


def parse_duration(value: str) -> float | None:
    """Seconds from ``7m 12s``, ``1h 02m 03s``, ``12 minutes``, ``1時間5分``, ``0:12:00``.

    Only the part before any parenthesis counts (the Time to recover cell
    continues with clock times); "not recovered", "-" and the like give None.
    """
    head = re.split(r"[(（]", value, maxsplit=1)[0].strip()
    if not head:
        return None
    try:
        seconds = _seconds(head)
    except (OverflowError, ValueError):  # a number too long for a float or an int
        return None
    # A hand-edited "99999…9 hours" reads as infinity: not a time, so unreadable.
    if seconds is None or not math.isfinite(seconds):
        return None
    return seconds


def _seconds(head: str) -> float | None:
    amounts = list(_AMOUNT.finditer(head))
    if amounts:
        total = 0.0
        for m in amounts:
            scale = 3600.0 if m["h"] else 60.0 if m["m"] else 1.0
            total += float(m["n"]) * scale
        return total
    clock = _CLOCK.fullmatch(head)
    if clock:
        return int(clock["h"] or 0) * 3600.0 + int(clock["m"]) * 60.0 + int(clock["s"])
    return None


def median_time_to_recover(entries: Iterable[HistoryEntrySummary]) -> float | None:
    """Median seconds from detection to verified recovery over entries that recovered.

    Only verified recoveries have a time (``_summary`` drops the time of any
    other outcome); a hand-written entry in the runbook's format, which has no
    outcome, counts with the time it gives.
    """
    values = [e.time_to_recover_s for e in entries if e.time_to_recover_s is not None]
    return float(statistics.median(values)) if values else None
