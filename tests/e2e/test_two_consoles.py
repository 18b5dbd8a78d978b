"""Two consoles, one service (issue 11, items 1 and 4): rolled back once, one entry, exit 3.

Real processes on the demo sandbox.  A second console started while the first
is rolling back (planning, switching, waiting or verifying) is refused with
exit 3 naming who; one started just after must not take "the previous" of the
release the first one went to (v1.3.0 -> v1.2.9 -> v1.2.8).  A rollback in
progress is *live*, not interrupted: `resume` refuses it, `status` says so,
and its incident gets exactly one entry.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from console.config import load_config
from console.demo import DemoSandbox
from console.flow import RollbackFlow
from console.history import read_entries
from console.recent import RolledBackMeanwhile
from console.signals import make_error_rate_source
from providers import load_provider
from tests.console_cli import run_console, start_console
from tests.e2e.test_headless_rollback import history_of

pytestmark = pytest.mark.e2e


def live_release(box: DemoSandbox) -> str:
    return (box.root / "current").resolve().name


def journal_kinds(box: DemoSandbox) -> list[list[str]]:
    """The event kinds of every incident journal of the sandbox."""
    folder = box.root / "state" / "journal"
    return [
        [json.loads(line)["event"] for line in path.read_text().splitlines() if line.strip()]
        for path in sorted(folder.glob("*.jsonl"))
    ]


def wait_for_event(box: DemoSandbox, kind: str, proc: subprocess.Popen[str]) -> None:
    """Until some journal has an event of ``kind`` (the first console got that far)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(kind in kinds for kinds in journal_kinds(box)):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no {kind!r} event journaled")


def test_a_second_console_a_second_later_is_refused_and_the_service_goes_back_once(
    sandbox: DemoSandbox,
) -> None:
    """The issue's race: `rollback A &; sleep 0.9; rollback B`."""
    first = start_console(
        sandbox.config_path, "rollback", "web", "--yes", "--reason", "A", "--verify-window", "3"
    )
    time.sleep(0.9)
    second = run_console(
        sandbox.config_path, "rollback", "web", "--yes", "--reason", "B", "--verify-window", "3"
    )
    out, err = first.communicate(timeout=180)
    assert first.returncode == 0, out + err
    assert second.returncode == 3, second.stdout + second.stderr
    assert "Traceback" not in second.stderr
    assert second.stderr.startswith("refused: "), second.stderr
    assert live_release(sandbox) == "v1.2.9"
    entries = read_entries(history_of(sandbox))
    assert [(e.from_revision, e.to_revision) for e in entries] == [("v1.3.0", "v1.2.9")]


def test_while_one_console_verifies_another_is_refused_and_resume_leaves_it_alone(
    sandbox: DemoSandbox,
) -> None:
    first = start_console(
        sandbox.config_path, "rollback", "web", "--yes", "--reason", "A", "--verify-window", "8"
    )
    wait_for_event(sandbox, "ready", first)  # switched, rolled out: now verifying

    second = run_console(sandbox.config_path, "rollback", "web", "--yes", "--reason", "B")
    assert second.returncode == 3, second.stdout + second.stderr
    assert "is being rolled back by" in second.stderr
    assert "interrupted" not in second.stderr

    action = run_console(sandbox.config_path, "action", "web", "restart", "--yes", "--reason", "C")
    assert action.returncode == 3, action.stdout + action.stderr

    listed = run_console(sandbox.config_path, "resume", "--list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "in progress: incident" in listed.stdout
    assert "interrupted:" not in listed.stdout

    resumed = run_console(sandbox.config_path, "resume", "web", "--yes")
    assert resumed.returncode == 3, resumed.stdout + resumed.stderr
    assert "nothing to resume" in resumed.stderr

    status = run_console(sandbox.config_path, "status", "web", "--json")
    data = json.loads(status.stdout)
    assert data["open_incidents"] == []
    assert [item["operator"] for item in data["in_progress"]] == [
        load_config(sandbox.config_path).console.operator
    ]

    out, err = first.communicate(timeout=180)
    assert first.returncode == 0, out + err
    assert live_release(sandbox) == "v1.2.9"
    entries = read_entries(history_of(sandbox))
    assert len(entries) == 1
    assert len({e.id for e in entries}) == 1
    # Nothing is left open once the first console recorded its entry.
    after = run_console(sandbox.config_path, "resume", "--list")
    assert "no interrupted rollback" in after.stdout


def test_just_after_a_rollback_the_previous_is_refused_but_an_explicit_target_is_not(
    sandbox: DemoSandbox,
) -> None:
    first = run_console(
        sandbox.config_path, "rollback", "web", "--yes", "--reason", "A", "--verify-window", "3"
    )
    assert first.returncode == 0, first.stdout + first.stderr

    again = run_console(sandbox.config_path, "rollback", "web", "--yes", "--reason", "B")
    assert again.returncode == 3, again.stdout + again.stderr
    assert "was rolled back by" in again.stderr
    assert "v1.3.0 → v1.2.9" in again.stderr
    assert "--to" in again.stderr
    assert live_release(sandbox) == "v1.2.9"

    # A dry run shows the same refusal as a warning and changes nothing.
    dry = run_console(sandbox.config_path, "rollback", "web", "--dry-run", "--reason", "B")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "warning: " in dry.stdout and "was rolled back by" in dry.stdout

    explicit = run_console(
        sandbox.config_path,
        "rollback",
        "web",
        "--to",
        "v1.2.8",
        "--yes",
        "--reason",
        "v1.2.9 is broken too",
        "--verify-window",
        "3",
    )
    assert explicit.returncode in (0, 1), explicit.stdout + explicit.stderr
    assert live_release(sandbox) == "v1.2.8"
    assert len(read_entries(history_of(sandbox))) == 2


def flow_for(box: DemoSandbox, reason: str) -> RollbackFlow:
    config = load_config(box.config_path)
    svc = config.service("web")
    return RollbackFlow(config, svc, load_provider(svc), make_error_rate_source(svc), reason=reason)


def test_a_plan_overtaken_by_another_rollback_is_refused_under_the_lock(
    sandbox: DemoSandbox,
) -> None:
    """B planned v1.3.0 -> v1.2.9, then A rolled back first: B's plan is stale, even if
    its target was named explicitly; nothing is changed and nothing is left open."""
    b = flow_for(sandbox, "B")
    plan_b = b.plan("v1.2.9")
    a = flow_for(sandbox, "A")
    ready = a.execute(a.plan(None))
    assert ready.ready, ready.message
    a.record()
    assert live_release(sandbox) == "v1.2.9"

    with pytest.raises(RolledBackMeanwhile, match="after this plan was made"):
        b.execute(plan_b)
    assert live_release(sandbox) == "v1.2.9"
    assert not b.executed
    assert b.incident.id not in {s for s in _open_ids(sandbox)}
    # The refusal released the lock: a fresh, explicit plan may run.
    c = flow_for(sandbox, "C")
    c.plan("v1.2.8")
    c.close()


def _open_ids(box: DemoSandbox) -> list[str]:
    from console.resume import open_incidents

    return [s.incident_id for s in open_incidents(box.root / "state")]


def test_the_previous_is_refused_when_the_live_release_changed_since_the_console_looked(
    sandbox: DemoSandbox,
) -> None:
    """Someone else changed the service (here: the link) between the first read and the plan."""
    flow = flow_for(sandbox, "A")
    assert flow.refresh().current is not None
    assert flow.anchor is not None and flow.anchor.version == "v1.3.0"
    link = sandbox.root / "current"
    tmp = sandbox.root / ".elsewhere"
    tmp.symlink_to(sandbox.root / "releases" / "v1.2.9")
    tmp.replace(link)

    with pytest.raises(RolledBackMeanwhile, match=r"v1\.3\.0 was live, now v1\.2\.9"):
        flow.plan(None)
    plan = flow.plan("v1.2.8")  # named explicitly: the operator's own decision
    assert plan.to_revision.id == "v1.2.8"
