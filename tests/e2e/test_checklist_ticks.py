"""Checklist items the console ticks itself are ones it really checked and showed.

Headless runs on the demo sandbox (real release folders, a real process, real
HTTP): "Deploy history reviewed" is ticked only where the revision list was
printed, with a note saying what was shown; the verify items are each judged
from their own evidence, so a health check that fails does not make "Error
rate below 1%" a failure when the error rate was 0%.
"""

from __future__ import annotations

import re
from typing import Any

from console.demo import DemoSandbox
from tests.e2e.test_actions import cli
from tests.e2e.test_headless_rollback import edit_config, history_of, rollback


def checklist_line(entry: str, text: str) -> str:
    match = re.search(rf"^- \[.\] {re.escape(text)}.*$", entry, re.MULTILINE)
    assert match, f"checklist item {text!r} missing from entry:\n{entry}"
    return match.group(0)


def test_headless_rollback_prints_the_revisions_it_chose_from_and_ticks_history_with_them(
    sandbox: DemoSandbox,
) -> None:
    result = rollback(sandbox.config_path, "--yes", "--reason", "5xx", "--verify-window", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout

    # Newest first, the live one marked, before the plan names its target.
    listed = re.findall(r"^   ([* ]) (\S+)\s", out, re.MULTILINE)
    assert listed == [("*", "v1.3.0"), (" ", "v1.2.9"), (" ", "v1.2.8")], out
    assert out.index("revisions (newest first") < out.index("Roll back web (demo)")

    entry = history_of(sandbox).read_text()
    assert checklist_line(entry, "Deploy history reviewed") == (
        "- [x] Deploy history reviewed — revisions shown: v1.3.0 (live), v1.2.9, v1.2.8"
    )
    # The units item's evidence is printed too, not only written to the entry.
    units = checklist_line(entry, "All processes / pods / tasks running")
    assert units == "- [x] All processes / pods / tasks running — 1/1 ready"
    assert "\nunits: 1/1 ready\n" in out


def test_an_action_shows_no_deploy_history_so_it_is_not_ticked(sandbox: DemoSandbox) -> None:
    run = cli(
        sandbox, "action", "web", "restart", "--yes", "--reason", "hung", "--verify-window", "1"
    )
    assert run.returncode == 1, run.stdout + run.stderr  # v1.3.0 is still broken
    assert "revisions (newest first" not in run.stdout
    entry = history_of(sandbox).read_text()
    assert checklist_line(entry, "Deploy history reviewed") == "- [ ] Deploy history reviewed"


def test_failing_health_does_not_fail_an_error_rate_that_was_fine(sandbox: DemoSandbox) -> None:
    """v1.2.9 answers 200 everywhere, but the health check expects 204: health fails, the
    probe (2xx is success) measures 0% errors; each item says what it saw."""

    def expect_204(data: dict[str, Any]) -> None:
        data["services"][0]["health"][0]["expect_status"] = 204

    edit_config(sandbox, expect_204)
    result = rollback(
        sandbox.config_path, "--yes", "--to", "v1.2.9", "--reason", "x", "--verify-window", "2"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    entry = history_of(sandbox).read_text()
    health = checklist_line(entry, "Health checks pass for the whole verify window")
    assert health.startswith("- [!]") and "expected 204" in health, health
    rate = checklist_line(entry, "Error rate below 1%")
    assert re.fullmatch(
        r"- \[ \] Error rate below 1% — 0\.0% of \d+ requests \(threshold 1%\); "
        r"not ticked: the verification did not pass",
        rate,
    ), rate
