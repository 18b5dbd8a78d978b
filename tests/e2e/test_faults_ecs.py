"""Faults in the middle of an ECS rollback, through real processes and real sockets.

The console runs headless (``python -m console.cli``) as its own process and
reaches moto's AWS server through two proxies, as it would reach AWS through
a network::

    console --> FaultProxy (tests/faultproxy.py) --> AwsFaultProxy (tests/aws/faults.py) --> moto

``FaultProxy`` does what a network does (connection resets, hangs, a 503 from
something in between); ``AwsFaultProxy`` knows which ECS operation each
request is, answers chosen ones with AWS's own errors (ServiceUnavailable,
ThrottlingException, ClientException), holds one unanswered, runs a callback
at the moment moto answered one (to kill the console right then, or to let
"someone else" change the service), and counts what reached moto, so "not
updated twice" is counted at the wire, not inferred.  No SDK call is patched.

Driven by hand in the test process, because moto does not model them:

* ECS's scheduler (``tests.aws.moto_server.AutoScheduler``, on its ``EcsScheduler``):
  the new deployment (PRIMARY, IN_PROGRESS, 0 running) is created the moment
  moto answered ``UpdateService`` and before the console reads that answer, as
  ECS creates it inside the call (moto itself only renames the old deployment
  of a forced one); the rollout is finished (tasks replaced, COMPLETED) only
  when the test lets it.  Held, it keeps the console waiting, which is where
  it is killed.
* The load balancer's CloudWatch metrics (``tests.aws.alb.ALB``): 40% 5xx while the
  bad revision (web:3, v1.3.0) serves, none otherwise.  CloudWatch is read
  straight from moto, so the faults are the ECS API's alone.

Each test checks what the issue asks for: the exit code of the contract, one
truthful line and no traceback, the journal closed (or, after SIGKILL, open
and complete), exactly one history entry, and the platform in the right state.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.aws import MAX_ATTEMPTS
from console.history import read_entries
from console.model import Outcome
from console.outcomes import outcome_text
from console.resume import open_incidents
from tests.aws.alb import ALB, write_config
from tests.aws.faults import AwsFaultProxy
from tests.aws.moto_server import CLUSTER, SERVICE, AutoScheduler, World, aws_world
from tests.console_cli import run_console, start_console
from tests.e2e.test_headless_rollback import field
from tests.faultproxy import FaultProxy

pytestmark = pytest.mark.e2e

REASON = "5xx after v1.3.0"
#: Verification window: CloudWatch counts whole seconds from the rollout on, and
#: the ALB reports every 0.2 s, so 2 s always holds data (1 s may not).
VERIFY_S = "2"
#: Bound of every wait for the console to get somewhere (never a timing assertion).
PATIENCE_S = 60.0


@dataclass
class Rig:
    """The world, the two proxies, the scheduler and the console's config and state."""

    world: World
    api: AwsFaultProxy
    net: FaultProxy
    scheduler: AutoScheduler
    alb: ALB
    root: Path
    config: Path

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def history(self) -> Path:
        return self.root / "rollback-history.md"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_console(self.config, *args)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return start_console(self.config, *args)

    def rollback(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(
            "rollback", "web", "--yes", "--reason", REASON, "--verify-window", VERIFY_S, *args
        )

    def resume(self) -> subprocess.CompletedProcess[str]:
        return self.run("resume", "web", "--yes", "--verify-window", VERIFY_S)

    def journal(self) -> list[dict[str, Any]]:
        files = list((self.state_dir / "journal").glob("*.jsonl"))
        assert len(files) == 1, files
        lines = files[0].read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def journaled(self, step: int, status: str) -> bool:
        folder = self.state_dir / "journal"
        if not folder.is_dir():
            return False
        for path in folder.glob("*.jsonl"):
            for line in path.read_text().splitlines():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # the line being written
                if (event.get("event"), event.get("index"), event.get("status")) == (
                    "step",
                    step,
                    status,
                ):
                    return True
        return False

    def one_entry(self) -> str:
        entries = read_entries(self.history)
        assert len(entries) == 1, [e.id for e in entries]
        assert entries[0].note == "", entries[0].note
        return self.history.read_text()

    def open_incidents(self) -> list[Any]:
        return open_incidents(self.state_dir)

    def lock_tags(self) -> list[str]:
        arn = self.world.service()["serviceArn"]
        tags = self.world.ecs.list_tags_for_resource(resourceArn=arn)["tags"]
        return [t["key"] for t in tags if t["key"].startswith("rollback-console:")]

    def revisions(self) -> list[str]:
        arns = self.world.ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"]
        return sorted(a.rsplit("/", 1)[-1] for a in arns)

    def live_image(self) -> str:
        td = self.world.ecs.describe_task_definition(taskDefinition=self.world.live_key())
        return str(td["taskDefinition"]["containerDefinitions"][0]["image"])

    def rollout(self) -> list[tuple[str, str]]:
        return [
            (str(d["taskDefinition"]).rsplit("/", 1)[-1], str(d.get("rolloutState")))
            for d in self.world.service()["deployments"]
        ]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    yield from aws_world(monkeypatch, tmp_path, rds=False)


def make_rig(world: World, root: Path, *, settle: bool, ready_timeout_s: float) -> Iterator[Rig]:
    with (
        AwsFaultProxy(world.url) as api,
        FaultProxy(api.url) as net,
        ALB(world) as alb,
        AutoScheduler(world.scheduler, settle=settle) as scheduler,
    ):
        api.after("UpdateService", scheduler.begin, count=None)
        config = write_config(
            root,
            endpoint=net.url(),
            verify_window_s=1,
            ready_timeout_s=ready_timeout_s,
            metrics_url=world.url,  # straight to moto: the faults are the ECS API's
        )
        world.put_alb_traffic(100.0, 40.0)  # the last minute before the console starts
        try:
            yield Rig(world, api, net, scheduler, alb, root, config)
        finally:
            api.release_hung()
            net.release_hung()


@pytest.fixture
def rig(world: World, tmp_path: Path) -> Iterator[Rig]:
    """The rollout settles as soon as the service asks for it."""
    yield from make_rig(world, tmp_path, settle=True, ready_timeout_s=30)


@pytest.fixture
def held(world: World, tmp_path: Path) -> Iterator[Rig]:
    """The rollout starts but does not finish until ``rig.scheduler.settling`` is set."""
    yield from make_rig(world, tmp_path, settle=False, ready_timeout_s=30)


@pytest.fixture
def short(world: World, tmp_path: Path) -> Iterator[Rig]:
    """Held rollouts and a 1 s time limit for the wait."""
    yield from make_rig(world, tmp_path, settle=False, ready_timeout_s=1)


def wait_until(condition: Callable[[], object], what: str, proc: Any = None) -> None:
    """Poll ``condition`` (bounded); a console that exits first fails with its output."""
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the console exited {proc.returncode} before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.02)


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    text = output(result)
    assert "Traceback" not in text, text
    assert "unexpected" not in result.stderr, text


def failure_line(result: subprocess.CompletedProcess[str], prefix: str = "rollback failed:") -> str:
    """The one ``prefix`` line on stderr (asserting there is exactly one)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, output(result)
    return lines[0]


def kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL, as a dying bastion or an OOM killer would; no chance to clean up."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()


# --------------------------------------------------------------------------- API errors


def test_update_service_unavailable_after_retries_fails_cleanly_and_changes_nothing(
    rig: Rig,
) -> None:
    rig.api.fail("UpdateService", "ServiceUnavailable", "Service Unavailable", status=503)
    result = rig.rollback()

    assert result.returncode == 1, output(result)
    assert_no_traceback(result)
    line = failure_line(result)
    assert line.startswith(
        "rollback failed: AWS answered ServiceUnavailable to ecs:UpdateService "
        "(pointing web (production) at web:2)"
    ), line
    # botocore retried the 503 (standard mode, 3 attempts); none of it reached ECS.
    assert rig.api.seen.count(("UpdateService", "ServiceUnavailable")) == MAX_ATTEMPTS
    assert rig.api.forwarded("UpdateService") == 0
    assert rig.world.live_key() == "web:3"
    assert line.endswith(
        "web (production) still runs web:3 when read again: the update was not applied"
    ), line

    entry = rig.one_entry()
    assert field(entry, "Outcome") == "rollback failed"
    assert "AWS answered ServiceUnavailable to ecs:UpdateService" in entry
    assert rig.open_incidents() == []
    assert rig.lock_tags() == []


def test_update_service_applied_but_every_answer_lost_is_found_out_by_reading_again(
    rig: Rig,
) -> None:
    """ECS makes the change, and each answer (botocore's first try and its retries) is
    lost on the way back.  The error alone cannot tell the console whether the update
    was applied; the service read again can, and the rollback carries on to verify."""
    lost = rig.api.lose_answer("UpdateService")
    result = rig.rollback()

    assert result.returncode == 0, output(result)
    assert_no_traceback(result)
    assert lost.hits == MAX_ATTEMPTS, "botocore's attempts all lost their answer"
    assert "no answer to ecs:UpdateService" in result.stdout
    assert "points at web:2 when read again: the update was applied" in result.stdout
    assert "outcome: rolled back and verified" in result.stdout
    assert rig.world.live_key() == "web:2"
    entry = rig.one_entry()
    assert field(entry, "Outcome") == "rolled back and verified"
    assert "the update was applied" in entry
    assert rig.open_incidents() == []
    assert rig.lock_tags() == []


def test_update_service_unanswered_and_the_service_unreadable_is_left_open_for_resume(
    rig: Rig,
) -> None:
    """The answer is lost and, from then on, ECS cannot be read either: the console does
    not guess.  It says the update may or may not be applied, writes no entry, leaves the
    incident open, and ``resume`` (once ECS answers) finds it applied and finishes."""
    rig.api.lose_answer("UpdateService")  # botocore's first try and its retries
    unreadable = rig.api.fail("DescribeServices", "ServiceUnavailable", status=503, count=0)
    rig.api.after("UpdateService", lambda: setattr(unreadable, "count", None))
    result = rig.rollback()

    assert result.returncode == 1, output(result)
    assert_no_traceback(result)
    line = failure_line(result, "rollback interrupted: ")
    assert "whether the update was applied is not known" in line
    assert "aws ecs describe-services --cluster prod --services web" in line
    assert "rollback-console resume web" in result.stderr
    assert not rig.history.exists()
    assert rig.world.live_key() == "web:2"  # it was applied
    (pending,) = rig.open_incidents()
    assert pending.describe()[1].endswith("started, not seen finishing"), pending.describe()

    sent = rig.api.forwarded("UpdateService")
    assert sent == MAX_ATTEMPTS  # botocore's tries, each applied (the same change)

    rig.api.clear()
    resumed = rig.resume()

    assert_resumed_once(rig, resumed, "1")
    assert "already runs v1.2.9: the switch took effect" in resumed.stdout
    assert rig.api.forwarded("UpdateService") == sent, "resume sent the update again"
    assert rig.world.live_key() == "web:2"
    assert "not known whether the change took effect" in rig.one_entry()


def test_a_register_whose_answer_is_lost_is_not_registered_twice(rig: Rig) -> None:
    """ECS registers the image rollback's copy (web:4); the answer never comes back.

    Resending (what botocore would do) registers web:5 as well; the console looks for
    the copy first, finds web:4 and points the service at it.
    """
    lost = rig.api.lose_answer("RegisterTaskDefinition", count=1)
    result = rig.run(
        "action",
        "web",
        "rollback-image",
        "--arg",
        "v1.2.8",
        "--yes",
        "--reason",
        REASON,
        "--verify-window",
        VERIFY_S,
    )

    assert result.returncode == 0, output(result)
    assert_no_traceback(result)
    assert lost.hits == 1, "the fault never fired"
    assert "no answer to ecs:RegisterTaskDefinition" in result.stdout
    assert "web:4 is that copy when looked for: it is used, not registered again" in result.stdout
    assert rig.api.forwarded("RegisterTaskDefinition") == 1
    assert rig.revisions() == ["web:1", "web:2", "web:3", "web:4"]
    assert rig.world.live_key() == "web:4"
    assert rig.live_image() == rig.world.image("v1.2.8")
    assert field(rig.one_entry(), "Outcome") == "image rolled back and verified"


def test_throttled_while_waiting_is_retried_and_the_rollback_completes(rig: Rig) -> None:
    """As many throttled DescribeServices in a row as botocore tries one call: the wait
    rides it out (one poll after another) instead of calling the rollback failed."""
    throttled: list[Any] = []
    rig.api.after(
        "UpdateService",
        lambda: throttled.append(
            rig.api.fail("DescribeServices", "ThrottlingException", "Rate exceeded", count=3)
        ),
    )
    result = rig.rollback()

    assert result.returncode == 0, output(result)
    assert_no_traceback(result)
    assert throttled and throttled[0].hits == 3, "the fault never fired in full"
    assert "AWS is throttling ecs:DescribeServices" in result.stdout  # said, not hidden
    assert "outcome: rolled back and verified" in result.stdout
    assert rig.api.forwarded("UpdateService") == 1
    assert rig.world.live_key() == "web:2"
    assert field(rig.one_entry(), "Outcome") == "rolled back and verified"
    assert rig.open_incidents() == []


FAULTS_WHILE_WAITING: dict[str, tuple[Callable[[Rig], object], str]] = {
    "reset": (lambda r: r.net.reset(), "cannot reach AWS for ecs:DescribeServices"),
    "hang": (lambda r: r.net.hang(), "AWS did not answer ecs:DescribeServices"),
    "503": (lambda r: r.net.respond(503), "AWS answered 503 to ecs:DescribeServices"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS_WHILE_WAITING))
def test_api_lost_after_update_service_is_rolled_back_but_not_verified(
    short: Rig, fault: str
) -> None:
    """From the moment ECS accepted the update, every ECS request fails, for the whole wait.

    Truthful means: the service was switched (it was), the rollout was not seen
    to finish (it was not), so "rolled back, not verified" and exit 1, never
    "rollback failed" and never success.
    """
    rig = short
    apply, words = FAULTS_WHILE_WAITING[fault]
    rig.api.after("UpdateService", lambda: apply(rig))
    proc = rig.start("rollback", "web", "--yes", "--reason", REASON)
    try:
        # The API comes back once the wait step gave up (so the test does not sit
        # out botocore's back-off for the lock release and the last snapshot).
        wait_until(lambda: rig.journaled(1, "skipped"), "the wait gave up", proc)
        rig.net.clear()
        rig.net.release_hung()
        out, err = proc.communicate(timeout=180)
    finally:
        kill(proc)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    assert result.returncode == 1, output(result)
    assert_no_traceback(result)
    assert "rollback failed" not in output(result)
    assert "NOT READY: not settled within 1 s" in result.stdout
    assert "outcome: rolled back, not verified" in result.stdout
    assert any(s.action == ("respond" if fault == "503" else fault) for s in rig.net.seen)
    assert rig.world.live_key() == "web:2"  # the switch happened
    assert rig.api.forwarded("UpdateService") == 1

    entry = rig.one_entry()
    assert field(entry, "Outcome") == "rolled back, not verified"
    assert field(entry, "Time to recover").startswith("not recovered")
    assert words in entry, entry
    assert "web (production) now points at web:2" in entry
    events = rig.journal()
    assert [e["status"] for e in events if e["event"] == "step"] == [
        "started",
        "finished",
        "started",
        "skipped",
    ]
    assert [e["event"] for e in events].count("recorded") == 1
    assert rig.open_incidents() == []


def test_an_api_that_stays_hung_does_not_hold_the_end_of_the_rollback(short: Rig) -> None:
    """As above with every ECS request hanging to the end: the lock release (short
    timeouts, one try) and the last read of the units (given UNITS_READ_S, then
    dropped) give up on their own, and the entry says why the units were not checked."""
    from console.flow import UNITS_READ_S

    rig = short
    rig.api.after("UpdateService", lambda: rig.net.hang())
    result = rig.rollback()

    assert result.returncode == 1, output(result)
    assert_no_traceback(result)
    assert "outcome: rolled back, not verified" in result.stdout
    assert rig.world.live_key() == "web:2"
    entry = rig.one_entry()
    assert field(entry, "Outcome") == "rolled back, not verified"
    assert f"could not re-read units: no answer within {UNITS_READ_S:g} s" in entry
    assert "platform lock not released (it expires)" in entry
    assert "AWS did not answer ecs:DescribeServices" in entry
    assert rig.open_incidents() == []


# --------------------------------------------------------------------------- conflicts


def someone_else_deploys(rig: Rig, key: str) -> Callable[[], object]:
    def deploy() -> None:
        rig.world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=key)

    return deploy


CONFLICTS: dict[str, tuple[Callable[[Rig], object], list[str], str]] = {
    # Another deploy lands after the plan, while the console takes its lock.
    "changed before the switch": (
        lambda r: r.api.after("TagResource", someone_else_deploys(r, "web:1")),
        [
            "rollback failed: web (production) changed since the plan: it runs web:1, "
            "the plan started from web:3; plan again"
        ],
        "web:1",
    ),
    # ECS refuses the update (the target was deregistered meanwhile).
    "update refused": (
        lambda r: r.api.fail("UpdateService", "ClientException", "TaskDefinition is inactive"),
        [
            "rollback failed: ecs:UpdateService (pointing web (production) at web:2) failed: "
            "ClientException: TaskDefinition is inactive"
        ],
        "web:3",
    ),
    # Another deploy lands right after the console's update, during the wait.
    "changed during the wait": (
        lambda r: r.api.after("UpdateService", someone_else_deploys(r, "web:1")),
        # (ECS may or may not have started the other deployment when the console looks.)
        ["rollback failed: web now ", " web:1", ", not web:2: it was changed by someone else"],
        "web:1",
    ),
}


@pytest.mark.parametrize("case", list(CONFLICTS))
def test_a_conflicting_change_or_a_refused_update_is_one_clear_line(rig: Rig, case: str) -> None:
    arrange, words, live = CONFLICTS[case]
    arrange(rig)
    result = rig.rollback()

    assert result.returncode == 1, output(result)
    assert_no_traceback(result)
    line = failure_line(result)
    assert line.startswith(words[0]) and all(w in line for w in words), line
    assert rig.world.live_key() == live  # the other change is left alone
    assert rig.api.forwarded("UpdateService") == (1 if case == "changed during the wait" else 0)
    entry = rig.one_entry()
    assert field(entry, "Outcome") == "rollback failed"
    assert line.removeprefix("rollback failed: ") in entry
    assert rig.open_incidents() == []
    assert rig.lock_tags() == []


# --------------------------------------------------------------------------- SIGKILL, resume


def assert_resumed_once(
    rig: Rig, resumed: subprocess.CompletedProcess[str], during: str, command: tuple[str, ...] = ()
) -> str:
    """After ``resume``: success, one entry that tells of the interruption, nothing open.

    ``command``: what was resumed; an action's outcome says what it did ("image rolled
    back and verified"), a rollback's "rolled back and verified".
    """
    assert resumed.returncode == 0, output(resumed)
    assert_no_traceback(resumed)
    action = command[2] if command[:1] == ("action",) else ""
    verified = outcome_text(Outcome.ROLLED_BACK, action)
    assert f"outcome: {verified}" in resumed.stdout
    entry = rig.one_entry()
    assert field(entry, "Outcome") == verified
    assert f"Interrupted: the console stopped during step {during}" in entry
    kinds = [e["event"] for e in rig.journal()]
    # One journal for the whole incident: executed, interrupted, resumed, recorded once.
    assert kinds.count("resumed") == 1 and kinds.index("execute") < kinds.index("resumed")
    assert kinds.count("ready") == 1 and kinds.count("recorded") == 1
    assert kinds[-2:] == ["recorded", "timeline"] or kinds[-1] == "recorded", kinds[-3:]
    assert rig.lock_tags() == []
    listed = rig.run("resume", "--list")
    assert listed.returncode == 0 and "no interrupted rollback" in listed.stdout, output(listed)
    return entry


@pytest.mark.parametrize(
    ("command", "live", "wait_step"),
    [
        (("rollback", "web"), "web:2", 1),
        (("action", "web", "rollback-image", "--arg", "v1.2.8"), "web:4", 2),
        (("action", "web", "force-new-deployment"), "web:3", 1),
    ],
    ids=["rollback", "rollback-image", "force-new-deployment"],
)
def test_killed_while_waiting_after_update_service_resumes_without_changing_anything_again(
    held: Rig, command: tuple[str, ...], live: str, wait_step: int
) -> None:
    """SIGKILL while ECS rolls out what the console asked for; then ``resume --yes``.

    The platform tells that the change took effect: the task definition for a
    rollback, the main container's image for an image rollback (its copy
    registered once), a PRIMARY deployment other than the one seen at plan
    time for a forced deployment.  Nothing is registered or updated again.
    """
    rig = held
    image = command[2:3] == ("rollback-image",)
    if command[2:3] == ("force-new-deployment",):
        rig.alb.bad = ""  # e.g. after the database secret was switched: web:3 is fine
    before = rig.world.service()["deployments"][0]["id"]
    proc = rig.start(*command, "--yes", "--reason", REASON)
    try:
        wait_until(lambda: rig.journaled(wait_step, "started"), "the console waits", proc)
        wait_until(lambda: rig.rollout()[0] == (live, "IN_PROGRESS"), "the rollout started")
    finally:
        kill(proc)

    # What the crash left: the change made and rolling out, no entry, one open incident.
    assert rig.world.live_key() == live
    assert rig.world.service()["deployments"][0]["id"] != before
    assert not rig.history.exists()
    (pending,) = rig.open_incidents()
    described = pending.describe()
    assert any(
        line.startswith(f"{wait_step + 1}. Wait until web is stable")
        and line.endswith(": started, not seen finishing")
        for line in described
    ), described
    if command[0] == "rollback":  # the same for every action: checked once
        listed = rig.run("resume", "--list")
        assert listed.returncode == 0 and "started, not seen finishing" in listed.stdout
        again = rig.rollback()
        assert again.returncode == 2 and "resume web" in again.stderr, output(again)

    rig.scheduler.settling.set()  # ECS finished the rollout while the console was gone
    resumed = rig.resume()

    assert "took effect; 1 later step(s) left to run" in resumed.stdout, output(resumed)
    assert_resumed_once(rig, resumed, str(wait_step + 1), command)
    assert rig.api.forwarded("UpdateService") == 1  # counted at the wire
    assert rig.api.forwarded("RegisterTaskDefinition") == (1 if image else 0)
    assert rig.world.live_key() == live
    assert rig.rollout() == [(live, "COMPLETED")]
    assert rig.revisions() == ["web:1", "web:2", "web:3"] + (["web:4"] if image else [])
    if image:
        assert rig.live_image() == rig.world.image("v1.2.8")
    changes = [e for e in rig.journal() if e["event"] == "step" and e["index"] < wait_step]
    assert [e["status"] for e in changes] == ["started", "finished"] * wait_step


def test_killed_as_update_service_took_effect_resumes_without_updating_again(rig: Rig) -> None:
    """ECS applied the update but the console died before it read the answer: the journal
    says the switch started, not that it finished; only the platform can tell."""
    procs: list[subprocess.Popen[str]] = []
    rig.api.after("UpdateService", lambda: os.kill(procs[0].pid, signal.SIGKILL))
    proc = rig.start("rollback", "web", "--yes", "--reason", REASON)
    procs.append(proc)
    try:
        out, err = proc.communicate(timeout=PATIENCE_S)
    finally:
        kill(proc)
    assert proc.returncode == -signal.SIGKILL, out + err
    assert rig.world.live_key() == "web:2"
    (pending,) = rig.open_incidents()
    assert 0 not in pending.steps_done and pending.step_started == 0

    resumed = rig.resume()

    assert "the switch took effect" in resumed.stdout, output(resumed)
    assert_resumed_once(rig, resumed, "1")
    assert rig.api.forwarded("UpdateService") == 1
    assert rig.world.live_key() == "web:2"


@pytest.mark.parametrize(
    ("action", "live", "version", "during"),
    [
        (("rollback", "web"), "web:2", "v1.2.9", "1"),
        (("action", "web", "rollback-image", "--arg", "v1.2.8"), "web:4", "v1.2.8", "2"),
    ],
    ids=["rollback", "rollback-image"],
)
def test_killed_before_update_service_reached_ecs_resumes_and_switches_once(
    rig: Rig, action: tuple[str, ...], live: str, version: str, during: str
) -> None:
    """The console dies while its UpdateService is still on the way (held, never forwarded).

    For an image rollback the copy is already registered by then: the re-plan
    finds that identical copy and reuses it instead of registering another.
    """
    hold = rig.api.hang("UpdateService", count=1)
    proc = rig.start(*action, "--yes", "--reason", REASON)
    try:
        wait_until(lambda: hold.hits == 1, "UpdateService is on its way", proc)
    finally:
        kill(proc)
    rig.api.release_hung()
    assert rig.world.live_key() == "web:3"
    assert rig.api.forwarded("UpdateService") == 0
    if action[0] == "action":
        assert rig.revisions() == ["web:1", "web:2", "web:3", "web:4"]
    (pending,) = rig.open_incidents()
    assert pending.step_started == int(during) - 1

    resumed = rig.resume()

    replanned = (
        f"the rollback to {version}" if action[0] == "rollback" else f"rollback-image {version}"
    )
    assert f"web still runs v1.3.0: planning {replanned} again" in resumed.stdout, output(resumed)
    assert_resumed_once(rig, resumed, during, action)
    assert rig.api.forwarded("UpdateService") == 1
    assert rig.world.live_key() == live
    if action[0] == "action":
        assert rig.api.forwarded("RegisterTaskDefinition") == 1  # the copy was reused
        assert rig.revisions() == ["web:1", "web:2", "web:3", "web:4"]
        assert rig.live_image() == rig.world.image("v1.2.8")


def test_a_resumed_image_rollback_knows_its_copy_by_the_image_not_the_number(
    world: World,
) -> None:
    """Someone registers a revision between the plan and the console's register, so ECS
    numbers the copy web:5, not web:4 as planned (and journaled).  The console is killed
    after the switch; a new one, which never saw the register's answer, must find the
    switch done and wait for web:5, not call it someone else's change.

    In one process, with the second console stood in by a fresh provider reading the
    plan as the journal keeps it: what ``resume`` does with it is covered above.
    """
    from console.journal import encode_event
    from console.model import ProgressStatus
    from console.resume import plan_for_journal, plan_from
    from providers.ecs import EcsProvider
    from tests.providers.test_ecs import config as service_config

    first = EcsProvider(service_config(world, rds_instance=""))
    plan = first.plan_action("rollback-image", "v1.2.8")
    assert plan.to_revision.id == "web:4"
    world.register("v1.2.9")  # someone else takes web:4
    for event in first.execute(plan):
        if event.step == 1 and event.status is ProgressStatus.FINISHED:
            break  # killed right after the switch
    assert world.live_key() == "web:5"
    world.scheduler.settle()

    journaled = plan_from(json.loads(encode_event({"plan": plan_for_journal(plan)}))["plan"])
    second = EcsProvider(service_config(world, rds_instance=""))
    second.poll_interval_s = 0.05
    assert second.switch_took_effect(journaled) is True
    ready = second.wait_ready(journaled, 5)
    assert ready.ready, ready.message
    assert ready.message.startswith("web is stable: one deployment (web:5)")


# --------------------------------------------------------------------------- an older journal


def old_format_journal(rig: Rig, *, switched: bool, deployment_before: str) -> Path:
    """The journal of a rollback to web:2 that the previous version (steps without op and
    params, ``data["resume"]`` beside them) left when it was killed: during the wait when
    ``switched``, else while its update-service was on its way.  Written by hand, as that
    version wrote it."""
    world = rig.world
    flags = f"--region eu-west-1 --endpoint-url {rig.net.url()}"
    started = "2026-01-05T10:00:00+00:00"
    incident = "web-20260105T100000Z-0a1b"
    plan = {
        "service": "web",
        "environment": "production",
        "provider": "ecs",
        "from_revision": {
            "id": "web:3",
            "version": "v1.3.0",
            "created": None,
            "change_cause": "",
            "image": world.image("v1.3.0"),
            "current": True,
            "detail": "also log-router=2.32.0",
        },
        "to_revision": {
            "id": "web:2",
            "version": "v1.2.9",
            "created": None,
            "change_cause": "",
            "image": world.image("v1.2.9"),
            "current": False,
            "detail": "also log-router=2.32.0",
        },
        "steps": [
            {
                "title": (
                    "Point web (production) at web:2 (image v1.2.9); ECS starts a new "
                    "deployment and drains the tasks of web:3"
                ),
                "command": (
                    "aws ecs update-service --cluster prod --service web --task-definition "
                    f"web:2 {flags}"
                ),
                "kind": "switch",
                "argv": [],
                "timeout_s": 60.0,
            },
            {
                "title": (
                    "Wait until web is stable on web:2: one deployment, 2 of 2 tasks running "
                    "(aws ecs wait services-stable)"
                ),
                "command": f"aws ecs wait services-stable --cluster prod --services web {flags}",
                "kind": "wait",
                "argv": [],
                "timeout_s": 30.0,
            },
        ],
        "warnings": [],
        "dry_run": False,
        "action": "rollback",
        "argument": "",
        "data": {"resume": {"deployment_before": deployment_before}},
    }
    steps = [(0, "started"), (0, "finished"), (1, "started")] if switched else [(0, "started")]
    events: list[dict[str, Any]] = [
        {
            "event": "opened",
            "service": "web",
            "environment": "production",
            "operator": "oncall",
            "detected_at": started,
        },
        {"event": "reason", "reason": REASON, "impact": ""},
        {"event": "timeline", "kind": "opened", "message": "Incident opened on web (production)"},
        {"event": "plan", "plan": plan},
        {"event": "execute", "host": "bastion-1", "pid": 4242},
        *({"event": "step", "index": i, "status": status} for i, status in steps),
    ]
    path = rig.state_dir / "journal" / f"{incident}.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(
        "".join(
            json.dumps({"at": started, "incident": incident, **event}) + "\n" for event in events
        )
    )
    return path


@pytest.mark.parametrize("switched", [True, False], ids=["during the wait", "before the switch"])
def test_a_rollback_journaled_by_the_previous_version_resumes(rig: Rig, switched: bool) -> None:
    """A journal written before steps were typed (no op, no params) still resumes.

    Killed during the wait, the switch is live: only the wait is left, typed from the
    plan itself (its target), and nothing is updated again.  Killed before its update
    reached ECS, nothing is live: the rollback is planned anew and switched once.
    """
    world = rig.world
    before = world.service()["deployments"][0]["id"]
    if switched:  # what the old console did before it was killed; ECS finished it since
        world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition="web:2")
        wait_until(lambda: rig.rollout() == [("web:2", "COMPLETED")], "ECS settled web:2")
    old_format_journal(rig, switched=switched, deployment_before=before)
    (pending,) = rig.open_incidents()
    assert pending.plan is not None and not any(s.op for s in pending.plan.steps)

    resumed = rig.resume()

    if switched:
        assert "already runs v1.2.9: the switch took effect; 1 later step(s) left to run" in (
            resumed.stdout
        ), output(resumed)
        assert rig.api.forwarded("UpdateService") == 0
    else:
        assert "web still runs v1.3.0: planning the rollback to v1.2.9 again" in (resumed.stdout), (
            output(resumed)
        )
        assert rig.api.forwarded("UpdateService") == 1
    assert_resumed_once(rig, resumed, "2" if switched else "1")
    assert rig.world.live_key() == "web:2"
    assert rig.rollout() == [("web:2", "COMPLETED")]
