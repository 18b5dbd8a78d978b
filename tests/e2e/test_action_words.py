"""The host provider's restart action on the demo sandbox says what it did, at every turn.

Real release folders, a real process restarted for real, real HTTP: the CLI's
``outcome:`` line, the entry's headline and Outcome cell, the ``history``
listing and ``history --json`` (the Outcome value scripts know, and the words).
"""

from __future__ import annotations

import json

from console.demo import DemoSandbox
from tests.e2e.test_actions import cli, pid_of
from tests.e2e.test_headless_rollback import field, history_of, rollback


def headlines(box: DemoSandbox) -> list[str]:
    return [line for line in history_of(box).read_text().splitlines() if line.startswith("## ")]


def test_a_restart_says_restarted_or_not_verified_never_rolled_back(sandbox: DemoSandbox) -> None:
    # On the broken v1.3.0 a restart changes nothing: not verified, and said as a restart.
    before = pid_of(sandbox)
    broken = cli(
        sandbox, "action", "web", "restart", "--yes", "--reason", "hung", "--verify-window", "2"
    )
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert pid_of(sandbox) != before
    assert "\noutcome: restart, not verified\n" in broken.stdout
    assert "rolled back" not in broken.stdout
    assert headlines(sandbox)[-1].endswith("web (demo) restart, not verified (v1.3.0 → v1.3.0)")
    assert field(history_of(sandbox).read_text(), "Outcome") == "restart, not verified"

    # On a healthy release it is verified, and says "restarted".
    back = rollback(
        sandbox.config_path, "--yes", "--to", "v1.2.9", "--reason", "x", "--verify-window", "1"
    )
    assert back.returncode == 0, back.stdout + back.stderr
    healthy = cli(
        sandbox, "action", "web", "restart", "--yes", "--reason", "rotate", "--verify-window", "2"
    )
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "\noutcome: restarted and verified\n" in healthy.stdout
    assert headlines(sandbox)[-1].endswith("web (demo) restarted and verified (v1.2.9 → v1.2.9)")

    listing = cli(sandbox, "history")
    lines = [line for line in listing.stdout.splitlines() if "#" in line]
    assert "restart, not verified" in lines[0]
    assert "rolled back and verified" in lines[1]
    assert "restarted and verified" in lines[2]
    entries = json.loads(cli(sandbox, "history", "--json").stdout)["entries"]
    assert [(e["outcome"], e["result"], e["action"]) for e in entries] == [
        ("rolled back, not verified", "restart, not verified", "restart"),
        ("rolled back and verified", "rolled back and verified", ""),
        ("rolled back and verified", "restarted and verified", "restart"),
    ]
