"""``EcsProvider``: the ECS service behind the provider protocol, made of this package's pieces.

Reading (``read``, ``snapshot``, ``ecr``, ``rds``, ``logs``, ``diff``), planning
(``plans``, whose steps ``steps`` types and renders), running (the parts in
``run`` and ``restore``, the waits in ``rollout``) and the platform lock
(``lock``) each live in their own module; this class only wires them to one
``EcsApi`` (config and clients) and answers the protocol.
"""

from __future__ import annotations

from collections.abc import Callable

from console.config import ServiceConfig
from console.errors import ProviderError
from console.model import (
    Difference,
    Plan,
    ReadyResult,
    Revision,
    Snapshot,
    StepKind,
)
from console.runner import owner_of
from providers.base import Part
from providers.ecs import pitr
from providers.ecs.client import EcsApi
from providers.ecs.diff import differences
from providers.ecs.ecr import SLOW_CACHE_S, EcrTags
from providers.ecs.legacy import typed_steps
from providers.ecs.lock import TagLock
from providers.ecs.logs import task_logs
from providers.ecs.plans import Planner
from providers.ecs.rds import RdsSnapshot, RdsSnapshots
from providers.ecs.read import EcsReader
from providers.ecs.refs import EcrImageTag, ImageRef
from providers.ecs.restore import RdsPart
from providers.ecs.rollout import Rollouts
from providers.ecs.run import LegacyPart, ServicePart
from providers.ecs.snapshot import SnapshotReader
from providers.planned import PlannedProvider


class EcsProvider(PlannedProvider):
    """Rolls back one ECS service (``[services.ecs]``); see the package doc.

    Construction does no I/O and imports no SDK.
    """

    name: str = "ecs"

    def __init__(self, service: ServiceConfig) -> None:
        if service.ecs is None:
            raise ProviderError(f"{service.label}: provider 'ecs' needs a [services.ecs] table")
        self.service = service
        self.cfg = service.ecs
        self.api = EcsApi(service, service.ecs)
        #: The AWS clients (``console.aws``): made on first use, shared by every piece.
        self.aws = self.api.aws
        self.reader = EcsReader(self.api)
        self.ecr = EcrTags(self.api)
        self.rds = RdsSnapshots(self.api, SLOW_CACHE_S)
        self.lock = TagLock(self.api, self.reader)
        self.rollouts = Rollouts(self.api, self.reader)
        self.planner = Planner(self.api, self.reader, self.ecr, self.rds)
        self.snapshots = SnapshotReader(self.api, self.reader, self.ecr, self.rds)
        typed: tuple[Part, ...] = (
            ServicePart(self.api, self.reader, self.lock, self.rollouts),
            RdsPart(self.api, self.lock, self.rollouts),
        )
        if pitr.offered(service):  # point-in-time recovery of the RDS database
            typed = (*typed, *pitr.parts(service, self.api, self.lock))
        self._parts: tuple[Part, ...] = (*typed, LegacyPart(self.api, typed))

    @property
    def poll_interval_s(self) -> float:
        """Longest pause between two polls while waiting for a rollout."""
        return self.api.poll_interval_s

    @poll_interval_s.setter
    def poll_interval_s(self, value: float) -> None:
        self.api.poll_interval_s = value

    @property
    def label(self) -> str:
        return self.service.label

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> Snapshot:
        """Task definition, deployments, revisions newest first, tasks, ECR tags, RDS snapshots."""
        return self.snapshots.snapshot()

    def logs(self, unit: str, lines: int = 50) -> tuple[str, ...]:
        """The last ``lines`` log lines of task ``unit``'s main container (awslogs driver)."""
        return task_logs(self.api, self.reader, unit, lines)

    def image_tags(self) -> list[EcrImageTag]:
        """ECR tags of the live image's repository, newest push first ([] when not ECR)."""
        state = self.reader.read()
        image = str(self.reader.main_container(state.task_definition).get("image", ""))
        return self.ecr.tags(ImageRef.parse(image))[0]

    def rds_snapshots(self) -> list[RdsSnapshot]:
        """Snapshots of ``rds_instance`` newest first ([] when none is configured)."""
        return self.rds.read()

    def differences(self, live: Revision, target: Revision) -> tuple[Difference, ...]:
        """What differs between the two revisions' task definitions (``providers.ecs.diff``)."""
        return differences(self.reader, live, target)

    # ------------------------------------------------------------------ running

    def parts(self) -> tuple[Part, ...]:
        return self._parts

    def wait_ready(
        self,
        plan: Plan,
        timeout_s: float,
        on_progress: Callable[[str], None] | None = None,
    ) -> ReadyResult:
        """Poll until the plan's rollout settled, FAILED, or ``timeout_s`` passed (never raises)."""
        return self.rollouts.wait_ready(plan, timeout_s, on_progress)

    def switch_took_effect(self, plan: Plan) -> bool | None:
        """Whether the service already runs what ``plan`` points it at: its switch step's part
        reads the service (a plan journaled before steps were typed, too)."""
        steps = typed_steps(plan, self.api)
        for kind in (StepKind.SWITCH, StepKind.RESTART):
            found = [s for s in steps if s.kind is kind and s.op]
            if found:
                return owner_of(found[-1], self._parts).took_effect(found[-1], plan)
        return None

    # ------------------------------------------------------------------ lock

    def acquire_lock(self, operator: str, host: str, ttl_s: float) -> str:
        return self.lock.acquire(operator, host, ttl_s)

    def release_lock(self, operator: str, host: str) -> None:
        self.lock.release(operator, host)
