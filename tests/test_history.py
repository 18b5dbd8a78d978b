"""The rollback-history file: rendering, atomic appends, failure without a trace, reading back.

Real files and real processes throughout: concurrency is eight processes
appending at once, a full disk is a child process with a file-size limit
(``RLIMIT_FSIZE``, the kernel then fails the write with EFBIG) and /dev/full.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.checklist import DEFAULT_CHECKLIST
from console.history import (
    TITLE,
    HistoryWriteError,
    append_entry,
    median_time_to_recover,
    parse_duration,
    parse_entries,
    read_entries,
    render_entry,
)
from console.model import (
    ChecklistItem,
    ChecklistMark,
    HistoryRecord,
    ItemState,
    Outcome,
    Revision,
    Sample,
    Severity,
    TimelineEvent,
)
from console.redact import Redactor
from tests.conftest import REPO

JST = timezone(timedelta(hours=9), "JST")
#: 02:07:01 JST on 2026-11-25.
DETECTED = datetime(2026, 11, 24, 17, 7, 1, tzinfo=UTC)


def make_record(incident_id: str = "web-20261124T170701Z-3f9a", **changes: object) -> HistoryRecord:
    """A complete record: every field set, every checklist state present."""
    marks = {
        "decide": ChecklistMark("decide", ItemState.DONE, "confirmed by typing the service name"),
        "target": ChecklistMark("target", ItemState.DONE),
        "backup": ChecklistMark("backup", ItemState.SKIPPED, "no database behind web"),
        "api": ChecklistMark("api", ItemState.FAILED, "GET /api/users answered 500"),
    }
    fields: dict[str, object] = {
        "incident_id": incident_id,
        "service": "web",
        "environment": "production",
        "provider": "host",
        "operator": "alice",
        "reason": "5xx spike after v1.3.0",
        "severity": Severity.HIGH,
        "impact": "12.5% of requests failing",
        "outcome": Outcome.ROLLED_BACK,
        "detected_at": DETECTED,
        "finished_at": DETECTED + timedelta(minutes=7, seconds=4),
        "recovered_at": DETECTED + timedelta(minutes=7, seconds=12),
        "from_revision": Revision("release-7", "v1.3.0"),
        "to_revision": Revision("release-6", "v1.2.9"),
        "timeline": (
            TimelineEvent(DETECTED, "assessed", "severity high: roll back"),
            TimelineEvent(
                DETECTED + timedelta(seconds=95), "step", "ln -sfn releases/v1.2.9 current"
            ),
            TimelineEvent(
                DETECTED + timedelta(minutes=7, seconds=12), "verified", "health held 60 s"
            ),
        ),
        "checklist": tuple((item, marks.get(item.id)) for item in DEFAULT_CHECKLIST),
        "before": Sample(DETECTED, 0.125, 1840.0, 320, "probe"),
        "after": Sample(DETECTED + timedelta(minutes=7), 0.002, 120.0, 400, "probe"),
        "verification": "Health checks passed for 60 s; error rate 0.20%",
        "notes": ("Headless run: the prepare checklist was not ticked interactively.",),
    }
    fields.update(changes)
    return HistoryRecord(**fields)  # type: ignore[arg-type]


def field(entry: str, name: str) -> str:
    match = re.search(rf"^\| {re.escape(name)} \| (.*) \|$", entry, re.MULTILINE)
    assert match, f"field {name!r} missing from entry:\n{entry}"
    return match.group(1)


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


# --------------------------------------------------------------------------- render


def test_entry_has_heading_marker_and_every_field() -> None:
    entry = render_entry(make_record(), tz=JST)
    lines = entry.splitlines()
    assert lines[0] == "<!-- rollback-console entry id=web-20261124T170701Z-3f9a -->"
    assert lines[1] == "## 2026-11-25 02:14 JST — web (production) rolled back v1.3.0 → v1.2.9"
    assert field(entry, "Date") == "2026-11-25 02:14:05+09:00 (JST)"
    assert field(entry, "Incident id") == "web-20261124T170701Z-3f9a"
    assert field(entry, "Operator") == "alice"
    assert field(entry, "Environment") == "production"
    assert field(entry, "Service") == "web"
    assert field(entry, "Provider") == "host"
    assert field(entry, "From") == "v1.3.0 (revision release-7)"
    assert field(entry, "To") == "v1.2.9 (revision release-6)"
    assert field(entry, "Reason") == "5xx spike after v1.3.0"
    assert field(entry, "Severity") == "high"
    assert field(entry, "Impact") == "12.5% of requests failing"
    assert field(entry, "Outcome") == "rolled back and verified"
    assert field(entry, "Time to recover") == "7m 12s (detected 02:07:01 → verified 02:14:13)"
    assert field(entry, "Error rate before") == "12.50% (320 requests, probe)"
    assert field(entry, "Error rate after") == "0.20% (400 requests, probe)"
    assert field(entry, "p95 before") == "1840 ms"
    assert field(entry, "p95 after") == "120 ms"
    # Every table row has exactly two cells.
    table = [line for line in lines if line.startswith("|")]
    assert table and all(unescaped_pipes(line) == 3 for line in table)


def test_entry_sections_timeline_checklist_verification_notes() -> None:
    entry = render_entry(make_record(), tz=JST)
    timeline = entry.split("### Timeline\n\n")[1].split("\n\n")[0].splitlines()
    assert timeline == [
        "- 02:07:01 assessed: severity high: roll back",
        "- 02:08:36 step: ln -sfn releases/v1.2.9 current",
        "- 02:14:13 verified: health held 60 s",
    ]
    checklist = entry.split("### Checklist\n\n")[1].split("\n\n")[0].splitlines()
    assert len(checklist) == len(DEFAULT_CHECKLIST)
    assert checklist[0] == (
        "- [x] Rollback is needed (severity assessed, forward fix ruled out) "
        "— confirmed by typing the service name"
    )
    assert "- [x] Target revision identified (last known good)" in checklist
    assert "- [ ] Team told a rollback is starting (incident channel)" in checklist
    assert (
        "- [~] Backups confirmed before touching anything — skipped: no database behind web"
        in checklist
    )
    assert "- [!] Main API functions checked by hand — failed: GET /api/users answered 500" in (
        checklist
    )
    assert "### Verification\n\n- Health checks passed for 60 s; error rate 0.20%\n" in entry
    assert entry.endswith(
        "### Notes\n\n- Headless run: the prepare checklist was not ticked interactively.\n"
    )


def test_failed_rollback_without_plan_or_samples_says_so() -> None:
    record = make_record(
        outcome=Outcome.FAILED,
        recovered_at=None,
        from_revision=None,
        to_revision=None,
        before=None,
        after=Sample(DETECTED, None, None),
        timeline=(),
        checklist=(),
        notes=(),
        verification="",
        # Detected the day before (JST) the entry is written.
        detected_at=DETECTED - timedelta(hours=3),
    )
    entry = render_entry(record, tz=JST)
    assert "— web (production) rollback (unknown) → (none) failed" in entry.splitlines()[1]
    assert field(entry, "From") == "(unknown)"
    assert field(entry, "To") == "(none)"
    assert field(entry, "Time to recover") == "not recovered (detected 2026-11-24 23:07:01)"
    assert field(entry, "Error rate before") == "not measured"
    assert field(entry, "p95 after") == "not measured"
    assert "- (no events recorded)" in entry and "- (no checklist)" in entry
    assert "### Verification\n\n- not verified\n" in entry
    assert "### Notes" not in entry
    (summary,) = parse_entries(entry)
    assert summary.time_to_recover_s is None and summary.outcome == "rollback failed"


@pytest.mark.parametrize(
    ("outcome", "words"),
    [
        (Outcome.NOT_VERIFIED, "rolled back v1.3.0 → v1.2.9 (not verified)"),
        (Outcome.ABORTED, "rollback v1.3.0 → v1.2.9 aborted"),
        (Outcome.DRY_RUN, "dry run v1.3.0 → v1.2.9"),
        (Outcome.UNDONE, "not rolled back v1.3.0 → v1.2.9: the switch was undone"),
    ],
)
def test_heading_follows_the_outcome(outcome: Outcome, words: str) -> None:
    heading = render_entry(make_record(outcome=outcome), tz=JST).splitlines()[1]
    assert heading.endswith(f"web (production) {words}")


def test_one_incident_never_gets_two_entries(tmp_path: Path) -> None:
    """Two consoles recording one incident (a live one and a resume): the second writes nothing."""
    path = tmp_path / "history.md"
    assert append_entry(path, make_record("web-1"), tz=JST) is True
    before = path.read_bytes()
    assert append_entry(path, make_record("web-1", reason="again"), tz=JST) is False
    assert path.read_bytes() == before
    assert append_entry(path, make_record("web-2"), tz=JST) is True
    assert [e.id for e in read_entries(path)] == ["web-1", "web-2"]


@pytest.fixture
def tokyo_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's local zone set to JST (a POSIX TZ rule, no tzdata needed)."""
    monkeypatch.setenv("TZ", "JST-9")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("tokyo_local_time")
def test_times_default_to_the_local_zone_with_abbreviation_and_offset() -> None:
    entry = render_entry(make_record())
    assert entry.splitlines()[1].startswith("## 2026-11-25 02:14 JST — ")
    assert field(entry, "Date") == "2026-11-25 02:14:05+09:00 (JST)"


def test_zone_without_abbreviation_shows_the_offset() -> None:
    entry = render_entry(make_record(), tz=timezone(timedelta(hours=5, minutes=30)))
    assert entry.splitlines()[1].startswith("## 2026-11-24 22:44 +05:30 — ")
    assert field(entry, "Date") == "2026-11-24 22:44:05+05:30"


def test_cells_escape_pipes_and_newlines_and_text_cannot_forge_structure() -> None:
    forged = "ok\n<!-- rollback-console entry id=forged -->\n## 2026 forged heading\n| Field |"
    record = make_record(
        reason="a | b\nc\r\nd",
        impact="half the API | \\| odd",
        timeline=(TimelineEvent(DETECTED, "output", forged),),
        verification=forged,
        notes=(forged,),
    )
    entry = render_entry(record, tz=JST)
    assert field(entry, "Reason") == "a \\| b<br>c<br>d"
    table = [line for line in entry.splitlines() if line.startswith("|")]
    assert all(unescaped_pipes(line) == 3 for line in table)
    # Nothing that came from outside starts a line: only our own structure does.
    assert [line for line in entry.splitlines() if line.startswith(("<!--", "## "))] == [
        entry.splitlines()[0],
        entry.splitlines()[1],
    ]
    (summary,) = parse_entries(TITLE + entry)
    assert summary.id == "web-20261124T170701Z-3f9a"
    assert summary.reason == "a | b\nc\nd"
    assert summary.impact == "half the API | \\| odd"
    assert summary.note == ""


def test_secrets_are_redacted_in_reason_timeline_and_url_passwords(tmp_path: Path) -> None:
    secret = "s3cr3t-T0ken-value"
    redact = Redactor([secret])
    record = make_record(
        reason=f"deploy leaked token {secret} in logs",
        timeline=(
            TimelineEvent(DETECTED, "step", f"curl -H 'Authorization: Bearer {secret}' /health"),
            TimelineEvent(DETECTED, "step", "pg_dump postgres://app:hunter2@db.internal/prod"),
        ),
        checklist=((DEFAULT_CHECKLIST[4], ChecklistMark("backup", ItemState.DONE, secret)),),
        verification="checked https://ops:pa55word@grafana.internal/d/web",
        notes=("retried with password=hunter2",),
    )
    entry = render_entry(record, redact=redact, tz=JST)
    for leaked in (secret, "hunter2", "pa55word"):
        assert leaked not in entry
    assert field(entry, "Reason") == "deploy leaked token *** in logs"
    assert "- 02:07:01 step: pg_dump postgres://app:***@db.internal/prod" in entry
    assert "https://ops:***@grafana.internal/d/web" in entry
    # The same holds for what reaches the file.
    path = tmp_path / "rollback-history.md"
    append_entry(path, record, redact=redact, tz=JST)
    on_disk = path.read_text()
    assert secret not in on_disk and "hunter2" not in on_disk and "pa55word" not in on_disk


def test_redact_sees_every_text_field() -> None:
    mark = "SECRET"
    record = make_record(
        incident_id=f"{mark}-1",
        service=f"web-{mark}",
        environment=f"prod-{mark}",
        provider=f"host-{mark}",
        operator=f"alice-{mark}",
        reason=mark,
        impact=mark,
        from_revision=Revision(f"r-{mark}", f"v-{mark}"),
        to_revision=Revision(f"r2-{mark}", f"v2-{mark}"),
        timeline=(TimelineEvent(DETECTED, f"kind-{mark}", mark),),
        checklist=(
            (
                ChecklistItem("x", "prepare", f"text {mark}"),
                ChecklistMark("x", ItemState.SKIPPED, mark),
            ),
        ),
        before=Sample(DETECTED, 0.5, 900.0, 10, f"http://u:{mark}@prom/{mark}"),
        verification=mark,
        notes=(mark,),
    )
    entry = render_entry(record, redact=lambda s: s.replace(mark, "[gone]"), tz=JST)
    assert mark not in entry
    assert entry.count("[gone]") >= 18


# --------------------------------------------------------------------------- append


def test_append_to_new_file_writes_title_then_entry_and_creates_folders(tmp_path: Path) -> None:
    path = tmp_path / "docs" / "operations" / "rollback-history.md"
    append_entry(path, make_record(), tz=JST)
    assert path.read_text(encoding="utf-8") == TITLE + render_entry(make_record(), tz=JST)
    (entry,) = read_entries(path)
    assert entry.id == "web-20261124T170701Z-3f9a"
    assert (entry.service, entry.environment, entry.operator) == ("web", "production", "alice")
    assert (entry.from_revision, entry.to_revision) == ("v1.3.0", "v1.2.9")
    assert (entry.from_id, entry.to_id) == ("release-7", "release-6")
    assert entry.outcome == "rolled back and verified"
    assert entry.time_to_recover_s == 432.0
    assert entry.date == "2026-11-25 02:14:05+09:00"
    assert entry.at == datetime(2026, 11, 24, 17, 14, 5, tzinfo=UTC)
    assert entry.reason == "5xx spike after v1.3.0"
    assert entry.severity == "high"
    assert entry.note == ""


def test_append_to_existing_file_never_rewrites_earlier_bytes(tmp_path: Path) -> None:
    path = tmp_path / "rollback-history.md"
    append_entry(path, make_record("first"), tz=JST)
    first = path.read_bytes()
    append_entry(path, make_record("second", reason="second time"), tz=JST)
    second = path.read_bytes()
    assert second.startswith(first)
    assert second[len(first) :] == b"\n" + render_entry(
        make_record("second", reason="second time"), tz=JST
    ).encode("utf-8")
    append_entry(path, make_record("third"), tz=JST)
    assert path.read_bytes().startswith(second)
    entries = read_entries(path)
    assert [e.id for e in entries] == ["first", "second", "third"]
    assert entries[1].reason == "second time"
    assert all(e.note == "" for e in entries)


def test_append_after_hand_edits_keeps_them_and_starts_on_a_fresh_line(tmp_path: Path) -> None:
    path = tmp_path / "rollback-history.md"
    hand = (
        "# Rollback history\n\nKept by hand until 2026.\n\n"
        "## 2024-01-15 api rollback\n\n"
        "| 項目 | 内容 |\n|------|------|\n"
        "| 日時 | 2024-01-15 15:42 |\n| 実施者 | 山田 |\n| 対象環境 | production |\n"
        "| ロールバック元 | v2.0.1 |\n| ロールバック先 | v2.0.0 |\n| 理由 | メモリリーク |\n"
        "| 影響 | API 応答遅延 |\n| 復旧時間 | 12分 |"  # no final newline
    )
    path.write_text(hand, encoding="utf-8")
    append_entry(path, make_record(), tz=JST)
    data = path.read_text(encoding="utf-8")
    assert data == hand + "\n\n" + render_entry(make_record(), tz=JST)
    manual, console = read_entries(path)
    assert console.id == "web-20261124T170701Z-3f9a" and console.note == ""
    assert manual.note.startswith("hand-written")
    assert (manual.operator, manual.environment) == ("山田", "production")
    assert (manual.from_revision, manual.to_revision) == ("v2.0.1", "v2.0.0")
    assert manual.time_to_recover_s == 720.0
    assert manual.reason == "メモリリーク"
    assert median_time_to_recover([manual, console]) == (720.0 + 432.0) / 2


def _append_many(path: str, worker: int, count: int, start: object) -> None:
    start.wait(60)  # type: ignore[attr-defined]
    for i in range(count):
        append_entry(Path(path), big_record(worker, i), tz=JST)


def big_record(worker: int, i: int) -> HistoryRecord:
    """An entry of several KiB (larger than a pipe buffer or a page)."""
    events = tuple(
        TimelineEvent(
            DETECTED + timedelta(seconds=n), "output", f"worker {worker} entry {i} line {n} " * 3
        )
        for n in range(60)
    )
    return make_record(f"w{worker}-{i:02d}", operator=f"op{worker}", timeline=events)


def test_eight_processes_appending_at_once_lose_and_interleave_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ops" / "rollback-history.md"
    workers, per_worker = 8, 25
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(workers)
    procs = [
        ctx.Process(target=_append_many, args=(str(path), w, per_worker, start))
        for w in range(workers)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0] * workers

    text = path.read_text(encoding="utf-8")
    assert text.startswith(TITLE) and text.count(TITLE) == 1
    entries = read_entries(path)
    assert len(entries) == workers * per_worker
    expected = {f"w{w}-{i:02d}": (w, i) for w in range(workers) for i in range(per_worker)}
    assert {e.id for e in entries} == set(expected)
    for entry in entries:
        worker, i = expected[entry.id]
        assert entry.note == ""
        assert entry.raw == render_entry(big_record(worker, i), tz=JST)
    # Each process's entries are in the order it wrote them, and the file is
    # exactly the title and the entries, one blank line apart: nothing else.
    for w in range(workers):
        mine = [expected[e.id][1] for e in entries if expected[e.id][0] == w]
        assert mine == list(range(per_worker))
    assert text == TITLE + "\n".join(e.raw for e in entries)


# --------------------------------------------------------------------------- disk full

FULL_DISK_CHILD = """
import json, resource, signal, sys
from pathlib import Path
from console.history import HistoryWriteError, append_entry
from tests.test_history import JST, make_record

record = make_record("full-disk")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), hard))
try:
    append_entry(Path(sys.argv[1]), record, tz=JST)
except HistoryWriteError as exc:
    print(json.dumps({"error": str(exc), "exit_code": exc.exit_code}))
else:
    print(json.dumps({"error": None}))
"""


def append_with_file_size_limit(path: Path, limit: int) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK_CHILD, str(path), str(limit)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome: dict[str, object] = json.loads(result.stdout)
    return outcome


def test_disk_full_mid_entry_leaves_the_file_byte_for_byte_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "rollback-history.md"
    append_entry(path, make_record("earlier"), tz=JST)
    before = path.read_bytes()
    # Room for 200 more bytes: the kernel writes part of the entry, then EFBIG.
    outcome = append_with_file_size_limit(path, len(before) + 200)
    assert path.read_bytes() == before
    error = outcome["error"]
    assert isinstance(error, str) and "\n" not in error
    assert str(path) in error and "File too large" in error
    assert outcome["exit_code"] == 1
    # The file is still good for the next append.
    append_entry(path, make_record("later"), tz=JST)
    assert path.read_bytes().startswith(before)
    assert [e.id for e in read_entries(path)] == ["earlier", "later"]


def test_disk_full_on_a_new_file_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "rollback-history.md"
    outcome = append_with_file_size_limit(path, 5)  # not even the title fits
    assert not path.exists()
    assert isinstance(outcome["error"], str) and str(path) in outcome["error"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_dev_full_raises_one_line_history_write_error() -> None:
    with pytest.raises(HistoryWriteError) as info:
        append_entry(Path("/dev/full"), make_record(), tz=JST)
    message = str(info.value)
    assert "\n" not in message
    assert "/dev/full" in message and "No space left on device" in message
    assert info.value.exit_code == 1


def test_unwritable_folder_is_a_history_write_error(tmp_path: Path) -> None:
    blocker = tmp_path / "docs"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(HistoryWriteError) as info:
        append_entry(blocker / "rollback-history.md", make_record(), tz=JST)
    assert str(blocker) in str(info.value) and "\n" not in str(info.value)


# --------------------------------------------------------------------------- reading


def test_read_entries_survives_junk_torn_and_hand_edited_entries(tmp_path: Path) -> None:
    good = render_entry(make_record("good"), tz=JST)
    torn = render_entry(make_record("torn"), tz=JST)[:300]
    junk = (
        TITLE.encode()
        + b"\xff\xfe binary \x00 junk\n| just | a | row |\n|\n| Date |\n"
        + b"<!-- rollback-console entry -->\n"  # a marker with nothing after it
        + b"<!-- rollback-console entry id=edited -->\n## heading only\n| Field | Value |\n"
        + b"| Service | api |\n| Time to recover | soon |\n\n"
        + torn.encode()
        + b"\n\n"
        + good.encode()
        + b"\n## a note someone added by hand\n\nno table here\n"
    )
    path = tmp_path / "rollback-history.md"
    path.write_bytes(junk)
    entries = read_entries(path)
    assert [e.id for e in entries] == ["", "edited", "torn", "good"]
    assert entries[0].note.startswith("incomplete")
    assert entries[1].service == "api" and entries[1].time_to_recover_s is None
    assert "incomplete" in entries[1].note
    assert "incomplete" in entries[2].note
    assert entries[3].note == "" and entries[3].raw == good
    assert median_time_to_recover(entries) == 432.0


FRAGMENTS = st.sampled_from(
    [
        "<!-- rollback-console entry id=x -->",
        "<!-- rollback-console entry",
        "## heading",
        "# title",
        "| Field | Value |",
        "|---|---|",
        "| Time to recover | 7m 12s (detected",
        "| Date | 2026-13-45 99:99 |",
        "| From | v1 (revision |",
        "| 日時 | 昨日 |",
        "| 復旧時間 | 1時間 |",
        "\\|",
        "",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(FRAGMENTS | st.text(max_size=40), max_size=30))
def test_parse_entries_never_raises(parts: list[str]) -> None:
    for entry in parse_entries("\n".join(parts)):
        assert isinstance(entry.raw, str)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("7m 12s (detected 02:07:01 → verified 02:14:13)", 432.0),
        ("0m 05s", 5.0),
        ("1h 02m 03s", 3723.0),
        ("12 minutes", 720.0),
        ("12分", 720.0),
        ("1時間5分", 3900.0),
        ("0:12:00", 720.0),
        ("not recovered (detected 02:07:01)", None),
        ("—", None),
        ("", None),
    ],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_median_time_to_recover_ignores_unrecovered_entries() -> None:
    rendered = [
        render_entry(make_record(f"e{n}", recovered_at=recovered), tz=JST)
        for n, recovered in enumerate(
            [
                None,
                DETECTED + timedelta(minutes=1),
                DETECTED + timedelta(minutes=3),
                DETECTED + timedelta(minutes=10),
            ]
        )
    ]
    entries = parse_entries(TITLE + "\n".join(rendered))
    assert [e.time_to_recover_s for e in entries] == [None, 60.0, 180.0, 600.0]
    assert median_time_to_recover(entries) == 180.0
    assert median_time_to_recover(entries[:3]) == 120.0
    assert median_time_to_recover(entries[:1]) is None
    assert median_time_to_recover([]) is None


@pytest.mark.parametrize("outcome", [o for o in Outcome if o is not Outcome.ROLLED_BACK])
def test_only_a_verified_recovery_has_a_time_to_recover(outcome: Outcome) -> None:
    """Issue 11: a not-verified resume carried the recovery time of an earlier verdict."""
    record = make_record(outcome=outcome)  # recovered_at is set
    assert record.time_to_recover_s is None
    entry = render_entry(record, tz=JST)
    why = (
        "not measured: a database restore verifies no service"
        if outcome is Outcome.RESTORED
        else "not recovered"
    )
    assert field(entry, "Time to recover") == f"{why} (detected 02:07:01)"
    (summary,) = parse_entries(TITLE + entry)
    assert summary.time_to_recover_s is None
    assert median_time_to_recover([summary]) is None


def test_a_time_written_beside_an_unverified_outcome_is_not_read_back() -> None:
    """Entries an earlier console wrote (or a hand edit) with a time and no verified outcome."""
    verified = render_entry(make_record("a"), tz=JST)
    unverified = verified.replace("id=a ", "id=b ").replace(
        "| Outcome | rolled back and verified |", "| Outcome | rolled back, not verified |"
    )
    entries = parse_entries(TITLE + verified + "\n" + unverified)
    assert [e.time_to_recover_s for e in entries] == [432.0, None]
    assert median_time_to_recover(entries) == 432.0


def test_history_write_error_survives_pickling() -> None:
    err = HistoryWriteError(Path("/x/h.md"), "No space left on device")
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == str(err) and copy.path == err.path and copy.exit_code == 1


def _append_in_thread(path: Path) -> BaseException | None:
    """``append_entry`` in a thread; its error.  Fails the test if it never returns."""
    import threading

    found: list[BaseException | None] = []

    def append() -> None:
        try:
            append_entry(path, make_record(), tz=JST)
            found.append(None)
        except BaseException as exc:  # handed to the test thread
            found.append(exc)

    thread = threading.Thread(target=append, daemon=True)
    thread.start()
    thread.join(60)  # a hang guard, not a timing: the old code spun at 100% CPU forever
    assert not thread.is_alive(), f"append_entry({path}) never returned"
    return found[0]


def test_a_dangling_symlink_history_file_is_one_line_error_not_a_spin(tmp_path: Path) -> None:
    """The platform (or a checkout) moved: the link points at nothing.  Say so, create nothing."""
    path = tmp_path / "rollback-history.md"
    target = tmp_path / "moved-away" / "rollback-history.md"
    path.symlink_to(target)
    error = _append_in_thread(path)
    assert isinstance(error, HistoryWriteError)
    message = str(error)
    assert "\n" not in message
    assert str(path) in message and "symbolic link" in message and str(target) in message
    assert not os.path.lexists(target) and path.is_symlink()


def test_a_symlink_to_an_existing_history_file_is_appended_through(tmp_path: Path) -> None:
    """A team may keep the history as a link into a shared checkout: that still works."""
    shared = tmp_path / "shared" / "rollback-history.md"
    shared.parent.mkdir()
    append_entry(shared, make_record("first"), tz=JST)
    path = tmp_path / "docs" / "rollback-history.md"
    path.parent.mkdir()
    path.symlink_to(shared)
    assert _append_in_thread(path) is None
    assert path.is_symlink()
    assert [e.id for e in read_entries(shared)] == ["first", "web-20261124T170701Z-3f9a"]


def test_a_symlink_loop_history_file_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "rollback-history.md"
    path.symlink_to(path)
    error = _append_in_thread(path)
    assert isinstance(error, HistoryWriteError) and "\n" not in str(error)
    assert str(path) in str(error) and "go round in a loop" in str(error)
