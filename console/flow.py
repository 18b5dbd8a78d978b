"""The rollback flow, shared by the TUI and the headless ``rollback`` command.

assess -> plan -> execute (under the service lock) -> wait ready -> verify ->
record.  Every method is blocking (network, processes, disk) and is called
from a worker thread by the TUI and directly by the CLI, so both run exactly
the same code.  Nothing here claims a step succeeded unless the provider or
the signals observed it; the outcome written to history follows from what was
observed, never from what was attempted.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from console.config import Config, ServiceConfig
from console.history import append_entry
from console.incident import Incident
from console.lock import ServiceLock
from console.model import (
    Assessment,
    HealthResult,
    HistoryRecord,
    ItemState,
    Outcome,
    Plan,
    ProgressEvent,
    ProgressStatus,
    ReadyResult,
    Snapshot,
    Verification,
    utcnow,
)
from console.redact import Redactor
from console.severity import assess
from console.signals.base import ErrorRateSource
from console.signals.health import check_health
from console.verify import VerifyTick, verify
from providers.base import Provider, ProviderError, SupportsRemoteLock


@dataclass
class FlowResult:
    """What happened, for the CLI's exit code and the record screen."""

    outcome: Outcome
    message: str
    record: HistoryRecord | None = None
    history_file: Path | None = None


@dataclass
class RollbackFlow:
    """One operator's rollback of one service, from assessment to history entry."""

    config: Config
    service: ServiceConfig
    provider: Provider
    source: ErrorRateSource
    reason: str = ""
    operator: str = ""
    redact: Callable[[str], str] = field(default_factory=Redactor)
    #: When the trouble was first seen (the dashboard's first unhealthy poll), so the
    #: decision deadline keeps counting from there instead of restarting at "r".
    detected_at: datetime | None = None
    incident: Incident = field(init=False)
    snapshot: Snapshot | None = field(init=False, default=None)
    health: tuple[HealthResult, ...] = field(init=False, default=())
    executed: bool = field(init=False, default=False)
    execute_error: str = field(init=False, default="")
    ready: ReadyResult | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.operator = self.operator or self.config.console.operator
        self.incident = Incident(
            service=self.service,
            operator=self.operator,
            state_dir=self.config.console.state_dir,
            reason=self.reason,
            redact=self.redact,
            detected_at=self.detected_at or utcnow(),
        )

    # ----------------------------------------------------------------- read

    def refresh(self) -> Snapshot:
        """Read the platform's live state (blocking)."""
        self.snapshot = self.provider.snapshot()
        return self.snapshot

    def check_health(self) -> tuple[HealthResult, ...]:
        self.health = check_health(self.service.health)
        return self.health

    def assess(self) -> Assessment:
        """Severity from the current signals; the first assessment fixes "before"."""
        snapshot = self.snapshot or self.refresh()
        health = self.check_health()
        sample = self.source.sample()
        result = assess(
            self.service.thresholds,
            sample,
            health,
            snapshot.units,
            detected_at=self.incident.detected_at,
            now=utcnow(),
        )
        self.incident.set_assessment(result, sample)
        return result

    # ----------------------------------------------------------------- act

    def set_reason(self, reason: str, impact: str = "") -> None:
        self.incident.reason = reason
        if impact:
            self.incident.impact = impact
        self.incident.log("reason", f"reason: {reason}")

    @contextlib.contextmanager
    def _remote_lock(self) -> Iterator[None]:
        """The platform-side lock (a Deployment annotation, an ECS tag), when there is one.

        Taken after the local lock, so consoles on one bastion never race for
        it; ``LockHeld`` (exit 3) leaves the platform untouched.  Released
        after the rollout settled; a failed release is logged, not raised (the
        lock expires on its own).
        """
        provider = self.provider
        if not isinstance(provider, SupportsRemoteLock):
            yield
            return
        host = socket.gethostname()
        ttl = getattr(getattr(self.service, self.service.provider, None), "lock_ttl_s", 900.0)
        warning = provider.acquire_lock(self.operator, host, ttl)
        self.incident.log("lock", f"platform lock taken by {self.operator} on {host}")
        if warning:
            self.incident.log("lock", warning)
        try:
            yield
        finally:
            try:
                provider.release_lock(self.operator, host)
                self.incident.log("lock", "platform lock released")
            except ProviderError as err:
                self.incident.log("lock", f"platform lock not released (it expires): {err}")

    def plan(self, target: str | None, *, dry_run: bool = False) -> Plan:
        """Validate the target with the provider; raises NotFound / InvalidTarget (exit 2)."""
        plan = self.provider.plan(target, dry_run=dry_run)
        self.incident.plan = plan
        self.incident.mark("target", ItemState.DONE, plan.to_revision.version)
        self.incident.log("plan", plan.summary + (" (dry run)" if dry_run else ""))
        return plan

    def execute(
        self, plan: Plan, on_event: Callable[[ProgressEvent], None] | None = None
    ) -> ReadyResult:
        """Run the plan under the service lock, then wait until the platform is ready.

        Raises ``LockHeld`` (exit 3) before touching anything when another
        console holds the lock, and re-raises any ``ProviderError`` after
        recording it; a ``ReadyResult`` with ``ready=False`` is returned (not
        raised) when the rollout did not finish in time.
        """
        if plan.dry_run:
            raise ValueError("a dry-run plan is never executed")
        lock = ServiceLock(self.config.console.state_dir, self.service, self.operator)
        with lock, self._remote_lock():
            self.incident.mark("history", ItemState.DONE)
            self.incident.log("execute", f"started: {plan.summary}")
            self.executed = True
            try:
                for event in self.provider.execute(plan):
                    self._log_event(plan, event)
                    if on_event:
                        on_event(event)
            except ProviderError as err:
                self.execute_error = str(err)
                self.incident.mark("run", ItemState.FAILED, str(err))
                self.incident.log("failed", f"rollback failed: {err}")
                raise
            self.incident.mark("run", ItemState.DONE)
            ready = self.provider.wait_ready(plan, self.service.ready_timeout_s)
        self.ready = ready
        state = ItemState.DONE if ready.ready else ItemState.FAILED
        self.incident.mark("rollout", state, "" if ready.ready else ready.message)
        self.incident.log("ready" if ready.ready else "not-ready", ready.message)
        try:
            units = self.refresh().units
        except ProviderError as err:
            self.incident.log("snapshot", f"could not re-read units: {err}")
        else:
            if units:
                all_ready = all(u.ready for u in units)
                self.incident.mark(
                    "units",
                    ItemState.DONE if all_ready else ItemState.FAILED,
                    f"{sum(u.ready for u in units)}/{len(units)} ready",
                )
        return ready

    def _log_event(self, plan: Plan, event: ProgressEvent) -> None:
        title = plan.steps[event.step].title if 0 <= event.step < len(plan.steps) else "step"
        if event.status is ProgressStatus.OUTPUT:
            self.incident.log("output", f"  {event.message}")
        else:
            self.incident.log(event.status.value, f"{title}: {event.message}")

    def verify(
        self,
        window_s: float | None = None,
        on_tick: Callable[[VerifyTick], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Verification:
        """Watch health and error rate for the verify window; tick the verify items."""
        window = self.service.verify_window_s if window_s is None else window_s
        self.incident.log("verify", f"watching health and error rate for {window:.0f} s")
        result = verify(
            self.service,
            self.source,
            before=self.incident.before,
            window_s=window,
            on_tick=on_tick,
            stop=stop,
        )
        self.incident.verification = result
        self.incident.after = result.after
        state = ItemState.DONE if result.passed else ItemState.FAILED
        for item in ("health", "error-rate", "latency"):
            self.incident.mark(item, state, "" if result.passed else result.message)
        if result.passed:
            self.incident.recovered_at = utcnow()
        self.incident.log("verified" if result.passed else "not-verified", result.message)
        return result

    # ----------------------------------------------------------------- record

    def outcome(self) -> Outcome:
        """What the history entry must say, from what was observed."""
        if self.execute_error:
            return Outcome.FAILED
        if not self.executed:
            return Outcome.ABORTED
        verification = self.incident.verification
        if self.ready and self.ready.ready and verification and verification.passed:
            return Outcome.ROLLED_BACK
        return Outcome.NOT_VERIFIED

    def build_record(self) -> HistoryRecord:
        return self.incident.to_record(self.outcome())

    def record(self) -> FlowResult:
        """Append the history entry (atomically, under the history file lock)."""
        outcome = self.outcome()
        record = self.incident.to_record(outcome)
        path = self.config.console.history_file
        append_entry(path, record, redact=self.redact)
        self.incident.log("recorded", f"history entry appended to {path}")
        return FlowResult(outcome, outcome.value, record, path)
