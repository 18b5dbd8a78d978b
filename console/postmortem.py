"""The postmortem draft written after an incident is recorded (runbooks 001 and 002).

Runbook 001 asks for a postmortem within 48 hours (timeline, root cause
analysis, measures against recurrence); runbook 002 shows the incident
report (id, date, duration, severity, timeline, root cause, lessons
learned).  ``render_draft`` fills ``console/templates/postmortem.<lang>.md``
from the ``HistoryRecord`` the history entry was made of: the facts are
filled in, the parts only people can write are TODO placeholders.

``write_draft`` puts it beside the history file, in
``postmortems/YYYY-MM-DD-<incident id>.md`` (the incident id starts with the
service name), and never overwrites a draft that is already there: someone
may have started editing it.  The file appears whole or not at all.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path

from console import templates
from console.config import ConsoleConfig
from console.durable import create_new
from console.model import ChecklistItem, ChecklistMark, HistoryRecord, ItemState, Sample
from console.notify import message_values

FOLDER = "postmortems"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Draft:
    """Where the draft is, and whether this call wrote it (False: an earlier draft is kept)."""

    path: Path
    created: bool


def draft_path(record: HistoryRecord, history_file: Path, *, tz: tzinfo | None = None) -> Path:
    """``<history folder>/postmortems/<detection date>-<service>-<incident id>.md``.

    The service is left out of the name when the incident id already starts
    with it (ids made by the console do: ``web-20260116T020000Z-3f9a``).
    """
    day = _local(record.detected_at, tz).date()
    service = _safe(record.service)
    incident = _safe(record.incident_id)
    name = incident if incident.startswith(f"{service}-") else f"{service}-{incident}"
    return history_file.parent / FOLDER / f"{day:%Y-%m-%d}-{name}.md"


def render_draft(
    record: HistoryRecord,
    language: str,
    *,
    redact: Callable[[str], str] | None = None,
    tz: tzinfo | None = None,
) -> str:
    """The draft's markdown: headings in ``language``, every value redacted and escaped."""
    red: Callable[[str], str] = redact or (lambda text: text)
    values = {
        name: _cell(value)
        for name, value in message_values(record, language, tz=tz, redact=red).items()
    }
    day = _local(record.finished_at, tz).date()
    values["timeline"] = "\n".join(
        f"- {_clock(ev.at, tz, day)} {_text(red(ev.kind))}: {_text(red(ev.message))}"
        for ev in record.timeline
    ) or templates.label(language, "no events")
    values["checklist"] = "\n".join(
        _checklist_line(item, mark, red) for item, mark in record.checklist
    ) or templates.label(language, "no checklist")
    values["impact"] = _text(red(record.impact)) or templates.label(language, "unknown")
    values["error_rate_before"] = _rate(record.before, language)
    values["error_rate_after"] = _rate(record.after, language)
    values["p95_before"] = _p95(record.before, language)
    values["p95_after"] = _p95(record.after, language)
    return templates.load("postmortem", language).substitute(values).rstrip("\n") + "\n"


def write_draft(
    record: HistoryRecord,
    history_file: Path,
    language: str,
    *,
    redact: Callable[[str], str] | None = None,
    tz: tzinfo | None = None,
) -> Draft:
    """Write the draft unless one exists; raises ``OSError`` when it cannot be written.

    The text goes to a temporary file in the same folder first and is then
    hard-linked to its name, which fails instead of replacing an existing
    file, so a draft being edited is never touched and a crash never leaves
    half a draft under the real name.
    """
    path = draft_path(record, history_file, tz=tz)
    if os.path.islink(path):
        # Neither "already there" (a dangling link) nor something to write through.
        raise OSError(
            errno.ELOOP, "a symbolic link is there, which the console does not follow", str(path)
        )
    if path.exists():
        return Draft(path, created=False)
    text = render_draft(record, language, redact=redact, tz=tz)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".draft-", suffix=".md")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return Draft(path, created=False)
        except OSError:
            # A file system without hard links: exclusive create is still never an overwrite.
            try:
                with open(create_new(path, 0o644), "w", encoding="utf-8") as handle:
                    handle.write(text)
            except FileExistsError:
                return Draft(path, created=False)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return Draft(path, created=True)


def write_draft_after(
    record: HistoryRecord,
    console: ConsoleConfig,
    *,
    redact: Callable[[str], str] | None = None,
    beside: bool = False,
) -> str:
    """Write the draft for a just-recorded incident; one line saying where, or why not.

    Never raises: the history entry is saved, and a draft that cannot be
    written must not make the save look failed.  ``beside``: the draft's path
    is given from the history file's folder (``postmortems/2026-01-16-….md``),
    for a screen that names that file on the line before and has one line
    for this one.
    """
    try:
        draft = write_draft(record, console.history_file, console.language, redact=redact)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"Postmortem draft not written: {exc.strerror or exc}{where}"
    path = draft.path
    if beside:
        with contextlib.suppress(ValueError):
            path = path.relative_to(console.history_file.parent)
    if not draft.created:
        return f"Postmortem draft already there, kept as it is: {path}"
    return f"Postmortem draft: {path}"


# --------------------------------------------------------------------------- pieces


def _safe(value: str) -> str:
    return _UNSAFE.sub("-", value).strip("-.") or "incident"


def _local(dt: datetime, tz: tzinfo | None) -> datetime:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(tz)


def _clock(dt: datetime, tz: tzinfo | None, day: date) -> str:
    local = _local(dt, tz)
    return f"{local:%H:%M:%S}" if local.date() == day else f"{local:%Y-%m-%d %H:%M:%S}"


def _text(value: str) -> str:
    """One line of markdown that cannot open a comment or break out of its list item."""
    return " ".join(value.split()).replace("<!--", "&lt;!--")


def _cell(value: str) -> str:
    return _text(value).replace("|", "\\|")


def _rate(sample: Sample | None, language: str) -> str:
    if sample is None or sample.error_rate is None:
        return templates.label(language, "not measured")
    requests = f" ({sample.requests} requests)" if sample.requests else ""
    return f"{sample.error_rate:.1%}{requests}"


def _p95(sample: Sample | None, language: str) -> str:
    if sample is None or sample.p95_ms is None:
        return templates.label(language, "not measured")
    return f"{sample.p95_ms:.0f} ms"


_BOX = {ItemState.DONE: "x", ItemState.PENDING: " ", ItemState.SKIPPED: "~", ItemState.FAILED: "!"}


def _checklist_line(
    item: ChecklistItem, mark: ChecklistMark | None, redact: Callable[[str], str]
) -> str:
    state = mark.state if mark is not None else ItemState.PENDING
    note = _text(redact(mark.note)) if mark is not None and mark.note else ""
    suffix = f" ({state.value}: {note})" if note and state is not ItemState.DONE else ""
    if note and state is ItemState.DONE:
        suffix = f" ({note})"
    return f"- [{_BOX[state]}] {_text(redact(item.text))}{suffix}"
