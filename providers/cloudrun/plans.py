"""Planning a Cloud Run rollback (runbook 004): which revision, which traffic, in which steps.

A plain rollback goes to the newest Ready revision created before the current
one: the one that served before the bad deploy.  A revision that never became
Ready is listed but never chosen, and refused as a target.  It is one
``cloudrun.set_traffic`` step sending it 100% (tags stay where they are, at 0%).

``gradual`` sends it the traffic in steps (``gradual_steps``: 10% -> 50% ->
100%), each but the last followed by a ``cloudrun.gate``; steps that would not
give the target more than it has now are left out.  ``to-latest`` sends all the
traffic to LATEST again, which undoes a rollback's pin.

Every step's params say what it sends, what it must find first and (gradual)
what a failure puts back (``providers.cloudrun.ops``).  A plan made again on
resume (``resume_from``: the interrupted plan) keeps that plan's starting
traffic as the one to put back, however often it is interrupted and resumed.
"""

from __future__ import annotations

from collections.abc import Sequence

from console.config import CloudRunConfig, ServiceConfig
from console.model import Action, Plan, Revision, Snapshot, Step, StepKind
from providers.base import InvalidTarget, NotFound
from providers.cloudrun import pitr
from providers.cloudrun.client import CloudRunClient, State
from providers.cloudrun.ops import (
    GATE,
    GRADUAL,
    SET_TRAFFIC,
    TO_LATEST,
    GateCheck,
    TrafficChange,
    gate_command,
    set_traffic_command,
    started_from,
)
from providers.cloudrun.read import NAME, Reader
from providers.cloudrun.traffic import (
    LATEST,
    Route,
    Split,
    describe_routes,
    gradual_splits,
    routes_for,
    short_name,
    split_of,
    tags_of,
)


class Planner:
    """Makes the provider's plans from the live service (see the module docstring)."""

    def __init__(self, service: ServiceConfig, client: CloudRunClient, reader: Reader) -> None:
        self.service = service
        self.cfg: CloudRunConfig = client.cfg
        self.client = client
        self.reader = reader

    def plan(self, target: str | None, *, dry_run: bool = False) -> Plan:
        """Send 100% of the traffic to ``target`` (default: the revision before the current one)."""
        state = self.client.state()
        snap = self.reader.snapshot_of(state)
        to = self._resolve(state, snap, target)
        split: Split = [(to.id, 100)]
        self._refuse_no_change(state, to, split)
        live = state.service.traffic
        step = self._traffic_step(state, to, TrafficChange(routes_for(split, live), live))
        return self._plan(snap, to, (step,), self._warnings(state, snap, to), dry_run)

    def actions(self) -> tuple[Action, ...]:
        """``gradual`` (a revision, in steps with gates) and ``to-latest`` (undo a pin)."""
        state = self.client.state()
        snap = self.reader.snapshot_of(state)
        current = snap.current.id if snap.current else ""
        choices = tuple(rev.name for rev in state.revisions if rev.is_ready and rev.name != current)
        steps = " -> ".join(f"{p}%" for p in self.cfg.gradual_steps)
        actions = [
            Action(
                id=GRADUAL,
                title="Gradual rollback",
                description=(
                    f"Move traffic to a revision in steps ({steps}), watching health and error "
                    f"rate for {self.cfg.gate_s:g} s between steps; if a gate fails the traffic "
                    "goes back to exactly where it was"
                ),
                argument="revision",
                choices=choices,
            )
        ]
        if not all_latest(state):
            actions.append(
                Action(
                    id=TO_LATEST,
                    title="Send all traffic to LATEST",
                    description=(
                        "100% to the latest Ready revision "
                        f"({state.service.latest_ready or 'none'}) and to every later deploy: "
                        "undoes a rollback's pin"
                    ),
                    dangerous=True,
                )
            )
        if pitr.offered(self.service):
            actions.append(pitr.action(self.service))
        return tuple(actions)

    def plan_action(
        self,
        action: str,
        argument: str | None,
        *,
        dry_run: bool = False,
        resume_from: Plan | None = None,
    ) -> Plan:
        """Plan ``gradual`` or ``to-latest``.

        ``resume_from`` is the plan a crash cut short: a gradual move planned again
        from the live split then shows (and, on a failed gate, restores) the traffic
        from before that plan, not the half-way split.
        """
        if action == GRADUAL:
            before = started_from(resume_from) if resume_from is not None else None
            return self._plan_gradual(argument, dry_run, before)
        if action == TO_LATEST:
            return self._plan_to_latest(dry_run)
        if action == pitr.ACTION and pitr.offered(self.service):
            return pitr.plan(self.service, self.client, self.reader, argument, dry_run=dry_run)
        known = f"{GRADUAL}, {TO_LATEST}" + (
            f", {pitr.ACTION}" if pitr.offered(self.service) else ""
        )
        raise NotFound(f"unknown action {action!r} for {self.service.label} (known: {known})")

    def _plan_gradual(
        self, argument: str | None, dry_run: bool, before: tuple[Route, ...] | None
    ) -> Plan:
        state = self.client.state()
        snap = self.reader.snapshot_of(state)
        to = self._resolve(state, snap, argument or None)
        splits = gradual_splits(to.id, state.service.served, self.cfg.gradual_steps)
        self._refuse_no_change(state, to, splits[-1] if splits else [(to.id, 100)])
        if not splits:
            splits = [[(to.id, 100)]]
        live = state.service.traffic
        original = before or live
        steps: list[Step] = []
        expect = live
        for number, split in enumerate(splits, 1):
            change = TrafficChange(routes_for(split, live), expect, original)
            steps.append(self._traffic_step(state, to, change))
            expect = change.traffic
            if number < len(splits):
                gate = GateCheck(
                    target=to.id,
                    percent=split[0][1],
                    duration_s=self.cfg.gate_s,
                    number=number,
                    total=len(splits) - 1,
                    expect=expect,
                    restore=original,
                )
                steps.append(self._gate_step(gate))
        warnings = self._warnings(state, snap, to)
        where = (
            "where it was before the interrupted rollback began"
            if before
            else ("exactly where it is now")
        )
        warnings.append(
            f"Between steps the console watches health and error rate for {self.cfg.gate_s:g} s; "
            f"if a gate fails, traffic goes back to {where} "
            f"({describe_routes(original, state.service.latest_ready)})."
        )
        if not self.service.health:
            warnings.append(
                "No health checks are configured: the gates judge the error rate alone."
            )
        return self._plan(snap, to, tuple(steps), warnings, dry_run, GRADUAL, to.id)

    def _plan_to_latest(self, dry_run: bool) -> Plan:
        state = self.client.state()
        snap = self.reader.snapshot_of(state)
        svc = state.service
        if not svc.latest_ready:
            raise InvalidTarget(f"{self.service.label} has no Ready revision for LATEST to mean")
        to = snap.find(svc.latest_ready)
        if to is None:
            raise NotFound(f"the latest Ready revision {svc.latest_ready} is not listed")
        if all_latest(state):
            raise InvalidTarget(f"all traffic of {self.service.label} already goes to LATEST")
        change = TrafficChange(routes_for([(LATEST, 100)], svc.traffic), svc.traffic)
        step = Step(
            title=(
                f"Send 100% of {self.service.label}'s traffic to LATEST "
                f"(now {to.id}, {to.version}) and to every later deploy"
            ),
            command=set_traffic_command(self.client, change),
            kind=StepKind.SWITCH,
            timeout_s=self.cfg.operation_timeout_s,
            op=SET_TRAFFIC,
            params=change.params(),
        )
        warnings = [
            f"LATEST is {to.id} ({to.version}); if that is the revision that was rolled back "
            "from, this sends the traffic back to it."
        ]
        return self._plan(snap, to, (step,), warnings, dry_run, TO_LATEST)

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
        undone_by: tuple[str, ...] = ()
        if action != TO_LATEST:
            # Not a controller that puts the broken revision back, but the opposite trap:
            # pinned traffic also keeps the next (fixed) deploy from serving.
            undone_by = (
                f"Nothing re-applies {snap.current.id if snap.current else 'the live revision'} "
                f"by itself, but traffic stays pinned to {to.id}: a later deploy receives no "
                f"traffic until it is sent to LATEST again (`{self.client.gcloud(None)}`, or "
                f"`rollback-console action {self.service.name} to-latest`).",
            )
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
            undone_by=undone_by,
        )

    def _resolve(self, state: State, snap: Snapshot, target: str | None) -> Revision:
        if target is None:
            current = snap.current
            if current is None:
                raise InvalidTarget(
                    f"{self.service.label} serves no revision: nothing to roll back"
                )
            created = current.created
            for rev in snap.revisions:
                view = state.revision(rev.id)
                older = created is None or rev.created is None or rev.created < created
                if rev.id != current.id and older and view is not None and view.is_ready:
                    return rev
            raise InvalidTarget(
                f"{self.service.label} has no Ready revision older than {current.id} "
                f"({current.version}) to roll back to"
            )
        target = short_name(target.strip())  # a full resource name works too
        found = snap.find(target)
        if found is None:
            listed = ", ".join(
                f"{r.id} ({r.version})" if r.version != r.id else r.id for r in snap.revisions[:12]
            )
            more = f" and {len(snap.revisions) - 12} more" if len(snap.revisions) > 12 else ""
            raise NotFound(
                f"revision {target!r} not found in {self.client.where}; available: "
                f"{listed or 'none'}{more}"
            )
        view = state.revision(found.id)
        if view is None or not view.is_ready:
            ready = view.ready if view is not None else None
            why = ready.describe() if ready is not None else "no Ready condition"
            raise InvalidTarget(
                f"revision {found.id} is not Ready ({why}): it cannot serve traffic"
            )
        return found

    def _refuse_no_change(self, state: State, to: Revision, split: Split) -> None:
        if state.service.served == dict(split):
            raise InvalidTarget(
                f"{to.id} ({to.version}) already serves 100% of {self.service.label}"
            )

    def _traffic_step(self, state: State, to: Revision, change: TrafficChange) -> Step:
        split = change.split
        if len(split) == 1:
            title = f"Send 100% of {self.service.label}'s traffic to {to.id} ({to.version})"
        else:
            rest = ", ".join(f"{k} {p}%" for k, p in split[1:])
            title = (
                f"Send {split[0][1]}% of {self.service.label}'s traffic to {to.id} "
                f"({to.version}), {rest}"
            )
        tags = tags_of(state.service.traffic)
        if tags:
            title += f"; tags kept ({', '.join(tags)})"
        return Step(
            title=title,
            command=set_traffic_command(self.client, change),
            kind=StepKind.SWITCH,
            timeout_s=self.cfg.operation_timeout_s,
            op=SET_TRAFFIC,
            params=change.params(),
        )

    def _gate_step(self, gate: GateCheck) -> Step:
        return Step(
            title=(
                f"Gate {gate.number}: watch health and error rate of {self.service.label} "
                f"for {gate.duration_s:g} s with {gate.target} at {gate.percent}%"
            ),
            command=gate_command(self.client, gate),
            kind=StepKind.WAIT,
            timeout_s=gate.duration_s + 30.0,
            op=GATE,
            params=gate.params(),
        )

    def _warnings(self, state: State, snap: Snapshot, to: Revision) -> list[str]:
        warnings: list[str] = []
        current = snap.current
        svc = state.service
        if current is not None and to.created and current.created and to.created > current.created:
            warnings.append(
                f"{to.id} ({to.version}) is newer than the current {current.id}: "
                "this rolls forward, not back."
            )
        elif current is not None:
            ids = [r.id for r in snap.revisions]
            ready_between = (
                [
                    r.id
                    for r in snap.revisions[ids.index(current.id) + 1 : ids.index(to.id)]
                    if (v := state.revision(r.id)) is not None and v.is_ready
                ]
                if current.id in ids and to.id in ids
                else []
            )
            if ready_between:
                warnings.append(
                    f"{to.id} is not the revision that served before {current.id} "
                    f"(that is {ready_between[0]}); {len(ready_between)} Ready revision(s) "
                    "in between are skipped."
                )
        if svc.reconciling or svc.observed_generation < svc.generation:
            warnings.append(
                f"A change to {self.cfg.service} is still in progress (generation "
                f"{svc.generation}, observed {svc.observed_generation}): the update may be refused."
            )
        if svc.latest_created and svc.latest_created != svc.latest_ready:
            warnings.append(
                f"The newest revision {svc.latest_created} never became Ready "
                "(it is not a rollback target)."
            )
        warnings.append(
            f"After this, traffic is pinned to {to.id}: later deploys receive no traffic until "
            f"it is sent to LATEST again (`{self.client.gcloud(None)}`)."
        )
        return warnings


def all_latest(state: State) -> bool:
    """All traffic goes to LATEST (tags aside): nothing for ``to-latest`` to do."""
    return split_of(state.service.traffic) == [(LATEST, 100)]
