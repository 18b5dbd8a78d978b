"""The one step runner: any plan, step by step, each run by the part that owns its op.

A plan is made of parts (the platform's switch, the database, and more to
come: traffic, the CDN, GitOps, the team's own steps), each contributing steps
whose ``op`` it owns (``providers.base.Part``).  The runner finds each step's
owner, wraps its work in progress events (STARTED, OUTPUT..., then FINISHED,
or FAILED and the error raised) and stops at the first failure; the flow
journals every event before the screens see it.  On resume the flow asks the
owner of a step whether it took effect (``took_effect``), never the journal
alone.

``perform`` is the wrapper every step's work goes through, so the timeline,
the journal and the screens see every step the same way on every platform.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from typing import TypeVar

from console.errors import ConsoleError, OutcomeUnknown, ProviderError
from console.model import CheckPair, Plan, ProgressEvent, ProgressStatus, Step
from providers.base import Part, SupportsUndo

T = TypeVar("T")


class Skipped(str):
    """The line a part's ``run`` returns for a step that ends SKIPPED rather than FINISHED.

    Nothing to do (the instance a restore creates exists already), stopped
    without finishing on purpose (a wait that ran out of time: the rollout
    goes on, ``wait_ready`` looks again), or work that could not be done but
    must not stop the plan (database checks that cannot run inform, never
    block).  A plain ``str`` is FINISHED.
    """


class Compared(str):
    """An OUTPUT line that carries one check run on the live and on the restored database.

    It reads as ``check orders: live 9 | restored 6``; the flow takes ``pair`` from it
    (before the line is redacted into a plain ``str``) for the history entry, so any
    engine's checks step is recorded the same way without the line being parsed back.
    """

    pair: CheckPair

    def __new__(cls, name: str, live: str, restored: str) -> Compared:
        line = super().__new__(cls, f"check {name}: live {live} | restored {restored}")
        line.pair = CheckPair(name, live, restored)
        return line


class Held(ConsoleError):
    """The operator did not confirm a ``confirm_before`` step (a database switch): the plan
    stopped before it, on purpose.  Not a failure: nothing is undone, the steps before it
    stand (a restored database keeps running), and ``step`` is where it stopped."""

    def __init__(self, message: str, *, step: int, title: str) -> None:
        super().__init__(message)
        self.step = step
        self.title = title


#: Asked right before a ``confirm_before`` step (its index and the step): True runs it.
Confirm = Callable[[int, Step], bool]


def owner_of(step: Step, parts: Iterable[Part]) -> Part:
    """The part that runs ``step``'s op; ``ProviderError`` when none does."""
    for part in parts:
        if step.op in part.ops:
            return part
    raise ProviderError(f"step {step.title!r}: no part of this plan runs {step.op!r}")


def run_steps(
    plan: Plan,
    parts: Sequence[Part],
    indices: Iterable[int] | None = None,
    confirm: Confirm | None = None,
) -> Iterator[ProgressEvent]:
    """Run ``plan``'s steps (all, or those at ``indices``, in order) by their owners.

    A step that fails yields FAILED (``OutcomeUnknown``: an OUTPUT line, the
    step left started) and raises; no later step runs.  Before a step marked
    ``confirm_before`` the runner asks ``confirm`` (None: it goes on, as with
    ``--yes``); a "no" raises ``Held`` with nothing of that step done.
    """
    if plan.dry_run:
        raise ProviderError("a dry-run plan is never executed")
    for index in range(len(plan.steps)) if indices is None else indices:
        step = plan.steps[index]
        part = owner_of(step, parts)
        if step.confirm_before and confirm is not None and not confirm(index, step):
            raise Held(
                f"stopped before step {index + 1} ({step.title}): not confirmed",
                step=index,
                title=step.title,
            )
        yield from perform(index, step, part.run(step, plan))


def run_plan(
    plan: Plan,
    parts: Sequence[Part],
    untyped: Callable[[Plan], Iterator[ProgressEvent]],
    confirm: Confirm | None = None,
) -> Iterator[ProgressEvent]:
    """``run_steps``, with the steps that have no op run by ``untyped`` (a provider's
    ``execute``), each run of them as one plan, numbered as in ``plan``.

    Transitional: a provider not converted to parts yet, or a plan journaled
    before steps were typed, still runs, with a typed part (the database)
    around it.

    When a step fails, every part that can undo what it did (``SupportsUndo``:
    the team's own steps) does so before the failure is raised, each line an
    OUTPUT of the failed step; not when the outcome is unknown
    (``OutcomeUnknown``): the plan is not over, ``resume`` settles it; nor when
    the operator held the plan before a ``confirm_before`` step (``Held``).
    """
    failed_at = 0
    try:
        for event in _run_plan(plan, parts, untyped, confirm):
            failed_at = event.step
            yield event
    except OutcomeUnknown:
        raise
    except ProviderError:
        for part in reversed(parts):
            if isinstance(part, SupportsUndo):
                for line in part.undo_completed(plan):
                    yield ProgressEvent(failed_at, ProgressStatus.OUTPUT, line)
        raise


def _run_plan(
    plan: Plan,
    parts: Sequence[Part],
    untyped: Callable[[Plan], Iterator[ProgressEvent]],
    confirm: Confirm | None,
) -> Iterator[ProgressEvent]:
    steps = plan.steps
    if all(step.op for step in steps):
        yield from run_steps(plan, parts, None, confirm)
        return
    if not any(step.op for step in steps):
        yield from untyped(plan)
        return
    if plan.dry_run:
        raise ProviderError("a dry-run plan is never executed")
    index = 0
    while index < len(steps):
        if steps[index].op:
            yield from run_steps(plan, parts, [index], confirm)
            index += 1
            continue
        end = index
        while end < len(steps) and not steps[end].op:
            end += 1
        for event in untyped(dataclasses.replace(plan, steps=steps[index:end])):
            yield dataclasses.replace(event, step=event.step + index)
        index = end


def drain(index: int, body: Generator[str, None, T]) -> Generator[ProgressEvent, None, T]:
    """Yield each line of ``body`` as an OUTPUT event of step ``index``; return its result."""
    while True:
        try:
            line = next(body)
        except StopIteration as stop:
            result: T = stop.value
            return result
        yield ProgressEvent(index, ProgressStatus.OUTPUT, line)


def failure(index: int, err: ProviderError) -> ProgressEvent:
    """The event that ends step ``index`` on ``err``: FAILED, except for ``OutcomeUnknown``.

    Whether such a step took effect is exactly what is not known, so it is told as
    an OUTPUT line and the step stays started (for ``resume`` to settle).
    """
    status = ProgressStatus.OUTPUT if isinstance(err, OutcomeUnknown) else ProgressStatus.FAILED
    return ProgressEvent(index, status, str(err))


#: Characters of a step's command the STARTED line keeps (the plan shows it whole).
STARTED_CHARS = 240


def shortened(command: str, limit: int = STARTED_CHARS) -> str:
    """The command as the timeline's STARTED line shows it: a copied task definition's
    JSON would bury the entry, so a long one is cut with an ellipsis."""
    return command if len(command) <= limit else command[: limit - 1] + "…"


def perform(
    index: int, step: Step, body: Generator[str, None, str], *, started: bool = False
) -> Iterator[ProgressEvent]:
    """STARTED (unless ``started``: already announced), its lines, then FINISHED or FAILED
    (SKIPPED when the body returns a ``Skipped`` line).

    A failure is yielded as FAILED and then raised (``OutcomeUnknown`` as an OUTPUT
    line: the step stays started, for ``resume`` to settle); the body is closed however
    the step ends, so a caller that abandons us mid-step stops the command
    rather than orphaning it.
    """
    if not started:
        yield ProgressEvent(index, ProgressStatus.STARTED, shortened(step.command))
    try:
        finished = yield from drain(index, body)
    except ProviderError as err:
        yield failure(index, err)
        raise
    except Exception as err:
        yield ProgressEvent(index, ProgressStatus.FAILED, f"{type(err).__name__}: {err}")
        raise
    finally:
        body.close()
    status = ProgressStatus.SKIPPED if isinstance(finished, Skipped) else ProgressStatus.FINISHED
    yield ProgressEvent(index, status, finished)
