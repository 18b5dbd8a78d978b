"""Resuming an interrupted rollback: claim it, read the platform first, never do it twice.

The console, the SSH session or the bastion died mid-rollback; the journal
says how far it got (``console.resume``).  ``ResumeSteps`` continues the
same incident: it takes the service lock first (a console still running it
refuses with exit 3), reads the journal again, then the platform, and asks
the owner of the plan's switch step whether it took effect before it skips
anything.  When the journal saw the switch take effect but the platform no
longer runs it, the switch was undone (``SwitchUndone``): the operator
chooses between a new, confirmed plan and recording "not rolled back".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NoReturn

from console.errors import ProviderError
from console.flow_locks import LockSteps
from console.incident import Incident
from console.lock import ServiceLock
from console.model import (
    Assessment,
    Plan,
    ProgressEvent,
    ReadyResult,
    Revision,
    Severity,
    Snapshot,
    StepKind,
    utcnow,
)
from console.recent import RolledBackMeanwhile
from console.resume import JournalState, plan_for_journal, read_state
from console.runner import Confirm
from providers.base import InvalidTarget, SupportsActions, SupportsParts, SupportsResumeCheck


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


class ResumeSteps(LockSteps):
    """The resume half of ``RollbackFlow`` (its methods take the flow as ``self``)."""

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
            reason_given=state.reason_given,
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
        incident.checks.update(state.checks)
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
        if state.held_at is not None and state.record_failed and state.plan is not None:
            # Held before the switch, then the entry could not be saved: still not switched.
            self.held = f"not done: {state.plan.steps[state.held_at].title}"

    def resume_execute(
        self,
        on_event: Callable[[ProgressEvent], None] | None = None,
        on_note: Callable[[str], None] | None = None,
        confirm: Confirm | None = None,
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
            self.incident.plan = plan
            self.incident.journal_event("plan", plan=plan_for_journal(plan))
            offset = list(range(len(plan.steps)))

        def shifted(event: ProgressEvent) -> None:
            if on_event:
                on_event(event)

        full = self.incident.plan or old
        return self._run(
            plan, full, lambda e: dataclasses.replace(e, step=offset[e.step]), shifted, confirm
        )

    def _replan_action(self, old: Plan) -> Plan:
        """Plan the interrupted action again from the live state.

        A typed provider is handed the interrupted plan (``resume_from``): what it
        needs of it (where a gradual move started from) is in its steps' params.
        """
        assert isinstance(self.provider, SupportsActions)
        argument = old.argument or None
        if isinstance(self.provider, SupportsParts):
            return self._with_cdn(self.provider.plan_action(old.action, argument, resume_from=old))
        return self.provider.plan_action(old.action, argument)  # untyped: transitional

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
        self,
        old: Plan,
        snapshot: Snapshot,
        state: JournalState,
        note: Callable[[str], None],
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


def _journal_switched(state: JournalState, switch_at: int) -> bool:
    """Whether the journal saw the interrupted plan's switch take effect."""
    if state.record_failed or state.verification is not None:
        return True
    if state.ready is not None and state.ready.ready:
        return True
    return switch_at >= 0 and all(i in state.steps_done for i in range(switch_at + 1))


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
