"""The ECS provider against moto's AWS server (real HTTP, real boto3, no patched calls).

The world (``tests.aws.moto_server.World``): cluster ``prod``, service ``web``
on ``web:3`` (image tag v1.3.0, the bad release) after ``web:2`` (v1.2.9) and
``web:1`` (v1.2.8), an ECR repository with the three tags, an RDS instance
with a manual and an automated snapshot.

Driven by hand, because moto does not model it (see ``EcsScheduler``):
ECS's scheduler.  After ``update-service`` moto leaves the old deployment
PRIMARY and IN_PROGRESS with no task starting; ``drive()`` below does what ECS
does: right after the update a new PRIMARY deployment appears (ECS creates it
inside UpdateService), and when the console starts waiting the scheduler
finishes the rollout (new tasks RUNNING, old ones STOPPED, COMPLETED).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from console.config import EcsConfig, ServiceConfig
from console.model import Plan, ProgressEvent, ProgressStatus, StepKind
from providers.base import (
    Conflict,
    Forbidden,
    InvalidTarget,
    LockHeld,
    NotFound,
    ProviderError,
    SupportsActions,
    SupportsLogs,
    SupportsRemoteLock,
    Unavailable,
)
from providers.ecs import LOCK_EXPIRES, LOCK_HOLDER, LOCK_ID, EcsProvider, ImageRef, td_key
from tests.aws.faults import AwsFaultProxy
from tests.aws.moto_server import (
    ACCOUNT,
    CLUSTER,
    DB_INSTANCE,
    REGION,
    SERVICE,
    World,
    aws_world,
)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    yield from aws_world(monkeypatch, tmp_path)


def config(world: World, url: str = "", ready_timeout_s: float = 5.0, **ecs: Any) -> ServiceConfig:
    fields: dict[str, Any] = {
        "cluster": CLUSTER,
        "service": SERVICE,
        "region": REGION,
        "endpoint_url": url or world.url,
        "container": "app",
        "rds_instance": DB_INSTANCE,
    }
    fields.update(ecs)
    return ServiceConfig(
        name="web",
        environment="production",
        provider="ecs",
        ready_timeout_s=ready_timeout_s,
        ecs=EcsConfig(**fields),
    )


def provider(world: World, url: str = "", ready_timeout_s: float = 5.0, **ecs: Any) -> EcsProvider:
    made = EcsProvider(config(world, url, ready_timeout_s, **ecs))
    made.poll_interval_s = 0.05
    return made


def drive(p: EcsProvider, plan: Plan, world: World, *, settle: bool = True) -> list[ProgressEvent]:
    """Execute ``plan``, playing ECS's scheduler by hand (see the module doc)."""
    events = []
    for event in p.execute(plan):
        events.append(event)
        step = plan.steps[event.step]
        if event.status is ProgressStatus.FINISHED and step.kind in (
            StepKind.SWITCH,
            StepKind.RESTART,
        ):
            world.scheduler.begin()  # ECS creates the new deployment inside UpdateService
        if event.status is ProgressStatus.OUTPUT and step.kind is StepKind.WAIT and settle:
            world.scheduler.settle()  # ... and its scheduler finishes it later
    return events


def one_line(err: BaseException) -> str:
    text = str(err)
    assert text and "\n" not in text and "Traceback" not in text, text
    return text


def described(world: World, key: str) -> dict[str, Any]:
    found: dict[str, Any] = world.ecs.describe_task_definition(taskDefinition=key)["taskDefinition"]
    return found


# --------------------------------------------------------------------------- snapshot


def test_snapshot_reads_task_definition_deployments_revisions_tasks_ecr_and_rds(
    aws: World,
) -> None:
    # Another family sharing the prefix must not show up among web's revisions, and
    # list order must not matter (moto ignores sort=DESC).
    aws.ecs.register_task_definition(
        family="web-worker", containerDefinitions=[{"name": "w", "image": "w:1", "memory": 64}]
    )
    snap = provider(aws).snapshot()

    assert snap.provider == "ecs" and snap.service == "web"
    assert snap.current is not None
    assert (snap.current.id, snap.current.version) == ("web:3", "v1.3.0")
    assert snap.current.image == aws.image("v1.3.0")
    assert [(r.id, r.version, r.current) for r in snap.revisions] == [
        ("web:3", "v1.3.0", True),
        ("web:2", "v1.2.9", False),
        ("web:1", "v1.2.8", False),
    ]
    assert all(r.created is not None for r in snap.revisions)
    assert "log-router" in snap.revisions[0].detail
    assert snap.previous() is not None and snap.previous().id == "web:2"  # type: ignore[union-attr]

    running = [u for u in snap.units if u.state == "RUNNING"]
    stopped = [u for u in snap.units if u.state == "STOPPED"]
    assert len(running) == 2 and all(u.ready and u.revision == "web:3" for u in running)
    assert all(u.started is not None for u in running)
    assert len(stopped) == 1 and not stopped[0].ready
    assert stopped[0].detail == "Essential container in task exited"

    facts = dict(snap.facts)
    deployment = [v for k, v in snap.facts if k.startswith("deployment PRIMARY")]
    assert len(deployment) == 1
    assert deployment[0].startswith("web:3 COMPLETED: 2/2 running, 0 pending, 0 failed")
    assert facts["circuit breaker"].startswith("on, rolls back")
    assert facts["deployment limits"] == "min healthy 100%, max 200%"
    assert facts["container app"] == aws.image("v1.3.0")
    assert "v1.3.0" in facts["ECR tags of web"] and "v1.2.8" in facts["ECR tags of web"]
    assert facts[f"RDS snapshots of {DB_INSTANCE}"].startswith("2, newest")
    # The same snapshots, newest first, as the dashboard's restore-points panel lists them.
    assert snap.restore_source == f"RDS {DB_INSTANCE}" and not snap.restore_error
    assert [p.id for p in snap.restore_points] == [s.id for s in provider(aws).rds_snapshots()]
    assert len(snap.restore_points) == 2 and snap.restore_points[0].status == "available"
    assert snap.events and snap.events[0].message.endswith("has reached a steady state.")


def test_snapshot_reads_the_short_and_the_arn_form_of_the_task_definition(aws: World) -> None:
    aws.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition="web:2")
    assert aws.service()["taskDefinition"] == "web:2"  # moto stores it as given
    p = provider(aws)
    assert p.snapshot().current.id == "web:2"  # type: ignore[union-attr]
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:1"
    aws.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=arn)
    assert aws.service()["taskDefinition"] == arn
    assert p.snapshot().current.id == "web:1"  # type: ignore[union-attr]


def test_ecr_tags_are_offered_for_an_image_rollback(aws: World) -> None:
    p = provider(aws)
    tags = [t.tag for t in p.image_tags()]
    assert sorted(tags) == ["v1.2.8", "v1.2.9", "v1.3.0"]
    assert all(t.pushed is not None for t in p.image_tags())
    actions = {a.id: a for a in p.actions()}
    assert isinstance(p, SupportsActions) and isinstance(p, SupportsRemoteLock)
    assert isinstance(p, SupportsLogs)
    image = actions["rollback-image"]
    assert image.argument == "image"
    assert sorted(image.choices) == ["v1.2.8", "v1.2.9"]  # not the live tag
    assert actions["force-new-deployment"].argument == ""
    assert actions["restore-rds-snapshot"].dangerous


def test_image_references_are_split_like_docker_does() -> None:
    ref = ImageRef.parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web:v1.2.9")
    assert (ref.repository, ref.tag) == (
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web",
        "v1.2.9",
    )
    assert ref.ecr() == ("123456789012", "eu-west-1", "team/web")
    assert ImageRef.parse("registry:5000/web").tag == ""
    assert ImageRef.parse("registry:5000/web").ecr() is None
    digest = ImageRef.parse("nginx@sha256:" + "a" * 64)
    assert (digest.repository, digest.label) == ("nginx", "a" * 12)
    assert td_key("arn:aws:ecs:eu-west-1:1:task-definition/web:12") == "web:12"
    assert td_key("web:3") == "web:3" and td_key("web") == ""


def test_a_task_s_last_log_lines_come_from_its_awslogs_stream(aws: World) -> None:
    p = provider(aws)
    task = next(u for u in p.snapshot().units if u.state == "RUNNING")
    logs = aws.client("logs")
    logs.create_log_group(logGroupName="/ecs/web")
    stream = f"web/app/{task.name}"  # what ECS's awslogs driver names it
    logs.create_log_stream(logGroupName="/ecs/web", logStreamName=stream)
    now = int(datetime.now(UTC).timestamp() * 1000)
    logs.put_log_events(
        logGroupName="/ecs/web",
        logStreamName=stream,
        logEvents=[{"timestamp": now + i, "message": f"line {i}"} for i in range(60)],
    )
    assert p.logs(task.name, 3) == ("line 57", "line 58", "line 59")
    assert len(p.logs(task.name)) == 50
    stopped = next(u for u in p.snapshot().units if u.state == "STOPPED")
    with pytest.raises(NotFound, match=f"log stream web/app/{stopped.name} not found"):
        p.logs(stopped.name)


# --------------------------------------------------------------------------- rollbacks


def test_rollback_to_the_previous_revision(aws: World) -> None:
    p = provider(aws)
    plan = p.plan(None)
    assert plan.summary == "Roll back web (production) from v1.3.0 to v1.2.9"
    assert plan.to_revision.id == "web:2"
    assert [s.kind for s in plan.steps] == [StepKind.SWITCH, StepKind.WAIT]
    assert plan.steps[0].command == (
        f"aws ecs update-service --cluster prod --service web --task-definition web:2 "
        f"--region eu-west-1 --endpoint-url {aws.url}"
    )
    assert plan.steps[1].command.startswith("aws ecs wait services-stable --cluster prod")
    assert any("circuit breaker" in w for w in plan.warnings)

    events = drive(p, plan, aws)

    assert aws.live_key() == "web:2"
    progress = [e.message for e in events if e.status is ProgressStatus.OUTPUT]
    assert progress and "2 deployment(s)" in progress[0] and "IN_PROGRESS" in progress[0]
    assert events[-1].status is ProgressStatus.FINISHED
    assert events[-1].message.startswith("web is stable: one deployment (web:2), 2 of 2")
    ready = p.wait_ready(plan, 5)
    assert ready.ready, ready.message
    snap = p.snapshot()
    assert snap.current is not None and snap.current.id == "web:2"
    running = [u for u in snap.units if u.state == "RUNNING"]
    assert [u.revision for u in running] == ["web:2", "web:2"]
    assert [u.state for u in snap.units] == ["RUNNING", "RUNNING"]  # web:3's tasks are gone
    assert any(
        n.startswith("3 task(s) of earlier revisions stopped recently (newest: web:3, Scaling")
        for n in snap.notes
    ), snap.notes


def test_a_chosen_revision_may_be_given_in_every_form(aws: World) -> None:
    p = provider(aws)
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:1"
    for target in ("web:1", "1", arn, "v1.2.8"):
        plan = p.plan(target)
        assert plan.to_revision.id == "web:1" and plan.to_revision.version == "v1.2.8", target
        assert "--task-definition web:1 " in plan.steps[0].command


def test_rollback_to_a_chosen_revision(aws: World) -> None:
    p = provider(aws)
    plan = p.plan("web:1")
    drive(p, plan, aws)
    assert aws.live_key() == "web:1"
    assert p.wait_ready(plan, 5).ready


def test_image_rollback_registers_a_copy_with_only_that_image_changed(aws: World) -> None:
    p = provider(aws)
    plan = p.plan_action("rollback-image", "v1.2.8")
    assert (plan.action, plan.argument) == ("rollback-image", "v1.2.8")
    assert plan.to_revision.id == "web:4" and plan.to_revision.version == "v1.2.8"
    assert [s.kind for s in plan.steps] == [StepKind.COMMAND, StepKind.SWITCH, StepKind.WAIT]
    assert plan.steps[0].command.startswith("aws ecs register-task-definition --cli-input-json ")
    assert "--task-definition web:4 " in plan.steps[1].command

    events = drive(p, plan, aws)

    assert [e.message for e in events if e.step == 0][-1] == "registered web:4 (v1.2.8)"
    assert aws.live_key() == "web:4"
    old, new = described(aws, "web:3"), described(aws, "web:4")
    assert new["containerDefinitions"][0]["image"] == aws.image("v1.2.8")
    for field in ("revision", "taskDefinitionArn", "registeredAt", "containerDefinitions"):
        old.pop(field, None)
        new.pop(field, None)
    assert new == old  # family, roles, network mode, volumes... all copied
    old_app, new_app = (
        described(aws, "web:3")["containerDefinitions"],
        described(aws, "web:4")["containerDefinitions"],
    )
    assert new_app[1] == old_app[1]  # the log router keeps its image
    tags = aws.ecs.describe_task_definition(taskDefinition="web:4", include=["TAGS"])["tags"]
    assert tags == [{"key": "team", "value": "payments"}]
    assert dict(new_app[0], image="x") == dict(old_app[0], image="x")
    assert p.wait_ready(plan, 5).ready


def test_image_rollback_reuses_a_revision_that_already_is_that_copy(aws: World) -> None:
    p = provider(aws)
    drive(p, p.plan_action("rollback-image", "v1.2.8"), aws)
    assert aws.live_key() == "web:4"
    # Back to v1.3.0: a copy of web:4 with v1.3.0 is exactly web:3, so nothing is registered.
    plan = p.plan_action("rollback-image", "v1.3.0")
    assert plan.to_revision.id == "web:3"
    assert any("reused" in w for w in plan.warnings)
    assert [s.kind for s in plan.steps] == [StepKind.SWITCH, StepKind.WAIT]
    drive(p, plan, aws)
    assert aws.live_key() == "web:3"
    arns = aws.ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"]
    assert len([a for a in arns if "/web:" in a]) == 4


def test_force_new_deployment_replaces_every_task(aws: World) -> None:
    p = provider(aws)
    before = aws.service()["deployments"][0]["id"]
    old_tasks = {t.task_arn for t in aws.scheduler.tasks() if t.last_status == "RUNNING"}
    plan = p.plan_action("force-new-deployment", None)
    assert plan.from_revision == plan.to_revision
    assert plan.summary == "force-new-deployment on web (production), now at v1.3.0"
    assert "--force-new-deployment" in plan.steps[0].command

    events = drive(p, plan, aws)

    assert "deployment" in events[1].message and events[-1].status is ProgressStatus.FINISHED
    deployments = aws.service()["deployments"]
    assert len(deployments) == 1 and deployments[0]["id"] != before
    assert aws.live_key() == "web:3"
    now_running = {t.task_arn for t in aws.scheduler.tasks() if t.last_status == "RUNNING"}
    assert len(now_running) == 2 and not now_running & old_tasks
    assert p.wait_ready(plan, 5).ready


def test_dry_run_shows_the_commands_and_changes_nothing(aws: World) -> None:
    p = provider(aws)
    plan = p.plan(None, dry_run=True)
    image = p.plan_action("rollback-image", "v1.2.9", dry_run=True)
    assert plan.dry_run and image.dry_run
    assert all(s.command.startswith("aws ecs ") for s in plan.steps + image.steps)
    with pytest.raises(InvalidTarget):
        list(p.execute(plan))
    assert aws.live_key() == "web:3"
    assert len(aws.ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"]) == 3


# --------------------------------------------------------------------------- waiting


def test_a_rollout_that_does_not_settle_is_reported_as_such(aws: World) -> None:
    p = provider(aws, ready_timeout_s=0.3)
    plan = p.plan(None)
    events = drive(p, plan, aws, settle=False)  # the new tasks never come up
    last = events[-1]
    assert last.status is ProgressStatus.SKIPPED
    assert "not settled" in last.message and "IN_PROGRESS" in last.message
    result = p.wait_ready(plan, 0.3)
    assert not result.ready
    assert result.message.startswith("not settled within 0 s") or "not settled within" in (
        result.message
    )
    assert "0/2 running" in result.message
    # A console started afresh (a resumed incident) waits its own full time, same verdict.
    again = provider(aws).wait_ready(plan, 0.2)
    assert not again.ready and "not settled within" in again.message


def test_moto_alone_never_starts_the_deployment_and_the_wait_says_so(aws: World) -> None:
    p = provider(aws, ready_timeout_s=0.2)
    plan = p.plan(None)
    events = list(p.execute(plan))  # no scheduler at all: moto's behaviour
    assert "ECS has not reported the new deployment yet" in events[1].message
    result = p.wait_ready(plan, 0.2)
    assert not result.ready
    assert "has not started its deployment yet" in result.message


def test_the_circuit_breaker_rolling_back_is_a_failed_rollback(aws: World) -> None:
    p = provider(aws)
    plan = p.plan(None)
    seen: list[ProgressEvent] = []
    with pytest.raises(ProviderError) as err:
        for event in p.execute(plan):
            seen.append(event)
            if event.status is ProgressStatus.FINISHED and event.step == 0:
                aws.scheduler.fail_and_roll_back("web:3")
    message = one_line(err.value)
    assert "now runs web:3, not web:2" in message and "circuit breaker" in message
    assert seen[-1].status is ProgressStatus.FAILED
    result = p.wait_ready(plan, 1)
    assert not result.ready and "not web:2" in result.message


def test_a_failed_rollout_state_ends_the_wait(aws: World) -> None:
    p = provider(aws)
    plan = p.plan(None)
    with pytest.raises(ProviderError, match="FAILED: ECS deployment circuit breaker"):
        for event in p.execute(plan):
            if event.status is ProgressStatus.FINISHED and event.step == 0:
                aws.scheduler.begin()
                aws.scheduler.mark_failed("ECS deployment circuit breaker: tasks failed to start.")
    assert not p.wait_ready(plan, 1).ready


def test_a_change_between_plan_and_execute_is_a_conflict(aws: World) -> None:
    p = provider(aws)
    plan = p.plan(None)
    aws.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition="web:1")
    with pytest.raises(Conflict, match="runs web:1, the plan started from web:3"):
        list(p.execute(plan))
    assert aws.live_key() == "web:1"


# --------------------------------------------------------------------------- RDS


def test_rds_snapshots_are_listed_newest_first(aws: World) -> None:
    snaps = provider(aws).rds_snapshots()
    assert {s.kind for s in snaps} == {"manual", "automated"}
    assert "before-v1-3-0" in [s.id for s in snaps]
    created = [s.created for s in snaps]
    assert all(c is not None for c in created)
    assert created == sorted(created, reverse=True)  # type: ignore[type-var]
    assert all(s.status == "available" and s.instance == DB_INSTANCE for s in snaps)


def test_restore_rds_snapshot_to_a_new_instance_with_the_manual_steps(aws: World) -> None:
    p = provider(aws)
    rds = aws.client("rds")
    live_before = rds.describe_db_instances(DBInstanceIdentifier=DB_INSTANCE)["DBInstances"][0]
    plan = p.plan_action("restore-rds-snapshot", "before-v1-3-0")
    new_id = plan.steps[1].params["instance"]
    assert new_id.startswith("appdb-restored-")
    assert plan.steps[0].command.startswith(
        f"aws rds restore-db-instance-from-db-snapshot --db-instance-identifier {new_id} "
        "--db-snapshot-identifier before-v1-3-0 --db-instance-class db.t3.medium"
    )
    assert plan.steps[1].kind is StepKind.WAIT
    warnings = " ".join(plan.warnings)
    assert "manual step 1" in warnings and "secret" in warnings
    assert "force-new-deployment" in warnings and "not in" in warnings

    events = list(p.execute(plan))

    restored = rds.describe_db_instances(DBInstanceIdentifier=new_id)["DBInstances"][0]
    assert restored["DBInstanceClass"] == "db.t3.medium"
    assert [g["DBParameterGroupName"] for g in restored["DBParameterGroups"]] == ["appdb-params"]
    assert restored["DBInstanceStatus"] == "available"
    output = [e.message for e in events if e.status is ProgressStatus.OUTPUT]
    endpoint = restored["Endpoint"]["Address"]
    assert any(endpoint in line and "secret" in line for line in output)
    assert any("force a new deployment" in line for line in output)
    ready = p.wait_ready(plan, 5)
    assert ready.ready and endpoint in ready.message
    live_after = rds.describe_db_instances(DBInstanceIdentifier=DB_INSTANCE)["DBInstances"][0]
    assert live_after["Endpoint"] == live_before["Endpoint"]  # the live instance is untouched

    # Planning the same restore again (a resumed incident) does not restore twice.
    again = p.plan_action("restore-rds-snapshot", "before-v1-3-0")
    assert "already exists" in again.steps[0].title
    statuses = [e.status for e in p.execute(again) if e.step == 0]
    assert ProgressStatus.SKIPPED in statuses


def test_restore_of_an_unknown_snapshot_names_the_known_ones(aws: World) -> None:
    with pytest.raises(NotFound) as err:
        provider(aws).plan_action("restore-rds-snapshot", "nope")
    assert "before-v1-3-0" in one_line(err.value) and err.value.exit_code == 2


def test_an_unknown_rds_instance_is_named_and_does_not_break_the_snapshot(aws: World) -> None:
    p = provider(aws, rds_instance="nope")
    with pytest.raises(NotFound, match="RDS instance 'nope' not found"):
        p.rds_snapshots()
    snap = p.snapshot()
    assert any(n.startswith("RDS snapshots not read: RDS instance 'nope'") for n in snap.notes)
    assert snap.restore_points == () and "RDS instance 'nope'" in snap.restore_error


# --------------------------------------------------------------------------- lock


def lock_tags(world: World) -> dict[str, str]:
    arn = world.service()["serviceArn"]
    tags = world.ecs.list_tags_for_resource(resourceArn=arn)["tags"]
    return {t["key"]: t["value"] for t in tags if t["key"].startswith("rollback-console:")}


def test_the_service_tag_lock_keeps_another_console_out(aws: World) -> None:
    alice, bob = provider(aws), provider(aws)
    assert alice.acquire_lock("alice", "bastion-1", 900) == ""
    tags = lock_tags(aws)
    assert tags[LOCK_HOLDER] == "alice@bastion-1" and len(tags[LOCK_ID]) == 16
    expires = datetime.strptime(tags[LOCK_EXPIRES], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)

    with pytest.raises(LockHeld) as err:
        bob.acquire_lock("bob", "bastion-2", 900)
    assert "locked by alice@bastion-1" in one_line(err.value) and err.value.exit_code == 3
    plan = bob.plan(None)
    with pytest.raises(LockHeld):
        list(bob.execute(plan))
    assert aws.live_key() == "web:3"

    drive(alice, alice.plan(None), aws)  # the holder may go ahead
    assert aws.live_key() == "web:2"
    bob.release_lock("bob", "bastion-2")  # not his: nothing happens
    assert lock_tags(aws)[LOCK_HOLDER] == "alice@bastion-1"
    alice.release_lock("alice", "bastion-1")
    assert lock_tags(aws) == {}
    assert bob.acquire_lock("bob", "bastion-2", 900) == ""


def test_an_expired_lock_is_taken_over_with_a_warning(aws: World) -> None:
    # A console that crashed an hour ago left its lock behind.
    arn = aws.service()["serviceArn"]
    expired = (datetime.now(UTC) - timedelta(minutes=45)).strftime("%Y-%m-%dT%H:%M:%SZ")
    aws.ecs.tag_resource(
        resourceArn=arn,
        tags=[
            {"key": LOCK_HOLDER, "value": "carol@bastion-3"},
            {"key": LOCK_EXPIRES, "value": expired},
            {"key": LOCK_ID, "value": "0123456789abcdef"},
        ],
    )
    warning = provider(aws).acquire_lock("bob", "bastion-2", 900)
    assert warning.startswith("took over the platform lock of carol@bastion-3 (expired")
    assert lock_tags(aws)[LOCK_HOLDER] == "bob@bastion-2"


def test_the_same_operator_on_the_same_host_takes_their_lock_back(aws: World) -> None:
    provider(aws).acquire_lock("alice", "bastion-1", 900)
    warning = provider(aws).acquire_lock("alice", "bastion-1", 900)  # after a crash
    assert "took back" in warning


# --------------------------------------------------------------------------- bad input


def test_unknown_cluster(aws: World) -> None:
    with pytest.raises(NotFound) as err:
        provider(aws, cluster="staging").snapshot()
    assert one_line(err.value).startswith("ECS cluster 'staging' not found in eu-west-1")
    assert err.value.exit_code == 2


def test_unknown_service(aws: World) -> None:
    with pytest.raises(NotFound) as err:
        provider(aws, service="api").snapshot()
    assert one_line(err.value).startswith("ECS service 'api' not found in cluster 'prod'")


def test_unknown_revision(aws: World) -> None:
    p = provider(aws)
    for target in ("web:9", "9", "v9.9.9"):
        with pytest.raises(NotFound) as err:
            p.plan(target)
        message = one_line(err.value)
        assert "not found" in message and "web:2 (v1.2.9)" in message, message


def test_the_live_revision_is_not_a_target(aws: World) -> None:
    with pytest.raises(InvalidTarget, match="web:3 is already the task definition"):
        provider(aws).plan("web:3")


def test_a_deregistered_revision_cannot_be_deployed(aws: World) -> None:
    aws.ecs.deregister_task_definition(taskDefinition="web:1")
    with pytest.raises(InvalidTarget, match="web:1 is INACTIVE"):
        provider(aws).plan("web:1")


def test_unknown_image_tag_lists_the_recent_ones(aws: World) -> None:
    with pytest.raises(NotFound) as err:
        provider(aws).plan_action("rollback-image", "v9.9.9")
    message = one_line(err.value)
    assert message.startswith("image tag 'v9.9.9' not found in ECR repository web")
    assert "v1.2.9" in message


def test_bad_or_live_image_tag(aws: World) -> None:
    p = provider(aws)
    for tag, says in (
        ("", "needs the image tag"),
        ("../etc", "not an image tag"),
        ("v1.3.0", "already runs"),
    ):
        with pytest.raises(InvalidTarget, match=says):
            p.plan_action("rollback-image", tag)


def test_unknown_action(aws: World) -> None:
    with pytest.raises(NotFound, match="unknown action 'restart'"):
        provider(aws).plan_action("restart", None)


def test_access_denied_is_one_clear_line(aws: World) -> None:
    denied = (
        f"User: arn:aws:iam::{ACCOUNT}:user/oncall is not authorized to perform: "
        "ecs:UpdateService on resource: service/prod/web"
    )
    with AwsFaultProxy(aws.url) as proxy:
        p = provider(aws, url=proxy.url)
        plan = p.plan(None)
        proxy.fail("UpdateService", "AccessDeniedException", denied)
        events: list[ProgressEvent] = []
        with pytest.raises(Forbidden) as err:
            for event in p.execute(plan):
                events.append(event)
        message = one_line(err.value)
        assert message.startswith("access denied: ecs:UpdateService (pointing web (production)")
        assert "is not authorized to perform: ecs:UpdateService" in message
        assert events[-1].status is ProgressStatus.FAILED
        assert aws.live_key() == "web:3"

        proxy.fail("DescribeServices", "AccessDeniedException", "not authorized")
        with pytest.raises(Forbidden, match="access denied: ecs:DescribeServices"):
            p.snapshot()


def test_throttling_is_retried_then_reported(aws: World) -> None:
    with AwsFaultProxy(aws.url) as proxy:
        p = provider(aws, url=proxy.url)
        proxy.fail("DescribeServices", "ThrottlingException", "Rate exceeded", count=1)
        assert p.snapshot().current is not None  # botocore retried once, quietly
        proxy.fail("DescribeServices", "ThrottlingException", "Rate exceeded")
        with pytest.raises(Unavailable) as err:
            p.snapshot()
        message = one_line(err.value)
        assert message.startswith("AWS is throttling ecs:DescribeServices")
        assert "after 3 attempts" in message
        throttled = [s for s in proxy.seen if s == ("DescribeServices", "ThrottlingException")]
        assert len(throttled) == 1 + 3  # once, then three attempts in all


def test_rds_and_ecr_failures_become_notes_not_a_broken_snapshot(aws: World) -> None:
    with AwsFaultProxy(aws.url) as proxy:
        proxy.fail("DescribeDBInstances", "AccessDenied", "not allowed to rds:Describe*")
        proxy.fail("DescribeImages", "AccessDeniedException", "not allowed to ecr:DescribeImages")
        snap = provider(aws, url=proxy.url).snapshot()
    assert snap.current is not None and snap.current.id == "web:3"
    notes = " | ".join(snap.notes)
    assert "RDS snapshots not read: access denied: rds:DescribeDBInstances" in notes
    assert "ECR tags not read: access denied: ecr:DescribeImages" in notes


def test_an_unreachable_endpoint_is_unavailable(aws: World) -> None:
    p = provider(aws, url="http://127.0.0.1:9")
    p.aws.max_attempts = 1  # no retries with back-off: the test only needs the message
    with pytest.raises(Unavailable) as err:
        p.snapshot()
    assert one_line(err.value).startswith("cannot reach AWS for ecs:DescribeServices")


def test_no_network_and_no_sdk_at_construction(aws: World) -> None:
    p = EcsProvider(config(aws, url="http://127.0.0.1:9"))
    assert p.name == "ecs" and p.aws._clients == {}
    with pytest.raises(ProviderError, match=r"needs a \[services\.ecs\] table"):
        EcsProvider(dataclasses.replace(config(aws), ecs=None))
