"""Faults around a Cloud Run rollback, through real processes and real sockets (issue 7).

The console runs headless in a subprocess (``python -m console.cli rollback``,
``action ... gradual``, ``resume``) against the fake Cloud Run v2 REST API
(``tests/cloudrun_server``), with the fault proxy (``tests/faultproxy.py``)
between them: the config's ``endpoint`` is the proxy.  Health checks are a real
local HTTP server and the error rate comes from Cloud Monitoring, served by the
fake directly (not through the proxy), so the faults hit the Run API alone.

The platform API answers 5xx, resets or hangs the operation polls, or loses
an etag race (409 ABORTED) in the middle of a rollback; the console is killed
with SIGKILL during a gradual rollback's gate and while an update's operation
runs, and ``resume`` finishes the job.  Each time: the exit code of the
contract, one truthful line, no traceback, the traffic the platform really
serves, one history entry and a journal that is closed.  Nothing in the SDK is
patched: every fault is a real HTTP answer (or silence) on a real socket.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from console.config import load_config
from console.history import read_entries
from console.resume import open_incidents
from providers.base import OutcomeUnknown
from providers.cloudrun import CloudRunProvider
from tests.cloudrun_server import CloudRunServer
from tests.cloudrun_server.fixtures import (
    CURRENT,
    OLDEST,
    PREVIOUS,
    PROJECT,
    REGION,
    SERVICE,
    Scenario,
    console_toml,
    runbook_service,
    service_config,
)
from tests.cloudrun_server.store import LATEST, REVISION
from tests.console_cli import run_console, start_console
from tests.faultproxy import FaultProxy, Rule
from tests.signals import FlipServer, failing, healthy

pytestmark = pytest.mark.e2e

#: The PATCH of an update, and the polls of its long-running operation.
SERVICE_PATH = rf"/services/{SERVICE}\?"
OPERATION_PATH = r"/operations/"

#: Before the incident: 100% LATEST (v1.3.0 serves it all), the last good revision tagged.
ORIGINAL_SPEC = [(LATEST, "", 100, ""), (REVISION, PREVIOUS, 0, "prev")]
ORIGINAL_SERVED = [(CURRENT, 100, ""), (PREVIOUS, 0, "prev")]
ROLLED_BACK_SPEC = [(REVISION, PREVIOUS, 0, "prev"), (REVISION, PREVIOUS, 100, "")]
ROLLED_BACK_SERVED = [(PREVIOUS, 0, "prev"), (PREVIOUS, 100, "")]
RESTORED = f"traffic restored as it was: LATEST ({CURRENT}) 100%, {PREVIOUS} 0% tag prev"
#: What a resumed gradual rollback says a failure goes back to: before the incident's plan.
GOES_BACK = (
    "resumed: if a gate or a later step fails, the traffic goes back to where it was before "
    f"the interrupted rollback began, LATEST ({CURRENT}) 100%, {PREVIOUS} 0% tag prev "
    f"(`gcloud run services update-traffic {SERVICE} --region {REGION} --project {PROJECT} "
    "--to-revisions LATEST=100`), not to the split it was left at"
)
DESCRIBE = f"gcloud run services describe {SERVICE} --region {REGION} --project {PROJECT}"

#: A gate long enough that the console is certainly still in it when it is killed.
LONG_GATE_S = 600.0
#: What the console says when gate 1 starts watching.
WATCHING = f"watching for {LONG_GATE_S:g} s with {PREVIOUS} at 10%"
#: The config's ``operation_timeout_s``: how long an operation not seen finishing is followed.
OPERATION_TIMEOUT_S = 2.0


@dataclass
class Rig:
    """The fake platform, the proxy in front of it, the health server and the config."""

    server: CloudRunServer
    scenario: Scenario
    proxy: FaultProxy
    health: FlipServer
    root: Path
    #: Every traffic split the fake applied (served revision -> percent, 0% left out).
    applied: list[dict[str, int]] = field(default_factory=list)

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def history(self) -> Path:
        return self.root / "rollback-history.md"

    @property
    def state_dir(self) -> Path:
        return load_config(self.config).console.state_dir

    def write_config(
        self, *, gate_s: float = 0.3, operation_timeout_s: float = OPERATION_TIMEOUT_S
    ) -> None:
        self.config.write_text(
            console_toml(
                endpoint=self.proxy.url(),
                health_url=self.health.url,
                monitoring_url=self.server.url,
                gate_s=gate_s,
                operation_timeout_s=operation_timeout_s,
            ),
            encoding="utf-8",
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_console(self.config, *args, timeout=120)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return start_console(self.config, *args)

    # ---------------------------------------------------------------- the platform

    def spec(self) -> list[tuple[int, str, int, str]]:
        """The traffic asked for, as (type, revision, percent, tag), sorted."""
        entries: list[dict[str, Any]] = self.scenario.spec()
        return sorted(
            (int(e["type"]), str(e.get("revision", "")), int(e.get("percent", 0)), e.get("tag", ""))
            for e in entries
        )

    def served(self) -> list[tuple[str, int, str]]:
        return self.scenario.served()

    def sent(self) -> list[dict[str, int]]:
        """Every traffic split the fake received in a PATCH, in order (0% left out)."""
        return [split_of(r.body or {}) for r in self.server.received("PATCH")]

    def patches_seen(self) -> int:
        return sum(1 for s in self.proxy.seen if s.method == "PATCH")

    # ---------------------------------------------------------------- the console's files

    def journal(self) -> list[dict[str, Any]]:
        files = list((self.state_dir / "journal").glob("*.jsonl"))
        assert len(files) == 1, files
        return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]

    def one_entry(self) -> str:
        entries = read_entries(self.history)
        assert len(entries) == 1, [e.id for e in entries]
        return entries[0].raw

    def assert_journal_closed(self) -> None:
        assert open_incidents(self.state_dir) == []


def split_of(body: dict[str, Any]) -> dict[str, int]:
    split: dict[str, int] = {}
    for entry in body.get("traffic", []):
        percent = int(entry.get("percent", 0) or 0)
        if percent:
            key = "LATEST" if int(entry.get("type", 0)) == LATEST else entry["revision"]
            split[key] = split.get(key, 0) + percent
    return split


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with CloudRunServer() as server:
        scenario = runbook_service(server)
        server.monitoring.steady(SERVICE, per_s=20, error_ratio=0.0, latency_ms=120, region=REGION)
        health = FlipServer(healthy)
        try:
            with FaultProxy(("127.0.0.1", server.port)) as proxy:
                rig = Rig(server, scenario, proxy, health, tmp_path)

                def record(svc: dict[str, Any]) -> None:
                    rig.applied.append(
                        {
                            s.get("revision", ""): int(s.get("percent", 0))
                            for s in svc["trafficStatuses"]
                            if int(s.get("percent", 0))
                        }
                    )

                server.store.on_traffic.append(record)
                rig.write_config()
                yield rig
        finally:
            health.close()


def field_of(entry: str, name: str) -> str:
    match = re.search(rf"^\| {re.escape(name)} \| (.*) \|$", entry, re.MULTILINE)
    assert match, f"field {name!r} missing from entry:\n{entry}"
    return match.group(1)


def assert_one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    """Exit 1, no traceback, one line on stderr; returns that line."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "unexpected" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def wait_until(condition: Callable[[], object], proc: subprocess.Popen[str], what: str) -> None:
    """Wait (bounded) until ``condition()``, failing early if the console exits first."""
    for _ in range(3000):
        if condition():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the console exited ({proc.returncode}) before {what}:\n{out}\n{err}")
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


# --------------------------------------------------------------------------- the update itself

#: The API's own error document, as Cloud Run sends it with a 500.
API_500 = json.dumps(
    {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}
)


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (503, None, "Service Unavailable"),  # a front end's answer, not the API's document
        (500, API_500, "Internal error encountered."),
    ],
    ids=["503-from-a-front-end", "500-from-the-api"],
)
def test_update_answered_5xx_fails_in_one_line_and_leaves_the_traffic_alone(
    rig: Rig, status: int, body: str | None, said: str
) -> None:
    rule = rig.proxy.respond(status, body, method="PATCH", path=SERVICE_PATH)

    result = rig.run("rollback", SERVICE, "--yes", "--reason", "5xx after v1.3.0")

    line = assert_one_line_failure(result)
    assert line.startswith(f"rollback failed: cannot send {PREVIOUS} 100% on Cloud Run service")
    assert "Cloud Run answered with an error: " in line and f"(HTTP {status})" in line
    assert said in line
    assert "PATCH http" not in line  # the request's URL is not the message
    # Read again after the failure: said as it is, not guessed.
    assert line.endswith(
        f"the traffic was not changed: {SERVICE} serves LATEST ({CURRENT}) 100%, {PREVIOUS} 0% "
        "tag prev"
    )
    assert rule.hits == 1 and rig.patches_seen() == 1  # tried once, never repeated blindly
    assert rig.sent() == []
    assert rig.served() == sorted(ORIGINAL_SERVED)
    assert rig.spec() == sorted(ORIGINAL_SPEC)

    entry = rig.one_entry()
    assert field_of(entry, "Outcome") == "rollback failed"
    assert field_of(entry, "Time to recover").startswith("not recovered")
    assert f"(HTTP {status})" in entry and "the traffic was not changed" in entry
    rig.assert_journal_closed()


def test_update_losing_the_etag_race_is_a_conflict_and_someone_elses_change_stays(
    rig: Rig,
) -> None:
    """Between the console's read and its write a teammate sends everything to v1.2.8."""
    store = rig.server.store

    def teammate(name: str) -> None:
        store.before_update.remove(teammate)
        store.set_traffic(name, [{"type": REVISION, "revision": OLDEST, "percent": 100}])

    store.before_update.append(teammate)

    result = rig.run("rollback", SERVICE, "--yes", "--reason", "5xx after v1.3.0")

    line = assert_one_line_failure(result)
    assert "etag mismatch" in line and "(HTTP 409)" in line
    assert f"someone else may be changing {SERVICE}: look again before retrying" in line
    assert line.endswith(
        f"someone else changed the traffic meanwhile: {SERVICE} asks for {OLDEST} 100%, "
        f"serves {OLDEST} 100%"
    )
    # The console's write was refused and nothing overwrote the teammate's change.
    assert len(rig.sent()) == 1 and store.updates == []
    assert rig.served() == [(OLDEST, 100, "")]
    assert field_of(rig.one_entry(), "Outcome") == "rollback failed"
    rig.assert_journal_closed()


# --------------------------------------------------------------------------- the operation


@pytest.mark.parametrize("fault", ["reset", "hang"])
def test_operation_not_seen_finishing_is_left_open_never_a_success(rig: Rig, fault: str) -> None:
    """The update is accepted; its operation never ends and every poll is reset or hangs.

    Neither done nor failed: the console says so, writes no entry and leaves the
    incident open; ``resume`` (polls answered again, the operation finished) finds
    the switch in effect and finishes without sending it again.
    """
    rig.server.store.hanging_operations = 1
    rule = getattr(rig.proxy, fault)(method="GET", path=OPERATION_PATH)

    result = rig.run("rollback", SERVICE, "--yes", "--reason", "5xx after v1.3.0")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    line = lines[0]
    assert line.startswith("rollback interrupted: operation ")
    assert "was not seen finishing (asking about it failed: " in line
    assert ("cannot be reached" if fault == "reset" else "no answer from") in line
    assert (
        f"within {OPERATION_TIMEOUT_S:g} s; it may still complete: look with `{DESCRIBE}` "
        "before acting again" in line
    )
    assert line.endswith(
        f"{SERVICE} asks for the new traffic but serves LATEST ({CURRENT}) 100%, {PREVIOUS} 0% "
        "tag prev; the change is still in progress"
    )
    assert f"rollback-console resume {SERVICE}" in lines[1]
    assert rule.hits >= 1
    assert "verified" not in result.stdout and "outcome:" not in result.stdout
    # The platform: asked for the rollback (the update went through), still serving v1.3.0.
    assert rig.sent() == [{PREVIOUS: 100}]
    assert rig.spec() == sorted(ROLLED_BACK_SPEC)
    assert rig.served() == sorted(ORIGINAL_SERVED)
    assert not rig.history.exists()
    (pending,) = open_incidents(rig.state_dir)
    assert pending.steps_done == set() and pending.step_started == 0

    rig.proxy.clear()
    code, out, err = resume_ending_the_operation(rig, None)

    assert code == 0, out + err
    assert "the switch took effect; 0 later step(s) left to run" in out
    assert rig.sent() == [{PREVIOUS: 100}] and rig.patches_seen() == 1  # not sent again
    assert rig.served() == sorted(ROLLED_BACK_SERVED)
    entry = rig.one_entry()
    assert field_of(entry, "Outcome") == "rolled back and verified"
    assert "it may still complete" in entry
    assert "Interrupted: the console stopped during step 1 (Send 100%" in entry
    rig.assert_journal_closed()


def test_operation_polls_hanging_do_not_hide_a_change_the_service_shows_done(rig: Rig) -> None:
    """Every poll hangs, but the update's operation completes: the service itself says so."""
    rule = rig.proxy.hang(method="GET", path=OPERATION_PATH)

    result = rig.run("rollback", SERVICE, "--yes", "--reason", "5xx after v1.3.0")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr == ""
    assert rule.hits >= 1
    assert "could not ask about the operation (cannot follow operation" in result.stdout
    assert "no answer from" in result.stdout
    assert (
        f"the operation could not be followed, but {SERVICE} serves the new traffic and has "
        f"settled: {PREVIOUS} 100%, {PREVIOUS} 0% tag prev" in result.stdout
    )
    assert rig.sent() == [{PREVIOUS: 100}]
    assert rig.served() == sorted(ROLLED_BACK_SERVED)
    entry = rig.one_entry()
    assert field_of(entry, "Outcome") == "rolled back and verified"
    assert "the operation could not be followed" in entry
    rig.assert_journal_closed()


# --------------------------------------------------------------------------- gradual


def test_gradual_step_answered_5xx_puts_the_traffic_back_where_it_was(rig: Rig) -> None:
    """The 10% step lands; the 50% step's update is answered 503; traffic goes back."""
    rules: list[Rule] = []

    def after_first_step(svc: dict[str, Any]) -> None:
        # Runs in the fake when the 10% operation completes: before the console sees it.
        if not rules:
            rules.append(rig.proxy.respond(503, method="PATCH", path=SERVICE_PATH, count=1))

    rig.server.store.on_traffic.append(after_first_step)

    result = rig.run(
        "action", SERVICE, "gradual", "--arg", PREVIOUS, "--yes", "--reason", "canary back"
    )

    line = assert_one_line_failure(result)
    assert line.startswith(
        f"rollback failed: step failed: cannot send {PREVIOUS} 50%, {CURRENT} 50% on Cloud Run"
    )
    assert "(HTTP 503)" in line
    assert line.endswith(RESTORED)
    assert "gate 1 passed at 10%" in result.stdout
    assert rules and rules[0].hits == 1
    # 10% -> (50% refused) -> back to exactly where it was: LATEST, the tag, all of it.
    assert rig.sent() == [{PREVIOUS: 10, CURRENT: 90}, {"LATEST": 100}]
    assert rig.applied == [{PREVIOUS: 10, CURRENT: 90}, {CURRENT: 100}]
    assert rig.spec() == sorted(ORIGINAL_SPEC)
    assert rig.served() == sorted(ORIGINAL_SERVED)

    entry = rig.one_entry()
    assert field_of(entry, "Outcome") == "gradual failed"
    assert RESTORED in entry
    rig.assert_journal_closed()


# --------------------------------------------------------------------------- killed and resumed


def kill_during_first_gate(rig: Rig) -> None:
    """Start a gradual rollback with a long gate; SIGKILL the console inside gate 1 (10%)."""
    rig.write_config(gate_s=LONG_GATE_S)
    proc = rig.start(
        "action", SERVICE, "gradual", "--arg", PREVIOUS, "--yes", "--reason", "canary back"
    )
    try:

        def in_gate() -> bool:
            for path in (rig.root / "state" / "journal").glob("*.jsonl"):
                for line in path.read_text().splitlines():
                    try:
                        e = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line being written right now
                    # The gate's first line, journaled after its step started.
                    if e.get("event") == "timeline" and WATCHING in e.get("message", ""):
                        return True
            return False

        wait_until(in_gate, proc, "gate 1 watching")
        kill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # The crash left: 10% on the target, no entry, one open incident stopped in gate 1.
    assert rig.served() == sorted([(PREVIOUS, 10, ""), (CURRENT, 90, ""), (PREVIOUS, 0, "prev")])
    assert rig.sent() == [{PREVIOUS: 10, CURRENT: 90}]
    assert not rig.history.exists()
    (pending,) = open_incidents(rig.state_dir)
    assert any(
        line.startswith("2. Gate 1") and line.endswith("started, not seen finishing")
        for line in pending.describe()
    ), pending.describe()
    # The operator restarts with gates short enough for a test.
    rig.write_config(gate_s=0.3)


def test_killed_in_a_gate_resumes_from_the_live_split_without_repeating_a_step(
    rig: Rig,
) -> None:
    kill_during_first_gate(rig)

    result = rig.run("resume", SERVICE, "--yes")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    # The note names the live split and the action being planned again.
    assert f"planning gradual {PREVIOUS} again from the live state" in result.stdout
    assert "v1.2.9 10%" in result.stdout and "v1.3.0 90%" in result.stdout
    assert GOES_BACK in result.stdout
    assert "gate 1 passed at 50%" in result.stdout
    assert "verified:" in result.stdout
    # The 10% step was not sent again: after the kill only 50% and 100% went out.
    assert rig.sent() == [{PREVIOUS: 10, CURRENT: 90}, {PREVIOUS: 50, CURRENT: 50}, {PREVIOUS: 100}]
    assert rig.patches_seen() == 3
    assert rig.served() == sorted(ROLLED_BACK_SERVED)

    # Nothing the killed console journaled was lost: its 10% step and its gate are there.
    events = rig.journal()
    kinds = [e["event"] for e in events]
    assert kinds.count("recorded") == 1 and kinds.count("resumed") == 1
    before_kill = [
        (e["index"], e["status"]) for e in events[: kinds.index("resumed")] if e["event"] == "step"
    ]
    assert before_kill == [(0, "started"), (0, "finished"), (1, "started")]
    entry = rig.one_entry()
    assert field_of(entry, "Outcome") == "traffic moved gradually and verified"
    assert "Interrupted: the console stopped during step 2 (Gate 1" in entry
    assert WATCHING in entry
    # The re-plan shows the fallback the provider really uses: the pre-incident traffic.
    replan = [e for e in events[kinds.index("resumed") :] if e["event"] == "plan"][-1]["plan"]
    gates = [st["command"] for st in replan["steps"] if st["kind"] == "wait"]
    assert gates and all("--to-latest" in cmd or "LATEST" in cmd for cmd in gates), gates
    assert any("before the interrupted rollback began" in w for w in replan["warnings"])
    assert f"traffic served: {PREVIOUS} 50%, {CURRENT} 50%" in entry
    rig.assert_journal_closed()

    listed = rig.run("resume", "--list")
    assert listed.returncode == 0 and "no interrupted rollback to resume" in listed.stdout


def test_gate_failing_after_resume_restores_the_traffic_from_before_the_incident(
    rig: Rig,
) -> None:
    """Not the 10% split the crash left: where the traffic was before the rollback began."""
    kill_during_first_gate(rig)
    rig.health.behave = failing

    result = rig.run("resume", SERVICE, "--yes")

    line = assert_one_line_failure(result)
    assert line.startswith("rollback failed: gate 1 at 50% failed: health ")
    assert line.endswith(RESTORED)
    assert GOES_BACK in result.stdout
    assert rig.sent() == [{PREVIOUS: 10, CURRENT: 90}, {PREVIOUS: 50, CURRENT: 50}, {"LATEST": 100}]
    assert rig.spec() == sorted(ORIGINAL_SPEC)
    assert rig.served() == sorted(ORIGINAL_SERVED)

    entry = rig.one_entry()
    assert field_of(entry, "Outcome") == "gradual failed"
    assert "Interrupted: the console stopped during step 2 (Gate 1" in entry
    assert RESTORED in entry
    rig.assert_journal_closed()


def kill_while_the_update_runs(rig: Rig) -> None:
    """SIGKILL the console after its PATCH was accepted, while the operation still runs."""
    rig.server.store.operation_delay_s = float("inf")  # runs until the test ends it
    proc = rig.start("rollback", SERVICE, "--yes", "--reason", "5xx after v1.3.0")
    try:
        wait_until(lambda: rig.server.received("GET", OPERATION_PATH), proc, "the first poll")
        kill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # Asked for, not served yet; the journal says the switch started and never finished.
    assert rig.sent() == [{PREVIOUS: 100}]
    assert rig.spec() == sorted(ROLLED_BACK_SPEC)
    assert rig.served() == sorted(ORIGINAL_SERVED)
    (pending,) = open_incidents(rig.state_dir)
    assert pending.steps_done == set() and pending.step_started == 0


def resume_ending_the_operation(rig: Rig, error: tuple[int, str] | None) -> tuple[int, str, str]:
    """Run ``resume``; once it has looked at the service (operation still running), the
    operation ends, with ``error`` or successfully.  Returns exit code, stdout, stderr."""
    store = rig.server.store

    def service_reads() -> int:
        return sum(
            1 for s in rig.proxy.seen if s.method == "GET" and f"/services/{SERVICE}?" in s.path
        )

    before = service_reads()
    resume = rig.start("resume", SERVICE, "--yes")
    try:
        # Its snapshot and its "did the switch take effect?" read both saw it running.
        wait_until(lambda: service_reads() >= before + 2, resume, "resume read the service")
        with store.lock:
            for op in store.operations.values():
                if not op.done:
                    op.error = error
                    op.due = time.monotonic()
        store.operation_delay_s = 0.05
        out, err = resume.communicate(timeout=120)
    finally:
        if resume.poll() is None:
            resume.kill()
            resume.communicate()
    return resume.returncode, out, err


def test_killed_while_the_update_runs_resumes_without_sending_it_again(rig: Rig) -> None:
    kill_while_the_update_runs(rig)

    code, out, err = resume_ending_the_operation(rig, None)

    assert code == 0, out + err
    assert "Traceback" not in err
    assert "the switch took effect; 0 later step(s) left to run" in out
    assert "verified:" in out
    assert rig.sent() == [{PREVIOUS: 100}] and rig.patches_seen() == 1  # not sent again
    assert rig.served() == sorted(ROLLED_BACK_SERVED)

    starts = [e for e in rig.journal() if e["event"] == "step" and e.get("status") == "started"]
    assert len(starts) == 1, "the switch started twice"
    entry = rig.one_entry()
    assert field_of(entry, "Outcome") == "rolled back and verified"
    assert "Interrupted: the console stopped during step 1 (Send 100%" in entry
    rig.assert_journal_closed()


def test_resume_sends_again_an_update_whose_operation_failed(rig: Rig) -> None:
    """Killed while the update ran, which then failed: it did not take effect, so resend."""
    kill_while_the_update_runs(rig)

    code, out, err = resume_ending_the_operation(rig, (13, "Internal error encountered."))

    assert code == 0, out + err
    assert "planning the rollback to v1.2.9 again from the live state" in out
    assert rig.sent() == [{PREVIOUS: 100}, {PREVIOUS: 100}]
    assert rig.served() == sorted(ROLLED_BACK_SERVED)
    entry = rig.one_entry()
    assert field_of(entry, "Outcome") == "rolled back and verified"
    assert "Interrupted: the console stopped during step 1 (Send 100%" in entry
    rig.assert_journal_closed()


# --------------------------------------------------------------------------- older journals


def gcloud(to: str) -> list[str]:
    """``gcloud ... update-traffic ... --to-revisions <to>`` as the older console wrote it."""
    return [
        *("gcloud", "run", "services", "update-traffic", SERVICE),
        *("--region", REGION, "--project", PROJECT, "--to-revisions", to),
    ]


def legacy_switch(percent: int, to: str) -> dict[str, Any]:
    rest = f", {CURRENT} {100 - percent}%" if percent < 100 else ""
    return {
        "argv": gcloud(to),
        "command": " ".join(gcloud(to)),
        "kind": "switch",
        "timeout_s": OPERATION_TIMEOUT_S,
        "title": f"Send {percent}% of {SERVICE} (production)'s traffic to {PREVIOUS} (v1.2.9)"
        f"{rest}; tags kept (prev -> {PREVIOUS})",
    }


def legacy_gate(number: int, percent: int) -> dict[str, Any]:
    return {
        "argv": [],
        "command": f"# watch health and error rate for {LONG_GATE_S:g} s; if the gate fails: "
        + " ".join(gcloud("LATEST=100")),
        "kind": "wait",
        "timeout_s": LONG_GATE_S + 30,
        "title": f"Gate {number}: watch health and error rate of {SERVICE} (production) for "
        f"{LONG_GATE_S:g} s with {PREVIOUS} at {percent}%",
    }


def write_legacy_journal(
    rig: Rig, action: str, steps: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    """An incident journal as the console before typed steps wrote it, by hand.

    Steps without ``op`` or ``params`` (their argv is what ran), and the traffic from
    before the first step in ``plan.data["resume"]``; ``events`` are what followed
    the ``execute`` event before the console was killed.
    """
    incident = f"{SERVICE}-20261206T022207Z-0a1b"
    at = "2026-12-06T02:22:0{}.000000+00:00"
    plan = {
        "action": action,
        "argument": PREVIOUS if action == "gradual" else "",
        "data": {
            "resume": {
                "traffic": [
                    {"latest": True, "percent": 100, "revision": "", "tag": ""},
                    {"latest": False, "percent": 0, "revision": PREVIOUS, "tag": "prev"},
                ]
            }
        },
        "dry_run": False,
        "environment": "production",
        "from_revision": {"id": CURRENT, "version": "v1.3.0", "current": True},
        "to_revision": {"id": PREVIOUS, "version": "v1.2.9"},
        "provider": "cloudrun",
        "service": SERVICE,
        "steps": steps,
        "warnings": [],
    }
    opened = {
        "event": "opened",
        "service": SERVICE,
        "environment": "production",
        "operator": "oncall",
        "detected_at": at.format(1),
    }
    written = [
        opened,
        {"event": "reason", "reason": "canary back", "impact": ""},
        {"event": "plan", "plan": plan},
        {"event": "execute", "host": "bastion", "pid": 4242},
        *events,
    ]
    folder = rig.state_dir / "journal"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"at": at.format(2), "incident": incident, **e}) for e in written]
    (folder / f"{incident}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (pending,) = open_incidents(rig.state_dir)
    assert pending.plan is not None and all(not s.op for s in pending.plan.steps)


def killed_in_gate_1_by_an_older_console(rig: Rig) -> None:
    """A gradual rollback killed in gate 1, journaled the old way; 10% on the target."""
    steps = [
        legacy_switch(10, f"{PREVIOUS}=10,{CURRENT}=90"),
        legacy_gate(1, 10),
        legacy_switch(50, f"{PREVIOUS}=50,{CURRENT}=50"),
        legacy_gate(2, 50),
        legacy_switch(100, f"{PREVIOUS}=100"),
    ]
    events: list[dict[str, Any]] = [
        {"event": "step", "index": 0, "status": "started"},
        {"event": "step", "index": 0, "status": "finished"},
        {"event": "step", "index": 1, "status": "started"},
        {"event": "timeline", "kind": "output", "message": f"  {WATCHING}"},
    ]
    write_legacy_journal(rig, "gradual", steps, events)
    rig.server.store.set_traffic(
        rig.scenario.service_name,
        [
            {"type": REVISION, "revision": PREVIOUS, "percent": 10},
            {"type": REVISION, "revision": CURRENT, "percent": 90},
            {"type": REVISION, "revision": PREVIOUS, "percent": 0, "tag": "prev"},
        ],
    )


@pytest.mark.parametrize("healthy_after", [True, False], ids=["gates-pass", "gate-fails"])
def test_gradual_rollback_from_an_older_journal_resumes_and_restores_the_pre_incident_traffic(
    rig: Rig, healthy_after: bool
) -> None:
    """A journal written before steps were typed still resumes: planned again from the live
    split, and a failing gate puts back the traffic from before the incident's first plan
    (which only that journal's ``plan.data`` knows), not the 10% split the crash left."""
    killed_in_gate_1_by_an_older_console(rig)
    if not healthy_after:
        rig.health.behave = failing

    result = rig.run("resume", SERVICE, "--yes")

    assert "Traceback" not in result.stdout + result.stderr
    assert f"planning gradual {PREVIOUS} again from the live state" in result.stdout
    assert GOES_BACK in result.stdout
    if healthy_after:
        assert result.returncode == 0, result.stdout + result.stderr
        assert "gate 1 passed at 50%" in result.stdout
        assert rig.sent() == [{PREVIOUS: 50, CURRENT: 50}, {PREVIOUS: 100}]
        assert rig.served() == sorted(ROLLED_BACK_SERVED)
        outcome = "traffic moved gradually and verified"
    else:
        line = assert_one_line_failure(result)
        assert line.startswith("rollback failed: gate 1 at 50% failed: health ")
        assert line.endswith(RESTORED)
        assert rig.sent() == [{PREVIOUS: 50, CURRENT: 50}, {"LATEST": 100}]
        assert rig.spec() == sorted(ORIGINAL_SPEC)
        assert rig.served() == sorted(ORIGINAL_SERVED)
        outcome = "gradual failed"
    entry = rig.one_entry()
    assert field_of(entry, "Outcome") == outcome
    assert "Interrupted: the console stopped during step 2 (Gate 1" in entry
    # The plan made again is typed: its steps say what they send and what a failure restores.
    events = rig.journal()
    replan = [e for e in events if e["event"] == "plan"][-1]["plan"]
    assert [s["op"] for s in replan["steps"]] == [
        "cloudrun.set_traffic",
        "cloudrun.gate",
        "cloudrun.set_traffic",
    ]
    assert replan["steps"][0]["params"]["restore"] == [
        {"latest": True, "percent": 100},
        {"revision": PREVIOUS, "percent": 0, "tag": "prev"},
    ]
    rig.assert_journal_closed()


def test_rollback_from_an_older_journal_killed_while_the_update_ran_is_not_sent_again(
    rig: Rig,
) -> None:
    """The older console's update was accepted and still runs; its journal says the switch
    started.  Resume asks the service (the journal's steps have no op), waits for the
    operation, finds it in effect and waits for it to be served: one update, not two."""
    rig.server.store.operation_delay_s = float("inf")  # runs until the test ends it
    older = CloudRunProvider(service_config(rig.server.url, operation_timeout_s=0.3))
    with pytest.raises(OutcomeUnknown):
        for _ in older.execute(older.plan(PREVIOUS)):
            pass
    assert rig.sent() == [{PREVIOUS: 100}] and rig.served() == sorted(ORIGINAL_SERVED)
    write_legacy_journal(
        rig,
        "rollback",
        [legacy_switch(100, f"{PREVIOUS}=100")],
        [{"event": "step", "index": 0, "status": "started"}],
    )

    code, out, err = resume_ending_the_operation(rig, None)

    assert code == 0, out + err
    assert "the switch took effect; 0 later step(s) left to run" in out
    assert rig.sent() == [{PREVIOUS: 100}] and rig.patches_seen() == 0  # not sent again
    assert rig.served() == sorted(ROLLED_BACK_SERVED)
    entry = rig.one_entry()
    assert field_of(entry, "Outcome") == "rolled back and verified"
    assert "Interrupted: the console stopped during step 1 (Send 100%" in entry
    rig.assert_journal_closed()
