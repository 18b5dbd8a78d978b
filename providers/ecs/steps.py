"""The ECS provider's typed steps: each op, its params, and the ``aws`` command rendered from them.

What a step does is data (``Step.op`` and ``Step.params``, journaled as they
are); the command an operator sees is rendered from that data here, one
function per op, when the plan is made, and the console runs the same
operation from the same data (``providers.ecs.run``, ``providers.ecs.restore``):
what is shown is what runs, and nothing parses the command back.

The one input too large and too private for the journal, the task
definition an image rollback registers (its environment values...), stays
in the plan's read-only context under ``INPUTS``, keyed by its hash; the
step's params say what identifies it: family, container, image, hash.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from console.model import Step, StepKind
from providers.ecs.client import EcsApi
from providers.ecs.rds import restore_cli_args
from providers.ecs.read import canonical, input_hash

REGISTER = "ecs.register_task_definition"
UPDATE = "ecs.update_service"
WAIT = "ecs.wait_stable"
RESTORE = "ecs.restore_rds_snapshot"
WAIT_RDS = "ecs.wait_rds_available"

#: ``Plan.context`` key: the register-task-definition inputs of the plan, by hash.
INPUTS = "ecs.task_definition_inputs"


# --------------------------------------------------------------------------- commands


def register_command(api: EcsApi, body: Mapping[str, Any]) -> str:
    return api.command("ecs", "register-task-definition", "--cli-input-json", canonical(dict(body)))


def update_command(api: EcsApi, params: Mapping[str, Any]) -> str:
    extra: list[str] = []
    if params.get("task_definition"):
        extra += ["--task-definition", str(params["task_definition"])]
    if params.get("force"):
        extra.append("--force-new-deployment")
    return api.command(
        "ecs",
        "update-service",
        "--cluster",
        str(params["cluster"]),
        "--service",
        str(params["service"]),
        *extra,
    )


def wait_command(api: EcsApi, params: Mapping[str, Any]) -> str:
    return api.command(
        "ecs",
        "wait",
        "services-stable",
        "--cluster",
        str(params["cluster"]),
        "--services",
        str(params["service"]),
    )


def restore_command(api: EcsApi, params: Mapping[str, Any]) -> str:
    return api.command("rds", "restore-db-instance-from-db-snapshot", *restore_cli_args(params))


def wait_rds_command(api: EcsApi, params: Mapping[str, Any]) -> str:
    return api.command(
        "rds", "wait", "db-instance-available", "--db-instance-identifier", str(params["instance"])
    )


# --------------------------------------------------------------------------- steps


def register_step(
    api: EcsApi,
    title: str,
    body: dict[str, Any],
    *,
    task_definition: str,
    container: str,
    image: str,
    source: str,
) -> tuple[Step, Mapping[str, Any]]:
    """The step registering ``body``, and the plan context holding ``body`` for it to run.

    ``task_definition`` is the key ECS is expected to give the copy (it may give
    another: the next steps then use that one); ``source`` the task definition
    copied, which the service must still run.  ``body`` is kept as its JSON
    reads back, so what runs is exactly what is shown.
    """
    body = json.loads(canonical(body))
    digest = input_hash(body)
    params = {
        "family": str(body.get("family", "")),
        "task_definition": task_definition,
        "container": container,
        "image": image,
        "source": source,
        "sha256": digest,
    }
    step = Step(
        title=title,
        command=register_command(api, body),
        kind=StepKind.COMMAND,
        op=REGISTER,
        params=params,
    )
    return step, MappingProxyType({INPUTS: MappingProxyType({digest: body})})


def update_step(
    api: EcsApi,
    title: str,
    *,
    source: str,
    deployment_before: str,
    task_definition: str = "",
    image: str = "",
) -> Step:
    """``update-service``: to ``task_definition``, or (none given) a forced new deployment.

    ``source`` is the task definition the plan started from (the service must
    still run it), ``image`` the main container's image an image rollback
    leads to (its copy may be numbered otherwise than planned).
    """
    cfg = api.cfg
    params: dict[str, Any] = {
        "cluster": cfg.cluster,
        "service": cfg.service,
        "task_definition": task_definition,
        "force": not task_definition,
        "source": source,
        "deployment_before": deployment_before,
        "image": image,
    }
    return Step(
        title=title,
        command=update_command(api, params),
        kind=StepKind.SWITCH if task_definition else StepKind.RESTART,
        op=UPDATE,
        params=params,
    )


def wait_step(
    api: EcsApi,
    *,
    task_definition: str,
    desired: int,
    deployment_before: str = "",
    image: str = "",
) -> Step:
    """Wait until the service is stable on ``task_definition``.

    ``deployment_before``: a forced deployment is waited for only once the
    PRIMARY deployment is another one; ``image``: an image rollback's copy
    is recognised by its image when ECS numbered it otherwise.
    """
    cfg = api.cfg
    params: dict[str, Any] = {
        "cluster": cfg.cluster,
        "service": cfg.service,
        "task_definition": task_definition,
        "desired": desired,
        "deployment_before": deployment_before,
        "image": image,
    }
    return Step(
        title=(
            f"Wait until {cfg.service} is stable on {task_definition}: one deployment, "
            f"{desired} of {desired} tasks running (aws ecs wait services-stable)"
        ),
        command=wait_command(api, params),
        kind=StepKind.WAIT,
        timeout_s=api.service.ready_timeout_s,
        op=WAIT,
        params=params,
    )


def restore_step(api: EcsApi, title: str, arguments: dict[str, Any]) -> Step:
    """Restore a snapshot to a new instance; ``arguments``: RestoreDBInstanceFromDBSnapshot's."""
    params = {str(k): v for k, v in arguments.items()}
    return Step(
        title=title,
        command=restore_command(api, params),
        kind=StepKind.COMMAND,
        timeout_s=120.0,
        op=RESTORE,
        params=params,
    )


def wait_rds_step(api: EcsApi, instance: str) -> Step:
    params = {"instance": instance}
    return Step(
        title=f"Wait until {instance} is available (RDS restores take minutes)",
        command=wait_rds_command(api, params),
        kind=StepKind.WAIT,
        timeout_s=api.service.ready_timeout_s,
        op=WAIT_RDS,
        params=params,
    )


def last_wait(steps: tuple[Step, ...]) -> Step | None:
    """The plan's last typed wait step (what ``wait_ready`` waits for), if any."""
    waits = [s for s in steps if s.op in (WAIT, WAIT_RDS)]
    return waits[-1] if waits else None
