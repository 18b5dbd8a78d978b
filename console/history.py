"""The rollback-history file: one markdown entry per rollback, appended, never rewritten.

Runbook 003 ("ロールバック履歴の記録") asks for 日時, 実施者, 対象環境, ロールバック元,
ロールバック先, 理由, 影響 and 復旧時間 in ``docs/operations/rollback-history.md``;
DESIGN.md ("History") adds the severity, outcome, timeline, checklist and the
error rate / latency before and after.  ``render_entry`` turns a
``HistoryRecord`` into that markdown, ``append_entry`` appends it atomically
(two consoles on one bastion never interleave or lose an entry, a full disk
leaves the file byte-for-byte as it was), and ``read_entries`` parses the file
back for the ``history`` command.

Every entry starts with a machine-readable line of its own::

    <!-- rollback-console entry id=web-20261125T021405Z-3f9a -->

which is how entries are split again.  No text that came from outside the
console (a reason, a command's output, a revision label) ever starts a line of
an entry: it is always inside a table cell or after a list marker, with line
breaks turned into ``<br>``, so it cannot forge a marker or a heading.
"""

from __future__ import annotations

import math
import os
import re
import statistics
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path

from console.durable import fsync_dir, open_locked, os_reason, write_all
from console.errors import ConsoleError
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
from console.outcomes import outcome_from_text, outcome_text
from console.textsafe import one_line

TITLE = "# Rollback history\n\n"
MARKER_PREFIX = "<!-- rollback-console entry"

_MARKER = re.compile(r"^<!-- rollback-console entry\b(?P<attrs>[^\n]*?)-->[ \t]*$", re.MULTILINE)
_MARKER_ID = re.compile(r"\bid=(?P<id>[^\s>]+)")
_NOT_ID = re.compile(r"[^A-Za-z0-9._:+-]+")


class HistoryWriteError(ConsoleError):
    """The entry could not be appended; the history file is as it was before.

    ``str(err)`` is one line naming the file and the reason (exit 1).
    """

    exit_code = 1

    def __init__(self, path: Path, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(one_line(f"cannot append to history file {path}: {reason}"))

    def __reduce__(self) -> tuple[type[HistoryWriteError], tuple[Path, str]]:
        return (type(self), (self.path, self.reason))


# --------------------------------------------------------------------------- rendering


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
        return _clean(red(value))

    def cell(value: str) -> str:
        return _cell(red(value))

    finished = _local(record.finished_at, tz)
    day = finished.date()
    zone = _zone_label(finished)
    offset = _offset(finished)

    from_label = _version_label(record.from_revision, "(unknown)")
    to_label = _version_label(record.to_revision, "(none)")
    what = _headline(record.outcome, text(from_label), text(to_label), text(record.action))
    lines = [
        f"{MARKER_PREFIX} id={_marker_id(red(record.incident_id))} -->",
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


# ---------------------------------------------------------------- escaping


def _clean(value: str) -> str:
    """Line breaks become ``<br>``, tabs spaces, other control characters go.

    A lone surrogate (an argv byte that was not UTF-8) becomes U+FFFD, so the
    file stays valid UTF-8.  So that a cell reads back as it was written
    (``_unescape_cell``), what the operator typed that looks like the encoding
    is escaped first: a ``<`` opening ``<br`` (a literal ``<br>`` is not a line
    break) or ``<!--`` (an HTML comment would hide the rest of the line when
    rendered) becomes ``&lt;``, and an ``&`` opening ``lt;`` or ``amp;``
    becomes ``&amp;``.  Both render in markdown as the characters typed.
    """
    parts = []
    for line in value.splitlines():
        line = line.replace("\t", " ")
        line = "".join(_SHOWN.get(unicodedata.category(c), c) for c in line)
        parts.append(_ENCODED_LOOKALIKE.sub(lambda m: _ESCAPES[m[0][0]], line))
    return "<br>".join(parts).strip()


#: Unicode category -> what a character of it becomes in the file (others stay as they are).
_SHOWN = {"Cc": "", "Cs": "\ufffd"}
#: Typed text that would read back as an encoded character; its first character is escaped.
_ENCODED_LOOKALIKE = re.compile(r"(?i)<(?=br|!--)|&(?=lt;|amp;)")
_ESCAPES = {"<": "&lt;", "&": "&amp;"}
#: What ``_clean`` encodes, decoded in one pass (so ``&amp;lt;`` reads back as ``&lt;``).
_ENCODED = re.compile(r"<br>|&lt;|&amp;")
_DECODED = {"<br>": "\n", "&lt;": "<", "&amp;": "&"}


def _cell(value: str) -> str:
    return _clean(value).replace("|", "\\|")


def _unescape_cell(value: str) -> str:
    """A cell's text as it was before ``_cell``: line breaks, ``|``, ``<`` and ``&`` back.

    Files written before ``<`` and ``&`` were escaped read the same: their
    ``<br>`` was a line break and their ``&lt;!--`` an escaped ``<!--``.
    """
    value = value.strip().replace("\\|", "|")
    value = _ENCODED.sub(lambda m: _DECODED[m[0]], value)
    return "" if value == "—" else value


def _marker_id(incident_id: str) -> str:
    """The id as it appears in the marker: no spaces and no ``--`` (it is inside a comment)."""
    cleaned = re.sub(r"-{2,}", "-", _NOT_ID.sub("-", incident_id)).strip("-")
    return cleaned or "unknown"


# --------------------------------------------------------------------------- appending


def append_entry(
    path: Path,
    record: HistoryRecord,
    redact: Callable[[str], str] | None = None,
    *,
    tz: tzinfo | None = None,
) -> bool:
    """Append one entry to ``path`` atomically; raise ``HistoryWriteError`` if it cannot.

    Returns False, writing nothing, when the file already holds an entry of the
    record's incident: one incident never gets two entries, even when two
    consoles (a live one and a resume) both try to record it.

    The file itself carries the lock (``flock``): opening with ``O_CREAT`` is
    atomic, so two consoles racing to create it open the same inode and queue
    on the same lock.  Because an editor may have replaced the file (rename) or
    a failed first append may have removed it while we waited, the lock only
    counts once the path still names the inode we locked; otherwise we reopen.
    (A sibling ``.lock`` file would work too, but would litter the docs folder
    the history lives in, which is usually a git checkout.)

    Under the lock: a new (empty) file gets the title first; the entry is
    separated from what is there by a blank line; everything goes out in one
    write loop and is fsync'd.  On any error the file is truncated back to its
    previous size (a file we created is removed again), so nothing earlier is
    ever rewritten and a failed append leaves no trace.
    """
    payload = render_entry(record, redact, tz=tz).encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, created = _open_locked(path)
    except OSError as exc:
        raise HistoryWriteError(path, os_reason(exc)) from exc
    try:
        try:
            size = os.fstat(fd).st_size
            if size and _holds_entry(_read_all(fd, size), _redacted_id(record, redact)):
                return False
            data = _with_separator(fd, size, payload)
        except OSError as exc:
            raise HistoryWriteError(path, os_reason(exc)) from exc
        try:
            write_all(fd, data)
            os.fsync(fd)
        except BaseException as exc:
            _restore(fd, size)
            if created and size == 0:
                _remove_if_same(path, fd)
            if isinstance(exc, OSError):
                raise HistoryWriteError(path, os_reason(exc)) from exc
            raise
        if created:
            fsync_dir(path.parent)
        return True
    finally:
        os.close(fd)  # releases the lock


def _redacted_id(record: HistoryRecord, redact: Callable[[str], str] | None) -> str:
    return redact(record.incident_id) if redact is not None else record.incident_id


def _read_all(fd: int, size: int) -> str:
    chunks = []
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(1 << 20, size - offset), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


def _open_locked(path: Path) -> tuple[int, bool]:
    """An fd on the file at ``path`` holding its exclusive lock, and whether we created it.

    The history file may be a symbolic link to an existing file (a team's
    shared checkout); a dangling one is an error, never a file created
    through it (see ``console.durable.open_locked``).
    """
    return open_locked(path, 0o644, follow_link=True)


def _with_separator(fd: int, size: int, payload: bytes) -> bytes:
    if size == 0:
        return TITLE.encode() + payload
    tail = os.pread(fd, 2, max(0, size - 2))
    if tail.endswith(b"\n\n") or tail == b"\n":
        return payload
    if tail.endswith(b"\n"):
        return b"\n" + payload
    return b"\n\n" + payload  # a hand edit or a torn write left no final newline


def _restore(fd: int, size: int) -> None:
    """Cut the file back to ``size``; best effort (a device like /dev/full cannot be cut)."""
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError:
        pass


def _remove_if_same(path: Path, fd: int) -> None:
    try:
        mine, there = os.fstat(fd), os.stat(path)
        if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino):
            os.unlink(path)
            fsync_dir(path.parent)
    except OSError:
        pass


# --------------------------------------------------------------------------- reading


def has_entry(path: Path, incident_id: str) -> bool:
    """Whether the history file at ``path`` holds an entry of ``incident_id`` (no file: no).

    How a resumed incident avoids writing its entry twice when the console
    stopped between appending it and journaling that it did.
    """
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise HistoryWriteError(path, os_reason(exc)) from exc
    return _holds_entry(text, incident_id)


def _holds_entry(text: str, incident_id: str) -> bool:
    """Whether ``text`` (a history file) has an entry marker for ``incident_id``."""
    wanted = _marker_id(incident_id)
    for match in _MARKER.finditer(text):
        found = _MARKER_ID.search(match.group("attrs"))
        if found is not None and found.group("id").rstrip("-") == wanted:
            return True
    return False


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
    markers = list(_MARKER.finditer(text))
    entries: list[HistoryEntrySummary] = []
    entries += _foreign(text[: markers[0].start()] if markers else text)
    for i, match in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        chunk = text[match.start() : end]
        own, rest = _split_own(chunk, len(match.group(0)))
        id_match = _MARKER_ID.search(match.group("attrs"))
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
        key = _FIELD_ALIASES.get(_unescape_cell(cells[0]).strip("*_ ").lower())
        if key is not None and key not in fields:
            fields[key] = _unescape_cell(cells[1])
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
    )


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
