"""The headless commands' confirmation prompt, answered on a real terminal (a pty).

Typing anything but the service name (or end of input) aborts: exit 2 and one
line saying nothing was changed, for ``rollback``, ``action`` and ``resume``
alike (``db-restore``: ``tests/providers/test_database_flow.py``).  Exit 1
stays the code of a rollback that failed or was not verified; the right name
goes ahead, so the aborts are the answer's doing, not the terminal's.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from console.demo import DemoSandbox
from console.resume import read_state
from tests.console_cli import run_on_terminal
from tests.e2e.test_headless_rollback import history_of, served_version
from tests.test_bad_input import open_incident
from tests.test_config import GOOD

pytestmark = pytest.mark.e2e

PROMPT = "Type the service name (web) to confirm, anything else aborts: "


def assert_aborted(result: subprocess.CompletedProcess[str], *names: str) -> None:
    """Exit 2 and one line on stderr: ``aborted: …: nothing was changed``, naming ``names``."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aborted: ") and lines[0].endswith("nothing was changed"), lines[0]
    for name in names:
        assert name in lines[0], lines[0]
    assert PROMPT in result.stdout  # it was asked, on the terminal


def assert_untouched(box: DemoSandbox) -> None:
    assert (box.root / "current").resolve().name == "v1.3.0"
    assert "v1.3.0" in served_version(box)
    assert not history_of(box).exists()
    state = box.root / "state"
    assert not (state / "journal").exists() or not any((state / "journal").iterdir())


@pytest.mark.parametrize(
    ("command", "typed", "says"),
    [
        (["rollback", "web"], "wbe\n", "'wbe' is not the service name 'web'"),
        (["rollback", "web"], "\x04", "no answer (end of input)"),
        (["action", "web", "restart"], "Web\n", "'Web' is not the service name 'web'"),
    ],
    ids=["rollback-typo", "rollback-eof", "action-case"],
)
def test_a_wrong_answer_at_the_prompt_is_exit_2_and_changes_nothing(
    sandbox: DemoSandbox, command: list[str], typed: str, says: str
) -> None:
    result = run_on_terminal(sandbox.config_path, *command, "--reason", "x", typed=typed)
    assert_aborted(result, says)
    assert_untouched(sandbox)


def test_the_service_name_at_the_prompt_goes_ahead(sandbox: DemoSandbox) -> None:
    """The same terminal, the right answer: the rollback runs (so the aborts are real)."""
    result = run_on_terminal(
        sandbox.config_path,
        "rollback",
        "web",
        "--reason",
        "x",
        "--verify-window",
        "2",
        typed="web\n",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert PROMPT in result.stdout
    assert "v1.2.9" in served_version(sandbox)
    assert "confirmed by typing the service name" in history_of(sandbox).read_text()


def test_a_wrong_answer_to_resume_leaves_the_incident_open_with_exit_2(tmp_path: Path) -> None:
    """Resume asks before it reads the platform: the answer alone decides, nothing is done."""
    (tmp_path / "releases" / "v1").mkdir(parents=True)
    config = tmp_path / "config.toml"
    config.write_text(GOOD)
    journal = open_incident(tmp_path / "state", [])
    before = journal.read_bytes()
    result = run_on_terminal(config, "resume", "web", typed="nope\n")
    assert_aborted(result, f"incident {journal.stem} not resumed", "'nope'")
    assert journal.read_bytes() == before
    assert read_state(journal).interrupted
    assert not (tmp_path / "rollback-history.md").exists()
