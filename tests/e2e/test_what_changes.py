"""The "What changes" and "Who will undo it" lists (issue 14) end to end, on the demo.

``rollback --dry-run`` prints both lists after the plan; a real run prints them
before the confirmation (a real terminal: a pty); the entry, ``history --json``
and the journal keep them; ``resume`` keeps what the interrupted console
journaled, and a journal written before them still resumes.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.config import load_config
from console.demo import DemoSandbox
from console.journal import encode_event
from console.model import Difference
from console.resume import plan_for_journal
from providers import load_provider
from tests.e2e.test_headless_rollback import field, history_of, rollback, served_version
from tests.e2e.test_resume import console, switch_by_hand

pytestmark = pytest.mark.e2e

CLI = (sys.executable, "-m", "console.cli")
LISTS = (
    "What changes:\n"
    "  - files: 3 changed (1 the same)\n"
    "  - config release.json (changed)\n"
    "Who will undo it: nothing detected\n"
)


def test_dry_run_prints_what_changes_and_who_will_undo_it_after_the_plan(
    sandbox: DemoSandbox,
) -> None:
    result = rollback(sandbox.config_path, "--dry-run", "--reason", "look first")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    restart = "  2. Restart web (demo) so it runs v1.2.9\n"
    assert restart in out
    after_plan = out.split(restart, 1)[1].split("\n", 1)[1]  # past the step's command
    assert after_plan == LISTS + "dry run: nothing was changed\n"
    assert (sandbox.root / "current").resolve().name == "v1.3.0"


def test_a_real_run_shows_both_lists_before_asking_for_the_service_name(
    sandbox: DemoSandbox,
) -> None:
    """On a terminal: the lists, then the prompt; a wrong name aborts, nothing changes."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [*CLI, "rollback", "web", "--reason", "5xx", "--config", str(sandbox.config_path)],
        stdin=secondary,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    os.close(secondary)
    seen = b""
    prompt = b"Type the service name (web) to confirm"
    try:
        deadline = time.monotonic() + 90
        while prompt not in seen and time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if ready and proc.stdout is not None:
                seen += os.read(proc.stdout.fileno(), 65536)
        assert prompt in seen, seen.decode(errors="replace")
        text = seen.decode()
        assert text.index(LISTS) < text.index(prompt.decode())
        assert "  2. Restart web (demo)" in text.split(LISTS, 1)[0]
        os.write(primary, b"not-web\n")
        _, err = proc.communicate(timeout=60)
    finally:
        os.close(primary)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2 and b"nothing was changed" in err  # an abort is exit 2
    assert (sandbox.root / "current").resolve().name == "v1.3.0"


def test_the_rollback_records_what_changed_in_the_entry_the_journal_and_history_json(
    sandbox: DemoSandbox,
) -> None:
    result = rollback(sandbox.config_path, "--yes", "--reason", "5xx", "--verify-window", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert LISTS in result.stdout
    entry = history_of(sandbox).read_text()
    assert field(entry, "Outcome") == "rolled back and verified"
    assert (
        "### What changes\n\n"
        "- files: 3 changed (1 the same)\n"
        "- config release.json (changed)\n\n"
        "### Timeline\n"
    ) in entry
    assert "### Who will undo it" not in entry

    listing = subprocess.run(
        [*CLI, "history", "--json", "--config", str(sandbox.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    (listed,) = json.loads(listing.stdout)["entries"]
    assert listed["changes"] == ["files: 3 changed (1 the same)", "config release.json (changed)"]
    assert listed["undone_by"] == []

    (journal,) = (sandbox.root / "state" / "journal").glob("*.jsonl")
    plans = [
        e["plan"] for e in map(json.loads, journal.read_text().splitlines()) if e["event"] == "plan"
    ]
    assert plans[-1]["changes"][1] == {
        "what": "config release.json",
        "live": "",
        "target": "",
        "note": "changed",
    }


# --------------------------------------------------------------------------- resume


def interrupted_journal(box: DemoSandbox, keep: bool) -> Path:
    """The journal of a console killed during the restart (after the switch), its plan made
    by this version's provider; ``keep``: with "What changes" and "Who will undo it", as
    this version journals them, else without them, as a version before issue 14 did."""
    service = load_config(box.config_path).service("web")
    plan = plan_for_journal(load_provider(service).plan(None))
    if keep:
        plan["changes"] = [Difference("config release.json", note="changed")]
        plan["undone_by"] = ["a cron job redeploys main every hour (crontab -l on deploy-1)"]
    else:
        del plan["changes"], plan["undone_by"]
    incident = "web-20250101T000000Z-c0de"
    at = "2025-01-01T00:00:00+00:00"
    events: list[dict[str, object]] = [
        {"event": "opened", "service": "web", "environment": "demo", "operator": "ops"},
        {"event": "reason", "reason": "5xx after v1.3.0", "impact": ""},
        {"event": "plan", "plan": plan},
        {"event": "execute", "host": "bastion", "pid": 4242},
        {"event": "step", "index": 0, "status": "started"},
        {"event": "step", "index": 0, "status": "finished"},
        {"event": "step", "index": 1, "status": "started"},
    ]
    folder = box.root / "state" / "journal"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{incident}.jsonl"
    with path.open("wb") as fh:
        for event in events:
            fh.write(encode_event({"at": at, "incident": incident, **event}) + b"\n")
    switch_by_hand(box, "v1.2.9")
    return path


@pytest.mark.parametrize("keep", [True, False], ids=["journaled", "older-journal"])
def test_resume_keeps_what_the_journal_says_changes_and_an_older_journal_resumes(
    sandbox: DemoSandbox, keep: bool
) -> None:
    interrupted_journal(sandbox, keep)
    resumed = subprocess.run(
        console(sandbox, "resume", "web", "--yes", "--verify-window", "3"),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=180,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "already runs v1.2.9" in resumed.stdout
    assert "v1.2.9" in served_version(sandbox)
    entry = history_of(sandbox).read_text()
    assert field(entry, "Outcome") == "rolled back and verified"
    if keep:
        assert "### What changes\n\n- config release.json (changed)\n" in entry
        assert (
            "### Who will undo it\n\n"
            "- a cron job redeploys main every hour (crontab -l on deploy-1)\n"
        ) in entry
    else:
        assert "### What changes" not in entry and "### Who will undo it" not in entry
