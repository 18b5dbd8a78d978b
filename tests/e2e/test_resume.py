"""Killing the console mid-rollback and starting it again: rolled back once, one entry.

Real processes: the console runs `rollback` on the demo sandbox with a
restart command that stops half-way (it waits for a file), the test kills
the console with SIGKILL at that moment (and the restart with it, as a dying
bastion would), then runs `resume`.  The journal must be complete, the switch
must not run again, and exactly one truthful history entry must say that the
rollback was interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from console.config import load_config
from console.demo import DemoSandbox, build_sandbox, restart_argv
from console.history import read_entries
from console.resume import open_incidents
from tests.e2e.test_headless_rollback import edit_config, field, history_of, served_version

pytestmark = pytest.mark.e2e

#: A restart that announces itself, waits until the test creates ``go``, then restarts.
GATED_RESTART = """
import pathlib, subprocess, sys, time
root = pathlib.Path(sys.argv[1])
(root / "restart-started").write_text("started")
while not (root / "go").exists():
    time.sleep(0.05)
sys.exit(subprocess.call(sys.argv[2:]))
"""


def console(box: DemoSandbox, *args: str) -> list[str]:
    return [sys.executable, "-m", "console.cli", *args, "--config", str(box.config_path)]


def journal_events(box: DemoSandbox) -> list[dict[str, object]]:
    files = list((box.root / "state" / "journal").glob("*.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]


def kill_group_of(pid_file: Path) -> None:
    """The restart command runs in a process group of its own: end it as a crash would."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"restart-started" in cmdline or str(pid_file).encode() in cmdline:
            os.kill(int(entry.name), signal.SIGKILL)


def test_killed_during_restart_resumes_without_switching_again(sandbox: DemoSandbox) -> None:
    script = sandbox.root / "gated_restart.py"
    script.write_text(GATED_RESTART)
    edit_config(
        sandbox,
        lambda d: d["services"][0]["host"].__setitem__(
            "restart", [sys.executable, str(script), str(sandbox.root), *restart_argv(sandbox.root)]
        ),
    )
    run = subprocess.Popen(
        console(sandbox, "rollback", "web", "--yes", "--reason", "5xx after v1.3.0"),
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
        run.send_signal(signal.SIGKILL)
        run.wait()
    finally:
        if run.poll() is None:
            run.kill()
    kill_group_of(script)

    # The crash left: the link switched, the old process still serving, no entry.
    assert (sandbox.root / "current").resolve().name == "v1.2.9"
    assert not history_of(sandbox).exists()
    pending = open_incidents(load_config(sandbox.config_path).console.state_dir)
    assert len(pending) == 1
    assert any("started, not seen finishing" in line for line in pending[0].describe())

    # A new rollback refuses to start over the half-done one.
    again = subprocess.run(
        console(sandbox, "rollback", "web", "--yes", "--reason", "again"),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert again.returncode == 2
    assert "resume web" in again.stderr and "Traceback" not in again.stderr

    (sandbox.root / "go").write_text("go")
    resumed = subprocess.run(
        console(sandbox, "resume", "web", "--yes", "--verify-window", "3"),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=180,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "the switch took effect" in resumed.stdout or "already runs v1.2.9" in resumed.stdout
    assert "v1.2.9" in served_version(sandbox)

    events = journal_events(sandbox)
    kinds = [e["event"] for e in events]
    assert kinds.count("recorded") == 1 and kinds.index("execute") < kinds.index("resumed")
    assert "resumed" in kinds
    switch_starts = [e for e in events if e["event"] == "step" and e["index"] == 0]
    assert [e["status"] for e in switch_starts] == ["started", "finished"], "switched twice"

    entries = read_entries(history_of(sandbox))
    assert len(entries) == 1
    text = history_of(sandbox).read_text()
    assert field(text, "Outcome") == "rolled back and verified"
    assert "Interrupted: the console stopped during step" in text
    assert open_incidents(load_config(sandbox.config_path).console.state_dir) == []

    nothing = subprocess.run(
        console(sandbox, "resume"), capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    assert nothing.returncode == 0 and "no interrupted rollback" in nothing.stdout


def test_crash_before_the_switch_took_effect_replans_and_rolls_back_once(
    sandbox: DemoSandbox,
) -> None:
    """The journal says the switch started, the link says it never happened: run it."""
    from console.flow import RollbackFlow
    from console.signals import make_error_rate_source
    from providers import load_provider

    config = load_config(sandbox.config_path)
    svc = config.service("web")
    source = make_error_rate_source(svc)
    flow = RollbackFlow(config, svc, load_provider(svc), source, reason="crash test")
    plan = flow.plan(None)
    # What a console killed just after journaling "switch started" leaves behind:
    flow.incident.journal_event("execute")
    flow.incident.journal_event("step", index=0, status="started")
    assert (sandbox.root / "current").resolve().name == "v1.3.0"

    (state,) = open_incidents(config.console.state_dir)
    assert state.plan is not None and state.plan.to_revision.id == plan.to_revision.id
    resumed = RollbackFlow(config, svc, load_provider(svc), source, resume_state=state)
    ready = resumed.resume_execute()
    assert ready.ready, ready.message
    assert (sandbox.root / "current").resolve().name == "v1.2.9"
    assert "v1.2.9" in served_version(sandbox)
    assert any(
        "planning the rollback to v1.2.9 again" in e.message for e in resumed.incident.timeline
    )
    resumed.record()
    assert len(read_entries(history_of(sandbox))) == 1


def kill_during_verification(box: DemoSandbox) -> None:
    """Run `rollback` and SIGKILL it once the switch is live and verification has begun."""
    run = subprocess.Popen(
        console(box, "rollback", "web", "--yes", "--reason", "5xx", "--verify-window", "30"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        for _ in range(1200):
            if run.poll() is not None:
                break
            files = list((box.root / "state" / "journal").glob("*.jsonl"))
            if files and '"event":"ready"' in files[0].read_text():
                break
            time.sleep(0.05)
        assert run.poll() is None, run.communicate()
        run.send_signal(signal.SIGKILL)
        run.wait()
    finally:
        if run.poll() is None:
            run.kill()
    assert (box.root / "current").resolve().name == "v1.2.9"


def put_the_broken_release_back(box: DemoSandbox) -> None:
    """What `make demo` run again does: rebuild the sandbox, v1.3.0 live and serving."""
    rebuilt = build_sandbox(box.root, port=box.port)
    rebuilt.start()
    assert (box.root / "current").resolve().name == "v1.3.0"
    assert "v1.3.0" in served_version(box)


def test_resume_after_the_switch_was_undone_never_says_rolled_back(
    sandbox: DemoSandbox,
) -> None:
    """Issue 11 item 3: killed while verifying, the broken release put back, then resume
    (answering anything but the service name at the new confirmation)."""
    import pty

    kill_during_verification(sandbox)
    put_the_broken_release_back(sandbox)

    main, child = pty.openpty()
    try:
        proc = subprocess.Popen(
            console(sandbox, "resume", "web", "--verify-window", "3"),
            stdin=child,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(main, b"web\n")  # confirms the resume itself
        time.sleep(0.5)
        os.write(main, b"no\n")  # declines rolling back again
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(main)
        os.close(child)
    assert proc.returncode == 1, out + err
    assert "the platform was already seen ready" not in out
    assert "NOT ROLLED BACK: the switch to v1.2.9 was undone" in err
    assert "v1.3.0 is live now" in err
    assert (sandbox.root / "current").resolve().name == "v1.3.0"

    text = history_of(sandbox).read_text()
    (entry,) = read_entries(history_of(sandbox))
    assert entry.outcome == "not rolled back: the switch was undone"
    assert "not rolled back v1.3.0 → v1.2.9" in text
    assert "rolled back v1.3.0 → v1.2.9 (not verified)" not in text
    assert entry.time_to_recover_s is None
    assert "was undone before this entry was written: v1.3.0 is live" in text
    assert open_incidents(load_config(sandbox.config_path).console.state_dir) == []


def test_resume_yes_after_the_switch_was_undone_rolls_back_again_from_the_live_state(
    sandbox: DemoSandbox,
) -> None:
    kill_during_verification(sandbox)
    put_the_broken_release_back(sandbox)

    resumed = subprocess.run(
        console(sandbox, "resume", "web", "--yes", "--verify-window", "3"),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=180,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "the switch to v1.2.9 was undone" in resumed.stderr
    assert "rolling back again (--yes)" in resumed.stdout
    assert (sandbox.root / "current").resolve().name == "v1.2.9"
    assert "v1.2.9" in served_version(sandbox)
    (entry,) = read_entries(history_of(sandbox))
    assert entry.outcome == "rolled back and verified"
    assert "was undone" in history_of(sandbox).read_text()


# --------------------------------------------------------------------------- old journals


def old_format_journal(
    box: DemoSandbox,
    steps: list[dict[str, object]],
    done: int,
    extra: Sequence[dict[str, object]] = (),
) -> Path:
    """The journal a console older than typed steps left when it was killed: its plan's steps
    carry their argv and no op, the first ``done`` of them finished (with the ``extra``
    events they journaled: checklist marks, notes), the next one started.

    Written by hand, as that version wrote it (the journal format is a contract).
    """
    incident = "web-20250101T000000Z-0ld1"
    at = "2025-01-01T00:00:00+00:00"
    root = box.root

    def revision(name: str, current: bool) -> dict[str, object]:
        return {
            "id": name,
            "version": name,
            "created": at,
            "change_cause": "",
            "image": "",
            "current": current,
            "detail": str(root / "releases" / name),
        }

    plan = {
        "service": "web",
        "environment": "demo",
        "provider": "host",
        "from_revision": revision("v1.3.0", True),
        "to_revision": revision("v1.2.9", False),
        "steps": steps,
        "warnings": [],
        "dry_run": False,
        "action": "rollback",
        "argument": "",
    }
    events: list[dict[str, object]] = [
        {"event": "opened", "service": "web", "environment": "demo", "operator": "ops"},
        {"event": "reason", "reason": "5xx after v1.3.0", "impact": ""},
        {"event": "plan", "plan": plan},
        {"event": "execute", "host": "bastion", "pid": 4242},
    ]
    for index in range(done):
        events.append({"event": "step", "index": index, "status": "started"})
        events.append({"event": "step", "index": index, "status": "finished"})
    events.extend(extra)
    events.append({"event": "step", "index": done, "status": "started"})
    folder = root / "state" / "journal"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{incident}.jsonl"
    lines = [json.dumps({"at": at, "incident": incident, **event}) for event in events]
    path.write_text("\n".join(lines) + "\n")
    return path


def old_host_steps(box: DemoSandbox) -> list[dict[str, object]]:
    """The host plan's steps as the version before typed steps journaled them."""
    root = box.root
    switch = ["ln", "-sfn", str(root / "releases" / "v1.2.9"), str(root / "current")]
    restart = restart_argv(root)
    return [
        {
            "title": "Point current at releases/v1.2.9",
            "command": " ".join(switch),
            "kind": "switch",
            "argv": switch,
            "timeout_s": 60.0,
        },
        {
            "title": "Restart web (demo) so it runs v1.2.9",
            "command": " ".join(restart),
            "kind": "restart",
            "argv": restart,
            "timeout_s": 60.0,
        },
    ]


def switch_by_hand(box: DemoSandbox, release: str) -> None:
    temp = box.root / ".current.by-hand"
    os.symlink(box.root / "releases" / release, temp)
    os.replace(temp, box.root / "current")


@pytest.mark.parametrize("switched", [True, False], ids=["during-restart", "before-switch"])
def test_a_journal_written_before_steps_were_typed_still_resumes(
    sandbox: DemoSandbox, switched: bool
) -> None:
    """Killed by the previous version of the console, during the restart (the link already
    switched) or before the switch took effect: resume finishes it, switching once."""
    journal = old_format_journal(sandbox, old_host_steps(sandbox), done=1 if switched else 0)
    if switched:
        switch_by_hand(sandbox, "v1.2.9")
    assert "v1.3.0" in served_version(sandbox)
    (pending,) = open_incidents(load_config(sandbox.config_path).console.state_dir)
    assert pending.plan is not None and pending.plan.steps[0].op == ""

    resumed = subprocess.run(
        console(sandbox, "resume", "web", "--yes", "--verify-window", "3"),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=180,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Traceback" not in resumed.stderr
    if switched:
        assert "already runs v1.2.9" in resumed.stdout
    else:
        assert "planning the rollback to v1.2.9 again" in resumed.stdout
    assert (sandbox.root / "current").resolve().name == "v1.2.9"
    assert "v1.2.9" in served_version(sandbox)

    events = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    switches = [e["status"] for e in events if e["event"] == "step" and e["index"] == 0]
    assert switches == (["started", "finished"] if switched else ["started", "started", "finished"])
    restarts = [e["status"] for e in events if e["event"] == "step" and e["index"] == 1]
    assert restarts == (["started", "started", "finished"] if switched else ["started", "finished"])
    (entry,) = read_entries(history_of(sandbox))
    assert entry.outcome == "rolled back and verified"
    assert "Interrupted: the console stopped during step" in history_of(sandbox).read_text()
    assert open_incidents(load_config(sandbox.config_path).console.state_dir) == []
