"""``CloudRunProvider``: the console's seam to one Cloud Run service, put together.

Each concern is a module of its own: ``client`` (the API), ``read`` (the
snapshot), ``plans`` (what a rollback or an action will do, as typed steps),
``run`` (the part that runs those steps and says, on resume, what took
effect), ``apply`` (one traffic change, followed until served), ``gate`` (the
watch between gradual steps), ``wait`` (``wait_ready``) and ``diff`` (what
changes between two revisions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console.config import CloudRunConfig, ServiceConfig
from console.model import (
    Difference,
    Plan,
    ReadyResult,
    Revision,
    Snapshot,
)
from providers.base import Part, ProviderError
from providers.cloudrun import pitr
from providers.cloudrun.apply import POLL_INTERVAL_S, Updater
from providers.cloudrun.client import REQUEST_TIMEOUT_S, RETRY_S, CloudRunClient
from providers.cloudrun.diff import RevisionDiff
from providers.cloudrun.gate import Gate
from providers.cloudrun.plans import Planner
from providers.cloudrun.read import NAME, Reader
from providers.cloudrun.run import TrafficPart
from providers.cloudrun.wait import Waiter
from providers.planned import PlannedProvider


class CloudRunProvider(PlannedProvider):
    """Rolls back a Cloud Run service by moving its traffic (runbook 004).

    ``gate`` replaces the default gate of gradual rollbacks; ``credentials``
    replaces Application Default Credentials; ``poll_interval_s`` and
    ``retry_s`` are how often operations are polled and how long reads are
    retried.  Nothing touches the network before the first method call.
    """

    name: str = NAME

    def __init__(
        self,
        service: ServiceConfig,
        *,
        gate: Gate | None = None,
        credentials: Any = None,
        poll_interval_s: float = POLL_INTERVAL_S,
        retry_s: float = RETRY_S,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        if service.cloudrun is None:
            raise ProviderError(
                f"{service.label}: provider 'cloudrun' needs a [services.cloudrun] table"
            )
        self.service = service
        self.cfg: CloudRunConfig = service.cloudrun
        self.client = CloudRunClient(
            self.cfg, credentials=credentials, retry_s=retry_s, request_timeout_s=request_timeout_s
        )
        self.reader = Reader(service, self.client)
        self.planner = Planner(service, self.client, self.reader)
        updater = Updater(self.client, poll_interval_s)
        self.traffic = TrafficPart(service, self.client, updater, gate)
        self._parts: tuple[Part, ...] = (self.traffic,)
        if pitr.offered(service):  # point-in-time recovery of the database
            self._parts = (*self._parts, *pitr.parts(service, self.client, updater))
        self.waiter = Waiter(self.client, poll_interval_s)
        self.diff = RevisionDiff(self.client)

    def snapshot(self) -> Snapshot:
        """Traffic (served and asked for), revisions newest first, serving revisions as units."""
        return self.reader.snapshot()

    def differences(self, live: Revision, target: Revision) -> tuple[Difference, ...]:
        """What differs between the two revisions' templates (``providers.cloudrun.diff``)."""
        return self.diff.differences(live, target)

    def parts(self) -> tuple[Part, ...]:
        return self._parts

    def wait_ready(
        self,
        plan: Plan,
        timeout_s: float,
        on_progress: Callable[[str], None] | None = None,
    ) -> ReadyResult:
        """Poll until the service serves the plan's last traffic split and is Ready."""
        return self.waiter.wait_ready(plan, timeout_s, on_progress)

    def switch_took_effect(self, plan: Plan) -> bool | None:
        """Whether the traffic already is what ``plan`` ends with: for resuming a plan
        journaled before steps were typed (a typed plan's steps are asked by their owner)."""
        return self.traffic.switch_took_effect(plan)
