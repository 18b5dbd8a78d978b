"""Waiting until a Cloud Run service serves what the plan's last traffic step set, and is Ready.

Ready means: the traffic *served* is the plan's final split (read from the
last ``cloudrun.set_traffic`` step's params, LATEST resolved to the latest
Ready revision), the generation is observed, the traffic is routed
(``RoutesReady``) and the target revision is Ready.  The service's own Ready
condition may stay failed because of a broken newest revision while older
revisions serve exactly as asked (the rollback case): that is said, not
waited for.  After a rollback the traffic is pinned, and the message says so.
"""

from __future__ import annotations

from collections.abc import Callable

from console.config import CloudRunConfig
from console.model import Plan, ReadyResult
from console.poll import poll_until
from console.textsafe import one_line
from providers.cloudrun.client import CloudRunClient
from providers.cloudrun.ops import TO_LATEST, final_split
from providers.cloudrun.traffic import (
    Split,
    describe_routes,
    describe_split,
    routes_for,
    served_split,
)


class Waiter:
    """``wait_ready`` for the service ``client`` talks to, polling every ``interval_s``."""

    def __init__(self, client: CloudRunClient, interval_s: float) -> None:
        self.client = client
        self.cfg: CloudRunConfig = client.cfg
        self.interval_s = interval_s

    def wait_ready(
        self,
        plan: Plan,
        timeout_s: float,
        on_progress: Callable[[str], None] | None = None,
    ) -> ReadyResult:
        """Poll until the service serves the plan's last traffic split and is Ready."""
        return poll_until(
            lambda left: self.readiness(plan, final_split(plan), budget_s=max(0.1, left)),
            timeout_s,
            interval_s=self.interval_s,
            on_progress=on_progress,
        )

    def readiness(
        self, plan: Plan, split: Split | None, budget_s: float | None = None
    ) -> tuple[bool, str]:
        """One look; with ``budget_s``, the read of the service ends within it (the wait's
        limit holds even when the API stops answering)."""
        _, svc = self.client.read_service(budget_s)
        served = describe_routes(svc.statuses, svc.latest_ready)
        if split is None:
            return False, "the plan has no traffic change to wait for"
        wanted = served_split(routes_for(split, ()), svc.latest_ready)
        if svc.served != wanted:
            return (
                False,
                f"traffic served is {served}, not {describe_split(sorted(wanted.items()))}",
            )
        if svc.observed_generation < svc.generation or svc.reconciling:
            return False, (
                f"traffic served is right but generation {svc.generation} is not observed yet "
                f"(observed {svc.observed_generation})"
            )
        if not svc.routes_ready:
            why = svc.terminal.describe() if svc.terminal is not None else "RoutesReady failed"
            return False, f"the traffic is not routed yet: {why}"
        to = plan.to_revision.id
        if plan.action != TO_LATEST:
            rev = next((r for r in self.client.read_revisions() if r.name == to), None)
            if rev is None or not rev.is_ready:
                why = rev.ready.describe() if rev is not None and rev.ready else "not found"
                return False, f"revision {to} is not Ready: {why}"
        message = f"{self.cfg.service} serves {served}; generation {svc.generation} observed"
        if svc.terminal is not None and not svc.terminal.ok:
            message += (
                f"; the service's Ready condition is still {svc.terminal.state_name} because of "
                f"its newest revision {svc.latest_created} ({one_line(svc.terminal.message, 160)})"
            )
        else:
            message += "; Ready"
        if svc.pinned:
            message += (
                f"; traffic is pinned to {to}: later deploys get no traffic until it is sent to "
                f"LATEST (`{self.client.gcloud(None)}`)"
            )
        return True, message
