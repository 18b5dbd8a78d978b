"""The team's own runbook steps (``[[services.steps]]``) as a part of every rollback plan.

Maintenance mode on before the switch and off after it, an nginx config
restored and reloaded, a feature flag's kill switch: each configured step
becomes a typed plan step (``custom.run`` for an argv, ``custom.http`` for an
HTTP request) whose params carry its whole definition (no secret: a header's
value is named by its variable), with the shell command an operator could
type.  ``CustomSteps`` is the plan part that owns those ops, as
``console.db_flow.DatabaseSide`` owns the database's:

- ``extend`` puts the ``before`` steps ahead of the switch, after what must
  stay first (a GitOps suspension, the database backup and its checks, which
  change nothing), so maintenance mode wraps the schema step too; the
  ``after`` steps go last.
- ``run`` runs a step, then its ``check``, which must pass before the plan
  goes on (a step with ``required = false`` is recorded as failed and the plan
  goes on).  Each step has a checklist item (``step-ID``) and notes for the
  entry.
- ``undo_completed``: when a later step fails, the runner (``console.runner``)
  asks for the ``undo`` of every step in effect, latest first, before the
  failure is reported; each result is recorded.
- On resume, a step the interrupted run started (or finished) is never run
  blindly again: its ``check`` says whether it took effect; without one, a
  step seen finished is not run again and one seen only started is left for
  the operator (the entry says so).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field

from console.checklist import step_item
from console.config import ServiceConfig
from console.config.steps import CustomStep, StepAction
from console.custom_actions import (
    NoAnswer,
    StepEnvMissing,
    command_of,
    perform,
    step_command,
    step_from,
    step_params,
)
from console.errors import CommandFailed, ProviderError, TimedOut
from console.incident import Incident
from console.model import ItemState, Plan, Step, StepKind
from console.resume import JournalState
from console.runner import Skipped

RUN_OP = "custom.run"
HTTP_OP = "custom.http"
OPS = frozenset({RUN_OP, HTTP_OP})

#: Steps a plan starts with that stay ahead of the ``before`` steps: a GitOps
#: suspension (a controller re-syncing meanwhile would undo the rollback) and the
#: database's backup and checks, which change nothing.
_LEAD_PREFIXES = ("gitops.",)
_LEAD_OPS = frozenset({"db.backup", "db.checks"})


def plan_step(step: CustomStep) -> Step:
    """The plan step of a configured step: its definition in params, its command shown."""
    return Step(
        title=step.title,
        command=step_command(step),
        kind=StepKind.COMMAND,
        timeout_s=step.timeout_s,
        op=HTTP_OP if step.action.http is not None else RUN_OP,
        params=step_params(step),
    )


@dataclass
class CustomSteps:
    """The custom-step part of one incident's plans: planned, run, undone, settled on resume."""

    service: ServiceConfig
    incident: Incident
    redact: Callable[[str], str] = str
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    #: The ops this part runs (``Part``).
    ops: frozenset[str] = field(init=False, default=OPS)
    #: Step id -> what an interrupted run's journal saw of it: "done" (finished, its item
    #: ticked), "ended" (finished otherwise: failed but not required) or "started".
    resumed: dict[str, str] = field(init=False, default_factory=dict)
    #: Steps in effect now (run, or found in effect on resume), in plan order: what an
    #: undo after a later failure goes through, latest first.
    in_effect: dict[str, CustomStep] = field(init=False, default_factory=dict)

    # ----------------------------------------------------------------- planning

    def extend(self, plan: Plan) -> Plan:
        """``plan`` with the ``before`` steps ahead of its switch and the ``after`` steps last.

        Raises ``StepEnvMissing`` (exit 2) when a header's variable is not set, so
        a run never stops half-way for it.
        """
        self.require_env()
        steps = self.service.steps
        before = [plan_step(s) for s in steps if s.when == "before"]
        after = [plan_step(s) for s in steps if s.when == "after"]
        lead = 0
        while lead < len(plan.steps) and _leads(plan.steps[lead]):
            lead += 1
        return dataclasses.replace(
            plan, steps=(*plan.steps[:lead], *before, *plan.steps[lead:], *after)
        )

    def require_env(self) -> None:
        for step in self.service.steps:
            for action in (step.action, step.check, step.undo):
                call = action.http if action is not None else None
                for name, variable in (call.headers_env if call else {}).items():
                    if not self.environ.get(variable, "").strip():
                        state = "is empty" if variable in self.environ else "is not set"
                        raise StepEnvMissing(
                            f"environment variable {variable} {state}: step {step.id!r} sends "
                            f"it as its {name} header ([[services.steps]] headers_env)"
                        )

    def resume_from(self, state: JournalState) -> None:
        """Remember what the interrupted run's journal saw of each custom step."""
        plan = state.plan
        if plan is None:
            return
        for index, step in enumerate(plan.steps):
            if step.op not in OPS:
                continue
            spec = step_from(step.params, step.title)
            mark = state.marks.get(step_item(spec.id))
            if index in state.steps_done and mark is not None and mark.state is ItemState.DONE:
                self.resumed[spec.id] = "done"
                self.in_effect[spec.id] = spec
            elif index in state.steps_done or index == state.step_failed:
                self.resumed[spec.id] = "ended"
            elif index == state.step_started:
                self.resumed[spec.id] = "started"

    # ----------------------------------------------------------------- running

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        """The step, then its check; a resumed step is settled by its check first."""
        spec = step_from(step.params, step.title)
        prior = self.resumed.pop(spec.id, None)
        if prior is not None:
            settled = yield from self._settle(spec, prior)
            if settled is not None:
                return settled
        self.in_effect.pop(spec.id, None)
        try:
            line = yield from self._act(spec)
        except ProviderError as err:
            text = self.redact(str(err))
            self.incident.mark(step_item(spec.id), ItemState.FAILED, text)
            if spec.required:
                raise
            self._note(f"Step '{spec.title}' failed (required = false, the plan went on): {text}")
            return Skipped(f"failed, continuing (required = false): {text}")
        self.in_effect[spec.id] = spec
        self.incident.mark(step_item(spec.id), ItemState.DONE, line)
        return line

    def _act(self, spec: CustomStep) -> Generator[str, None, str]:
        """The action, then the check.  An action that may have worked without saying so
        (no answer, a time-out) is judged by its check when it has one."""
        try:
            line = yield from self._perform(spec.action, spec)
        except (NoAnswer, TimedOut) as err:
            if spec.check is None:
                raise type(err)(f"step {spec.id!r}: {err}") from None
            yield f"{err}; the check decides whether it took effect"
            line = "no answer, but the check says it took effect"
        except StepEnvMissing:
            raise
        except ProviderError as err:
            raise type(err)(f"step {spec.id!r}: {err}") from None
        if spec.check is None:
            return line
        yield f"check: $ {command_of(spec.check)}"
        try:
            yield from self._perform(spec.check, spec)
        except ProviderError as err:
            raise CommandFailed(
                f"the check of step {spec.id!r} did not pass: {err}; the plan stops here"
            ) from None
        return f"{line}; check passed"

    def _perform(self, action: StepAction, spec: CustomStep) -> Generator[str, None, str]:
        return (
            yield from perform(
                action,
                timeout_s=spec.timeout_s,
                workdir=spec.workdir,
                environ=self.environ,
                step=spec.id,
            )
        )

    def _settle(self, spec: CustomStep, prior: str) -> Generator[str, None, str | None]:
        """A step the interrupted run got to: a ``Skipped`` line when it is not run again,
        None when it must run (its check says it did not take effect)."""
        item = step_item(spec.id)
        seen = {"done": "finished", "ended": "ended", "started": "started"}[prior]
        if spec.check is not None:
            yield (
                f"this step {seen} before the console stopped; its check says whether it took "
                f"effect: $ {command_of(spec.check)}"
            )
            try:
                yield from self._perform(spec.check, spec)
            except ProviderError as err:
                yield f"the check did not pass ({self.redact(str(err))}): running the step"
                return None
            self.in_effect[spec.id] = spec
            note = f"in effect (its check passed on resume): not run again after it {seen}"
            self.incident.mark(item, ItemState.DONE, note)
            return Skipped("already in effect (its check passed): not run again")
        if prior == "done":
            return Skipped("finished before the console stopped (journal): not run again")
        if prior == "ended":
            return Skipped("ended before the console stopped (see above): not run again")
        text = (
            "started before the console stopped and has no check to tell whether it took "
            f"effect: not run again; see to it by hand: $ {command_of(spec.action)}"
        )
        self.incident.mark(item, ItemState.SKIPPED, text)
        self._note(f"Step '{spec.title}' {text}")
        return Skipped(text)

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        """The step's check, run now: passed or not; None without a check (or when the
        check cannot tell: a time-out, a header's variable not set)."""
        spec = step_from(step.params, step.title)
        if spec.check is None:
            return None
        body = self._perform(spec.check, spec)
        try:
            for _line in body:
                pass
        except (TimedOut, NoAnswer, StepEnvMissing):
            return None
        except ProviderError:
            return False
        return True

    def undo_completed(self, plan: Plan) -> Generator[str, None, None]:
        """A later step failed: the ``undo`` of every step in effect, latest first.

        Each result is a line, a note for the entry and the step's checklist item;
        an undo that fails is recorded and the others still run.  Never raises a
        ``ProviderError``: the failure that led here is what the runner reports.
        """
        for spec in reversed(list(self.in_effect.values())):
            item = step_item(spec.id)
            if spec.undo is None:
                text = f"step '{spec.title}' has no undo: left in effect"
                yield text
                self._note(f"A later step failed; {text}.")
                continue
            command = command_of(spec.undo)
            yield f"undo of '{spec.title}' (a later step failed): $ {command}"
            try:
                result = yield from self._perform(spec.undo, spec)
            except ProviderError as err:
                text = self.redact(str(err))
                yield f"undo of '{spec.title}' FAILED: {text}"
                self.incident.mark(item, ItemState.FAILED, f"done, but its undo failed: {text}")
                self._note(f"Undo of step '{spec.title}' FAILED: {text} (`{command}`)")
                continue
            yield f"undo of '{spec.title}': {result}"
            self.incident.mark(
                item, ItemState.DONE, f"done, then undone after a later step failed ({result})"
            )
            self._note(f"Step '{spec.title}' undone after a later step failed: {result}")
        self.in_effect.clear()

    def _note(self, text: str) -> None:
        """A line for the history entry's notes, journaled so a resumed rollback keeps it."""
        note = self.redact(text)
        self.incident.notes.append(note)
        self.incident.journal_event("note", note=note)


def _leads(step: Step) -> bool:
    return step.op.startswith(_LEAD_PREFIXES) or step.op in _LEAD_OPS
