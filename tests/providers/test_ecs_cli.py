"""The commands a plan shows are the commands an operator can type: the AWS CLI as the oracle.

For each route the console executes its plan on the known world; then the
world is built afresh on the same moto server and every ``aws ...`` command
the plan displayed is run, as shown, through the real ``aws`` CLI.  Both
runs must leave the same state.

Driven by hand in both runs, because moto has no ECS scheduler (see
``tests.aws.moto_server.EcsScheduler``): the rollout is settled before the
wait step, so ``aws ecs wait services-stable`` sees what ECS would show.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.model import Plan, StepKind
from tests.aws.moto_server import DB_INSTANCE, World, aws_world, reset
from tests.providers.test_ecs import drive, provider

AWS = shutil.which("aws")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    if AWS is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the `aws` CLI is required in CI to check the commands plans show")
        pytest.skip("the `aws` CLI is not installed: the shown commands cannot be checked")
    yield from aws_world(monkeypatch, tmp_path)


def run_aws(command: str) -> str:
    argv = shlex.split(command)
    assert argv[0] == "aws"
    done = subprocess.run(
        [str(AWS), *argv[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def state_of(world: World, before_deployment: str, plan: Plan) -> dict[str, Any]:
    """What a rollback changes, in terms that do not depend on generated ids or times."""
    svc = world.service()
    live = world.live_key()
    td = world.ecs.describe_task_definition(taskDefinition=live)["taskDefinition"]
    deployments = svc["deployments"]
    found: dict[str, Any] = {
        "live": live,
        "containers": td["containerDefinitions"],
        "role": td.get("executionRoleArn"),
        "revisions": sorted(
            a.rsplit("/", 1)[-1]
            for a in world.ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"]
        ),
        "deployments": [
            (d["status"], d["taskDefinition"].rsplit("/", 1)[-1], d["rolloutState"])
            for d in deployments
        ],
        "new deployment": deployments[0]["id"] != before_deployment,
    }
    if plan.action == "restore-rds-snapshot":
        new_id = plan.steps[1].params["instance"]
        instance = world.client("rds").describe_db_instances(DBInstanceIdentifier=new_id)
        db = instance["DBInstances"][0]
        found["restored"] = (
            db["DBInstanceIdentifier"],
            db["DBInstanceClass"],
            db["Engine"],
            [g["DBParameterGroupName"] for g in db["DBParameterGroups"]],
        )
        found["restored status"] = db["DBInstanceStatus"]
    return found


def make_plan(world: World, route: str) -> Plan:
    p = provider(world)
    if route == "previous":
        return p.plan(None)
    if route == "image":
        return p.plan_action("rollback-image", "v1.2.8")
    if route == "force":
        return p.plan_action("force-new-deployment", None)
    return p.plan_action("restore-rds-snapshot", "before-v1-3-0")


#: One after the other, as an incident might go: back one revision, then to an
#: older image, a forced redeploy, and a database restore beside the live one.
#: (A chosen revision is the same update-service command as "previous".)
ROUTES = ("previous", "image", "force", "restore")


def test_the_shown_aws_commands_do_what_the_console_did(aws: World) -> None:
    plans: list[Plan] = []
    by_console = []
    for route in ROUTES:
        before = aws.service()["deployments"][0]["id"]
        plan = make_plan(aws, route)
        drive(provider(aws), plan, aws)
        plans.append(plan)
        by_console.append(state_of(aws, before, plan))

    reset(aws.url)
    again = World(aws.url).build()
    by_cli = []
    for plan in plans:
        before = again.service()["deployments"][0]["id"]
        for step in plan.steps:
            assert step.command.startswith(("aws ecs ", "aws rds "))
            assert f"--endpoint-url {aws.url}" in step.command
            if step.kind is StepKind.WAIT and step.command.startswith("aws ecs wait"):
                again.scheduler.settle()  # ECS's scheduler, by hand (moto has none)
            run_aws(step.command)
        by_cli.append(state_of(again, before, plan))

    for route, console, cli in zip(ROUTES, by_console, by_cli, strict=True):
        assert cli == console, route
    assert [s["live"] for s in by_console] == ["web:2", "web:4", "web:4", "web:4"]
    assert all(s["deployments"][0][2] == "COMPLETED" for s in by_console)
    assert by_console[2]["new deployment"]
    assert by_console[3]["restored"][1:] == ("db.t3.medium", "postgres", ["appdb-params"])
    assert by_console[3]["restored status"] == "available"
    rds = again.client("rds").describe_db_instances(DBInstanceIdentifier=DB_INSTANCE)
    assert rds["DBInstances"][0]["DBInstanceStatus"] == "available"
