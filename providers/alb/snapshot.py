"""The load balancer's state as the console shows it: target groups as revisions, targets as units.

Each configured target group is a revision (its ``id`` is its name in
``[services.alb]``, its version the group's ``version`` tag when it has one);
the one receiving the largest share of the traffic is current.  Revisions
are listed current first, then the groups listed before it in the config
(wrapping around): a plain rollback goes to the one listed before the live
one, with two groups simply the other one.  Every registered target of every
group is a unit, ready when the load balancer finds it healthy.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.config import AlbConfig, ServiceConfig, TargetGroup
from console.model import Revision, Snapshot, TrafficTarget, Unit, utcnow
from providers.alb.forward import Forward, short
from providers.alb.read import AlbReader, GroupHealth
from providers.base import ProviderError

NAME = "alb"


@dataclass(frozen=True)
class AlbState:
    """One read of the load balancer: the forward, each group's health, the version tags."""

    forward: Forward
    health: dict[str, GroupHealth]
    #: Group name -> why its health could not be read.
    health_errors: dict[str, str]
    #: Target group ARN -> the version its tag names.
    versions: dict[str, str]

    def current(self, cfg: AlbConfig) -> TargetGroup | None:
        top = self.forward.top()
        return next((g for g in cfg.target_groups if g.arn == top), None)

    def version(self, group: TargetGroup) -> str:
        return self.versions.get(group.arn, group.name)


def read_state(reader: AlbReader, *, versions: bool = True) -> AlbState:
    """Forward, health of every configured group, version tags (a tag read that fails: none)."""
    forward = reader.forward()
    health: dict[str, GroupHealth] = {}
    errors: dict[str, str] = {}
    for group in reader.cfg.target_groups:
        try:
            health[group.name] = reader.health(group)
        except ProviderError as err:
            errors[group.name] = str(err)
    tags: dict[str, str] = {}
    if versions:
        try:
            tags = reader.versions()
        except ProviderError:
            tags = {}  # the versions are a courtesy: the names still say which is which
    return AlbState(forward, health, errors, tags)


def ordered(cfg: AlbConfig, current: TargetGroup | None) -> list[TargetGroup]:
    """Current first, then the groups listed before it (wrapping); no current: last first."""
    groups = list(cfg.target_groups)
    if current is None:
        return groups[::-1]
    at = groups.index(current)
    return [groups[(at - i) % len(groups)] for i in range(len(groups))]


def revisions(cfg: AlbConfig, state: AlbState) -> tuple[Revision, ...]:
    current = state.current(cfg)
    found = []
    for group in ordered(cfg, current):
        health = state.health.get(group.name)
        seen = health.summary() if health is not None else "health not read"
        found.append(
            Revision(
                id=group.name,
                version=state.version(group),
                change_cause=f"{state.forward.percent(group.arn)}% of traffic; {seen}",
                current=group == current,
                detail=f"target group {short(group.arn)} ({group.metric_name})",
            )
        )
    return tuple(found)


def snapshot_of(service: ServiceConfig, cfg: AlbConfig, where: str, state: AlbState) -> Snapshot:
    revs = revisions(cfg, state)
    current = next((r for r in revs if r.current), None)
    units: list[Unit] = []
    for group in cfg.target_groups:
        health = state.health.get(group.name)
        for target in health.targets if health is not None else ():
            units.append(
                Unit(
                    name=f"{group.name}/{target.name}",
                    state=target.state + (f" ({target.reason})" if target.reason else ""),
                    ready=target.state == "healthy",
                    revision=group.name,
                    detail=target.description,
                )
            )
    forward = state.forward
    names = {g.arn: g.name for g in cfg.target_groups}
    traffic = tuple(
        TrafficTarget(revision=names.get(arn, short(arn)), percent=forward.percent(arn))
        for arn in forward.weights
    )
    notes: list[str] = []
    serving = [arn for arn, weight in forward.weights.items() if weight > 0]
    if len(serving) > 1:
        notes.append(f"traffic is split: {forward.describe(cfg)}")
    top = forward.top()
    if top and top not in names:
        notes.append(
            f"{where} forwards most traffic to {short(top)}, which is not in [services.alb] "
            "target_groups"
        )
    elif not top:
        notes.append(f"{where} forwards to no target group with a weight above 0")
    for name, error in state.health_errors.items():
        notes.append(f"health of {name} not read: {error}")
    for name, health in state.health.items():
        if health.targets and not health.healthy:
            notes.append(f"{name} has no healthy targets ({health.summary()})")
    facts = [("listener", cfg.listener_arn)]
    if cfg.rule_arn:
        facts.append(("rule", cfg.rule_arn))
    facts.append(("load balancer", cfg.load_balancer))
    facts.append(("forwards", forward.describe(cfg)))
    for group in cfg.target_groups:
        health = state.health.get(group.name)
        facts.append(
            (f"target group {group.name}", health.summary() if health else "health not read")
        )
    return Snapshot(
        service=service.name,
        environment=service.environment,
        provider=NAME,
        taken_at=utcnow(),
        current=current,
        revisions=revs,
        units=tuple(units),
        traffic=traffic,
        notes=tuple(notes),
        facts=tuple(facts),
    )
