"""Planning a switch at the load balancer (runbook 002): which target group, weights, steps.

A plain rollback forwards 100% of the traffic to the previous target group
(the one listed before the live one in ``[services.alb]``; with two, the
other one): one ``alb.forward`` step.  Every configured group stays in the
forward at weight 0, so the load balancer keeps checking the standby's
targets.

``gradual`` moves the traffic in steps (``gradual_steps``: 10% -> 50% ->
100%), each but the last followed by an ``alb.gate`` watching health and
error rate for ``gate_s``; a failing gate puts the weights back as they were
before the first step.  A plan made again on resume (``resume_from``) keeps
that plan's starting weights as the ones to put back.

A target group with no healthy target is refused as a target: forwarding to
it would answer every request with a 503.
"""

from __future__ import annotations

from collections.abc import Sequence

from console.config import AlbConfig, ServiceConfig, TargetGroup
from console.model import Action, Plan, Revision, Snapshot, Step, StepKind
from providers.alb.client import AlbApi
from providers.alb.forward import (
    Share,
    actions_for,
    as_json,
    describe_shares,
    percents,
    short,
    weights_for,
)
from providers.alb.ops import (
    FORWARD,
    GATE,
    GRADUAL,
    ForwardChange,
    GateCheck,
    gate_command,
    started_from,
)
from providers.alb.read import AlbReader, GroupHealth
from providers.alb.snapshot import NAME, AlbState, read_state, snapshot_of
from providers.base import InvalidTarget, NotFound
from providers.weights import Split, gradual_splits


def no_healthy_targets(group: TargetGroup, health: GroupHealth) -> str:
    """Why ``group`` cannot take traffic ("" when it can: a target is healthy)."""
    if health.healthy:
        return ""
    if not health.targets:
        return f"target group {group.name} has no registered targets"
    text = f"target group {group.name} has no healthy targets ({health.summary()})"
    if all(t.reason == "Target.NotInUse" for t in health.targets):
        text += (
            "; the load balancer checks only groups it forwards to: keep the standby group in "
            "the listener's forward at weight 0 (as this console's switches do) so its targets "
            "are checked"
        )
    return text


class Planner:
    """Makes the provider's plans from the live load balancer (see the module docstring)."""

    def __init__(self, service: ServiceConfig, api: AlbApi, reader: AlbReader) -> None:
        self.service = service
        self.api = api
        self.cfg: AlbConfig = api.cfg
        self.reader = reader

    def state(self) -> tuple[AlbState, Snapshot]:
        state = read_state(self.reader)
        return state, snapshot_of(self.service, self.cfg, self.api.where, state)

    def plan(self, target: str | None, *, dry_run: bool = False) -> Plan:
        """Forward 100% to ``target`` (default: the group listed before the live one)."""
        state, snap = self.state()
        to, group = self._resolve(snap, target)
        split: Split = [(group.name, 100)]
        self._refuse_no_change(state, group, split)
        self._refuse_unhealthy(state, group)
        live = state.forward.shares(self.cfg)
        change = ForwardChange(
            self.cfg.listener_arn, self.cfg.rule_arn, self._weights(state, split), live
        )
        step = self._forward_step(state, to, change)
        return self._plan(snap, to, (step,), self._warnings(state, group), dry_run)

    def actions(self) -> tuple[Action, ...]:
        """``gradual``: a target group, in weighted steps with gates between them."""
        _, snap = self.state()
        current = snap.current.id if snap.current else ""
        choices = tuple(g.name for g in self.cfg.target_groups if g.name != current)
        steps = " -> ".join(f"{p}%" for p in self.cfg.gradual_steps)
        return (
            Action(
                id=GRADUAL,
                title="Gradual switch",
                description=(
                    f"Forward traffic to a target group in weighted steps ({steps}), watching "
                    f"health and error rate for {self.cfg.gate_s:g} s between steps; if a gate "
                    "fails the weights go back to exactly where they were"
                ),
                argument="revision",
                choices=choices,
            ),
        )

    def plan_action(
        self,
        action: str,
        argument: str | None,
        *,
        dry_run: bool = False,
        resume_from: Plan | None = None,
    ) -> Plan:
        if action != GRADUAL:
            raise NotFound(f"unknown action {action!r} for {self.service.label} (known: {GRADUAL})")
        before = started_from(resume_from) if resume_from is not None else None
        return self._plan_gradual(argument, dry_run, before)

    def _plan_gradual(
        self, argument: str | None, dry_run: bool, before: tuple[Share, ...] | None
    ) -> Plan:
        state, snap = self.state()
        to, group = self._resolve(snap, argument or None)
        live = state.forward.shares(self.cfg)
        serving = {name: pct for name, pct in percents(live).items() if pct > 0}
        splits = gradual_splits(group.name, serving, self.cfg.gradual_steps)
        self._refuse_no_change(state, group, splits[-1] if splits else [(group.name, 100)])
        self._refuse_unhealthy(state, group)
        if not splits:
            splits = [[(group.name, 100)]]
        original = before or live
        steps: list[Step] = []
        expect: tuple[Share, ...] = live
        for number, split in enumerate(splits, 1):
            weights = self._weights(state, split)
            change = ForwardChange(
                self.cfg.listener_arn, self.cfg.rule_arn, weights, expect, original
            )
            steps.append(self._forward_step(state, to, change))
            expect = weights
            if number < len(splits):
                gate = GateCheck(
                    target=group.name,
                    percent=dict(split)[group.name],
                    duration_s=self.cfg.gate_s,
                    number=number,
                    total=len(splits) - 1,
                    expect=expect,
                    restore=original,
                )
                steps.append(self._gate_step(state, gate))
        warnings = self._warnings(state, group)
        where = (
            "where they were before the interrupted switch began"
            if before
            else "where they are now"
        )
        warnings.append(
            f"Between steps the console watches health and error rate for {self.cfg.gate_s:g} s; "
            f"if a gate fails, the weights go back to {where} ({describe_shares(original)})."
        )
        if not self.service.health:
            warnings.append(
                "No health checks are configured: the gates judge the error rate alone."
            )
        return self._plan(snap, to, tuple(steps), warnings, dry_run, GRADUAL, group.name)

    # ------------------------------------------------------------------ pieces

    def _weights(self, state: AlbState, split: Split) -> tuple[Share, ...]:
        others = {s.name: s.arn for s in state.forward.shares(self.cfg)}
        return weights_for(self.cfg, split, others)

    def _plan(
        self,
        snap: Snapshot,
        to: Revision,
        steps: tuple[Step, ...],
        warnings: Sequence[str],
        dry_run: bool,
        action: str = "rollback",
        argument: str = "",
    ) -> Plan:
        return Plan(
            service=self.service.name,
            environment=self.service.environment,
            provider=NAME,
            from_revision=snap.current,
            to_revision=to,
            steps=steps,
            warnings=tuple(warnings),
            dry_run=dry_run,
            action=action,
            argument=argument,
        )

    def _resolve(self, snap: Snapshot, target: str | None) -> tuple[Revision, TargetGroup]:
        if target is None:
            found = snap.previous()
            if found is None:
                raise InvalidTarget(f"{self.service.label} has no other target group to go to")
        else:
            found = snap.find(target.strip())
            if found is None:
                listed = ", ".join(
                    f"{r.id} ({r.version})" if r.version != r.id else r.id for r in snap.revisions
                )
                raise NotFound(
                    f"target group {target!r} not found in [services.alb] of "
                    f"{self.service.label}; available: {listed}"
                )
        group = self.cfg.group(found.id)
        assert group is not None  # revisions are the configured groups
        return found, group

    def _refuse_no_change(self, state: AlbState, group: TargetGroup, split: Split) -> None:
        wanted = weights_for(self.cfg, split)
        if state.forward.matches(wanted) and dict(split).get(group.name) == 100:
            raise InvalidTarget(
                f"{group.name} ({state.version(group)}) already receives 100% of "
                f"{self.service.label}'s traffic"
            )

    def _refuse_unhealthy(self, state: AlbState, group: TargetGroup) -> None:
        health = state.health.get(group.name)
        if health is None:
            why = state.health_errors.get(group.name, "not read")
            raise InvalidTarget(
                f"the health of target group {group.name} could not be read ({why}): "
                "refusing to forward traffic to it blind"
            )
        problem = no_healthy_targets(group, health)
        if problem:
            raise InvalidTarget(
                f"{problem}: forwarding traffic to it would fail every request; refused"
            )

    def _forward_step(self, state: AlbState, to: Revision, change: ForwardChange) -> Step:
        share = percents(change.weights)
        target = share.get(to.id, 0)
        rest = ", ".join(f"{s.name} {share[s.name]}%" for s in change.weights if s.name != to.id)
        title = (
            f"Forward {target}% of {self.service.label}'s traffic to target group {to.id} "
            f"({to.version})" + (f", {rest}" if rest else "") + f" at the {self.api.where}"
        )
        actions = actions_for(state.forward, change.weights)
        return Step(
            title=title,
            command=self.api.modify_command(as_json(actions)),
            kind=StepKind.SWITCH,
            timeout_s=60.0,
            op=FORWARD,
            params=change.params(),
        )

    def _gate_step(self, state: AlbState, gate: GateCheck) -> Step:
        restore = self.api.modify_command(as_json(actions_for(state.forward, gate.restore)))
        return Step(
            title=(
                f"Gate {gate.number}: watch health and error rate of {self.service.label} "
                f"for {gate.duration_s:g} s with {gate.target} at {gate.percent}%"
            ),
            command=gate_command(gate, restore),
            kind=StepKind.WAIT,
            timeout_s=gate.duration_s + 30.0,
            op=GATE,
            params=gate.params(),
        )

    def _warnings(self, state: AlbState, group: TargetGroup) -> list[str]:
        warnings: list[str] = []
        health = state.health.get(group.name)
        if health is not None and health.healthy < len(health.targets):
            warnings.append(f"Target group {group.name}: {health.summary()}.")
        names = {g.arn for g in self.cfg.target_groups}
        dropped = [short(a) for a, w in state.forward.weights.items() if w and a not in names]
        if dropped:
            warnings.append(
                f"The {self.api.where} also forwards to {', '.join(dropped)} (not in "
                "[services.alb] target_groups): the switch stops that."
            )
        return warnings
