"""Turning one plan step's work into progress events: the wrapper every provider's execute uses.

A step's work is a generator that yields output lines and returns the line
that says it finished.  ``perform`` wraps it in STARTED, OUTPUT... and then
FINISHED, or FAILED followed by the error re-raised, so the timeline, the
journal and the screens see every step the same way on every platform.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TypeVar

from console.model import ProgressEvent, ProgressStatus, Step
from providers.base import OutcomeUnknown, ProviderError

T = TypeVar("T")


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
    an OUTPUT line and the step stays started (for ``resume`` to settle).  Every
    provider's execute reports its step errors through this, wrapped by
    ``perform`` or not.
    """
    status = ProgressStatus.OUTPUT if isinstance(err, OutcomeUnknown) else ProgressStatus.FAILED
    return ProgressEvent(index, status, str(err))


def perform(
    index: int, step: Step, body: Generator[str, None, str], *, started: bool = False
) -> Iterator[ProgressEvent]:
    """STARTED (unless ``started``: already announced), its lines, then FINISHED or FAILED.

    A failure is yielded as FAILED and then raised (``OutcomeUnknown`` as an OUTPUT
    line: the step stays started, for ``resume`` to settle); the body is closed however
    the step ends, so a caller that abandons us mid-step stops the command
    rather than orphaning it.
    """
    if not started:
        yield ProgressEvent(index, ProgressStatus.STARTED, step.command)
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
    yield ProgressEvent(index, ProgressStatus.FINISHED, finished)
