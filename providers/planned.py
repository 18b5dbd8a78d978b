"""What the typed providers do the same way: plan through a planner, run by parts.

Every typed provider keeps its planning in a planner object (``plans.py``) and
runs a plan's steps by the parts that own their ops (``console.runner``); only
what they read and how they wait differs.  These mixins hold the delegation
once, so a new provider states its planner and its parts, not the plumbing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from console.model import Action, Plan, ProgressEvent
from console.runner import run_steps
from providers.base import InvalidTarget, Part


class Planner(Protocol):
    """A provider's planning: the rollback plan, its actions and their plans."""

    def plan(self, target: str | None, *, dry_run: bool = False) -> Plan: ...

    def actions(self) -> tuple[Action, ...]: ...

    def plan_action(
        self,
        action: str,
        argument: str | None,
        *,
        dry_run: bool = False,
        resume_from: Plan | None = None,
    ) -> Plan: ...


class RunsParts:
    """``execute``: the plan's steps, each run by the part owning its op; a failed step
    yields FAILED, raises, and stops the plan (``console.runner.run_steps``)."""

    def parts(self) -> tuple[Part, ...]:
        raise NotImplementedError

    def execute(self, plan: Plan) -> Iterator[ProgressEvent]:
        if plan.dry_run:
            raise InvalidTarget("a dry-run plan is never executed")
        yield from run_steps(plan, self.parts())


class PlannedProvider(RunsParts):
    """``plan``, ``actions`` and ``plan_action`` answered by ``self.planner``."""

    planner: Planner

    def plan(self, target: str | None, *, dry_run: bool = False) -> Plan:
        """The rollback to ``target`` (default: the revision before the live one)."""
        return self.planner.plan(target, dry_run=dry_run)

    def actions(self) -> tuple[Action, ...]:
        return self.planner.actions()

    def plan_action(
        self,
        action: str,
        argument: str | None,
        *,
        dry_run: bool = False,
        resume_from: Plan | None = None,
    ) -> Plan:
        """``resume_from``: the interrupted plan, for a provider whose plan planned again
        keeps something of it (Cloud Run's and the load balancer's starting traffic)."""
        return self.planner.plan_action(action, argument, dry_run=dry_run, resume_from=resume_from)
