"""Plans journaled before steps were typed: their ECS steps, typed from what the plan says.

A journal written by the previous version holds steps with a title, the
shown command and a kind, but no op and no params.  Resume must still work
from it: when the switch took effect, the wait after it still runs, and
``wait_ready`` and the resume check still need their target.  Nothing here
reads the commands back: each step is typed from its kind and from the plan
itself (the target revision, its image, the revision it started from), and
a forced deployment's "deployment before" from the one place that version
journaled it, ``data["resume"]``.  A step that cannot be typed so (a
register, whose copied definition was never journaled; a restore) stays
untyped: the flow plans those rollbacks anew.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from console.model import Plan, Step, StepKind
from providers.ecs.client import EcsApi
from providers.ecs.steps import UPDATE, WAIT

#: The actions whose steps can be typed from the plan alone.
_SERVICE_ACTIONS = ("rollback", "rollback-image", "force-new-deployment")


def typed_step(step: Step, plan: Plan, api: EcsApi) -> Step | None:
    """``step`` of ``plan`` with its op and params; itself when typed already; None: cannot."""
    if step.op:
        return step
    if plan.action not in _SERVICE_ACTIONS:
        return None
    to = plan.to_revision
    force = plan.action == "force-new-deployment"
    image = to.image if plan.action == "rollback-image" else ""
    journaled: Any = plan.data.get("resume") or {}
    before = str(journaled.get("deployment_before", "")) if isinstance(journaled, dict) else ""
    common = {"cluster": api.cfg.cluster, "service": api.cfg.service, "image": image}
    if step.kind is StepKind.WAIT:
        params = {
            **common,
            "task_definition": to.id,
            "desired": 0,
            "deployment_before": before if force else "",
        }
        return dataclasses.replace(step, op=WAIT, params=params)
    if step.kind in (StepKind.SWITCH, StepKind.RESTART):
        params = {
            **common,
            "task_definition": "" if force else to.id,
            "force": force,
            "source": plan.from_revision.id if plan.from_revision else "",
            "deployment_before": before,
        }
        return dataclasses.replace(step, op=UPDATE, params=params)
    return None


def typed_steps(plan: Plan, api: EcsApi) -> tuple[Step, ...]:
    """Every step of ``plan`` typed where it can be (see ``typed_step``), in order."""
    return tuple(typed_step(step, plan, api) or step for step in plan.steps)
