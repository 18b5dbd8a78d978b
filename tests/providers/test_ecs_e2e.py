"""`rollback-console rollback` on an ECS service, end to end, against moto's AWS server.

The console runs as its own process (the installed CLI entry point's module)
with a config pointing at moto; the test process holds the moto server and
plays the parts moto does not (say so here, as each test does):

* ECS's scheduler (``AutoScheduler``): when the service asks for another task
  definition, the rollout is carried out on moto's in-process backend (new
  deployment, tasks replaced, COMPLETED).
* The load balancer's metrics (``tests.aws.alb.ALB``): every 0.2 s the target
  group reports requests, 5xx and response time to CloudWatch; the bad release
  (web:3) answers 40% of requests with 5xx, the others none.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws.alb import ALB
from tests.aws.alb import write_config as write_alb_config
from tests.aws.moto_server import AutoScheduler, World, aws_world
from tests.console_cli import run_console as console

pytestmark = pytest.mark.e2e


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    yield from aws_world(monkeypatch, tmp_path)


def write_config(world: World, tmp_path: Path) -> Path:
    return write_alb_config(tmp_path, endpoint=world.url, verify_window_s=2, ready_timeout_s=60)


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
