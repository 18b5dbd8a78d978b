"""The rollback wizard on fixed data, for the snapshots of every flow screen.

Like ``fixed_dashboard``: a provider and an error-rate source that are plain
objects returning fixed ``console.model`` values, a frozen clock, and the
real ``RollbackFlow`` and screens on top.  The data is chosen to be awkward
the way production is: release folders under a long path (the plan's ``ln``
command is longer than 80 columns), command output with long paths, a
restart that fails with systemd's long message.  Paths the console writes
(history, state) are relative to the test's working folder, so the SVGs do
not depend on where the test ran.

Only ``FixedFlow.verify`` stands in for a real watch: it gives the verdict a
recovered service gets after a minute of watching, at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from console.checklist import verify_marks
from console.config import Config, ConsoleConfig, HealthCheck, HostConfig, ServiceConfig
from console.flow import RollbackFlow
from console.incident import Incident
from console.model import (
    Action,
    Assessment,
    HealthResult,
    ItemState,
    Plan,
    ProgressEvent,
    ProgressStatus,
    ReadyResult,
    Revision,
    Sample,
    Severity,
    Snapshot,
    Step,
    StepKind,
    Unit,
    Verification,
)
from console.verify import VerifyTick
from providers.base import CommandFailed

#: The frozen "now" of every fixed-data flow test (as in ``fixed_dashboard``).
T0 = datetime(2026, 1, 16, 2, 0, tzinfo=UTC)

RELEASES = "/srv/deploy/web-checkout/releases"
LINK = "/srv/deploy/web-checkout/current"

REVISIONS: tuple[Revision, ...] = (
    Revision(
        "v1.3.0",
        "v1.3.0",
        T0 - timedelta(minutes=52),
        "New one-page checkout flow (#482)",
        current=True,
        detail=f"{RELEASES}/v1.3.0",
    ),
    Revision(
        "v1.2.9",
        "v1.2.9",
        T0 - timedelta(days=1, hours=3),
        "Cache headers for static assets (#476)",
        detail=f"{RELEASES}/v1.2.9",
    ),
    Revision(
        "v1.2.8",
        "v1.2.8",
        T0 - timedelta(days=3),
        "Fix the login redirect loop when the session cookie expired mid-checkout (#471)",
        detail=f"{RELEASES}/v1.2.8",
    ),
)

PLAN = Plan(
    service="web",
    environment="production",
    provider="host",
    from_revision=REVISIONS[0],
    to_revision=REVISIONS[1],
    steps=(
        Step(
            "Point current at releases/v1.2.9",
            f"ln -sfn {RELEASES}/v1.2.9 {LINK}",
            StepKind.SWITCH,
        ),
        Step(
            "Restart web (production) so it runs v1.2.9",
            "sudo systemctl restart web-checkout.service",
            StepKind.RESTART,
        ),
    ),
)

ACTIONS: tuple[Action, ...] = (
    Action(
        "restart",
        "Restart the live release",
        "Run the restart command (sudo systemctl restart web-checkout.service) "
        "without switching release",
    ),
    Action(
        "revision",
        "Roll back to a chosen release",
        "Point current at another release folder, then restart",
        argument="revision",
        choices=("v1.2.9", "v1.2.8"),
    ),
)

#: What the switch and a failing restart print, as systemd and ``ln`` would.
SWITCH_OUTPUT = (
    f"created .current.rollback-4242-9ba4a4e5 -> {RELEASES}/v1.2.9",
    f"{LINK} -> {RELEASES}/v1.2.9",
)
RESTART_FAILURE = (
    "Job for web-checkout.service failed because the control process exited with error "
    'code. See "systemctl status web-checkout.service" and "journalctl -xeu '
    'web-checkout.service" for details.'
)


class FrozenClock:
    """A clock that only moves when a test says so."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FixedProvider:
    """The host provider as plain data: fixed revisions, ``PLAN``, output and readiness.

    ``fail_restart`` makes the restart fail the way a real ``systemctl restart`` does.
    """

    name = "host"

    def __init__(self, clock: FrozenClock, *, fail_restart: bool = False) -> None:
        self.clock = clock
        self.live = REVISIONS[0]
        self.fail_restart = fail_restart

    def snapshot(self) -> Snapshot:
        revisions = tuple(
            Revision(
                r.id,
                r.version,
                r.created,
                r.change_cause,
                current=r.id == self.live.id,
                detail=r.detail,
            )
            for r in REVISIONS
        )
        return Snapshot(
            service="web",
            environment="production",
            provider="host",
            taken_at=self.clock(),
            current=next(r for r in revisions if r.current),
            revisions=revisions,
            units=(Unit("pid 4242", "running", True, self.live.id, 0, T0, "app-01"),),
        )

    def plan(self, target: str | None, *, dry_run: bool = False) -> Plan:
        return PLAN

    def execute(self, plan: Plan) -> Iterator[ProgressEvent]:
        at = self.clock
        yield ProgressEvent(0, ProgressStatus.STARTED, plan.steps[0].command, at=at())
        for line in SWITCH_OUTPUT:
            yield ProgressEvent(0, ProgressStatus.OUTPUT, line, at=at())
        self.clock.advance(1)
        yield ProgressEvent(0, ProgressStatus.FINISHED, SWITCH_OUTPUT[-1], at=at())
        yield ProgressEvent(1, ProgressStatus.STARTED, plan.steps[1].command, at=at())
        self.clock.advance(2)
        if self.fail_restart:
            yield ProgressEvent(1, ProgressStatus.OUTPUT, RESTART_FAILURE, at=at())
            yield ProgressEvent(1, ProgressStatus.FAILED, "exited 1", at=at())
            raise CommandFailed(
                f"sudo systemctl restart web-checkout.service exited 1: {RESTART_FAILURE}"
            )
        yield ProgressEvent(1, ProgressStatus.FINISHED, "exited 0", at=at())
        self.live = plan.to_revision

    def wait_ready(
        self, plan: Plan, timeout_s: float, on_progress: Callable[[str], None] | None = None
    ) -> ReadyResult:
        self.clock.advance(3)
        return ReadyResult(True, "1/1 process serving v1.2.9 (pid 4242)", 3.0)

    def actions(self) -> tuple[Action, ...]:
        return ACTIONS


class FixedSource:
    """An error-rate source that always reports the same healthy sample."""

    name = "probe"

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def sample(self, since: datetime | None = None) -> Sample:
        return Sample(T0, 0.0, 12.0, 300, "probe")

    def history(self, points: int = 60) -> list[Sample]:
        return []

    def wait_for_data(self, timeout_s: float) -> bool:
        return True


HEALTH_URL = "http://10.0.0.5:8080/health"


class FixedFlow(RollbackFlow):
    """``RollbackFlow`` whose verify watch is, at once, the verdict of a minute of a
    recovered service (one round of ticks, then the same bookkeeping as the real one)."""

    def verify(
        self,
        window_s: float | None = None,
        on_tick: Callable[[VerifyTick], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Verification:
        window = self.service.verify_window_s if window_s is None else window_s
        clock = self.incident.clock
        after = Sample(clock(), 0.0, 12.0, 300, "probe")
        health = (HealthResult(HEALTH_URL, True, 200, 14.0, at=clock()),)
        if on_tick is not None:
            on_tick(VerifyTick(window, window, health, after, 0, rounds=3, rounds_needed=3))
        result = Verification(
            True,
            "health held 60 s; error rate 0.0% of 300 requests (was 61.0%); p95 12 ms",
            window,
            self.incident.before,
            after,
            health,
            health_held=True,
        )
        self.incident.verification = result
        self.incident.after = after
        for item, state, note in verify_marks(result, self.service):
            self.incident.mark(item, state, note)
        self.incident.recovered_at = clock()
        self.incident.log("verified", result.message)
        return result


def fixed_config(root: Path = Path()) -> Config:
    """``web (production)`` on a host; history and state under ``root`` (relative: the SVGs
    show these paths)."""
    service = ServiceConfig(
        "web",
        "production",
        "host",
        verify_window_s=60,
        host=HostConfig(releases_dir=Path(RELEASES), current_link=Path(LINK)),
        health=(HealthCheck(HEALTH_URL),),
    )
    return Config(
        root / "config.toml",
        ConsoleConfig("alice", root / "rollback-history.md", root / "state"),
        (service,),
    )


def assessed_flow(
    root: Path = Path(), *, fail_restart: bool = False, cls: type[FixedFlow] = FixedFlow
) -> tuple[FixedFlow, FrozenClock]:
    """A flow (a ``cls``) on fixed data whose assessment is in (critical); no reason yet."""
    clock = FrozenClock()
    config = fixed_config(root)
    service = config.services[0]
    provider = FixedProvider(clock, fail_restart=fail_restart)
    flow = cls(config, service, provider, FixedSource(), operator="alice")
    flow.incident = incident = Incident(
        service=service,
        operator="alice",
        state_dir=config.console.state_dir,
        clock=clock,
        detected_at=T0,
        id="web-production-20260116T020000Z",
        redact=flow.redact,
    )
    incident.set_assessment(
        Assessment(
            Severity.CRITICAL,
            "Roll back now — decide within 5 minutes",
            (
                "error rate 61.0% >= 50% (critical)",
                f"1 of 1 health checks failing ({HEALTH_URL}: HTTP 500, expected 200)",
                "p95 380 ms >= 3.0x baseline 40 ms",
            ),
            T0 + timedelta(minutes=5),
            0.61,
            380.0,
        ),
        Sample(T0, 0.61, 380.0, 300, "probe"),
    )
    clock.advance(40)
    return flow, clock


def prepared_flow(
    root: Path = Path(), *, fail_restart: bool = False
) -> tuple[FixedFlow, FrozenClock]:
    """Assessed, with a reason, the prepare checklist done and the plan made."""
    flow, clock = assessed_flow(root, fail_restart=fail_restart)
    flow.set_reason("5xx spike right after the v1.3.0 deploy", "checkout failing for ~60% of users")
    incident = flow.incident
    for item in ("decide", "notify-start", "migrations"):
        incident.mark(item, ItemState.DONE)
    incident.mark("backup", ItemState.SKIPPED, "no schema change in v1.3.0")
    clock.advance(20)
    flow.history_shown(flow.refresh())
    flow.plan("v1.2.9")
    clock.advance(30)
    return flow, clock


def finished_flow(root: Path = Path()) -> FixedFlow:
    """Rolled back from v1.3.0 to v1.2.9 and verified, on fixed data."""
    flow, clock = prepared_flow(root)
    flow.execute(PLAN)
    clock.advance(60)
    flow.verify()
    return flow
