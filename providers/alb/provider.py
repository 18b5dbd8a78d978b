"""``AlbProvider``: blue/green at an Application Load Balancer, put together.

Each concern is a module of its own: ``client`` (the ELBv2 client and the
``aws elbv2`` commands), ``forward`` (weights and actions, no SDK), ``read``
(the listener, the targets' health, the version tags), ``snapshot`` (groups
as revisions, targets as units), ``ops`` (the typed steps), ``plans``
(rollback and ``gradual``), ``run`` (the part running the steps and saying on
resume what took effect), ``wait`` (``wait_ready``) and ``diff`` (what
changes).
"""

from __future__ import annotations

from collections.abc import Callable

from console.config import AlbConfig, ServiceConfig
from console.model import (
    Difference,
    Plan,
    ReadyResult,
    Revision,
    Snapshot,
)
from providers.alb.client import AlbApi
from providers.alb.diff import differences
from providers.alb.ops import last_change
from providers.alb.plans import Planner
from providers.alb.read import AlbReader
from providers.alb.run import ForwardPart
from providers.alb.snapshot import NAME, read_state, snapshot_of
from providers.alb.wait import Waiter
from providers.base import Part, ProviderError
from providers.gate import Gate
from providers.planned import PlannedProvider


class AlbProvider(PlannedProvider):
    """Switches a listener (or rule) between target groups (``[services.alb]``).

    ``gate`` replaces the default gate of gradual switches.  Construction does
    no I/O and imports no SDK.
    """

    name: str = NAME

    def __init__(self, service: ServiceConfig, *, gate: Gate | None = None) -> None:
        if service.alb is None:
            raise ProviderError(f"{service.label}: provider 'alb' needs a [services.alb] table")
        self.service = service
        self.cfg: AlbConfig = service.alb
        self.api = AlbApi(service, service.alb)
        self.reader = AlbReader(self.api)
        self.planner = Planner(service, self.api, self.reader)
        self.forward = ForwardPart(service, self.api, self.reader, gate)
        self.waiter = Waiter(self.reader)

    @property
    def poll_interval_s(self) -> float:
        return self.api.poll_interval_s

    @poll_interval_s.setter
    def poll_interval_s(self, value: float) -> None:
        self.api.poll_interval_s = value

    def snapshot(self) -> Snapshot:
        """Where the listener forwards, the groups as revisions, their targets as units."""
        return snapshot_of(self.service, self.cfg, self.api.where, read_state(self.reader))

    def differences(self, live: Revision, target: Revision) -> tuple[Difference, ...]:
        return differences(self.reader, live, target)

    def parts(self) -> tuple[Part, ...]:
        return (self.forward,)

    def wait_ready(
        self,
        plan: Plan,
        timeout_s: float,
        on_progress: Callable[[str], None] | None = None,
    ) -> ReadyResult:
        """Poll until the listener forwards the plan's last weights and its targets are healthy."""
        return self.waiter.wait_ready(plan, timeout_s, on_progress)

    def switch_took_effect(self, plan: Plan) -> bool | None:
        """Whether the listener forwards what ``plan`` ends with."""
        change = last_change(plan)
        return None if change is None else self.reader.forward().matches(change.weights)
