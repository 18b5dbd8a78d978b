"""A full disk when saving history and when journaling: nothing half-written, nothing lost.

The disk is really full.  Preferably a tiny tmpfs is mounted for the test
(``mount -t tmpfs -o size=...``, needs root) and filled, so writes fail with
ENOSPC part-way through, as on a bastion whose disk filled up.  Where mounting
is not permitted the same scenarios run the console in a child process with a
file-size limit (``RLIMIT_FSIZE``, SIGXFSZ ignored), so writes past the limit
fail with EFBIG; the console cannot tell the two apart.

What must hold, whatever fills up:

* saving history: ``HistoryWriteError`` with one line, the file byte-for-byte
  as it was (no half entry), exit 1 saying the rollback's real outcome and
  that the entry was not saved, and the incident left open so ``resume``
  writes the entry once there is room, without rolling back again;
* journaling: the console stops instead of acting without its journal (exit
  1, one clear line), the journal holds only whole lines, no history entry is
  written, and ``resume`` finishes the rollback once there is room.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.config import load_config
from console.demo import DemoSandbox, build_sandbox, restart_argv
from console.history import TITLE, HistoryWriteError, append_entry, read_entries
from console.journal import Journal, JournalWriteError
from console.journal import read as read_journal
from console.resume import open_incidents
from tests.e2e.test_headless_rollback import edit_config, field, served_version
from tests.test_history import JST, make_record

PAGE = os.sysconf("SC_PAGE_SIZE")
#: A reason long enough that the entry needs more room than a page of slack.
LONG_REASON = "5xx after v1.3.0; " + "checkout and login failing for most users. " * 150


# --------------------------------------------------------------------------- a disk that fills


def _fill(folder: Path, leave: int = 0) -> None:
    """Fill the filesystem holding ``folder`` up, then give back ``leave`` bytes (whole pages)."""
    filler = folder / ".filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        chunk = b"\0" * (64 * 1024)
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]
        if leave:
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)
    os.sync()


def _room(folder: Path) -> int:
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize


class Tmpfs:
    """A tmpfs of its own at ``path``, unmounted at the end."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        self.mounted = result.returncode == 0
        self.why = result.stderr.strip()

    def fill(self, leave: int = 0) -> None:
        _fill(self.path, leave)

    def make_room(self) -> None:
        (self.path / ".filler").unlink(missing_ok=True)

    def unmount(self) -> None:
        if self.mounted and subprocess.run(["umount", str(self.path)], check=False).returncode:
            subprocess.run(["umount", "-l", str(self.path)], check=False)


def can_mount() -> str:
    """ "" when this process may mount a tmpfs, else why not."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return "mounting a tmpfs needs root and mount(8)"
    return ""


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Any]:
    """Mount tiny filesystems on demand: ``tmpfs("name", "256k")`` (skips when not permitted)."""
    mounts: list[Tmpfs] = []

    def mount(name: str, size: str = "256k") -> Tmpfs:
        reason = can_mount()
        if reason:
            pytest.skip(f"{reason}; the RLIMIT_FSIZE variant of this test runs instead")
        disk = Tmpfs(tmp_path / name, size)
        if not disk.mounted:
            pytest.skip(f"cannot mount a tmpfs ({disk.why}); the RLIMIT_FSIZE variant runs instead")
        mounts.append(disk)
        return disk

    try:
        yield mount
    finally:
        for disk in reversed(mounts):
            disk.unmount()


def rlimit_available() -> None:
    if not hasattr(resource, "RLIMIT_FSIZE") or not hasattr(signal, "SIGXFSZ"):
        reason = "no RLIMIT_FSIZE here, and the tmpfs variant could not run either"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


#: Runs the console with a file-size limit; SIGXFSZ ignored, so the write fails with EFBIG.
LIMITED_CONSOLE = """
import os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), hard))
os.execv(sys.executable, [sys.executable, "-m", "console.cli", *sys.argv[2:]])
"""


# --------------------------------------------------------------------------- the writers alone


def test_history_append_on_a_full_tmpfs_leaves_no_half_entry(tmpfs: Any) -> None:
    disk = tmpfs("docs")
    path = disk.path / "rollback-history.md"
    append_entry(path, make_record("earlier"), tz=JST)
    before = path.read_bytes()
    disk.fill(leave=PAGE)  # room for part of the next entry, not all of it
    assert 0 < _room(disk.path) <= PAGE
    big = make_record("later", reason=LONG_REASON)

    with pytest.raises(HistoryWriteError) as caught:
        append_entry(path, big, tz=JST)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message and "No space left on device" in message
    assert path.read_bytes() == before

    disk.make_room()
    append_entry(path, big, tz=JST)
    assert path.read_bytes().startswith(before)
    assert [e.id for e in read_entries(path)] == ["earlier", "later"]


def test_history_first_entry_on_a_full_tmpfs_leaves_no_file(tmpfs: Any) -> None:
    disk = tmpfs("docs")
    disk.fill()
    path = disk.path / "rollback-history.md"
    with pytest.raises(HistoryWriteError):
        append_entry(path, make_record(), tz=JST)
    assert not path.exists()


def test_journal_append_on_a_full_tmpfs_keeps_whole_lines(tmpfs: Any) -> None:
    disk = tmpfs("state")
    journal = Journal(disk.path / "journal" / "web-1.jsonl")
    journal.append({"event": "opened", "service": "web"})
    before = journal.path.read_bytes()
    disk.fill()
    with pytest.raises(JournalWriteError) as caught:
        journal.append({"event": "plan", "detail": "x" * (3 * PAGE)})
    assert "\n" not in str(caught.value) and "No space left on device" in str(caught.value)
    assert journal.path.read_bytes() == before
    disk.make_room()
    journal.append({"event": "execute"})
    assert [e["event"] for e in journal.read()] == ["opened", "execute"]


# --------------------------------------------------------------------------- the console


def cli(box: DemoSandbox, *args: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    head = [sys.executable, "-m", "console.cli"]
    if limit is not None:
        head = [sys.executable, "-c", LIMITED_CONSOLE, str(limit)]
    return subprocess.run(
        [*head, *args, "--config", str(box.config_path)],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def place(box: DemoSandbox, history: Path | None = None, state: Path | None = None) -> None:
    def change(d: dict[str, Any]) -> None:
        if history is not None:
            d["console"]["history_file"] = str(history)
        if state is not None:
            d["console"]["state_dir"] = str(state)

    edit_config(box, change)


def state_dir(box: DemoSandbox) -> Path:
    return load_config(box.config_path).console.state_dir


def journal_events(box: DemoSandbox) -> list[dict[str, Any]]:
    files = sorted((state_dir(box) / "journal").glob("*.jsonl"))
    assert files, "no journal written"
    return read_journal(files[-1])


def step_starts(events: list[dict[str, Any]], index: int) -> int:
    return sum(
        1
        for e in events
        if e["event"] == "step" and e["index"] == index and e["status"] == "started"
    )


def assert_whole_lines(box: DemoSandbox) -> None:
    """Every line of every journal is a complete JSON object."""
    for path in (state_dir(box) / "journal").glob("*.jsonl"):
        raw = path.read_bytes()
        assert raw == b"" or raw.endswith(b"\n"), path
        for line in raw.splitlines():
            assert isinstance(json.loads(line), dict)


def one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr and "unexpected" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines[0]


MODES = ["tmpfs", "rlimit"]
REASONS = {"tmpfs": "No space left on device", "rlimit": "File too large"}


def earlier_history(path: Path, padding: int = 0) -> bytes:
    """An earlier entry (and, for the file-size limit, enough hand-written text before it
    that the journals stay well below the limit)."""
    if padding:
        notes = "".join(f"- note {i}: rotated the logs by hand\n" for i in range(padding // 40))
        path.write_text(TITLE + notes + "\n")
    append_entry(path, make_record("web-earlier"), tz=JST)
    return path.read_bytes()


@pytest.mark.e2e
@pytest.mark.parametrize("mode", MODES)
def test_history_disk_full_says_so_keeps_the_incident_open_and_resume_saves_it(
    sandbox: DemoSandbox, tmpfs: Any, mode: str, request: pytest.FixtureRequest
) -> None:
    limit: int | None = None
    if mode == "tmpfs":
        disk = tmpfs("docs")
        history = disk.path / "rollback-history.md"
        place(sandbox, history=history)
        before = earlier_history(history)
        disk.fill(leave=PAGE)
    else:
        history = sandbox.root / "rollback-history.md"
        place(sandbox, history=history)
        before = earlier_history(history, padding=256 * 1024)
        limit = len(before) + 1000  # part of the entry fits, the rest does not

    result = cli(
        sandbox, "rollback", "web", "--yes", "--reason", LONG_REASON, "--verify-window", "1",
        limit=limit,
    )  # fmt: skip

    assert result.returncode == 1, result.stdout + result.stderr
    error = one_line_error(result.stderr)
    assert "web (demo): rolled back and verified" in error
    assert "history entry was NOT saved" in error and REASONS[mode] in error
    assert "resume web" in error
    assert "outcome: rolled back and verified" in result.stdout
    assert "history entry appended" not in result.stdout
    assert history.read_bytes() == before  # no half entry
    assert "v1.2.9" in served_version(sandbox)  # the rollback itself really happened

    (pending,) = open_incidents(state_dir(sandbox))
    assert pending.record_failed
    assert any("history entry could not be saved" in line for line in pending.describe())
    kinds = [e["event"] for e in journal_events(sandbox)]
    assert "record_failed" in kinds and "recorded" not in kinds

    if mode == "tmpfs":
        disk.make_room()
    resumed = cli(sandbox, "resume", "web", "--yes")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "only its history entry is missing" in resumed.stdout
    after = history.read_bytes()
    assert after.startswith(before)
    entries = read_entries(history)
    assert len(entries) == 2 and entries[0].id == "web-earlier"
    entry = entries[1].raw
    assert field(entry, "Outcome") == "rolled back and verified"
    assert "when its history entry could not be saved" in entry
    assert "history entry not saved" in entry  # the failed attempt is in the timeline
    events = journal_events(sandbox)
    assert step_starts(events, 0) == 1 and step_starts(events, 1) == 1, "rolled back twice"
    assert [e["event"] for e in events].count("recorded") == 1
    assert open_incidents(state_dir(sandbox)) == []


@pytest.mark.e2e
@pytest.mark.parametrize("mode", MODES)
def test_journal_disk_full_from_the_start_changes_nothing(
    sandbox: DemoSandbox, tmpfs: Any, mode: str
) -> None:
    limit: int | None = None
    if mode == "tmpfs":
        disk = tmpfs("state")
        place(sandbox, state=disk.path)
        disk.fill()
    else:
        rlimit_available()
        limit = 0

    result = cli(sandbox, "rollback", "web", "--yes", "--reason", "5xx", limit=limit)

    assert result.returncode == 1, result.stdout + result.stderr
    error = one_line_error(result.stderr)
    assert "cannot write incident journal" in error and REASONS[mode] in error
    assert "stopped rather than act without its journal" in error
    assert (sandbox.root / "current").resolve().name == "v1.3.0"  # nothing was changed
    assert not (sandbox.root / "rollback-history.md").exists()
    assert open_incidents(state_dir(sandbox)) == []


#: The restart fills the disk first (once) and talks about it: journaling its output fails.
FILLING_RESTART = """
import os, pathlib, resource, sys
root, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
if not (root / "filled-once").exists():
    (root / "filled-once").write_text("x")
    if sys.argv[3] == "tmpfs":
        fd = os.open(target / ".filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        chunk = b"\\0" * 65536
        while True:
            try:
                os.write(fd, chunk)
            except OSError:
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]
        os.close(fd)
    else:  # the console's own file-size limit drops to what its journal holds now
        journal = max((target / "journal").glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        resource.prlimit(os.getppid(), resource.RLIMIT_FSIZE, (journal.stat().st_size, hard))
    for i in range(40):  # the console journals the first lines of a step's output
        print(f"disk full? line {i} " + "." * 200, flush=True)
os.execv(sys.executable, [sys.executable, *sys.argv[4:]])
"""


@pytest.mark.e2e
@pytest.mark.parametrize("mode", MODES)
def test_disk_filling_mid_rollback_stops_the_console_and_resume_finishes_once(
    sandbox: DemoSandbox, tmpfs: Any, mode: str
) -> None:
    limit: int | None = None
    if mode == "tmpfs":
        disk = tmpfs("var")
        target = disk.path / "state"
        history = disk.path / "rollback-history.md"
        fill = disk.path
    else:
        rlimit_available()
        target = sandbox.root / "state"
        history = sandbox.root / "rollback-history.md"
        limit = 10 * 1024 * 1024  # lowered by the restart command, from inside
        fill = target
    script = sandbox.root / "filling_restart.py"
    script.write_text(FILLING_RESTART)
    restart = [sys.executable, str(script), str(sandbox.root), str(fill), mode]
    restart += restart_argv(sandbox.root)[1:]

    def change(d: dict[str, Any]) -> None:
        d["console"]["state_dir"] = str(target)
        d["console"]["history_file"] = str(history)
        d["services"][0]["host"]["restart"] = restart

    edit_config(sandbox, change)

    result = cli(sandbox, "rollback", "web", "--yes", "--reason", "5xx", limit=limit)

    assert result.returncode == 1, result.stdout + result.stderr
    error = one_line_error(result.stderr)
    assert "cannot write incident journal" in error and REASONS[mode] in error
    assert "`rollback-console resume` finishes" in error
    assert "rollback failed" not in result.stderr  # it did not fail: the console stopped
    assert not history.exists()  # no entry from a console that lost its journal
    assert_whole_lines(sandbox)
    (pending,) = open_incidents(target)
    assert any("started, not seen finishing" in line for line in pending.describe())

    if mode == "tmpfs":
        disk.make_room()
    resumed = cli(sandbox, "resume", "web", "--yes", "--verify-window", "1")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "v1.2.9" in served_version(sandbox)
    (entry,) = read_entries(history)
    assert entry.outcome == "rolled back and verified"
    assert "Interrupted: the console stopped during step 2" in entry.raw
    events = journal_events(sandbox)
    assert step_starts(events, 0) == 1, "switched twice"
    assert open_incidents(target) == []
    assert_whole_lines(sandbox)


def test_resume_does_not_write_an_entry_twice(tmp_path: Path) -> None:
    """The entry went in, the console died before journaling so: resume only notes it."""
    from console.flow import RollbackFlow
    from console.resume import read_state
    from console.signals.probe import ProbeSource
    from providers import load_provider

    box = build_sandbox(tmp_path / "sandbox")  # never started: nothing runs here
    config = load_config(box.config_path)
    svc = config.service("web")
    source = ProbeSource([box.health_url])
    flow = RollbackFlow(config, svc, load_provider(svc), source, reason="x")
    flow.incident.journal_event("execute")
    record = flow.build_record()
    append_entry(config.console.history_file, record, redact=flow.redact)
    before = config.console.history_file.read_bytes()

    state = read_state(flow.incident.journal_file)
    assert state.open
    again = RollbackFlow(config, svc, load_provider(svc), source, resume_state=state)
    result = again.record()
    assert config.console.history_file.read_bytes() == before
    assert result.history_file == config.console.history_file
    assert not read_state(flow.incident.journal_file).open
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(box.root)
