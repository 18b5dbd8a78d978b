"""The rollback flow, shared by the TUI and the headless ``rollback`` command.

assess -> plan -> execute (under the service lock) -> wait ready -> verify ->
record.  Every method is blocking (network, processes, disk) and is called
from a worker thread by the TUI and directly by the CLI, so both run exactly
the same code.  Nothing here claims a step succeeded unless the provider or
the signals observed it; the outcome written to history follows from what was
observed, never from what was attempted.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from console.cdn_flow import CdnSide
from console.changes import with_changes
from console.checklist import (
    NO_DATABASE_NOTE,
    WEBHOOK_NOTE,
    revisions_shown,
    target_note,
    verify_marks,
)
from console.custom_steps import CustomSteps
from console.db_flow import DatabaseSide
from console.flow_hold import HoldSteps
from console.flow_record import RecordSteps
from console.flow_resume import ResumeSteps
from console.flow_state import OUTPUT_HEAD, StepOutput, shorten_line
from console.incident import Incident
from console.model import (
    Assessment,
    HealthResult,
    ItemState,
    Plan,
    ProgressEvent,
    ProgressStatus,
    ReadyResult,
    Revision,
    Sample,
    Snapshot,
    Verification,
    live_units,
    utcnow,
)
from console.recent import RolledBackMeanwhile, refuse_before_plan, refuse_stale_plan
from console.resume import plan_for_journal
from console.runner import Confirm, Held, run_plan
from console.severity import UNHEALTHY, assess
from console.signals import wait_for_requests
from console.signals.base import SignalError
from console.signals.health import check_health
from console.verify import VerifyTick, verify, watch_limit
from providers.base import (
    InvalidTarget,
    OutcomeUnknown,
    Part,
    ProviderError,
    SupportsActions,
    SupportsParts,
)

#: How long an assessment waits at most for the sample a severity needs
#: (``thresholds.min_requests``) before it says "assessing" instead of a verdict.
FIRST_SAMPLE_WAIT_S = 30.0
#: How long the units are read for, once the rollout settled or the wait gave up.
UNITS_READ_S = 10.0


@dataclass
class RollbackFlow(ResumeSteps, RecordSteps, HoldSteps):
    """One operator's rollback of one service, from assessment to history entry."""

    def __post_init__(self) -> None:
        self._detected_fixed = self.detected_at is not None or self.resume_state is not None
        self.operator = self.operator or self.config.console.operator
        self.redact = self.config.redactor
        if self.resume_state is not None:
            self.resume_state = self._claim(self.resume_state)
            self._reopen(self.resume_state)
            self._attach_database()
            return
        self.incident = Incident(
            service=self.service,
            operator=self.operator,
            state_dir=self.config.console.state_dir,
            reason=self.reason,
            redact=self.redact,
            detected_at=self.detected_at or utcnow(),
        )
        self._attach_database()

    def _attach_database(self) -> None:
        """The parts that are not the platform's: the database, the team's own steps, the CDN
        (each when configured)."""
        if self.service.steps:
            self.custom = CustomSteps(self.service, self.incident, self.redact)
            if self.resume_state is not None:
                self.custom.resume_from(self.resume_state)
        if self.service.database is not None:
            self.database = DatabaseSide(
                self.service,
                self.incident,
                self.config.console.state_dir,
                self.redact,
                platform=self.provider,
            )
        if self.service.cdn is not None:
            self.cdn = CdnSide(self.service, self.incident, self.redact, platform=self.provider)

    def _with_database(self, plan: Plan) -> Plan:
        """The platform's rollback plan completed: the database steps around it
        (``console.db_flow``), the team's own steps (``console.custom_steps``), the CDN
        invalidation after it (``console.cdn_flow``), and
        "What changes" (``console.changes``: blocking reads)."""
        if self.database is not None:
            self.database.target = self.schema_target
            plan = self.database.extend(plan)
        if self.custom is not None:
            plan = self.custom.extend(plan)
        return with_changes(self._with_cdn(plan), self.provider, self.database, self.redact)

    def _with_cdn(self, plan: Plan) -> Plan:
        """``plan`` with the CDN invalidation as its last step (a plan that switches)."""
        return self.cdn.extend(plan) if self.cdn is not None else plan

    def _parts(self) -> tuple[Part, ...]:
        """The parts of this flow's plans: the provider's (typed providers), the database,
        the team's own steps, the CDN."""
        parts = self.provider.parts() if isinstance(self.provider, SupportsParts) else ()
        sides = tuple(side for side in (self.database, self.custom, self.cdn) if side is not None)
        return (*parts, *sides)

    def _steps(self, plan: Plan, confirm: Confirm | None = None) -> Iterator[ProgressEvent]:
        """The plan run by the step runner, each step by the part that owns its op.

        Steps without an op (a provider not converted to parts yet, a plan
        journaled before steps were typed) are run by the provider's ``execute``.
        ``confirm`` is asked before a ``confirm_before`` step (``console.flow_hold``).
        """
        if self.database is not None:
            plan = self.database.prepare(plan)
        return run_plan(plan, self._parts(), self.provider.execute, confirm)

    # ----------------------------------------------------------------- read

    def refresh(self) -> Snapshot:
        """Read the platform's live state (blocking); the first read fixes ``anchor``."""
        self.snapshot = self.provider.snapshot()
        if self.anchor is None and self.resume_state is None:
            self.anchor = self.snapshot.current
        return self.snapshot

    def history_shown(self, snapshot: Snapshot) -> None:
        """Tick "Deploy history reviewed": ``snapshot``'s revisions were just put in front of
        the operator (the Target screen's table, the headless run's list).

        Only the code that showed the list calls this, so the tick means it was seen,
        and its note says what was shown.  An empty list ticks nothing.
        """
        if snapshot.revisions:
            self.incident.mark("history", ItemState.DONE, revisions_shown(snapshot))

    def establish_prepare(self) -> None:
        """Tick the prepare items the console can establish itself, each with what it saw.

        The default target (the revision before the live one), the migrations in
        the range (no database configured, or the database at what the target
        ships), the team told (a webhook is set: the start message goes before
        the first change).  What only a human can confirm stays open.  Blocking
        (a platform and perhaps a database read, journal writes).
        """
        snapshot = self.snapshot or self.refresh()
        marks: list[tuple[str, str]] = []
        note = target_note(snapshot)
        if note is not None:
            marks.append(("target", note))
        if self.database is None:
            marks.append(("migrations", NO_DATABASE_NOTE))
        else:
            previous = snapshot.previous()
            seen = self.database.schema_matches(previous) if previous is not None else None
            if seen is not None:
                marks.append(("migrations", seen))
        if self.config.console.webhook_env:
            marks.append(("notify-start", WEBHOOK_NOTE))
        for item_id, text in marks:
            if self.incident.state_of(item_id) is ItemState.PENDING:
                self.incident.mark(item_id, ItemState.DONE, text)

    def check_health(self) -> tuple[HealthResult, ...]:
        self.health = check_health(self.service.health)
        return self.health

    def wait_for_sample(
        self, timeout_s: float, cancelled: Callable[[], bool] | None = None
    ) -> None:
        """Wait (at most ``timeout_s``) until the error-rate source holds the sample a
        severity needs (``thresholds.min_requests``), so ``assess`` decides on enough
        data.  Returns early when the source cannot be read (``assess`` says so) or
        ``cancelled`` says the caller stopped waiting."""
        svc = self.service
        wait_for_requests(
            self.source,
            svc.thresholds.min_requests,
            timeout_s,
            svc.error_rate.interval_s,
            cancelled=cancelled,
        )

    def assess(self) -> Assessment:
        """Severity from the current signals; the first assessment fixes "before".

        Without a detection time given, the incident counts from the first
        unhealthy observation: the reading of the first assessment that finds
        the service critical, high or medium (as the dashboard does), and until
        then from the first assessment the console made.
        """
        snapshot = self.snapshot or self.refresh()
        observed = utcnow()
        health = self.check_health()
        try:
            sample: Sample | None = self.source.sample()
        except SignalError as err:
            self.incident.log("signal", f"error rate not available: {err}")
            sample = None
        result = assess(
            self.service.thresholds,
            sample,
            health,
            snapshot.units,
            # (A deadline exists only for an unhealthy verdict, which sets the time.)
            detected_at=self.incident.detected_at if self._detected_fixed else observed,
            now=utcnow(),
        )
        if not self._detected_fixed:
            unhealthy = not result.assessing and result.severity in UNHEALTHY
            if unhealthy or not self._assessed:
                self._set_detected(observed)
            self._detected_fixed = unhealthy
        self._assessed = True
        self.incident.set_assessment(result, sample)
        return result

    def _set_detected(self, when: datetime) -> None:
        """Move the incident's detection time (journaled, so a resume keeps it)."""
        if when == self.incident.detected_at:
            return
        self.incident.detected_at = when
        self.incident.journal_event("detected", detected_at=when)

    # ----------------------------------------------------------------- act

    def set_reason(self, reason: str, impact: str = "", *, given: str = "typed") -> None:
        """Record why (``given``: "typed", or "accepted" as the console suggested it).

        In the TUI this is the decision: ``r`` on the dashboard and a reason
        given on Assess tick "Rollback is needed", saying how.  Saving the same
        reason again (back and forth between the steps) logs nothing new.
        """
        changed = (reason, impact or self.incident.impact, given) != (
            self.incident.reason,
            self.incident.impact,
            self.incident.reason_given,
        )
        self.incident.reason = reason
        self.incident.reason_given = given
        if impact:
            self.incident.impact = impact
        if not changed:
            return
        self.incident.journal_event(
            "reason",
            reason=self.redact(reason),
            impact=self.redact(self.incident.impact),
            given=given,
        )
        self.incident.log("reason", reason)
        how = "the console's suggested reason accepted" if given == "accepted" else "reason typed"
        self.incident.mark("decide", ItemState.DONE, f"decided on the dashboard (r), {how}")

    # ----------------------------------------------------------------- locks

    # ----------------------------------------------------------------- planning

    def plan_action(self, action: str, argument: str | None, *, dry_run: bool = False) -> Plan:
        """Plan one of the provider's actions (restart, restore a manifest, image rollback...)."""
        if not isinstance(self.provider, SupportsActions):
            raise InvalidTarget(f"the {self.provider.name} provider has no actions")
        plan = self._with_cdn(self.provider.plan_action(action, argument, dry_run=dry_run))
        self.incident.plan = plan
        self.incident.mark("target", ItemState.DONE, f"{action} {argument or ''}".strip())
        self.incident.log("plan", plan.summary + (" (dry run)" if dry_run else ""))
        if not dry_run:
            self.incident.journal_event("plan", plan=plan_for_journal(plan))
            if plan.action == "pitr":  # the loss window, the two instances, the way back
                for warning in plan.warnings:
                    self.incident.notes.append(self.redact(warning))
                    self.incident.journal_event("note", note=self.redact(warning))
        return plan

    def plan(
        self, target: str | None, *, dry_run: bool = False, explicit: bool | None = None
    ) -> Plan:
        """Validate the target with the provider; raises NotFound / InvalidTarget (exit 2).

        ``explicit`` (default: a target was given) says the operator named the
        target rather than accepting "the previous".  A plan to the previous is
        refused with ``RolledBackMeanwhile`` (exit 3) when the live revision is
        no longer the one this flow first saw (``anchor``), or when another
        console's rollback runs or just went to it (``console.recent``); a dry
        run shows the refusal as a warning instead.
        """
        explicit = target is not None if explicit is None else explicit
        plan = self._with_database(self.provider.plan(target, dry_run=dry_run))
        try:
            self._refuse_second_rollback(plan.from_revision, explicit)
        except RolledBackMeanwhile as refused:
            if not dry_run:
                self.incident.log("refused", str(refused))
                raise
            plan = dataclasses.replace(plan, warnings=(*plan.warnings, str(refused)))
        self.planned_at, self.explicit_target = utcnow(), explicit
        self.incident.plan = plan
        if not dry_run:
            self.incident.journal_event("plan", plan=plan_for_journal(plan))
        self.incident.mark("target", ItemState.DONE, plan.to_revision.version)
        self.incident.log("plan", plan.summary + (" (dry run)" if dry_run else ""))
        return plan

    def _refuse_second_rollback(self, live: Revision | None, explicit: bool) -> None:
        """Raise ``RolledBackMeanwhile`` if planning from ``live`` could roll back twice."""
        anchor = self.anchor
        if (
            not explicit
            and anchor is not None
            and live is not None
            and (anchor.id, anchor.version) != (live.id, live.version)
        ):
            raise RolledBackMeanwhile(
                f"{self.service.label} changed since this console read it: {anchor.version} "
                f"was live, now {live.version} is; nothing was changed: look at the service "
                "again, or name the target explicitly (--to REV)"
            )
        refuse_before_plan(
            self.config.console.state_dir,
            self.config.console.history_file,
            self.service,
            live=live,
            explicit=explicit,
            exclude=self.incident.id,
            now=utcnow(),
        )

    def execute(
        self,
        plan: Plan,
        on_event: Callable[[ProgressEvent], None] | None = None,
        confirm: Confirm | None = None,
    ) -> ReadyResult:
        """Run the plan under the service lock, then wait until the platform is ready.

        Raises ``LockHeld`` (exit 3) before touching anything when another
        console holds the lock, and re-raises any ``ProviderError`` after
        recording it; a ``ReadyResult`` with ``ready=False`` is returned (not
        raised) when the rollout did not finish in time.  ``Held`` is raised when
        ``confirm`` said no before a ``confirm_before`` step (None: no question).
        """
        if plan.dry_run:
            raise ValueError("a dry-run plan is never executed")
        if self.database is not None:
            self.database.require_backup(plan)
        return self._run(plan, plan, lambda e: e, on_event, confirm)

    def _run(
        self,
        plan: Plan,
        full: Plan,
        to_full: Callable[[ProgressEvent], ProgressEvent],
        on_event: Callable[[ProgressEvent], None] | None,
        confirm: Confirm | None = None,
    ) -> ReadyResult:
        """Execute ``plan`` (all of ``full``, or the steps of it left to run) and wait.

        ``to_full`` maps a progress event of ``plan`` to the step numbering of
        ``full``, which is what the journal, the timeline and the screens use.
        """
        self.take_locks()
        if self.resume_state is None and plan.action == "rollback":
            try:
                refuse_stale_plan(
                    self.config.console.state_dir,
                    self.config.console.history_file,
                    self.service,
                    planned_at=self.planned_at or utcnow(),
                    explicit=self.explicit_target,
                    live=plan.from_revision,
                    exclude=self.incident.id,
                    now=utcnow(),
                )
            except RolledBackMeanwhile as refused:
                self.incident.log("refused", str(refused))
                self.close()
                raise
        self.incident.journal_event("execute", host=socket.gethostname(), pid=os.getpid())
        self.incident.log("execute", f"started: {plan.summary}")
        if self.resume_state is None:
            self.notify("start")
        self.executed = True
        try:
            for raw in self._steps(plan, confirm):
                self._seen(raw)  # a compared check, kept for the entry
                # What a step prints may quote a secret: redacted before anyone sees it.
                event = to_full(dataclasses.replace(raw, message=self.redact(raw.message)))
                self._log_event(full, event)
                if on_event:
                    on_event(event)
        except Held as held:
            self._hold(held, full)
            raise
        except OutcomeUnknown as err:
            # No entry now: the journal stays open and ``resume`` settles it.
            self.outcome_unknown = str(err)
            self.notify("interrupted")
            self.incident.log(
                "unknown",
                "not known whether the change took effect (see above); the incident "
                "stays open for resume, which reads the platform first",
            )
            raise
        except ProviderError as err:
            self.execute_error = str(err)
            self.incident.mark("run", ItemState.FAILED, str(err))
            self.incident.log("failed", f"rollback failed: {err}")
            raise
        self.incident.mark("run", ItemState.DONE)
        ready = self._wait_ready(full, on_event)
        self.incident.journal_event(
            "ready", ready=ready.ready, message=self.redact(ready.message), waited_s=ready.waited_s
        )
        self.ready = ready
        state = ItemState.DONE if ready.ready else ItemState.FAILED
        self.incident.mark("rollout", state, "" if ready.ready else ready.message)
        self.incident.log("ready" if ready.ready else "not-ready", ready.message)
        snapshot = self._snapshot_within(UNITS_READ_S)
        if isinstance(snapshot, ProviderError):
            self.incident.log("snapshot", f"could not re-read units: {snapshot}")
        elif snapshot is None:
            self.incident.log(
                "snapshot", f"could not re-read units: no answer within {UNITS_READ_S:g} s"
            )
        else:
            self.snapshot = snapshot
            units = live_units(snapshot.units)  # history (Swarm's shut-down tasks) aside
            if units:
                all_ready = all(u.ready for u in units)
                self.incident.mark(
                    "units",
                    ItemState.DONE if all_ready else ItemState.FAILED,
                    f"{sum(u.ready for u in units)}/{len(units)} ready",
                )
        return ready

    def _snapshot_within(self, limit_s: float) -> Snapshot | ProviderError | None:
        """The platform read once more, or None when it does not answer within ``limit_s``.

        Only the units checklist item depends on it, so an API that stopped
        answering during the wait must not hold the rollback's end (and the
        operator's terminal) for the SDK's own timeouts and retries: the read
        goes on in a daemon thread and its late answer is dropped.
        """
        found: list[Snapshot | ProviderError] = []

        def read() -> None:
            try:
                found.append(self.provider.snapshot())
            except ProviderError as err:
                found.append(err)
            except Exception as err:  # a bug, but not one to hide as "no answer"
                found.append(ProviderError(f"unexpected {type(err).__name__}: {err}"))

        reader = threading.Thread(target=read, name="snapshot-after-rollback", daemon=True)
        reader.start()
        reader.join(limit_s)
        return found[0] if found else None

    def _wait_ready(
        self, plan: Plan, on_event: Callable[[ProgressEvent], None] | None
    ) -> ReadyResult:
        """Wait for the platform; a provider that reports progress has it shown as it changes.

        The lines ("2 of 3 updated replicas are available...") go to the screen
        or the terminal only: the journal and the history keep the result.
        """
        timeout = self.service.ready_timeout_s
        if on_event is None:
            return self.provider.wait_ready(plan, timeout)
        after_last = len(plan.steps)

        def progress(line: str) -> None:
            on_event(ProgressEvent(after_last, ProgressStatus.OUTPUT, self.redact(line)))

        return self.provider.wait_ready(plan, timeout, on_progress=progress)

    def _log_event(self, plan: Plan, event: ProgressEvent) -> None:
        title = plan.steps[event.step].title if 0 <= event.step < len(plan.steps) else "step"
        if event.status is ProgressStatus.OUTPUT:
            self._log_output(event)
            return
        self._flush_output(event.step)
        self.incident.journal_event("step", index=event.step, status=event.status)
        self.incident.log(event.status.value, f"{title}: {event.message}")

    def _log_output(self, event: ProgressEvent) -> None:
        """Keep a step's first and last lines of output in the record, not all of them.

        The operator sees every line live (``on_event``); the timeline, the
        journal (one fsync a line) and the history entry keep the first
        ``OUTPUT_HEAD`` and the last ``OUTPUT_TAIL``, so a restart that prints a
        build log neither slows the rollback down nor buries the entry.
        """
        kept = self._output.setdefault(event.step, StepOutput())
        kept.lines += 1
        line = shorten_line(event.message)
        if kept.lines <= OUTPUT_HEAD:
            self.incident.log("output", f"  {line}")
        else:
            kept.tail.append(line)

    def _flush_output(self, step: int) -> None:
        kept = self._output.pop(step, None)
        if kept is None:
            return
        hidden = kept.lines - OUTPUT_HEAD - len(kept.tail)
        if hidden > 0:
            self.incident.log("output", f"  … {hidden} lines of output not shown …")
        for line in kept.tail:
            self.incident.log("output", f"  {line}")

    def verify(
        self,
        window_s: float | None = None,
        on_tick: Callable[[VerifyTick], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Verification:
        """Watch health and error rate for the verify window; tick the verify items."""
        window = self.service.verify_window_s if window_s is None else window_s
        svc = self.service
        self.incident.log(
            "verify",
            f"watching health and error rate for {window:g} s (a pass needs at least "
            f"{svc.verify_min_rounds} health rounds and {svc.verify_min_requests} requests; "
            f"the watch goes on for them up to {watch_limit(window):g} s)",
        )
        result = verify(
            svc,
            self.source,
            before=self.incident.before,
            window_s=window,
            on_tick=on_tick,
            stop=stop,
            min_rounds=svc.verify_min_rounds,
            min_requests=svc.verify_min_requests,
        )
        self.incident.verification = result
        self.incident.after = result.after
        for item, state, note in verify_marks(result, self.service):
            self.incident.mark(item, state, note)
        # Recovered only by a verdict that passed: a failed re-verification (a resume)
        # takes back what an earlier one said.
        self.incident.recovered_at = utcnow() if result.passed else None
        self.incident.journal_event(
            "verified", verification=result, recovered_at=self.incident.recovered_at
        )
        self.incident.log("verified" if result.passed else "not-verified", result.message)
        # Verification is over: other bastions may act again (the local lock stays
        # until the entry is written, so this host still sees the incident as live).
        self.release_platform_lock()
        self.notify("completion")
        return result

    # ----------------------------------------------------------------- notify

    # ----------------------------------------------------------------- record
