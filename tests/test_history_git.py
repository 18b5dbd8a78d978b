"""History kept in git (``[console] history_git`` / ``history_push``), with a real bare
remote (``git init --bare``) and the console as a process on the demo sandbox.

A rollback's entry is committed in the checkout that holds the history file
(author the operator, message the entry's headline, nothing else of the dirty
checkout) and pushed; a push to an unreachable remote is reported, the entry
stays in the file and the local commit, and ``resume`` or the next start pushes
it once the remote works.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from console.demo import DemoSandbox
from tests.console_cli import run_console
from tests.fakes.demo import sandbox  # noqa: F401


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Path, Path]:
    """A team repository (docs/operations/ tracked, a dirty file, a staged file) and its
    bare remote, in sync."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--bare", "-q", "-b", "main", str(remote))
    work = tmp_path / "team"
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    git(work, "config", "user.name", "CI")
    git(work, "config", "user.email", "ci@example.invalid")
    (work / "docs" / "operations").mkdir(parents=True)
    (work / "docs" / "operations" / "runbook.md").write_text("# runbook\n")
    (work / "notes.md").write_text("v1\n")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "start")
    git(work, "remote", "add", "origin", str(remote))
    git(work, "push", "-q", "origin", "main")
    (work / "notes.md").write_text("v2, not for the history commit\n")  # dirty
    (work / "staged.md").write_text("staged by someone\n")
    git(work, "add", "staged.md")  # staged, and must stay out of the commit
    return work, remote


def _configure(box: DemoSandbox, work: Path) -> Path:
    history = work / "docs" / "operations" / "rollback-history.md"
    text = box.config_path.read_text()
    text = text.replace('history_file = "rollback-history.md"', f'history_file = "{history}"')
    text = text.replace(
        "[console]\n",
        '[console]\noperator = "alice"\nhistory_git = true\nhistory_push = true\n',
        1,
    )
    box.config_path.write_text(text)
    return history


def _headlines(history: Path) -> list[str]:
    return [line[3:] for line in history.read_text().splitlines() if line.startswith("## ")]


def test_entries_are_committed_pushed_and_a_failed_push_is_retried(
    sandbox: DemoSandbox,  # noqa: F811
    checkout: tuple[Path, Path],
) -> None:
    work, remote = checkout
    history = _configure(sandbox, work)
    done = run_console(
        sandbox.config_path, "rollback", "web", "--yes", "--reason", "500s", "--verify-window", "2"
    )
    assert done.returncode == 0, done.stderr
    assert "and pushed to origin" in done.stdout, done.stdout
    log = git(remote, "log", "-1", "--format=%an%n%s", "main").splitlines()
    assert log == ["alice", _headlines(history)[-1]]
    files = git(remote, "show", "--name-only", "--format=", "main").splitlines()
    assert files == ["docs/operations/rollback-history.md"]
    # the rest of the checkout is as the team left it
    assert git(work, "diff", "--cached", "--name-only") == "staged.md"
    assert git(work, "diff", "--name-only") == "notes.md"

    # the remote goes away: the entry is saved and committed, the push reported
    git(work, "remote", "set-url", "origin", str(work.parent / "gone.git"))
    done = run_console(
        sandbox.config_path, "action", "web", "restart", "--yes", "--reason", "again",
        "--verify-window", "2",
    )  # fmt: skip
    assert "NOT pushed to origin" in done.stderr, done.stderr + done.stdout
    assert len(_headlines(history)) == 2
    assert git(work, "log", "-1", "--format=%s") == _headlines(history)[-1]
    assert git(remote, "rev-parse", "main") != git(work, "rev-parse", "HEAD")
    pending = sandbox.root / "state" / "history-push.pending"
    assert pending.exists()

    still = run_console(sandbox.config_path, "resume")
    assert "still NOT pushed" in still.stderr, still.stderr
    assert pending.exists()

    git(work, "remote", "set-url", "origin", str(remote))
    resumed = run_console(sandbox.config_path, "resume")
    assert "history commits pushed to origin" in resumed.stdout, resumed.stdout + resumed.stderr
    assert git(remote, "rev-parse", "main") == git(work, "rev-parse", "HEAD")
    assert not pending.exists()


async def test_the_next_start_pushes_what_a_failed_push_left(
    sandbox: DemoSandbox,  # noqa: F811
    checkout: tuple[Path, Path],
) -> None:
    from console.app import make_app
    from console.config import load_config
    from console.history.git import commit_entry
    from tests.screens.test_dashboard import wait_until

    work, remote = checkout
    history = _configure(sandbox, work)
    config = load_config(sandbox.config_path)
    history.write_text("# Rollback history\n\n## 2026-12-06 07:00 UTC — web (demo) test\n")
    git(work, "remote", "set-url", "origin", str(work.parent / "gone.git"))
    failed = commit_entry(config.console, "web (demo) test", "bob")
    assert failed is not None and not failed.ok and "NOT pushed" in failed.line
    pending = config.console.state_dir / "history-push.pending"
    assert pending.exists()
    git(work, "remote", "set-url", "origin", str(remote))
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: not pending.exists(), "the pending push")
    assert git(remote, "log", "-1", "--format=%an %s", "main") == "bob web (demo) test"


def test_check_config_names_a_history_outside_git_or_a_missing_remote(
    sandbox: DemoSandbox,  # noqa: F811
    checkout: tuple[Path, Path],
) -> None:
    work, _remote = checkout
    history = _configure(sandbox, work)
    ok = run_console(sandbox.config_path, "check-config")
    assert ok.returncode == 0, ok.stderr
    assert f"history git:  entries committed in {work} and pushed to origin" in ok.stdout
    git(work, "remote", "remove", "origin")
    missing = run_console(sandbox.config_path, "check-config")
    assert missing.returncode == 2
    assert "console.history_remote" in missing.stderr and "'origin'" in missing.stderr
    text = sandbox.config_path.read_text().replace(str(history), str(sandbox.root / "h.md"))
    sandbox.config_path.write_text(text)
    outside = run_console(sandbox.config_path, "check-config")
    assert outside.returncode == 2
    assert "console.history_git" in outside.stderr and "not in a git repository" in outside.stderr
