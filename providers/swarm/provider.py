"""``SwarmProvider``: the console's seam to one Docker Swarm service, put together."""

from __future__ import annotations

from collections.abc import Callable

from console.config import ServiceConfig, SwarmConfig
from console.model import (
    Difference,
    Plan,
    ReadyResult,
    Revision,
    Snapshot,
)
from providers.base import Part, ProviderError
from providers.planned import PlannedProvider
from providers.swarm.client import EngineClient
from providers.swarm.diff import SpecDiff
from providers.swarm.lock import SwarmLock
from providers.swarm.plans import Planner
from providers.swarm.read import NAME, Reader
from providers.swarm.run import POLL_INTERVAL_S, SwarmPart


class SwarmProvider(PlannedProvider):
    """Rolls back a Docker Swarm service (runbook 002); no I/O before the first call."""

    name: str = NAME

    def __init__(self, service: ServiceConfig, *, poll_interval_s: float = POLL_INTERVAL_S):
        if service.swarm is None:
            raise ProviderError(f"{service.label}: provider 'swarm' needs a [services.swarm] table")
        self.service = service
        self.cfg: SwarmConfig = service.swarm
        self.client = EngineClient(self.cfg)
        self.reader = Reader(service, self.client)
        self.planner = Planner(service, self.client, self.reader)
        self.part = SwarmPart(self.client, self.reader)
        self.lock = SwarmLock(self.client, self.cfg.lock_ttl_s)
        self.diff = SpecDiff(self.reader)
        self.poll_interval_s = poll_interval_s

    def snapshot(self) -> Snapshot:
        return self.reader.snapshot()

    def differences(self, live: Revision, target: Revision) -> tuple[Difference, ...]:
        return self.diff.differences(live, target)

    def parts(self) -> tuple[Part, ...]:
        return (self.part,)

    def wait_ready(
        self,
        plan: Plan,
        timeout_s: float,
        on_progress: Callable[[str], None] | None = None,
    ) -> ReadyResult:
        return self.part.wait_ready(plan, timeout_s, on_progress, self.poll_interval_s)

    def switch_took_effect(self, plan: Plan) -> bool | None:
        return self.part.switch_took_effect(plan)

    def acquire_lock(self, operator: str, host: str, ttl_s: float) -> str:
        return self.lock.acquire(operator, host, ttl_s)

    def release_lock(self, operator: str, host: str) -> None:
        self.lock.release(operator, host)

    def logs(self, unit: str, lines: int = 50) -> tuple[str, ...]:
        """A task's last lines (the unit's last word is the task id); else the service's."""
        ident = unit.split()[-1] if unit.strip() else ""
        if ident:
            return self.client.logs("tasks", ident, lines)
        return self.client.logs("services", self.cfg.service, lines)
