"""Provider actions through the CLI: listed, planned, run through the rollback flow, recorded."""

from __future__ import annotations

import json
import subprocess
import sys

from console.demo import DemoSandbox
from tests.e2e.test_headless_rollback import field, history_of, served_version


def cli(box: DemoSandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args, "--config", str(box.config_path)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def pid_of(box: DemoSandbox) -> str:
    return box.pid_file.read_text().strip()


def test_actions_are_listed_and_restart_runs_in_place(sandbox: DemoSandbox) -> None:
    listed = cli(sandbox, "action", "web", "--list")
    assert listed.returncode == 0, listed.stderr
    assert "restart" in listed.stdout

    dry = cli(sandbox, "action", "web", "restart", "--dry-run", "--reason", "try")
    assert dry.returncode == 0, dry.stderr
    assert "console.demo restart" in dry.stdout and "nothing was changed" in dry.stdout
    assert not history_of(sandbox).exists()

    before = pid_of(sandbox)
    run = cli(
        sandbox,
        "action",
        "web",
        "restart",
        "--yes",
        "--reason",
        "hung workers",
        "--verify-window",
        "2",
    )
    # v1.3.0 is still the broken release after a restart: not verified, exit 1, truthfully.
    assert run.returncode == 1, run.stdout + run.stderr
    assert pid_of(sandbox) != before, "the service was not restarted"
    assert "v1.3.0" in served_version(sandbox)
    entry = history_of(sandbox).read_text()
    assert field(entry, "Action") == "restart"
    [headline] = [line for line in entry.splitlines() if line.startswith("## ")]
    assert headline.endswith("restart, not verified (v1.3.0 → v1.3.0)"), headline
    assert field(entry, "Outcome") == "restart, not verified"
    listed = cli(sandbox, "history", "--json")
    assert json.loads(listed.stdout)["entries"][-1]["action"] == "restart"
    # Scripts still read the Outcome value they know.
    assert json.loads(listed.stdout)["entries"][-1]["outcome"] == "rolled back, not verified"


def test_unknown_action_and_missing_reason_are_bad_input(sandbox: DemoSandbox) -> None:
    unknown = cli(sandbox, "action", "web", "explode", "--yes", "--reason", "x")
    assert unknown.returncode == 2
    assert "unknown action 'explode'" in unknown.stderr and "restart" in unknown.stderr
    no_reason = cli(sandbox, "action", "web", "restart", "--yes")
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    assert not history_of(sandbox).exists()
