"""The files a rollback leaves behind, on the demo sandbox (real processes, real files).

* A history file or state dir the console cannot write is found before
  anything is changed (exit 2 naming the path), and a history file that goes
  bad during a rollback leaves an incident that ``resume`` can close: the
  entry goes to the fallback file in the state dir, and the output says where.
* Dry runs and refused runs (lock held, bad target, no confirmation) leave no
  journal behind for every later command to read again; a real rollback
  leaves one, in the format older versions wrote.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.config import load_config
from console.demo import DemoSandbox, restart_argv
from console.history import read_entries
from console.lock import ServiceLock
from console.resume import open_incidents
from tests.e2e.test_headless_rollback import edit_config, field, history_of, served_version
from tests.e2e.test_resume import GATED_RESTART, kill_group_of

pytestmark = pytest.mark.e2e


def console(box: DemoSandbox, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args, "--config", str(box.config_path)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def journals(box: DemoSandbox) -> list[Path]:
    return sorted((box.root / "state" / "journal").glob("*"))


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def assert_nothing_changed(box: DemoSandbox) -> None:
    assert (box.root / "current").resolve().name == "v1.3.0"
    assert "v1.3.0" in served_version(box)
    assert journals(box) == []


@pytest.mark.parametrize("kind", ["folder", "dangling link"])
def test_rollback_with_an_unwritable_history_file_changes_nothing(
    sandbox: DemoSandbox, kind: str
) -> None:
    history = history_of(sandbox)
    if kind == "folder":
        history.mkdir()
    else:
        history.symlink_to(sandbox.root / "moved" / "rollback-history.md")
    result = console(sandbox, "rollback", "web", "--yes", "--reason", "x", timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_line(result)
    assert str(history) in line and "console.history_file" in line
    assert "nothing was changed" in line
    assert_nothing_changed(sandbox)


def test_rollback_with_an_unwritable_state_dir_changes_nothing(sandbox: DemoSandbox) -> None:
    state = sandbox.root / "state"
    if state.exists():
        state.rmdir()
    state.write_text("a file where the state dir should be")
    result = console(sandbox, "rollback", "web", "--yes", "--reason", "x", timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_line(result)
    assert str(state) in line and "console.state_dir" in line and "not a folder" in line
    assert (sandbox.root / "current").resolve().name == "v1.3.0"
    assert "v1.3.0" in served_version(sandbox)


def test_resume_saves_the_entry_to_the_fallback_file_when_history_stays_unwritable(
    sandbox: DemoSandbox,
) -> None:
    """The history file breaks mid-rollback and stays broken: resume still closes the incident."""
    script = sandbox.root / "gated_restart.py"
    script.write_text(GATED_RESTART)
    edit_config(
        sandbox,
        lambda d: d["services"][0]["host"].__setitem__(
            "restart", [sys.executable, str(script), str(sandbox.root), *restart_argv(sandbox.root)]
        ),
    )
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console.cli",
            "rollback",
            "web",
            "--yes",
            "--reason",
            "5xx after v1.3.0",
            "--verify-window",
            "3",
            "--config",
            str(sandbox.config_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        for _ in range(1200):
            if (sandbox.root / "restart-started").exists() or run.poll() is not None:
                break
            time.sleep(0.05)
        assert (sandbox.root / "restart-started").exists(), run.communicate()
        # While it restarts, the history file's place is taken by a folder.
        history_of(sandbox).mkdir()
        (sandbox.root / "go").write_text("go")
        out, err = run.communicate(timeout=180)
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGKILL)
            run.wait()
        kill_group_of(script)
    assert run.returncode == 1, out + err
    assert "the history entry was NOT saved" in err and "rollback-history.fallback.md" in err
    state_dir = load_config(sandbox.config_path).console.state_dir
    (pending,) = open_incidents(state_dir)
    assert pending.record_failed

    resumed = console(sandbox, "resume", "web", "--yes")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    fallback = state_dir / "rollback-history.fallback.md"
    assert f"entry saved to {fallback} instead" in resumed.stdout
    assert str(history_of(sandbox)) in resumed.stdout
    assert open_incidents(state_dir) == []
    (entry,) = read_entries(fallback)
    assert entry.id == pending.incident_id
    assert field(fallback.read_text(), "Outcome") == "rolled back and verified"
    assert "v1.2.9" in served_version(sandbox)

    # Nothing is left to resume, and nothing is written twice.
    again = console(sandbox, "resume", "web", "--yes")
    assert again.returncode == 0 and "no interrupted rollback" in again.stdout
    assert len(read_entries(fallback)) == 1


def test_dry_runs_and_refused_runs_leave_no_journal(sandbox: DemoSandbox) -> None:
    dry = console(sandbox, "rollback", "web", "--dry-run", "--reason", "x")
    assert dry.returncode == 0, dry.stderr
    assert journals(sandbox) == []

    bad_target = console(sandbox, "rollback", "web", "--to", "v0.0.0", "--yes", "--reason", "x")
    assert bad_target.returncode == 2, bad_target.stderr
    assert journals(sandbox) == []

    unconfirmed = console(sandbox, "rollback", "web", "--reason", "x")  # stdin: no terminal
    assert unconfirmed.returncode == 2, unconfirmed.stderr
    assert journals(sandbox) == []

    config = load_config(sandbox.config_path)
    with ServiceLock(config.console.state_dir, config.service("web"), "bob"):
        locked = console(sandbox, "rollback", "web", "--yes", "--reason", "x")
    assert locked.returncode == 3, locked.stderr
    assert_nothing_changed(sandbox)

    done = console(sandbox, "rollback", "web", "--yes", "--reason", "x", "--verify-window", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    (journal,) = journals(sandbox)
    events = [json.loads(line) for line in journal.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    # The same journal as before: it opens with "opened", the plan precedes "execute".
    assert kinds[0] == "opened" and kinds.index("plan") < kinds.index("execute")
    assert kinds[-1] == "timeline" and "recorded" in kinds
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
