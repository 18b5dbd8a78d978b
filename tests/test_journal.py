"""The incident journal: whole fsync'd JSON lines, torn lines skipped, never a glued line."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from console.journal import (
    Journal,
    JournalWriteError,
    encode_event,
    journal_path,
    new_incident_id,
    read,
)
from console.model import ItemState, Revision, Severity
from tests.conftest import REPO

AT = datetime(2026, 11, 25, 2, 14, 5, tzinfo=UTC)


def test_events_round_trip_as_sorted_json_lines(tmp_path: Path) -> None:
    path = journal_path(tmp_path / "state", "web-20261125T021405Z-3f9a")
    journal = Journal(path)
    journal.append({"event": "opened", "at": AT, "operator": "山田", "severity": Severity.HIGH})
    journal.append(
        {
            "event": "plan",
            "at": AT + timedelta(seconds=1),
            "to": Revision("release-6", "v1.2.9", created=AT),
            "file": tmp_path / "x",
            "window": timedelta(minutes=1),
            "nested": {"b": [1, 2], "a": ItemState.SKIPPED},
        }
    )
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3
    for line in lines[:-1]:
        obj = json.loads(line)
        assert line.decode() == json.dumps(
            obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
    events = read(path)
    assert events == journal.read()
    assert events[0] == {
        "event": "opened",
        "at": "2026-11-25T02:14:05+00:00",
        "operator": "山田",
        "severity": "high",
    }
    assert events[1]["to"] == {
        "id": "release-6",
        "version": "v1.2.9",
        "created": "2026-11-25T02:14:05+00:00",
        "change_cause": "",
        "image": "",
        "current": False,
        "detail": "",
    }
    assert events[1]["file"] == str(tmp_path / "x")
    assert events[1]["window"] == 60.0
    assert events[1]["nested"] == {"a": "skipped", "b": [1, 2]}


def test_append_fsyncs_the_journal_before_returning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal" / "i.jsonl"
    synced: list[tuple[int, int]] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        st = os.fstat(fd)
        synced.append((st.st_ino, st.st_size))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    Journal(path).append({"event": "one"})
    size = path.stat().st_size
    assert (path.stat().st_ino, size) in synced
    # And another process sees the line as soon as append returned.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pathlib, console.journal as j; print(j.read(pathlib.Path(sys.argv[1])))",
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "[{'event': 'one'}]"


def test_torn_last_line_is_skipped_and_never_glued_to_the_next(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.append({"n": 1})
    journal.append({"n": 2})
    with path.open("ab") as f:  # what a crash mid-write leaves
        f.write(b'{"n":3,"message":"half a li')
    assert read(path) == [{"n": 1}, {"n": 2}]
    journal.append({"n": 4})
    assert read(path) == [{"n": 1}, {"n": 2}, {"n": 4}]
    assert path.read_bytes().endswith(b'"half a li\n{"n":4}\n')


def test_read_skips_fragments_and_non_objects_but_keeps_order(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"n":1}\n\xff\xfe\n[1,2]\n\n{"n":\n"str"\n{"n":2}\n{"n":3}')
    assert read(path) == [{"n": 1}, {"n": 2}]


def test_missing_journal_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read(tmp_path / "nope.jsonl")


def test_unserialisable_event_raises_before_touching_the_disk(tmp_path: Path) -> None:
    path = tmp_path / "journal" / "j.jsonl"
    with pytest.raises(TypeError, match="object"):
        Journal(path).append({"bad": object()})
    assert not path.parent.exists()


JOURNAL_FULL_CHILD = """
import json, resource, signal, sys
from pathlib import Path
from console.journal import Journal, JournalWriteError

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), hard))
try:
    Journal(Path(sys.argv[1])).append({"event": "big", "pad": "x" * 5000})
except JournalWriteError as exc:
    print(json.dumps({"error": str(exc), "exit_code": exc.exit_code}))
else:
    print(json.dumps({"error": None}))
"""


def test_disk_full_leaves_the_journal_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    Journal(path).append({"event": "opened"})
    before = path.read_bytes()
    result = subprocess.run(
        [sys.executable, "-c", JOURNAL_FULL_CHILD, str(path), str(len(before) + 100)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    outcome = json.loads(result.stdout)
    assert path.read_bytes() == before
    assert str(path) in outcome["error"] and "File too large" in outcome["error"]
    assert "\n" not in outcome["error"] and outcome["exit_code"] == 1


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_dev_full_is_a_journal_write_error() -> None:
    with pytest.raises(JournalWriteError, match="No space left on device"):
        Journal(Path("/dev/full")).append({"event": "x"})


def _write_events(path: str, worker: int, count: int, start: Any) -> None:
    start.wait(60)
    journal = Journal(Path(path))
    for i in range(count):
        journal.append({"worker": worker, "i": i, "pad": f"{worker}:{i} " * 800})


def test_processes_appending_at_once_write_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "journal" / "shared.jsonl"
    workers, per_worker = 4, 40
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(workers)
    procs = [
        ctx.Process(target=_write_events, args=(str(path), w, per_worker, start))
        for w in range(workers)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0] * workers
    events = read(path)
    assert len(events) == workers * per_worker
    assert len(path.read_bytes().split(b"\n")) == workers * per_worker + 1
    for w in range(workers):
        mine = [e for e in events if e["worker"] == w]
        assert [e["i"] for e in mine] == list(range(per_worker))
        assert all(e["pad"] == f"{w}:{e['i']} " * 800 for e in mine)


def test_encode_event_is_compact_sorted_utf8() -> None:
    assert encode_event({"b": 1, "a": "ロールバック"}) == '{"a":"ロールバック","b":1}'.encode()


def test_new_incident_id_names_service_and_utc_time() -> None:
    incident = new_incident_id("web", AT)
    assert re.fullmatch(r"web-20261125T021405Z-[0-9a-f]{4}", incident)
    jst = AT.astimezone(timezone(timedelta(hours=9)))
    assert new_incident_id("web", jst).startswith("web-20261125T021405Z-")
    assert new_incident_id("My App/v2", AT).startswith("my-app-v2-20261125T021405Z-")
    assert new_incident_id("///", AT).startswith("incident-")
    assert len({new_incident_id("web", AT) for _ in range(20)}) > 1


def test_journal_path_stays_inside_the_state_dir(tmp_path: Path) -> None:
    assert journal_path(tmp_path, "web-20261125T021405Z-3f9a") == (
        tmp_path / "journal" / "web-20261125T021405Z-3f9a.jsonl"
    )
    for hostile in ("../../etc/passwd", "..", "", "a/b", ".hidden"):
        path = journal_path(tmp_path, hostile)
        assert path.parent == tmp_path / "journal"
        assert path.name.endswith(".jsonl") and not path.name.startswith(".")


def test_a_symlink_at_the_journal_path_is_refused_and_its_target_untouched(
    tmp_path: Path,
) -> None:
    """The journal is the console's own file: a link there is never followed, even to create."""
    victim = tmp_path / "precious.txt"
    victim.write_bytes(b"precious\n")
    dangling = tmp_path / "created-through-the-link"
    for target in (victim, dangling):
        path = journal_path(tmp_path / "state", f"web-{target.name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
        with pytest.raises(JournalWriteError) as info:
            Journal(path).append({"event": "execute"})
        message = str(info.value)
        assert "\n" not in message and str(path) in message and "symbolic link" in message
    assert victim.read_bytes() == b"precious\n"
    assert not os.path.lexists(dangling)


def test_a_fifo_or_a_link_among_the_journals_is_skipped_not_waited_on(tmp_path: Path) -> None:
    """Every command reads the journals: one that is a FIFO must not hang it."""
    import threading

    from console.resume import open_incidents

    folder = tmp_path / "state" / "journal"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "a-fifo.jsonl")
    (folder / "a-link.jsonl").symlink_to("/dev/zero")
    found: list[object] = []
    thread = threading.Thread(
        target=lambda: found.append(open_incidents(tmp_path / "state")), daemon=True
    )
    thread.start()
    thread.join(60)  # a hang guard, not a timing: the old code blocked forever on the FIFO
    assert not thread.is_alive(), "reading the journals hung"
    assert found == [[]]
    with pytest.raises(OSError, match="not a regular file"):
        read(folder / "a-fifo.jsonl")
