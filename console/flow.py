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
import inspect
import os
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from console.config import Config, ServiceConfig
from console.db_flow import DatabaseSide
from console.history import HistoryWriteError, append_entry
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
    Revision,
    Sample,
    SchemaTarget,
    Severity,
    Snapshot,
    StepKind,
    Verification,
    utcnow,
)
from console.notify import WebhookNotifier, already_sent, render_message
from console.outcomes import outcome_text
from console.recent import RolledBackMeanwhile, refuse_before_plan, refuse_stale_plan
from console.resume import JournalState, plan_for_journal, read_state
from console.runner import run_plan
from console.severity import UNHEALTHY, assess
from console.signals import wait_for_requests
from console.signals.base import ErrorRateSource, SignalError
from console.signals.health import check_health
from console.verify import VerifyTick, verify, watch_limit
from providers.base import (
    InvalidTarget,
    OutcomeUnknown,
    Part,
    Provider,
    ProviderError,
    SupportsActions,
    SupportsParts,
    SupportsRemoteLock,
    SupportsResumeCheck,
)


class SwitchUndone(ProviderError):
    """Resume found that the switch the journal saw take effect is no longer live.

    Not a failure of this console: someone (or something: a deploy pipeline, a
    demo rebuilt) put another release back after it stopped.  The caller asks
    the operator whether to roll back again (a new plan, confirmed) or to
    record "not rolled back".
    """

    def __init__(self, message: str, *, live: Revision | None, target: Revision):
        super().__init__(message)
        self.live = live
        self.target = target


#: How long an assessment waits at most for the sample a severity needs
#: (``thresholds.min_requests``) before it says "assessing" instead of a verdict.
FIRST_SAMPLE_WAIT_S = 30.0
#: How long the units are read for, once the rollout settled or the wait gave up.
UNITS_READ_S = 10.0
#: Lines of a step's output the record keeps: the first and the last (see ``_log_output``).
OUTPUT_HEAD = 20
OUTPUT_TAIL = 20
#: Characters of one output line the record keeps.
OUTPUT_LINE_CHARS = 500


@dataclass
class _StepOutput:
    lines: int = 0
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=OUTPUT_TAIL))


def _shorten(line: str) -> str:
    if len(line) <= OUTPUT_LINE_CHARS:
        return line
    return f"{line[:OUTPUT_LINE_CHARS]}… ({len(line)} characters)"


@dataclass
class FlowResult:
    """What happened, for the CLI's exit code and the record screen."""

    outcome: Outcome
    message: str
    record: HistoryRecord | None = None
    history_file: Path | None = None
    #: Set when the entry went to the fallback file (``history_file``) because the
    #: configured history file could not be written: that file, and why.
    not_saved_to: Path | None = None
    not_saved_reason: str = ""


@dataclass
class RollbackFlow:
    """One operator's rollback of one service, from assessment to history entry."""

    config: Config
    service: ServiceConfig
    provider: Provider
    source: ErrorRateSource
    reason: str = ""
    operator: str = ""
    #: When the trouble was first seen (the dashboard's first unhealthy poll, or
    #: ``rollback --detected-at``), so the decision deadline and the time to recover
    #: count from there.  None: from this flow's first unhealthy assessment (see
    #: ``assess``), so the TUI's and the headless figures mean the same thing.
    detected_at: datetime | None = None
    #: An interrupted incident to continue (``console.resume``) instead of opening a new one.
    resume_state: JournalState | None = None
    #: Sends the team's start / completion messages (``console.notify``); None: per the config.
    notifier: WebhookNotifier | None = None
    #: The schema change the operator chose (``--db-*`` options, the target screen); used
    #: only when the service has a database section.  Default: none.
    schema_target: SchemaTarget = field(default_factory=SchemaTarget)
    #: Masks secrets in every text this flow shows or writes: ``config.redactor`` (every
    #: URL credential and ``*_env`` value of the config, the DSN and the webhook included).
    redact: Callable[[str], str] = field(init=False)
    incident: Incident = field(init=False)
    #: The database half of the rollback (``console.db_flow``); None without a database.
    database: DatabaseSide | None = field(init=False, default=None)
    snapshot: Snapshot | None = field(init=False, default=None)
    health: tuple[HealthResult, ...] = field(init=False, default=())
    executed: bool = field(init=False, default=False)
    #: Message kinds this flow sent (or is sending), so each goes out once.
    notified: set[str] = field(init=False, default_factory=set)
    execute_error: str = field(init=False, default="")
    #: Set when a change was sent and nobody can tell whether it took effect
    #: (``OutcomeUnknown``): the incident must stay open, not be recorded.
    outcome_unknown: str = field(init=False, default="")
    #: Set when resume found the interrupted switch undone on the platform (what is live).
    undone: str = field(init=False, default="")
    ready: ReadyResult | None = field(init=False, default=None)
    #: The live revision when this flow first read the platform: what the operator saw
    #: and decided on.  A plan to "the previous" is refused if the live one changed since.
    anchor: Revision | None = field(init=False, default=None)
    #: When the plan to execute was made, and whether its target was named explicitly
    #: (``--to``, a row the operator chose) rather than taken as "the previous".
    planned_at: datetime | None = field(init=False, default=None)
    explicit_target: bool = field(init=False, default=False)
    #: Output of the running step(s) held back from the record (see ``_log_output``).
    _output: dict[int, _StepOutput] = field(init=False, default_factory=dict)
    #: The service lock, held from the first change until the entry is written (``close``).
    _lock: ServiceLock | None = field(init=False, default=None)
    #: The platform lock's holder (operator, host) while this flow holds it.
    _remote_held: tuple[str, str] | None = field(init=False, default=None)
    #: Whether ``incident.detected_at`` is settled (given, resumed, or the first
    #: unhealthy assessment), or may still move to the first unhealthy observation.
    _detected_fixed: bool = field(init=False, default=False)
    _assessed: bool = field(init=False, default=False)

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
        if self.service.database is not None:
            self.database = DatabaseSide(
                self.service,
                self.incident,
                self.config.console.state_dir,
                self.redact,
                platform=self.provider,
            )

    def _with_database(self, plan: Plan) -> Plan:
        """The platform's plan with the database steps around it (``console.db_flow``)."""
        if self.database is None:
            return plan
        self.database.target = self.schema_target
        return self.database.extend(plan)

    def _claim(self, state: JournalState) -> JournalState:
        """Take the service lock for the interrupted incident, then read its journal again.

        Before anything is written to the journal: a console still running it
        holds the lock (``LockHeld``, exit 3), and another resume may have
        finished it while this one waited (``RolledBackMeanwhile``, exit 3).
        """
        lock = ServiceLock(
            self.config.console.state_dir, self.service, self.operator, state.incident_id
        )
        lock.acquire()
        try:
            fresh = read_state(state.path)
        except (OSError, ValueError, KeyError, TypeError):
            fresh = state
        if not fresh.open:
            lock.release()
            raise RolledBackMeanwhile(
                f"incident {state.incident_id} of {self.service.label} was finished by "
                "another console meanwhile: nothing was done"
            )
        self._lock = lock
        return fresh

    def _reopen(self, state: JournalState) -> None:
        """Continue an interrupted incident: same id, same journal, its timeline and marks."""
        incident = Incident(
            service=self.service,
            operator=self.operator,
            state_dir=self.config.console.state_dir,
            reason=state.reason,
            impact=state.impact,
            redact=self.redact,
            detected_at=state.detected_at or utcnow(),
            id=state.incident_id,
            resumed=True,
        )
        incident.timeline.extend(state.timeline)
        incident.marks.update(state.marks)
        incident.plan = state.plan
        incident.before = state.before
        incident.notes.extend(state.notes)
        incident.verification = state.verification
        incident.recovered_at = state.recovered_at
        if state.verification is not None:
            incident.after = state.verification.after
        if state.severity is not Severity.UNKNOWN:
            incident.assessment = Assessment(state.severity, "", (), None)
        self.incident = incident
        self.reason = state.reason
        self.executed = True
        self.ready = state.ready
        stopped = f"{state.last_at:%H:%M:%S} UTC" if state.last_at else "at an unknown time"
        where = "before any step finished"
        if state.record_failed:
            where = "after the rollback, when its history entry could not be saved"
        elif state.verification is not None:
            where = "after verifying, before the history entry was saved"
        elif state.ready is not None:
            where = "after the rollout, before verification finished"
        elif state.plan is not None and state.step_started is not None:
            step = state.plan.steps[state.step_started]
            if state.step_started in state.steps_done:
                last = state.step_started + 1 == len(state.plan.steps)
                where = f"after step {state.step_started + 1} ({step.title}) finished" + (
                    ", while waiting for the platform to report ready" if last else ""
                )
            else:
                where = f"during step {state.step_started + 1} ({step.title})"
        note = (
            f"Interrupted: the console stopped {where}, last journaled {stopped}; "
            f"resumed by {self.operator}."
        )
        incident.notes.append(note)
        incident.journal_event("note", note=note)
        incident.log("resumed", note)
        if state.step_failed is not None:
            self.execute_error = "a step had failed before the interruption"

    def resume_execute(
        self,
        on_event: Callable[[ProgressEvent], None] | None = None,
        on_note: Callable[[str], None] | None = None,
    ) -> ReadyResult:
        """Finish the interrupted rollback from the platform's real state, never repeating it.

        The platform is re-read first.  When it already runs the target, the
        switch took effect: only the steps after it that never finished
        (restart, reload) are run.  When it does not, nothing of the switch
        took effect and the provider plans afresh from the live state, which
        is then executed in full.  Either way the rollout is waited for as usual.
        """
        state = self.resume_state
        if state is None or state.plan is None:
            raise ValueError("nothing to resume")

        def note(message: str) -> None:
            shown = self.incident.log("resume", message).message  # redacted
            if on_note:
                on_note(shown)

        self.take_locks()
        old = state.plan
        snapshot = self.refresh()
        switch_at = _effect_step(old)
        journal_says = _journal_switched(state, switch_at)
        in_effect = self._in_effect(old, snapshot)
        if journal_says and in_effect is False:
            self._switch_undone(old, snapshot, state, note)
        live = snapshot.current.version if snapshot.current else "(unknown)"
        if state.record_failed:
            note(f"the rollback had finished ({live} is live); only its history entry is missing")
            return state.ready or ReadyResult(False, "not seen ready before it stopped", 0.0)
        if state.ready is not None and state.ready.ready:
            note(
                f"the platform was already seen ready and {live} is still live; "
                "continuing to verify"
            )
            return state.ready
        at_target = in_effect if in_effect is not None else journal_says
        if at_target:
            remaining = [
                i for i in range(switch_at + 1, len(old.steps)) if i not in state.steps_done
            ]
            what = "the action" if old.action != "rollback" else "the switch"
            note(
                f"{self.service.name} already runs {old.to_revision.version}: {what} took "
                f"effect; {len(remaining)} later step(s) left to run",
            )
            plan = dataclasses.replace(old, steps=tuple(old.steps[i] for i in remaining))
            offset = remaining
        else:
            note(
                f"{self.service.name} {_live_state(snapshot)}: planning "
                + (
                    f"the rollback to {old.to_revision.version}"
                    if old.action == "rollback"
                    else f"{old.action} {old.argument}".rstrip()
                )
                + " again from the live state",
            )
            if old.action == "rollback":
                if self.database is not None:
                    self.schema_target = self.database.resumed_target(old)
                plan = self._with_database(self.provider.plan(old.to_revision.id))
            elif isinstance(self.provider, SupportsActions):
                plan = self._replan_action(old)
            else:
                raise InvalidTarget(f"cannot re-plan action {old.action!r} on this provider")
            if old.data.get("resume"):
                # What the interrupted plan started from, for providers that undo to it.
                plan.data.setdefault("interrupted", old.data["resume"])
                plan.data["resume"] = old.data["resume"]
            self.incident.plan = plan
            self.incident.journal_event("plan", plan=plan_for_journal(plan))
            offset = list(range(len(plan.steps)))

        def shifted(event: ProgressEvent) -> None:
            if on_event:
                on_event(event)

        full = self.incident.plan or old
        return self._run(plan, full, lambda e: dataclasses.replace(e, step=offset[e.step]), shifted)

    def _replan_action(self, old: Plan) -> Plan:
        """Plan the interrupted action again from the live state.

        A typed provider is handed the interrupted plan (``resume_from``): what it
        needs of it (where a gradual move started from) is in its steps' params.
        """
        assert isinstance(self.provider, SupportsActions)
        argument = old.argument or None
        if isinstance(self.provider, SupportsParts):
            return self.provider.plan_action(old.action, argument, resume_from=old)
        return self.provider.plan_action(old.action, argument)  # untyped: transitional

    def _parts(self) -> tuple[Part, ...]:
        """The parts of this flow's plans: the provider's (typed providers), the database."""
        parts = self.provider.parts() if isinstance(self.provider, SupportsParts) else ()
        return (*parts, self.database) if self.database is not None else parts

    def _steps(self, plan: Plan) -> Iterator[ProgressEvent]:
        """The plan run by the step runner, each step by the part that owns its op.

        Steps without an op (a provider not converted to parts yet, a plan
        journaled before steps were typed) are run by the provider's ``execute``.
        """
        if self.database is not None:
            plan = self.database.prepare(plan)
        return run_plan(plan, self._parts(), self.provider.execute)

    def _in_effect(self, old: Plan, snapshot: Snapshot) -> bool | None:
        """Whether the live platform is what ``old``'s switch leads to; None: cannot tell.

        The owner of the switch step reads the platform (it knows about
        renumbered revisions and half-done gradual moves).  Without an answer, a
        rollback is in effect when the live revision is its target; an action (a
        restart) cannot be read back.
        """
        switch_at = _effect_step(old)
        if switch_at >= 0 and old.steps[switch_at].op:
            step = old.steps[switch_at]
            owner = next((p for p in self._parts() if step.op in p.ops), None)
            answer = owner.took_effect(step, old) if owner is not None else None
            if answer is not None:
                return answer
        if isinstance(self.provider, SupportsResumeCheck):
            answer = self.provider.switch_took_effect(old)
            if answer is not None:
                return answer
        if old.action != "rollback":
            return None
        current = snapshot.current
        return current is not None and current.id == old.to_revision.id

    def _switch_undone(
        self, old: Plan, snapshot: Snapshot, state: JournalState, note: Callable[[str], None]
    ) -> NoReturn:
        """The journal saw the switch take effect, the platform no longer runs it: say so.

        Never "rolled back": the flow's outcome becomes ``Outcome.UNDONE`` (if it
        is recorded as is) and ``SwitchUndone`` lets the caller choose between a
        new, confirmed plan (``replan_after_undo``) and recording it so.
        """
        live = snapshot.current
        now = live.version if live is not None else "(unknown)"
        cause = f" ({live.change_cause})" if live is not None and live.change_cause else ""
        stopped = f"{state.last_at:%H:%M:%S} UTC" if state.last_at else "it stopped"
        was = "verified" if state.verification and state.verification.passed else "seen"
        message = (
            f"the switch to {old.to_revision.version} was undone after this console stopped "
            f"(last journaled {stopped}): {now} is live now{cause}"
        )
        note(message)
        self.undone = message
        self.ready = None
        self.incident.recovered_at = None
        self.incident.verification = None
        self.incident.after = None
        self.incident.notes.append(
            f"The switch to {old.to_revision.version} had been {was} before the console "
            f"stopped, but was undone before this entry was written: {now} is live{cause}."
        )
        self.incident.journal_event("undone", message=self.redact(message))
        raise SwitchUndone(message, live=live, target=old.to_revision)

    def replan_after_undo(self) -> Plan:
        """A new plan to the interrupted rollback's target, from the live state.

        Only after ``SwitchUndone``, and to be confirmed again by the operator
        (TUI: a dialog; CLI: ``--yes`` or typing the service name): someone put
        the release back on purpose, perhaps.  Executed with ``execute``.
        """
        state = self.resume_state
        if state is None or state.plan is None or not self.undone:
            raise ValueError("only an undone switch is planned again")
        old = state.plan
        if old.action == "rollback":
            if self.database is not None:
                self.schema_target = self.database.resumed_target(old)
            plan = self._with_database(self.provider.plan(old.to_revision.id))
        else:
            plan = self._replan_action(old)
        self.undone = ""
        self.executed = False
        self.planned_at, self.explicit_target = utcnow(), True
        self.incident.plan = plan
        self.incident.journal_event("plan", plan=plan_for_journal(plan))
        self.incident.log("plan", f"planned again after the undone switch: {plan.summary}")
        return plan

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

    def set_reason(self, reason: str, impact: str = "") -> None:
        self.incident.reason = reason
        if impact:
            self.incident.impact = impact
        self.incident.journal_event(
            "reason", reason=self.redact(reason), impact=self.redact(self.incident.impact)
        )
        self.incident.log("reason", f"reason: {reason}")

    # ----------------------------------------------------------------- locks

    def take_locks(self) -> None:
        """Take the service lock, then the platform's (idempotent); ``LockHeld`` (exit 3).

        Held from the first change through the rollout and the verification
        until the entry is written or the operator leaves (``close``): while
        they are held, other consoles see this incident as *live* and refuse
        to start or resume a rollback of the service.  The platform lock (a
        Deployment annotation, an ECS tag), seen by every bastion, is taken
        after the local one so consoles on one bastion never race for it.
        """
        if self._lock is None:
            lock = ServiceLock(
                self.config.console.state_dir, self.service, self.operator, self.incident.id
            )
            lock.acquire()
            self._lock = lock
        provider = self.provider
        if self._remote_held is not None or not isinstance(provider, SupportsRemoteLock):
            return
        host = socket.gethostname()
        ttl = getattr(getattr(self.service, self.service.provider, None), "lock_ttl_s", 900.0)
        try:
            warning = provider.acquire_lock(self.operator, host, ttl)
        except BaseException:
            self.close()
            raise
        self._remote_held = (self.operator, host)
        self.incident.log("lock", f"platform lock taken by {self.operator} on {host}")
        if warning:
            self.incident.log("lock", warning)

    def release_platform_lock(self) -> None:
        """Release the platform lock once verification is over (blocking: one API call).

        A failed release is logged, not raised: the lock expires on its own.
        """
        held, self._remote_held = self._remote_held, None
        if held is None or not isinstance(self.provider, SupportsRemoteLock):
            return
        try:
            self.provider.release_lock(*held)
            self.incident.log("lock", "platform lock released")
        except ProviderError as err:
            self.incident.log("lock", f"platform lock not released (it expires): {err}")

    def release_service_lock(self) -> None:
        """Release the local service lock now (no I/O beyond the lock file): the TUI leaving
        the wizard, so this console can resume or start again at once."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def holds_platform_lock(self) -> bool:
        return self._remote_held is not None

    def close(self) -> None:
        """The flow is over (entry written, or the operator left it): release every lock.

        Blocking (the platform lock is released through its API); idempotent.
        An incident left open here (no entry) becomes *interrupted*, for resume.
        """
        self.release_platform_lock()
        self.release_service_lock()

    # ----------------------------------------------------------------- planning

    def plan_action(self, action: str, argument: str | None, *, dry_run: bool = False) -> Plan:
        """Plan one of the provider's actions (restart, restore a manifest, image rollback...)."""
        if not isinstance(self.provider, SupportsActions):
            raise InvalidTarget(f"the {self.provider.name} provider has no actions")
        plan = self.provider.plan_action(action, argument, dry_run=dry_run)
        self.incident.plan = plan
        self.incident.mark("target", ItemState.DONE, f"{action} {argument or ''}".strip())
        self.incident.log("plan", plan.summary + (" (dry run)" if dry_run else ""))
        if not dry_run:
            self.incident.journal_event("plan", plan=plan_for_journal(plan))
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
        if self.database is not None:
            self.database.require_backup(plan)
        return self._run(plan, plan, lambda e: e, on_event)

    def _run(
        self,
        plan: Plan,
        full: Plan,
        to_full: Callable[[ProgressEvent], ProgressEvent],
        on_event: Callable[[ProgressEvent], None] | None,
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
            for raw in self._steps(plan):
                # What a step prints may quote a secret: redacted before anyone sees it.
                event = to_full(dataclasses.replace(raw, message=self.redact(raw.message)))
                self._log_event(full, event)
                if on_event:
                    on_event(event)
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
            units = snapshot.units
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
        wait = self.provider.wait_ready
        if on_event is None or "on_progress" not in inspect.signature(wait).parameters:
            return wait(plan, timeout)
        after_last = len(plan.steps)

        def progress(line: str) -> None:
            on_event(ProgressEvent(after_last, ProgressStatus.OUTPUT, self.redact(line)))

        return wait(plan, timeout, on_progress=progress)  # type: ignore[call-arg]

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
        kept = self._output.setdefault(event.step, _StepOutput())
        kept.lines += 1
        line = _shorten(event.message)
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

    def notification(self, kind: str) -> str:
        """The "start", "completion" (runbook 001) or "interrupted" message, as sent."""
        language = self.config.console.language
        return render_message(kind, self.build_record(), language, redact=self.redact)

    def notify(self, kind: str) -> None:
        """Send the ``kind`` message to the team webhook in the background; never blocks.

        The result (sent, or not sent and why) is added to the timeline when it
        is known.  Without ``webhook_env`` nothing is sent or logged: the
        message is still there to copy.  A message the timeline already shows
        as sent (a resumed incident) is not sent twice.
        """
        if self.notifier is None:
            self.notifier = WebhookNotifier.from_config(self.config.console)
        notifier = self.notifier
        if kind in self.notified or not notifier.configured:
            return
        self.notified.add(kind)
        if already_sent(self.incident.timeline, kind):
            return
        self.incident.log("notify", f"sending the {kind} message to the team webhook")
        notifier.send(
            kind,
            self.notification(kind),
            lambda delivery: self.incident.log("notify", notifier.redact(delivery.describe())),
        )

    # ----------------------------------------------------------------- record

    def outcome(self) -> Outcome:
        """What the history entry must say, from what was observed."""
        if self.undone:
            return Outcome.UNDONE
        if self.execute_error:
            return Outcome.FAILED
        if not self.executed:
            return Outcome.ABORTED
        verification = self.incident.verification
        if self.ready and self.ready.ready and verification and verification.passed:
            return Outcome.ROLLED_BACK
        return Outcome.NOT_VERIFIED

    def outcome_text(self) -> str:
        """The outcome in words that say what was done: "rolled back and verified", or for an
        action "restarted and verified", "restart, not verified", "restart failed"."""
        plan = self.incident.plan
        return outcome_text(self.outcome(), plan.action if plan is not None else "")

    def build_record(self) -> HistoryRecord:
        return self.incident.to_record(self.outcome())

    def record(self) -> FlowResult:
        """Append the history entry (atomically, under the history file lock)."""
        if self.outcome_unknown:
            raise ValueError("an incident whose outcome is not known is resumed, not recorded")
        if self.executed:
            self.notify("completion")
        # Before the entry is frozen, so it says whether the platform lock was released.
        self.release_platform_lock()
        outcome = self.outcome()
        record = self.incident.to_record(outcome)
        path = self.config.console.history_file
        try:
            appended = append_entry(path, record, redact=self.redact)
        except HistoryWriteError as err:
            if self.incident.resumed:
                result = self._record_fallback(record, err)
                self.close()
                return result
            # Journaled so that ``resume`` knows only the entry is missing.  The lock
            # stays held: the record screen may try again.
            self.incident.journal_event("record_failed", history_file=path, reason=err.reason)
            self.incident.log("record-failed", f"history entry not saved: {err}")
            raise
        if appended:
            self.incident.journal_event("recorded", history_file=path)
            self.incident.log("recorded", f"history entry appended to {path}")
        else:
            # The entry went in (the console stopped before journaling "recorded", or
            # another console recorded this incident): one incident, one entry.
            self.incident.journal_event("recorded", history_file=path, already=True)
            self.incident.log("recorded", f"the history entry was already in {path}")
        self.close()
        return FlowResult(outcome, outcome.value, record, path)

    def _record_fallback(self, record: HistoryRecord, err: HistoryWriteError) -> FlowResult:
        """A resumed incident whose history file still cannot be written: the fallback file.

        Otherwise one unwritable history file would keep the incident open, and
        every later rollback of the service refused, with no way out.  The
        entry goes to ``fallback_history_file`` in the state dir (same format,
        never twice), the incident is closed, and the result says where it is
        so the operator copies it into the history once that can be written.
        """
        outcome = record.outcome
        fallback = fallback_history_file(self.config.console.state_dir)
        try:
            append_entry(fallback, record, redact=self.redact)  # never twice: it checks the id
        except HistoryWriteError as again:
            self.incident.journal_event("record_failed", history_file=err.path, reason=err.reason)
            self.incident.log(
                "record-failed", f"history entry not saved: {err}; nor to the fallback: {again}"
            )
            raise
        self.incident.journal_event(
            "recorded", history_file=fallback, fallback=True, not_saved_to=err.path
        )
        self.incident.log(
            "recorded",
            f"history file {err.path} could not be written ({err.reason}): "
            f"entry saved to {fallback} instead",
        )
        return FlowResult(
            outcome,
            outcome.value,
            record,
            fallback,
            not_saved_to=err.path,
            not_saved_reason=err.reason,
        )


def fallback_history_file(state_dir: Path) -> Path:
    """Where ``resume`` saves an entry the history file would not take (see ``record``)."""
    return state_dir / "rollback-history.fallback.md"


def _journal_switched(state: JournalState, switch_at: int) -> bool:
    """Whether the journal saw the interrupted plan's switch take effect."""
    if state.record_failed or state.verification is not None:
        return True
    if state.ready is not None and state.ready.ready:
        return True
    return switch_at >= 0 and all(i in state.steps_done for i in range(switch_at + 1))


def verify_marks(result: Verification, service: ServiceConfig) -> list[tuple[str, ItemState, str]]:
    """The verify items (health, error rate, latency), each from its own evidence.

    A passed verification ticks all three, each noting what it saw.  Otherwise
    an item fails only on what contradicts it (health failed, the rate or p95
    over its threshold); one whose evidence was fine, or missing, stays open
    with a note saying why it is not ticked: a service whose error rate was
    fine is never recorded as "error rate failed" because health did.
    """
    th = service.thresholds
    after = result.after
    measured = after is not None and after.requests > 0 and after.error_rate is not None
    open_ = ItemState.PENDING
    not_ticked = "; not ticked: the verification did not pass"

    def judged(ok: bool, seen: str) -> tuple[ItemState, str]:
        if result.passed:
            return ItemState.DONE, seen
        return (open_, seen + not_ticked) if ok else (ItemState.FAILED, seen)

    if not service.health:
        health = (open_, "no health checks configured")
    elif result.health_held is None:
        health = (ItemState.DONE, "") if result.passed else (ItemState.FAILED, result.message)
    elif result.health_held:
        health = judged(True, f"every check passed for {result.window_s:g} s")
    else:
        health = (ItemState.FAILED, result.message)
    if measured and after is not None and after.error_rate is not None:
        rate = after.error_rate
        seen = f"{rate:.1%} of {after.requests} requests (threshold {th.ok_error_rate:.0%})"
        error_rate = judged(rate < th.ok_error_rate, seen)
    else:
        error_rate = (open_, "not measured: no error-rate data")
    if measured and after is not None and after.p95_ms is not None:
        seen = f"p95 {after.p95_ms:.0f} ms (threshold {th.ok_p95_ms:g} ms)"
        latency = judged(after.p95_ms < th.ok_p95_ms, seen)
    else:
        latency = (open_, "not measured: no latency data")
    return [("health", *health), ("error-rate", *error_rate), ("latency", *latency)]


#: Revisions a "Deploy history reviewed" note names before it says how many more there were.
SHOWN_IN_NOTE = 8


def revisions_shown(snapshot: Snapshot) -> str:
    """``revisions shown: v1.3.0 (live), v1.2.9, v1.2.8``: newest first, the live one marked."""
    current = snapshot.current.id if snapshot.current else None
    names = [
        f"{rev.version or rev.id}{' (live)' if rev.id == current else ''}"
        for rev in snapshot.revisions[:SHOWN_IN_NOTE]
    ]
    more = len(snapshot.revisions) - SHOWN_IN_NOTE
    return "revisions shown: " + ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _effect_step(plan: Plan) -> int:
    """The index of the step that changes what runs: the last switch, else the last restart."""
    for kind in (StepKind.SWITCH, StepKind.RESTART):
        found = [i for i, step in enumerate(plan.steps) if step.kind is kind]
        if found:
            return found[-1]
    return -1


def _live_state(snapshot: Snapshot) -> str:
    """``still runs v1.3.0`` or, while traffic is split, ``serves v1.3.0 90%, v1.2.9 10%``."""
    shares = [t for t in snapshot.traffic if t.percent > 0]
    if len(shares) > 1:
        by_id = {r.id: r.version for r in snapshot.revisions}
        split = ", ".join(f"{by_id.get(t.revision, t.revision)} {t.percent}%" for t in shares)
        return f"serves {split}"
    live = snapshot.current.version if snapshot.current else "(unknown)"
    return f"still runs {live}"
