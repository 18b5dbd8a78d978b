"""The ECS provider's typed steps and the parts that run them, against moto's AWS server.

What a step does is its op and params (journaled as they are, no secrets);
its command is rendered from them and the part runs it from them (the image
rollback's copied task definition from the plan's read-only context).  On
resume each part says, from the live service, whether a step took effect:
false before the change, true after it.

Driven by hand, because moto does not model it: ECS's scheduler (``drive``,
see ``tests.providers.test_ecs``).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.journal import encode_event
from console.model import Plan, ProgressStatus, Step, StepKind
from console.resume import plan_for_journal, plan_from
from console.runner import owner_of
from providers.base import Part, ProviderError, SupportsParts
from providers.ecs import EcsProvider
from providers.ecs.steps import INPUTS, REGISTER, RESTORE, UPDATE, WAIT, WAIT_RDS
from tests.aws.moto_server import World, aws_world
from tests.providers.test_ecs import drive, provider


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    yield from aws_world(monkeypatch, tmp_path)


def took_effect(p: EcsProvider, plan: Plan, index: int) -> bool | None:
    step = plan.steps[index]
    part: Part = owner_of(step, p.parts())
    return part.took_effect(step, plan)


def journaled(plan: Plan) -> Plan:
    """``plan`` as a console that crashed left it in the journal (no context, no data)."""
    return plan_from(json.loads(encode_event({"plan": plan_for_journal(plan)}))["plan"])


def option(step: Step, name: str) -> str:
    """The value of ``--name`` in a step's shown command (to compare with what ran)."""
    words = shlex.split(step.command)
    return words[words.index(name) + 1]


def test_steps_are_typed_and_their_commands_are_rendered_from_their_params(aws: World) -> None:
    p = provider(aws)
    assert isinstance(p, SupportsParts)
    rollback = p.plan(None)
    image = p.plan_action("rollback-image", "v1.2.8")
    force = p.plan_action("force-new-deployment", None)
    restore = p.plan_action("restore-rds-snapshot", "before-v1-3-0")
    assert [s.op for s in rollback.steps] == [UPDATE, WAIT]
    assert [s.op for s in image.steps] == [REGISTER, UPDATE, WAIT]
    assert [s.op for s in force.steps] == [UPDATE, WAIT]
    assert [s.op for s in restore.steps] == [RESTORE, WAIT_RDS]
    for plan in (rollback, image, force, restore):
        assert plan.data == {}  # nothing untyped travels beside the steps
        assert all(s.argv == () for s in plan.steps)

    update = rollback.steps[0].params
    assert update["task_definition"] == "web:2" and update["source"] == "web:3"
    assert update["force"] is False and update["deployment_before"]
    assert option(rollback.steps[0], "--task-definition") == "web:2"
    assert force.steps[0].params["force"] is True
    assert "--force-new-deployment" in force.steps[0].command
    assert force.steps[1].params["deployment_before"] == force.steps[0].params["deployment_before"]
    assert (
        option(restore.steps[1], "--db-instance-identifier")
        == (restore.steps[1].params["instance"])
    )

    # The copy to register: in the context, shown in full; its params only identify it.
    register = image.steps[0]
    assert set(register.params) == {
        "family",
        "task_definition",
        "container",
        "image",
        "source",
        "sha256",
    }
    assert register.params["image"] == aws.image("v1.2.8")
    body = image.context[INPUTS][register.params["sha256"]]
    assert json.loads(option(register, "--cli-input-json")) == body
    assert body["containerDefinitions"][0]["environment"] == [
        {"name": "RELEASE", "value": "v1.3.0"}
    ]
    for step in journaled(image).steps:
        assert "RELEASE" not in json.dumps(step.params)
    assert image.steps[1].params["image"] == aws.image("v1.2.8")


def test_a_rollback_took_effect_after_its_update_and_not_before(aws: World) -> None:
    p = provider(aws)
    plan = p.plan(None)
    assert took_effect(p, plan, 0) is False
    assert took_effect(p, plan, 1) is False
    assert p.switch_took_effect(plan) is False

    drive(p, plan, aws)

    again = journaled(plan)  # as a resumed console sees it
    assert took_effect(p, again, 0) is True
    assert took_effect(p, again, 1) is True
    assert p.switch_took_effect(again) is True


def test_an_image_rollback_s_register_and_update_took_effect_after_and_not_before(
    aws: World,
) -> None:
    p = provider(aws)
    plan = p.plan_action("rollback-image", "v1.2.8")
    assert [took_effect(p, plan, i) for i in range(3)] == [False, False, False]

    events = []
    for event in p.execute(plan):
        events.append(event)
        if event.step == 0 and event.status is ProgressStatus.FINISHED:
            break  # stopped after the register
    assert took_effect(p, plan, 0) is True
    assert took_effect(p, plan, 1) is False

    fresh = provider(aws)  # a resumed console: no memory of the register
    rest = drive(fresh, dataclasses.replace(plan, steps=plan.steps[1:]), aws)
    assert rest[-1].status is ProgressStatus.FINISHED
    again = journaled(plan)
    assert [took_effect(fresh, again, i) for i in range(3)] == [True, True, True]


def test_a_forced_deployment_took_effect_once_ecs_replaced_the_primary(aws: World) -> None:
    p = provider(aws)
    plan = p.plan_action("force-new-deployment", None)
    assert plan.steps[0].kind is StepKind.RESTART
    assert took_effect(p, plan, 0) is False

    drive(p, plan, aws)

    assert took_effect(p, journaled(plan), 0) is True
    assert took_effect(p, journaled(plan), 1) is True


def test_a_restore_took_effect_once_the_instance_exists_and_is_available(aws: World) -> None:
    p = provider(aws)
    plan = p.plan_action("restore-rds-snapshot", "before-v1-3-0")
    assert took_effect(p, plan, 0) is False
    assert took_effect(p, plan, 1) is False
    assert p.switch_took_effect(plan) is None  # nothing of the service is switched

    list(p.execute(plan))

    assert took_effect(p, journaled(plan), 0) is True
    assert took_effect(p, journaled(plan), 1) is True


def test_a_journaled_copy_cannot_be_registered_without_its_plan(aws: World) -> None:
    """The copy's content never reaches the journal: a journaled register step asks for a
    new plan rather than guess what to register."""
    p = provider(aws)
    plan = journaled(p.plan_action("rollback-image", "v1.2.8"))
    with pytest.raises(ProviderError, match="plan the image rollback again"):
        list(p.execute(plan))
    assert aws.live_key() == "web:3"
    assert len(aws.ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"]) == 3
