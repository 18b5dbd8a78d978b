"""What changes when the load balancer switches target groups ("What changes").

One line each: which target group serves (``target group: green
(targetgroup/web-green/…) → blue (…)``), the weights before and after, the
version the groups' targets run when their ``version`` tags say so (else
one line saying it is not known), and the targets behind each group with
their health.
"""

from __future__ import annotations

from console.config import AlbConfig, TargetGroup
from console.model import Difference, Revision
from providers.alb.forward import describe_shares, short, weights_for
from providers.alb.read import AlbReader
from providers.alb.snapshot import read_state
from providers.base import NotFound


def differences(reader: AlbReader, live: Revision, target: Revision) -> tuple[Difference, ...]:
    cfg: AlbConfig = reader.cfg
    state = read_state(reader)
    before = _group(cfg, live)
    after = _group(cfg, target)
    found: list[Difference] = []
    if before.arn != after.arn:
        found.append(
            Difference(
                "target group",
                f"{before.name} ({short(before.arn)})",
                f"{after.name} ({short(after.arn)})",
            )
        )
    now = state.forward.shares(cfg)
    then = weights_for(cfg, [(after.name, 100)])
    if not state.forward.matches(then):
        found.append(Difference("weights", describe_shares(now), describe_shares(then)))
    old, new = state.versions.get(before.arn, ""), state.versions.get(after.arn, "")
    if old or new:
        if old != new:
            found.append(
                Difference("version", old or "(no version tag)", new or "(no version tag)")
            )
    else:
        found.append(
            Difference("version", note="not known: the target groups carry no version tag")
        )
    for group, side in ((before, "live"), (after, "target")):
        health = state.health.get(group.name)
        if health is None:
            why = state.health_errors.get(group.name, "not read")
            found.append(Difference(f"targets of {group.name}", note=f"health not read: {why}"))
            continue
        names = ", ".join(t.name for t in health.targets[:5])
        more = f" and {len(health.targets) - 5} more" if len(health.targets) > 5 else ""
        found.append(
            Difference(
                f"targets of {group.name} ({side})",
                note=f"{health.summary()}" + (f": {names}{more}" if names else ""),
            )
        )
    return tuple(found)


def _group(cfg: AlbConfig, revision: Revision) -> TargetGroup:
    group = cfg.group(revision.id)
    if group is None:
        raise NotFound(f"target group {revision.id!r} is not in [services.alb] target_groups")
    return group
