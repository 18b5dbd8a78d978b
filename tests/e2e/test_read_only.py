"""Read-only mode on the command line: every command that would change something exits 2
with one "read-only: ..." line before touching anything; what only reads still works.

The console runs as a process on the real demo sandbox; "nothing touched" is read
back from it: the live release, the state dir (no journal, no lock), the history file.
"""

from __future__ import annotations

import pytest

from console.demo import DemoSandbox
from tests.console_cli import run_console
from tests.fakes.demo import sandbox  # noqa: F401

REFUSED = [
    ("rollback", "web", "--yes", "--reason", "watching"),
    ("action", "web", "restart", "--yes", "--reason", "watching"),
    ("resume", "--yes"),
    ("db-backup", "web"),
    ("db-restore", "web", "--from", "/nonexistent.dump", "--yes", "--reason", "x"),
]


def _untouched(box: DemoSandbox) -> None:
    assert (box.root / "current").resolve().name == "v1.3.0"
    state = box.root / "state"
    assert not state.exists() or not any(state.rglob("*.jsonl")), list(state.rglob("*"))
    assert not (box.root / "rollback-history.md").exists()


@pytest.mark.parametrize("argv", REFUSED, ids=lambda a: a[0])
def test_read_only_flag_refuses_what_changes_a_platform(
    sandbox: DemoSandbox,  # noqa: F811
    argv: tuple[str, ...],
) -> None:
    done = run_console(sandbox.config_path, *argv, "--read-only")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"read-only: `{argv[0]}` "), done.stderr
    assert "Traceback" not in done.stderr
    _untouched(sandbox)


def test_read_only_flag_before_the_command_and_config_key_refuse_too(
    sandbox: DemoSandbox,  # noqa: F811
) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    before = subprocess.run(
        [
            sys.executable,
            "-m",
            "console.cli",
            "--read-only",
            "rollback",
            "web",
            "--yes",
            "--reason",
            "x",
            "--config",
            str(sandbox.config_path),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert before.returncode == 2 and before.stderr.startswith("read-only: `rollback`")
    text = sandbox.config_path.read_text()
    sandbox.config_path.write_text(text.replace("[console]\n", "[console]\nread_only = true\n", 1))
    done = run_console(sandbox.config_path, "rollback", "web", "--yes", "--reason", "x")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("read-only: `rollback`"), done.stderr
    _untouched(sandbox)


def test_read_only_still_reads(sandbox: DemoSandbox) -> None:  # noqa: F811
    dry = run_console(sandbox.config_path, "rollback", "web", "--dry-run", "--read-only")
    assert dry.returncode == 0, dry.stderr
    assert "v1.2.9" in dry.stdout
    listed = run_console(sandbox.config_path, "action", "web", "--list", "--read-only")
    assert listed.returncode == 0 and "restart" in listed.stdout, listed.stderr
    status = run_console(sandbox.config_path, "status", "web", "--json", "--read-only")
    assert status.returncode == 0 and '"v1.3.0"' in status.stdout, status.stderr
    history = run_console(sandbox.config_path, "history", "--read-only")
    assert history.returncode == 0, history.stderr
    resume = run_console(sandbox.config_path, "resume", "--list", "--read-only")
    assert resume.returncode == 0, resume.stderr
    _untouched(sandbox)
