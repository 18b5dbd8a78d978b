"""Faults in the middle of a Kubernetes rollback, through real processes and real sockets.

The console runs headless (``python -m console.cli rollback|action|resume``)
in its own process, with the official client talking HTTP to the fake API
server (``tests.k8s_server``, its controllers running) through the fault
proxy (``tests.faultproxy``).  Nothing in the SDK is patched: the API answers
503, resets the connection, hangs, loses the answer to a PATCH it applied,
or a second writer changes the Deployment under the console (a real 409);
the console is killed with SIGKILL between steps and ``resume`` is run.

Each time: the exit code of the contract, one truthful line and no
traceback, a complete journal, exactly one history entry, and the
Deployment on the server (read directly, and with real kubectl where it is
installed) in the state the messages claim.  The rollback PATCH itself is
counted on the server (``application/json-patch+json``; the lock annotations
are merge patches): a resumed rollback never sends it twice.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from console.history import read_entries
from console.resume import open_incidents
from providers.kubernetes import LOCK_ANNOTATION
from providers.kubernetes import rollout as ro
from tests.console_cli import run_console, start_console
from tests.e2e.test_headless_rollback import field
from tests.faultproxy import FaultProxy
from tests.k8s_server import FakeKubeServer, running, set_image
from tests.k8s_server.fixtures import (
    DEPLOYMENT,
    IMAGE,
    NAMESPACE,
    Kubectl,
    deploy,
    need_binary,
    start_server,
)
from tests.k8s_server.server import Request
from tests.signals import FlipServer

pytestmark = pytest.mark.e2e

LIVE = f"{IMAGE}:v1.3.0"
TARGET = f"{IMAGE}:v1.2.9"
#: The Deployment itself (GET, PATCH), not its lists.
DEPLOYMENT_PATH = rf"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{DEPLOYMENT}$"
ROLLBACK_PATCH = "application/json-patch+json"
RESTART_PATCH = "application/strategic-merge-patch+json"
#: How long the console waits for the rollout (and, at most, for one API request).
READY_TIMEOUT_S = 2


# --------------------------------------------------------------------------- the world


@dataclass
class _Stage:
    method: str
    left: int
    arm: Callable[[], object]


class StagedProxy(FaultProxy):
    """The fault proxy, plus faults armed the moment the n-th request of a method goes by.

    The console's PATCHes come in a fixed order (take the lock, roll back,
    release the lock): ``after("PATCH", 1, arm)`` makes ``arm`` add its rule
    once the lock's PATCH was let through, so the rule meets the rollback
    PATCH, whatever the timing.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._stages: list[_Stage] = []
        super().__init__(upstream)

    def after(self, method: str, nth: int, arm: Callable[[], object]) -> None:
        with self._lock:
            self._stages.append(_Stage(method.upper(), nth, arm))

    def _decide(self, method: str, path: str) -> Any:
        with self._lock:  # re-entrant: the decision and the arming are one step
            rule = super()._decide(method, path)
            for stage in list(self._stages):
                if stage.method == method.upper():
                    stage.left -= 1
                    if stage.left == 0:
                        self._stages.remove(stage)
                        stage.arm()
            return rule


@dataclass
class World:
    kube: FakeKubeServer
    proxy: StagedProxy
    health: FlipServer
    root: Path
    config: Path
    direct_kubeconfig: Path

    # ---------------------------------------------------------------- the console

    def configure(self, *, ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        proxied = self.root / "kubeconfig"
        text = self.direct_kubeconfig.read_text().replace(self.kube.url, self.proxy.url())
        proxied.write_text(text)
        service = {
            "name": "web",
            "environment": "production",
            "provider": "kubernetes",
            "ready_timeout_s": ready_timeout_s,
            "verify_window_s": 0.5,
            "kubernetes": {
                "deployment": DEPLOYMENT,
                "namespace": NAMESPACE,
                "kubeconfig": str(proxied),
            },
            "health": [{"url": self.health.url, "timeout_s": 1}],
            "error_rate": {"source": "probe", "interval_s": 0.05, "window_s": 2, "timeout_s": 1},
        }
        console = {
            "operator": "alice",
            "history_file": str(self.history_file),
            "state_dir": str(self.state_dir),
        }
        self.config.write_text(tomli_w.dumps({"console": console, "services": [service]}))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_console(self.config, *args, timeout=120)

    def rollback(self) -> subprocess.CompletedProcess[str]:
        return self.cli("rollback", "web", "--yes", "--reason", "503s after v1.3.0")

    def start(self, *args: str) -> subprocess.Popen[str]:
        """The console in the background (its output in files: nothing can block on a pipe)."""
        return start_console(
            self.config,
            *args,
            stdout=(self.root / "console.out").open("w"),
            stderr=(self.root / "console.err").open("w"),
        )

    def kill(self, run: subprocess.Popen[str]) -> None:
        assert run.poll() is None, f"the console ended on its own: {self.output()}"
        run.send_signal(signal.SIGKILL)
        run.wait(30)
        assert run.returncode == -signal.SIGKILL

    def output(self) -> str:
        out, err = self.root / "console.out", self.root / "console.err"
        return (out.read_text() if out.exists() else "") + (err.read_text() if err.exists() else "")

    # ---------------------------------------------------------------- what happened

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def history_file(self) -> Path:
        return self.root / "rollback-history.md"

    def deployment(self) -> dict[str, Any]:
        return self.kube.cluster.get("deployments", NAMESPACE, DEPLOYMENT)

    def image(self) -> str:
        return str(ro.template_of(self.deployment())["spec"]["containers"][0]["image"])

    def patches(self, content_type: str) -> list[Request]:
        """The PATCHes of the Deployment the server received with this content type."""
        return [
            r
            for r in self.kube.requests_matching("PATCH", DEPLOYMENT_PATH)
            if r.content_type.split(";")[0] == content_type
        ]

    def journal(self) -> list[dict[str, Any]]:
        """Every event of the one incident's journal; each line must be whole JSON."""
        files = sorted((self.state_dir / "journal").glob("*.jsonl"))
        assert len(files) == 1, files
        lines = [line for line in files[0].read_text().splitlines() if line.strip()]
        return [json.loads(line) for line in lines]

    def step_statuses(self, index: int) -> list[str]:
        return [
            str(e["status"])
            for e in self.journal()
            if e["event"] == "step" and e.get("index") == index
        ]

    def assert_only_lock_patches_besides(self, content_type: str, count: int) -> None:
        """``count`` PATCHes of ``content_type``; every other PATCH only wrote the lock."""
        assert len(self.patches(content_type)) == count, "the change was sent again"
        for request in self.kube.requests_matching("PATCH", DEPLOYMENT_PATH):
            if request.content_type.split(";")[0] == content_type:
                continue
            body = request.json()
            assert set(body) == {"metadata"}, body
            assert set(body["metadata"]) <= {"resourceVersion", "annotations"}, body
            assert set(body["metadata"]["annotations"]) == {LOCK_ANNOTATION}, body

    def one_entry(self) -> str:
        entries = read_entries(self.history_file)
        assert len(entries) == 1, [e.id for e in entries]
        return entries[0].raw

    def assert_closed(self) -> None:
        assert open_incidents(self.state_dir) == []
        listed = self.cli("resume", "--list")
        assert listed.returncode == 0 and "no interrupted rollback" in listed.stdout, listed


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """v1.2.8, v1.2.9, v1.3.0 rolled out and healthy; the console talks through the proxy."""
    kube = start_server()
    deploy(kube, ["v1.2.8", "v1.2.9", "v1.3.0"])
    health = FlipServer()
    port = int(kube.url.rsplit(":", 1)[1])
    proxy = StagedProxy(("127.0.0.1", port))
    try:
        direct = kube.write_kubeconfig(tmp_path / "kubeconfig-direct", namespace=NAMESPACE)
        made = World(kube, proxy, health, tmp_path, tmp_path / "config.toml", direct)
        made.configure()
        with running(kube):
            yield made
    finally:
        proxy.close()
        health.close()
        kube.stop()


def until(condition: Callable[[], object], what: str, timeout_s: float = 60) -> None:
    """Wait (bounded) for ``condition``; the bound only turns a hang into a failure."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def one_error_line(result: subprocess.CompletedProcess[str], prefix: str) -> str:
    """The only stderr line starting with ``prefix``; no traceback anywhere."""
    assert "Traceback" not in result.stderr + result.stdout
    assert "unexpected" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, result.stderr
    return lines[0]


def journaled(world: World, event: str, **fields: object) -> Callable[[], bool]:
    def seen() -> bool:
        files = list((world.state_dir / "journal").glob("*.jsonl"))
        if len(files) != 1:
            return False
        for line in files[0].read_text().splitlines():
            try:
                data = json.loads(line)
            except ValueError:
                continue  # a line being written
            if data.get("event") == event and all(data.get(k) == v for k, v in fields.items()):
                return True
        return False

    return seen


# --------------------------------------------------------------------------- the rollback PATCH


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("503", "answered 503"),
        # A reset the client reads after its request went out can surface as either.
        ("reset", "reset by peer|closed connection without response"),
        ("hang", f"did not answer within {READY_TIMEOUT_S} s"),
    ],
)
def test_rollback_patch_failing_changes_nothing_and_says_so(
    world: World, fault: str, words: str
) -> None:
    """The PATCH never reaches the server: exit 1, "not applied", the Deployment untouched."""
    arm = {
        "503": lambda: world.proxy.respond(503, method="PATCH", count=1),
        "reset": lambda: world.proxy.reset(method="PATCH", count=1),
        "hang": lambda: world.proxy.hang(method="PATCH", count=1),
    }[fault]
    world.proxy.after("PATCH", 1, arm)  # the lock's PATCH goes through, the rollback's does not
    before = world.deployment()

    result = world.rollback()

    assert result.returncode == 1, result.stdout + result.stderr
    line = one_error_line(result, "rollback failed: ")
    assert any(w in line for w in words.split("|")), line
    assert "the rollback was not applied" in line and "still runs v1.3.0" in line
    action = {"503": "respond"}.get(fault, fault)
    assert [s.action for s in world.proxy.seen if s.method == "PATCH"][1] == action
    # Truthful: the server never saw a rollback, and the Deployment is as it was.
    assert world.patches(ROLLBACK_PATCH) == []
    after = world.deployment()
    assert world.image() == LIVE
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert ro.annotations_of(after)[ro.REVISION] == "3"
    assert LOCK_ANNOTATION not in ro.annotations_of(after)  # released on the way out

    entry = world.one_entry()
    assert field(entry, "Outcome") == "rollback failed"
    assert any(w in entry for w in words.split("|")) and "the rollback was not applied" in entry
    events = world.journal()
    assert [e["event"] for e in events].count("recorded") == 1
    assert world.step_statuses(1) == ["started", "failed"]
    world.assert_closed()


def test_answer_to_an_applied_patch_lost_is_found_out_not_repeated(world: World) -> None:
    """The server applies the PATCH, the connection is reset before its answer arrives.

    The console cannot know from the error alone; it reads the Deployment
    again, says the rollback was applied, and carries on to verify it,
    without sending the PATCH a second time.
    """
    world.configure(ready_timeout_s=30)
    world.proxy.after("PATCH", 1, lambda: world.proxy.drop_after(0, method="PATCH", count=1))

    result = world.rollback()

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert any(s.action == "drop" for s in world.proxy.seen), "the fault never fired"
    assert "reset by peer" in result.stdout
    assert "the rollback was applied" in result.stdout
    assert len(world.patches(ROLLBACK_PATCH)) == 1
    assert world.image() == TARGET
    entry = world.one_entry()
    assert field(entry, "Outcome") == "rolled back and verified"
    assert "the rollback was applied" in entry
    assert world.step_statuses(1) == ["started", "finished"]
    world.assert_closed()


def test_a_second_writer_gets_a_409_and_is_not_overwritten(world: World) -> None:
    """Someone sets v1.5.0 between the console's read and its PATCH: the server says 409."""
    kube = world.kube

    def second_writer(request: Request) -> None:
        if request.method == "PATCH" and request.content_type.startswith(ROLLBACK_PATCH):
            kube.on_request = None
            set_image(kube, NAMESPACE, DEPLOYMENT, f"{IMAGE}:v1.5.0", change_cause="hotfix")

    kube.on_request = second_writer
    result = world.rollback()

    assert result.returncode == 1, result.stdout + result.stderr
    line = one_error_line(result, "rollback failed: ")
    assert "409" in line and "nothing was written" in line
    assert "v1.5.0" in line  # what the other writer put there
    # No retry: one rollback PATCH, refused; the other writer's change stands.
    assert len(world.patches(ROLLBACK_PATCH)) == 1
    assert world.image() == f"{IMAGE}:v1.5.0"
    until(lambda: ro.annotations_of(world.deployment()).get(ro.REVISION) == "4", "v1.5.0 rollout")
    entry = world.one_entry()
    assert field(entry, "Outcome") == "rollback failed"
    assert "409" in entry
    world.assert_closed()


# --------------------------------------------------------------------------- the wait


@pytest.mark.parametrize("resets", [3, None])
def test_connection_resets_while_waiting(world: World, resets: int | None) -> None:
    """After the PATCH the reads of the Deployment are reset: a few times, or from then on.

    A few resets are ridden out; resets to the end leave a rollback that
    happened (the server has it) but was never seen ready: said, not verified.
    """
    if resets is not None:
        world.configure(ready_timeout_s=30)  # room for the resets; a rollout takes well under
    world.proxy.after(
        "PATCH", 2, lambda: world.proxy.reset(method="GET", path=DEPLOYMENT_PATH, count=resets)
    )

    result = world.rollback()

    assert "Traceback" not in result.stderr
    assert any(s.action == "reset" for s in world.proxy.seen), "the fault never fired"
    assert len(world.patches(ROLLBACK_PATCH)) == 1
    assert world.image() == TARGET  # the switch happened
    entry = world.one_entry()
    kinds = [e["event"] for e in world.journal()]
    assert world.step_statuses(0) == ["started", "finished"]
    assert world.step_statuses(1) == ["started", "finished"]
    assert kinds.count("ready") == 1 and kinds.count("recorded") == 1
    if resets is not None:
        assert result.returncode == 0, result.stdout + result.stderr
        assert field(entry, "Outcome") == "rolled back and verified"
    else:
        assert result.returncode == 1, result.stdout + result.stderr
        assert "NOT READY: not ready after" in result.stdout
        assert "cannot read the Deployment" in result.stdout and "reset by peer" in result.stdout
        assert "outcome: rolled back, not verified" in result.stdout
        assert field(entry, "Outcome") == "rolled back, not verified"
        assert "verified" not in kinds
        # The lock could not be released either: said, and still there until it expires.
        assert "platform lock not released (it expires)" in entry
        assert LOCK_ANNOTATION in ro.annotations_of(world.deployment())
    world.assert_closed()


def test_a_read_hanging_while_waiting_ends_at_the_ready_timeout(world: World) -> None:
    """The first read after the PATCH never gets an answer: the ready timeout ends the wait."""
    rule: list[Any] = []
    world.proxy.after(
        "PATCH",
        2,
        lambda: rule.append(world.proxy.hang(method="GET", path=DEPLOYMENT_PATH, count=1)),
    )

    result = world.rollback()

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert rule and rule[0].hits == 1
    ready = [e for e in world.journal() if e["event"] == "ready"]
    assert len(ready) == 1 and ready[0]["ready"] is False
    message = ready[0]["message"]
    assert "cannot read the Deployment" in message
    # The read was given what was left of the configured ready timeout, not 30 s.
    limit = re.search(r"did not answer within ([\d.]+) s", message)
    assert limit, message
    assert float(limit.group(1)) <= READY_TIMEOUT_S
    assert world.image() == TARGET
    assert field(world.one_entry(), "Outcome") == "rolled back, not verified"
    world.assert_closed()


# --------------------------------------------------------------------------- killed and resumed


def resume(world: World, step_2: str) -> subprocess.CompletedProcess[str]:
    """``resume web --yes``, after checking what the interrupted incident says of step 2."""
    (pending,) = open_incidents(world.state_dir)
    assert pending.describe()[2].endswith(f": {step_2}"), pending.describe()
    result = world.cli("resume", "web", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result


def assert_resumed_once(
    world: World,
    crashed: list[dict[str, Any]],
    entry_words: str,
    verified: str = "rolled back and verified",
) -> None:
    """One entry, verified, saying it was interrupted; the journal kept and closed.

    ``crashed`` is the journal as the killed console left it: resuming appends
    to it, never rewrites it.  ``verified``: the Outcome cell (an action says what it did).
    """
    entry = world.one_entry()
    assert field(entry, "Outcome") == verified
    assert "Interrupted: the console stopped" in entry and entry_words in entry
    events = world.journal()
    assert events[: len(crashed)] == crashed, "the journal lost or changed events"
    kinds = [e["event"] for e in events]
    assert "recorded" not in [e["event"] for e in crashed]
    assert kinds.count("resumed") == 1 and kinds.count("recorded") == 1
    assert kinds.index("resumed") == len(crashed)
    assert LOCK_ANNOTATION not in ro.annotations_of(world.deployment())
    world.assert_closed()


def killed(world: World, *args: str, when: list[tuple[Callable[[], object], str]]) -> list[Any]:
    """Run the console, SIGKILL it once every condition held; the journal it left behind."""
    run = world.start(*args)
    try:
        for condition, what in when:
            until(condition, what)
        world.kill(run)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(30)
    crashed = world.journal()
    assert "ready" not in [e["event"] for e in crashed]
    assert not world.history_file.exists()
    return crashed


ROLLBACK = ("rollback", "web", "--yes", "--reason", "503s after v1.3.0")


def test_killed_while_waiting_for_the_rollout_resumes_without_patching_again(
    world: World,
) -> None:
    """The target's pods crash, so the console is in the wait when it is killed.

    The journal saw the switch finish; the platform has it too (revision 2
    renumbered 4).  Once the pods can start, resume waits, verifies, records.
    """
    world.configure(ready_timeout_s=60)
    world.kube.cluster.failing_images.add(TARGET)
    crashed = killed(
        world,
        *ROLLBACK,
        when=[
            (journaled(world, "step", index=1, status="finished"), "the switch to finish"),
            (lambda: ro.annotations_of(world.deployment()).get(ro.REVISION) == "4", "rollout"),
        ],
    )
    assert world.image() == TARGET
    assert not ro.rollout_status(world.deployment())[0]

    world.kube.cluster.failing_images.discard(TARGET)
    result = resume(world, "done")

    assert "already runs v1.2.9: the switch took effect" in result.stdout
    world.assert_only_lock_patches_besides(ROLLBACK_PATCH, 1)
    assert world.step_statuses(1) == ["started", "finished"]
    d = world.deployment()
    assert world.image() == TARGET
    assert ro.annotations_of(d)[ro.REVISION] == "4"
    assert ro.rollout_status(d)[0]
    assert_resumed_once(world, crashed, "finished, while waiting for the platform to report ready")


def test_killed_with_the_patch_answer_on_its_way_resumes_without_patching_again(
    world: World,
) -> None:
    """The server applied the PATCH; its answer trickles in; the console dies waiting for it.

    The journal says the switch started and never finished; the platform says
    it took effect (the target ReplicaSet renumbered 2 -> 4, revision-history
    "2"): resume believes the platform (the undo step's ``took_effect``).
    """
    world.configure(ready_timeout_s=60)
    world.proxy.after(
        "PATCH", 1, lambda: world.proxy.trickle(chunk=1, interval_s=3600, method="PATCH", count=1)
    )
    crashed = killed(
        world,
        *ROLLBACK,
        when=[
            (lambda: world.patches(ROLLBACK_PATCH), "the rollback PATCH to reach the server"),
            (journaled(world, "step", index=1, status="started"), "the switch to start"),
        ],
    )
    assert world.step_statuses(1) == ["started"]
    until(lambda: ro.annotations_of(world.deployment()).get(ro.REVISION) == "4", "renumbering")

    result = resume(world, "started, not seen finishing")

    assert "already runs v1.2.9: the switch took effect" in result.stdout
    world.assert_only_lock_patches_besides(ROLLBACK_PATCH, 1)
    assert world.step_statuses(1) == ["started"]  # not run again
    assert world.image() == TARGET
    replicasets, _ = world.kube.cluster.list("replicasets", NAMESPACE)
    renumbered = [rs for rs in replicasets if ro.revision_history_of(rs) == ("2",)]
    assert len(renumbered) == 1 and ro.revision_of(renumbered[0]) == 4
    assert_resumed_once(world, crashed, "during step 2")


def test_killed_before_the_patch_reached_the_server_resumes_and_rolls_back_once(
    world: World, tmp_path: Path
) -> None:
    """The PATCH hangs in the proxy (the server never gets it) when the console is killed."""
    kubectl = Kubectl(
        world.direct_kubeconfig,
        tmp_path / "kubectl-home",
        need_binary("kubectl", "real kubectl reads the result back"),
    )
    kubectl.home.mkdir()
    world.configure(ready_timeout_s=60)
    held: list[Any] = []
    world.proxy.after("PATCH", 1, lambda: held.append(world.proxy.hang(method="PATCH", count=1)))
    crashed = killed(
        world,
        *ROLLBACK,
        when=[
            (lambda: held and held[0].hits == 1, "the rollback PATCH to be held"),
            (journaled(world, "step", index=1, status="started"), "the switch to start"),
        ],
    )
    world.proxy.release_hung()
    assert world.patches(ROLLBACK_PATCH) == []
    assert world.image() == LIVE

    result = resume(world, "started, not seen finishing")

    assert "still runs v1.3.0: planning the rollback to v1.2.9 again" in result.stdout
    world.assert_only_lock_patches_besides(ROLLBACK_PATCH, 1)
    assert world.step_statuses(1) == ["started", "started", "finished"]
    assert_resumed_once(world, crashed, "during step 2")

    # Real kubectl reads what `kubectl rollout undo --to-revision=2` would have left.
    got = kubectl.run("get", "deployment", DEPLOYMENT, "-n", NAMESPACE, "-o", "json", check=True)
    live = json.loads(got.stdout)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == TARGET
    assert live["metadata"]["annotations"][ro.REVISION] == "4"
    assert LOCK_ANNOTATION not in live["metadata"]["annotations"]
    assert kubectl.history() == [(1, "deploy v1.2.8"), (3, "deploy v1.3.0"), (4, "deploy v1.2.9")]


def test_restart_killed_while_waiting_is_not_restarted_twice(world: World) -> None:
    """``action web restart``: the restarted pods crash, the console is killed waiting.

    The plan journaled the restartedAt its restart step sets (its params): the
    live one is it, so the restart took effect and is not sent again.
    """
    world.configure(ready_timeout_s=60)
    world.kube.cluster.failing_images.add(LIVE)
    crashed = killed(
        world,
        "action",
        "web",
        "restart",
        "--yes",
        "--reason",
        "stuck connections",
        when=[(journaled(world, "step", index=1, status="finished"), "the restart PATCH")],
    )
    (restart,) = world.patches(RESTART_PATCH)
    restarted_at = ro.template_of(world.deployment())["metadata"]["annotations"][ro.RESTARTED_AT]
    plan = next(e["plan"] for e in crashed if e["event"] == "plan")
    assert plan["action"] == "restart"
    assert plan["steps"][1]["op"] == "k8s.restart"
    assert plan["steps"][1]["params"]["restarted_at"] == restarted_at  # decided when planned
    assert not ro.rollout_status(world.deployment())[0]

    world.kube.cluster.failing_images.discard(LIVE)
    result = resume(world, "done")

    assert "already runs v1.3.0: the action took effect" in result.stdout
    world.assert_only_lock_patches_besides(RESTART_PATCH, 1)
    assert world.patches(RESTART_PATCH) == [restart]
    annotations = ro.template_of(world.deployment())["metadata"]["annotations"]
    assert annotations[ro.RESTARTED_AT] == restarted_at
    assert world.image() == LIVE
    assert ro.rollout_status(world.deployment())[0]
    assert_resumed_once(world, crashed, "resumed by alice", "restarted and verified")


def test_patch_answer_lost_and_the_api_gone_leaves_the_incident_open_for_resume(
    world: World,
) -> None:
    """The server applies the rollback PATCH, the answer is lost, and every read of the
    Deployment from then on answers 503: nobody can tell whether the rollback took effect.

    Neither "done" nor "failed" would be true, and a plain retry would roll "back" to the
    broken release (after an applied rollback, the previous revision is v1.3.0).  So: no
    history entry, the incident left open with the step started, and a ``resume`` once the
    API answers finds the switch done and finishes without sending it again.
    """
    world.proxy.after("PATCH", 1, lambda: world.proxy.drop_after(0, method="PATCH", count=1))
    world.proxy.after(
        "PATCH", 2, lambda: world.proxy.respond(503, method="GET", path=DEPLOYMENT_PATH)
    )

    result = world.rollback()

    assert result.returncode == 1, result.stdout + result.stderr
    line = one_error_line(result, "rollback interrupted: ")
    assert "whether the rollback was applied is not known" in line, line
    assert f"resume {'web'}" in result.stderr
    assert "rollback failed" not in result.stderr
    assert len(world.patches(ROLLBACK_PATCH)) == 1
    assert world.image() == TARGET  # it did take effect
    assert not world.history_file.exists()
    assert world.step_statuses(1) == ["started"]
    crashed = world.journal()
    assert "recorded" not in [e["event"] for e in crashed]

    world.proxy.clear()
    (pending,) = open_incidents(world.state_dir)
    status = world.cli("status", "web")
    assert f"OPEN: interrupted rollback {pending.incident_id} by alice" in status.stdout
    assert "rollback-console resume web" in status.stdout
    listed = json.loads(world.cli("status", "web", "--json").stdout)
    assert listed["open_incidents"] == [pending.incident_id]
    resumed = resume(world, "started, not seen finishing")

    assert "already runs v1.2.9: the switch took effect" in resumed.stdout
    world.assert_only_lock_patches_besides(ROLLBACK_PATCH, 1)
    assert_resumed_once(world, crashed, "Interrupted")
    assert "not known whether the change took effect" in world.one_entry()


# --------------------------------------------------------------------------- an older journal


def old_journal(world: World, action: str) -> Path:
    """The journal an earlier version left when it was killed during step 2, by hand.

    Its plan is as that version wrote it: steps with title, command, kind and
    an empty argv (no ``op``, no ``params``); a restart's ``data`` holds only the
    ``restartedAt`` it started from (``{"resume": ...}``).
    """
    incident = "web-20260105T020000Z-0ld1"
    at = "2026-01-05T02:00:00+00:00"
    kubectl = f"kubectl --kubeconfig {world.root / 'kubeconfig'}"
    saved = world.state_dir / "manifests" / "web" / "web-20260105T020000000000Z-rev3.yaml"
    live = {
        "id": "3",
        "version": "v1.3.0",
        "created": None,
        "change_cause": "deploy v1.3.0",
        "image": LIVE,
        "current": True,
        "detail": "ReplicaSet web-3 · 3/3 ready",
    }
    backup = {
        "title": f"Save the live manifest of deployment/web (production) to {saved}",
        "command": f"{kubectl} get deployment/web -o yaml -n shop > {saved}",
        "kind": "backup",
        "argv": [],
        "timeout_s": 60.0,
    }
    plan: dict[str, Any] = {
        "service": "web",
        "environment": "production",
        "provider": "kubernetes",
        "from_revision": live,
        "warnings": [],
        "dry_run": False,
        "argument": "",
    }
    if action == "rollback":
        plan["action"] = "rollback"
        plan["to_revision"] = {**live, "id": "2", "version": "v1.2.9", "image": TARGET}
        plan["to_revision"].update(current=False, change_cause="deploy v1.2.9")
        switch = {
            "title": "Roll deployment/web (production) back to revision 2 (v1.2.9): the pod "
            "template of ReplicaSet web-2",
            "command": f"{kubectl} rollout undo deployment/web --to-revision=2 -n shop",
            "kind": "switch",
            "argv": [],
            "timeout_s": 60.0,
        }
    else:
        plan["action"] = "restart"
        plan["to_revision"] = live
        plan["data"] = {"resume": {"restarted_at": ""}}
        switch = {
            "title": "Restart every pod of deployment/web (production) on v1.3.0 (a new "
            f"{ro.RESTARTED_AT} on the template)",
            "command": f"{kubectl} rollout restart deployment/web -n shop",
            "kind": "restart",
            "argv": [],
            "timeout_s": 60.0,
        }
    plan["steps"] = [backup, switch]
    events: list[dict[str, Any]] = [
        {"event": "opened", "service": "web", "environment": "production", "operator": "alice"},
        {"event": "reason", "reason": "503s after v1.3.0", "impact": ""},
        {"event": "plan", "plan": plan},
        {"event": "execute", "host": "bastion-0", "pid": 999999},
        {"event": "step", "index": 0, "status": "started"},
        {"event": "step", "index": 0, "status": "finished"},
        {"event": "step", "index": 1, "status": "started"},
    ]
    path = world.state_dir / "journal" / f"{incident}.jsonl"
    path.parent.mkdir(parents=True)
    lines = [{"incident": incident, "at": at, "detected_at": at, **e} for e in events]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def applied_by_the_old_console(world: World, action: str) -> None:
    """The change the killed console had sent, applied on the server (not through the API)."""
    d = world.deployment()
    if action == "rollback":
        replicasets, _ = world.kube.cluster.list("replicasets", NAMESPACE)
        owned = ro.owned_replicasets(d, replicasets)
        rs = ro.undo_target(d, owned, 2)
        patch: Any = ro.undo_patch(rs, ro.undo_annotations(d, rs))
        kind = ROLLBACK_PATCH
    else:
        stamp = "2026-01-05T02:00:01Z"
        patch = {"spec": {"template": {"metadata": {"annotations": {ro.RESTARTED_AT: stamp}}}}}
        kind = RESTART_PATCH
    world.kube.cluster.patch("deployments", NAMESPACE, DEPLOYMENT, kind, patch)
    until(lambda: ro.rollout_status(world.deployment())[0], "the old console's rollout")


@pytest.mark.parametrize(
    ("action", "applied"),
    [("rollback", True), ("rollback", False), ("restart", True), ("restart", False)],
)
def test_a_journal_of_the_previous_version_resumes(
    world: World, action: str, applied: bool
) -> None:
    """Resuming an incident whose journal an earlier version wrote (untyped steps).

    Applied: the Deployment shows the switch took effect (a rollback's target
    renumbered 2 -> 4, a restart's new ``restartedAt``): it is not sent again.
    Not applied: the rollback or restart is planned again, typed, and sent once.
    """
    path = old_journal(world, action)
    if applied:
        applied_by_the_old_console(world, action)
    kind = ROLLBACK_PATCH if action == "rollback" else RESTART_PATCH
    before = world.kube.cluster.get("deployments", NAMESPACE, DEPLOYMENT)

    result = resume(world, "started, not seen finishing")

    shown = "v1.2.9" if action == "rollback" else "v1.3.0"
    if applied:
        what = "the switch" if action == "rollback" else "the action"
        assert f"already runs {shown}: {what} took effect" in result.stdout, result.stdout
        world.assert_only_lock_patches_besides(kind, 0)
        assert ro.template_of(world.deployment()) == ro.template_of(before)
    else:
        assert "still runs v1.3.0: planning" in result.stdout, result.stdout
        world.assert_only_lock_patches_besides(kind, 1)
        replanned = [e["plan"] for e in world.journal() if e["event"] == "plan"][-1]
        assert [s["op"] for s in replanned["steps"]][
            -1
        ] == f"k8s.{'undo' if action == 'rollback' else 'restart'}"
    if action == "rollback":
        assert world.image() == TARGET
        assert ro.annotations_of(world.deployment())[ro.REVISION] == "4"
    outcome = "rolled back and verified" if action == "rollback" else "restarted and verified"
    assert field(world.one_entry(), "Outcome") == outcome
    assert "Interrupted: the console stopped during step 2" in world.one_entry()
    assert LOCK_ANNOTATION not in ro.annotations_of(world.deployment())
    assert path.read_text().startswith('{"incident": "web-20260105T020000Z-0ld1"')
    world.assert_closed()
