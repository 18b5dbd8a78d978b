"""`rollback-console rollback` on an ECS service, end to end, against moto's AWS server.

The console runs as its own process (the installed CLI entry point's module)
with a config pointing at moto; the test process holds the moto server and
plays the parts moto does not (say so here, as each test does):

* ECS's scheduler (``AutoScheduler``): when the service asks for another task
  definition, the rollout is carried out on moto's in-process backend (new
  deployment, tasks replaced, COMPLETED).
* The load balancer's metrics (``ALB``): every 0.2 s the target group reports
  requests, 5xx and response time to CloudWatch; the bad release (web:3)
  answers 40% of requests with 5xx, the others none.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tomli_w

from tests.aws.moto_server import (
    CLUSTER,
    LOAD_BALANCER,
    REGION,
    SERVICE,
    TARGET_GROUP,
    AutoScheduler,
    World,
    aws_world,
    ecs_backend,
    key_of,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    yield from aws_world(monkeypatch, tmp_path)


class ALB:
    """The target group's CloudWatch metrics while the console watches them."""

    def __init__(self, world: World) -> None:
        self.world = world
        world.client("cloudwatch")  # made here: making clients is not thread-safe
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alb", daemon=True)

    def __enter__(self) -> ALB:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            # Stamped before looking at what serves, so a 5xx of the bad release can
            # never carry a time after the rollout finished.
            at = datetime.now(UTC)
            svc = ecs_backend().services.get(f"{CLUSTER}:{SERVICE}")
            serving = key_of(str(svc.deployments[0]["taskDefinition"])) if svc else ""
            errors = 40.0 if serving == "web:3" else 0.0
            self.world.put_alb_traffic(100.0, errors, latency_s=0.08, at=at)
            self._stop.wait(0.2)


def write_config(world: World, tmp_path: Path) -> Path:
    metric = {
        "namespace": "AWS/ApplicationELB",
        "dimensions": {"LoadBalancer": LOAD_BALANCER, "TargetGroup": TARGET_GROUP},
    }
    config = {
        "console": {
            "operator": "oncall",
            "history_file": str(tmp_path / "rollback-history.md"),
            "state_dir": str(tmp_path / "state"),
        },
        "services": [
            {
                "name": "web",
                "environment": "production",
                "provider": "ecs",
                "verify_window_s": 2,
                "ready_timeout_s": 60,
                "ecs": {
                    "cluster": CLUSTER,
                    "service": SERVICE,
                    "region": REGION,
                    "endpoint_url": world.url,
                    "container": "app",
                    "lock_ttl_s": 600,
                },
                "error_rate": {
                    "source": "cloudwatch",
                    "window_s": 60,
                    "interval_s": 1,
                    "expression": "errors / requests",
                    "metrics": [
                        {"id": "errors", "metric_name": "HTTPCode_Target_5XX_Count", **metric},
                        {"id": "requests", "metric_name": "RequestCount", **metric},
                        # moto cannot compute percentiles (GetMetricData with p95 answers
                        # HTTP 500), so latency here is the Maximum, as a config may say.
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
    path = tmp_path / "console.toml"
    path.write_text(tomli_w.dumps(config))
    return path


def console(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def test_headless_rollback_takes_the_service_back_and_records_it(
    aws: World, tmp_path: Path
) -> None:
    config = write_config(aws, tmp_path)
    with ALB(aws), AutoScheduler(aws.scheduler) as scheduler:
        aws.put_alb_traffic(100.0, 40.0)  # the last minute before the console starts
        done = console(config, "rollback", "web", "--yes", "--reason", "5xx after v1.3.0")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Traceback" not in out
    assert "Roll back web (production) from v1.3.0 to v1.2.9" in done.stdout
    assert "aws ecs update-service --cluster prod --service web --task-definition web:2" in out
    assert "outcome: rolled back and verified" in done.stdout

    assert aws.live_key() == "web:2"
    deployments = aws.service()["deployments"]
    assert [(d["taskDefinition"].rsplit("/", 1)[-1], d["rolloutState"]) for d in deployments] == [
        ("web:2", "COMPLETED")
    ]
    assert scheduler.rollouts == 1
    tags = aws.ecs.list_tags_for_resource(resourceArn=aws.service()["serviceArn"])["tags"]
    assert not [t for t in tags if t["key"].startswith("rollback-console:")]  # lock released

    history = (tmp_path / "rollback-history.md").read_text()
    assert "| Operator | oncall |" in history
    assert "| Reason | 5xx after v1.3.0 |" in history
    assert "| Outcome | rolled back and verified |" in history
    for line in history.splitlines():
        if line.startswith("| From |"):
            assert "v1.3.0" in line
        if line.startswith("| To |"):
            assert "v1.2.9" in line
    assert "platform lock taken by oncall" in history
    assert "web is stable: one deployment (web:2)" in history


def test_headless_unknown_revision_exits_2_and_a_held_lock_exits_3(
    aws: World, tmp_path: Path
) -> None:
    config = write_config(aws, tmp_path)
    aws.put_alb_traffic(100.0, 40.0)

    bad = console(config, "rollback", "web", "--to", "web:9", "--yes", "--reason", "x")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "revision 'web:9' not found" in bad.stderr or "web:9 not found" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr

    from providers.ecs import EcsProvider
    from tests.providers.test_ecs import config as service_config

    EcsProvider(service_config(aws)).acquire_lock("alice", "bastion-9", 900)
    held = console(config, "rollback", "web", "--yes", "--reason", "x")
    assert held.returncode == 3, held.stdout + held.stderr
    assert "locked by alice@bastion-9" in held.stderr
    assert aws.live_key() == "web:3"
