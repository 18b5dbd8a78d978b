"""``wait_ready`` for the load balancer: the listener forwards as planned, the targets are healthy.

A listener change is in effect as soon as ModifyListener answers; what takes
time is the targets: ready when the listener forwards the plan's last
weights and every target group receiving traffic has a healthy target and
none still in ``initial`` (its first health checks).  An unhealthy target
beside healthy ones does not hold the rollback (the load balancer routes
around it) but is named in the result.
"""

from __future__ import annotations

from collections.abc import Callable

from console.model import Plan, ReadyResult
from console.poll import poll_until
from providers.alb.forward import describe_shares
from providers.alb.ops import last_change
from providers.alb.read import AlbReader


class Waiter:
    def __init__(self, reader: AlbReader) -> None:
        self.reader = reader
        self.api = reader.api
        self.cfg = reader.cfg

    def wait_ready(
        self,
        plan: Plan,
        timeout_s: float,
        on_progress: Callable[[str], None] | None = None,
    ) -> ReadyResult:
        return poll_until(
            lambda _left: self.readiness(plan),
            timeout_s,
            interval_s=self.api.poll_interval_s,
            on_progress=on_progress,
        )

    def readiness(self, plan: Plan) -> tuple[bool, str]:
        change = last_change(plan)
        if change is None:
            return False, "the plan has no change of the listener to wait for"
        forward = self.reader.forward(poll=True)
        if not forward.matches(change.weights):
            return False, (
                f"the {self.api.where} forwards {forward.describe(self.cfg)}, not "
                f"{describe_shares(change.weights)}"
            )
        seen: list[str] = []
        for share in change.weights:
            group = self.cfg.group(share.name)
            if share.weight <= 0 or group is None:
                continue
            health = self.reader.health(group, poll=True)
            if not health.healthy:
                return False, f"{group.name}: {health.summary()}"
            starting = [t for t in health.targets if t.state == "initial"]
            if starting:
                return False, (
                    f"{group.name}: {len(starting)} target(s) still in their first health checks "
                    f"({health.summary()})"
                )
            seen.append(f"{group.name}: {health.summary()}")
        return True, (
            f"the {self.api.where} forwards {describe_shares(change.weights)}; " + "; ".join(seen)
        )
