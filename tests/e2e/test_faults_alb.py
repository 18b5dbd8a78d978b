"""Blue/green at the load balancer and the CDN invalidation, end to end and with faults.

The console runs headless (``python -m console.cli``) as its own process with
a config naming an ``alb`` service with a ``[services.cdn]`` table, and
reaches moto's server through the proxy that knows AWS operations
(``tests.aws.faults``: ELBv2's query operations and CloudFront's REST ones),
which loses answers, answers 503s, runs a callback the moment moto answered
(to kill the console right then), and counts what reached moto: "never a
second switch, never a second invalidation" is counted at the wire.

Played by hand in the test process, because moto does not model them:

* the load balancer's CloudWatch metrics (``tests.aws.elb.AlbTraffic``): 100
  requests a tick split by the listener's weights, green's share with 40% 5xx;
* CloudFront's progress (``tests.aws.elb.CloudFrontProgress``): a new
  invalidation stays ``InProgress`` until the test completes it (moto
  completes it at once).

Where the listener forwards and which invalidations exist are read from moto
itself after each run.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from console.history import read_entries
from console.resume import open_incidents
from tests.aws.elb import AlbTraffic, CloudFrontProgress, ElbWorld, elb_world
from tests.aws.faults import AwsFaultProxy
from tests.aws.moto_server import REGION
from tests.console_cli import run_console, start_console
from tests.signals import FlipServer, failing, healthy

pytestmark = pytest.mark.e2e

REASON = "5xx after v1.3.0"
VERIFY_S = "2"
PATIENCE_S = 60.0


@dataclass
class Rig:
    elb: ElbWorld
    api: AwsFaultProxy
    progress: CloudFrontProgress
    health: FlipServer
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

    def rollback(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(
            "rollback", "web", "--yes", "--reason", REASON, "--verify-window", VERIFY_S, *args
        )

    def resume(self) -> subprocess.CompletedProcess[str]:
        return self.run("resume", "web", "--yes", "--verify-window", VERIFY_S)

    def one_entry(self) -> str:
        entries = read_entries(self.history)
        assert len(entries) == 1, [e.id for e in entries]
        return self.history.read_text()

    def complete_after(self, polls: int) -> None:
        """Complete the invalidation once the console has asked for it ``polls`` times."""
        seen = iter(range(1, 1000))

        def maybe() -> None:
            if next(seen) >= polls:
                self.progress.complete()

        self.api.after("GetInvalidation", maybe, count=None)


def write_config(
    root: Path, elb: ElbWorld, endpoint: str, health_url: str, *, gate_s: float = 1.0
) -> Path:
    """``root/console.toml``: ``web`` on the listener, the CDN in front, the error rate
    from the load balancer's CloudWatch metrics.

    Not the source's default for an alb service (every target group's errors over
    requests, latency the load balancer's p95, ``tests/providers/test_alb.py``):
    moto cannot compute a p95, and a verification needs latency data.
    """
    metric = {
        "namespace": "AWS/ApplicationELB",
        "dimensions": {"LoadBalancer": elb.load_balancer_arn.split(":loadbalancer/", 1)[1]},
    }
    config = {
        "console": {
            "operator": "oncall",
            "history_file": str(root / "rollback-history.md"),
            "state_dir": str(root / "state"),
        },
        "services": [
            {
                "name": "web",
                "environment": "production",
                "provider": "alb",
                "verify_window_s": 2,
                "ready_timeout_s": 30,
                "health": [{"url": health_url, "timeout_s": 1}],
                "alb": {
                    "listener_arn": elb.listener_arn,
                    "endpoint_url": endpoint,
                    "target_groups": [{"name": n, "arn": a} for n, a in elb.groups.items()],
                    "gradual_steps": [50, 100],
                    "gate_s": gate_s,
                },
                "cdn": {
                    "distribution_id": elb.distribution_id,
                    "paths": ["/*", "/index.html"],
                    "endpoint_url": endpoint,
                    "timeout_s": 30,
                },
                "error_rate": {
                    "source": "cloudwatch",
                    "interval_s": 1,
                    "window_s": 60,
                    "expression": "errors / requests",
                    "metrics": [
                        {"id": "errors", "metric_name": "HTTPCode_Target_5XX_Count", **metric},
                        {"id": "requests", "metric_name": "RequestCount", **metric},
                        # moto cannot compute percentiles (p95 answers HTTP 500): the
                        # Maximum, as a config may say.
                        {
                            "id": "latency",
                            "metric_name": "TargetResponseTime",
                            "stat": "Maximum",
                            **metric,
                        },
                    ],
                },
            }
        ],
    }
    path = root / "console.toml"
    path.write_text(tomli_w.dumps(config))
    return path


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Rig]:
    world = next(elb_world(monkeypatch, tmp_path))
    progress = CloudFrontProgress(monkeypatch)
    health = FlipServer(healthy)
    try:
        with AwsFaultProxy(world.url) as api, AlbTraffic(world) as traffic:
            traffic.tick()  # the last moments before the console starts
            config = write_config(tmp_path, world, api.url, health.url)
            yield Rig(world, api, progress, health, tmp_path, config)
    finally:
        health.close()


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def ours(invalidation: dict[str, Any]) -> bool:
    return str(invalidation["InvalidationBatch"]["CallerReference"]).startswith(
        "rollback-console-web-"
    )


# --------------------------------------------------------------------------- the done criteria


def test_rollback_moves_the_listener_back_to_blue_then_invalidates_and_waits(rig: Rig) -> None:
    rig.complete_after(2)

    done = rig.rollback()

    out = output(done)
    assert done.returncode == 0, out
    assert "Traceback" not in out
    assert "Roll back web (production) from v1.3.0 to v1.2.9" in done.stdout
    assert f"aws elbv2 modify-listener --listener-arn {rig.elb.listener_arn}" in out
    assert f"aws cloudfront create-invalidation --distribution-id {rig.elb.distribution_id}" in out
    assert "outcome: rolled back and verified" in done.stdout
    # Read from moto: the listener forwards to blue, green stays attached at 0.
    assert rig.elb.forwarded() == {"blue": 100, "green": 0}
    [invalidation] = rig.elb.invalidations()
    assert ours(invalidation)
    assert invalidation["Status"] == "Completed"
    assert invalidation["InvalidationBatch"]["Paths"]["Items"] == ["/*", "/index.html"]
    assert rig.api.forwarded("ModifyListener") == 1
    assert rig.api.forwarded("CreateInvalidation") == 1
    # It waited: InProgress answered twice before the third look saw Completed.
    assert rig.api.forwarded("GetInvalidation") >= 3
    history = rig.one_entry()
    assert f"CDN invalidation {invalidation['Id']} of CloudFront {rig.elb.distribution_id}" in (
        history
    )
    assert "Completed" in history
    assert open_incidents(rig.state_dir) == []


def test_gradual_switch_through_the_cli_ends_on_blue(rig: Rig) -> None:
    rig.complete_after(1)

    done = rig.run(
        "action", "web", "gradual", "--arg", "blue", "--yes", "--reason", REASON,
        "--verify-window", VERIFY_S,
    )  # fmt: skip

    assert done.returncode == 0, output(done)
    assert "gate 1 passed at 50%" in done.stdout
    assert rig.elb.forwarded() == {"blue": 100, "green": 0}
    assert rig.api.forwarded("ModifyListener") == 2
    assert len(rig.elb.invalidations()) == 1


def test_gradual_switch_whose_gate_fails_goes_back_to_green(rig: Rig) -> None:
    rig.health.behave = failing  # blue's first share makes the health check fail

    done = rig.run(
        "action", "web", "gradual", "--arg", "blue", "--yes", "--reason", REASON,
        "--verify-window", VERIFY_S,
    )  # fmt: skip

    out = output(done)
    assert done.returncode == 1, out
    assert "Traceback" not in out
    assert "gate 1 at 50% failed: health failed" in out
    assert "the weights were put back: green 100%" in out
    assert rig.elb.forwarded() == {"green": 1}  # exactly as it was
    assert rig.api.forwarded("ModifyListener") == 2  # 50%, and back
    assert rig.elb.invalidations() == []  # the plan stopped before the invalidation


# --------------------------------------------------------------------------- lost answers


def test_a_lost_create_invalidation_answer_is_read_back_never_a_second(rig: Rig) -> None:
    rig.progress.complete()  # (nothing in progress yet)
    rig.api.lose_answer("CreateInvalidation", count=1)
    rig.complete_after(1)

    done = rig.rollback()

    out = output(done)
    assert done.returncode == 0, out
    assert "no answer to cloudfront:CreateInvalidation" in out
    assert "it is used, not created again" in out
    assert rig.api.forwarded("CreateInvalidation") == 1
    [invalidation] = rig.elb.invalidations()
    assert ours(invalidation) and invalidation["Status"] == "Completed"


def test_a_lost_switch_with_an_unreadable_listener_is_left_open_and_resumed_once(
    rig: Rig,
) -> None:
    rig.api.lose_answer("ModifyListener", count=1)
    unreadable = rig.api.fail("DescribeListeners", "ServiceUnavailable", status=503, count=0)
    rig.api.after("ModifyListener", lambda: setattr(unreadable, "count", None))

    done = rig.rollback()

    out = output(done)
    assert done.returncode == 1, out
    assert "rollback interrupted: " in done.stderr
    assert "whether the change was applied is not known" in out
    assert not rig.history.exists()
    assert rig.elb.forwarded() == {"blue": 100, "green": 0}  # it did land
    assert rig.elb.invalidations() == []
    (_pending,) = open_incidents(rig.state_dir)

    rig.api.clear()
    rig.complete_after(1)
    resumed = rig.resume()

    assert resumed.returncode == 0, output(resumed)
    assert "the switch took effect" in resumed.stdout
    assert rig.api.forwarded("ModifyListener") == 1, "resume sent the switch again"
    assert rig.api.forwarded("CreateInvalidation") == 1
    assert len(rig.elb.invalidations()) == 1
    assert "not known whether the change took effect" in rig.one_entry()


def test_killed_as_the_invalidation_was_created_resumes_without_a_second(rig: Rig) -> None:
    """CloudFront created the invalidation; the console died before it read the answer.
    Resume runs the step again, finds the invalidation by its caller reference and waits
    for that one."""
    procs: list[subprocess.Popen[str]] = []
    rig.api.after("CreateInvalidation", lambda: os.kill(procs[0].pid, signal.SIGKILL))
    proc = start_console(rig.config, "rollback", "web", "--yes", "--reason", REASON)
    procs.append(proc)
    try:
        out, err = proc.communicate(timeout=PATIENCE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, out + err
    [invalidation] = rig.elb.invalidations()
    assert invalidation["Status"] == "InProgress"

    rig.complete_after(1)
    resumed = rig.resume()

    assert resumed.returncode == 0, output(resumed)
    assert "exists already (InProgress): not creating another" in resumed.stdout
    assert rig.api.forwarded("CreateInvalidation") == 1
    assert rig.api.forwarded("ModifyListener") == 1
    [after] = rig.elb.invalidations()
    assert after["Id"] == invalidation["Id"] and after["Status"] == "Completed"
    assert f"CDN invalidation {invalidation['Id']}" in rig.one_entry()


def test_bad_alb_and_cdn_config_is_one_line_naming_the_key(rig: Rig) -> None:
    text = rig.config.read_text()
    cases = {
        "listener_arn": text.replace(
            rig.elb.listener_arn, rig.elb.groups["blue"]
        ),  # a target group's ARN pasted in the wrong key
        "distribution_id": text.replace(rig.elb.distribution_id, "e2-lower"),
        "region": text.replace("[services.alb]", '[services.alb]\nregion = "us-east-1"'),
    }
    for key, edited in cases.items():
        rig.config.write_text(edited)
        done = rig.run("check-config")
        assert done.returncode == 2, (key, output(done))
        [line] = done.stderr.strip().splitlines()
        assert f".{key}:" in line and "Traceback" not in line, line
    assert REGION in rig.elb.listener_arn
