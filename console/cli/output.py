"""What the commands print, and the streams they print to.

``ReaderMayLeave``: standard output whose reader may close the pipe early.
JSON output is always valid JSON; plans, progress events and revisions are
printed one value a line with outside text made ``printable``; the terminal
confirmation (type the service name) is asked here.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from console.cli.parser import UsageError
from console.config import ServiceConfig
from console.errors import BadInput
from console.textsafe import printable

if TYPE_CHECKING:
    from console.model import Plan, ProgressEvent, Snapshot
    from console.resume import JournalState


class ReaderMayLeave(io.TextIOBase):
    """Standard output (or error) whose reader may close the pipe before the end.

    The Python documentation's answer to ``BrokenPipeError``: point the file
    descriptor at ``/dev/null``, so later writes and the interpreter's last
    flush go nowhere instead of failing, and carry on quietly.
    """

    def __init__(self, stream: TextIO | None):
        # None: started with the descriptor closed (``>&-``); nobody reads, like /dev/null.
        self._stream = stream
        self.gone = stream is None

    def write(self, text: str) -> int:
        if not self.gone and self._stream is not None:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._reader_left()
        return len(text)

    def flush(self) -> None:
        if not self.gone and self._stream is not None:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._reader_left()

    def _reader_left(self) -> None:
        self.gone = True
        if self._stream is None:
            return
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)

    def isatty(self) -> bool:
        return self._stream is not None and self._stream.isatty()

    def fileno(self) -> int:
        if self._stream is None:
            raise io.UnsupportedOperation("no file descriptor: the stream was closed at start")
        return self._stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding if self._stream is not None else "utf-8"


def jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no Infinity or NaN: "not known" is what such a number means
    return value


def print_json(data: Any, out: TextIO, *, ensure_ascii: bool = True) -> None:
    """``data`` as indented JSON and a newline; always valid JSON (``allow_nan=False``)."""
    json.dump(jsonable(data), out, indent=2, ensure_ascii=ensure_ascii, allow_nan=False)
    print(file=out)


def print_revisions(snap: Snapshot, out: TextIO) -> None:
    """The deploy history as ``status`` and ``rollback`` show it: newest first, ``*`` = live."""
    current = snap.current
    print("  revisions (newest first, * = live now):", file=out)
    for rev in snap.revisions:
        mark = "*" if current and rev.id == current.id else " "
        created = rev.created.astimezone().strftime("%Y-%m-%d %H:%M") if rev.created else ""
        print(f"   {mark} {printable(rev.id):<24} {printable(rev.version):<16} {created}", file=out)


class Aborted(BadInput):
    """The operator did not confirm at the prompt: nothing was changed (exit 2, not 1).

    Exit 1 means a rollback failed or was not verified; an answer that is not
    the service name (a typo, end of input) changed nothing, so it ends like
    any other refused input.  Raised by ``confirm_on_terminal`` for every
    command that asks (``rollback``, ``action``, ``db-restore``, ``resume``).
    """

    prefix = "aborted"


def confirm_on_terminal(svc: ServiceConfig, out: TextIO) -> None:
    """Ask for the service name; return when it was typed, raise ``Aborted`` otherwise."""
    if not sys.stdin.isatty():
        raise UsageError("refusing to roll back without --yes: standard input is not a terminal")
    print(
        f"Type the service name ({svc.name}) to confirm, anything else aborts: ", end="", file=out
    )
    out.flush()
    try:
        answer = input()
    except EOFError:
        raise Aborted("no answer (end of input): nothing was changed") from None
    if answer.strip() != svc.name:
        raise Aborted(
            f"{printable(answer)!r} is not the service name {svc.name!r}: nothing was changed"
        )


def print_plan(plan: Plan, out: TextIO) -> None:
    """The plan as the operator confirms it: summary, warnings, numbered steps and commands,
    then, for a rollback, "What changes:" and "Who will undo it:" with their lines."""
    print(printable(plan.summary), file=out)
    for warning in plan.warnings:
        print(f"  warning: {printable(warning)}", file=out)
    for i, step in enumerate(plan.steps, 1):
        print(f"  {i}. {printable(step.title)}\n       $ {printable(step.command)}", file=out)
    if plan.action != "rollback":
        return  # an action (a restart) changes no revision
    from console.changes import NOTHING_DIFFERS, NOTHING_UNDOES  # not for the first frame

    changes = [change.line() for change in plan.changes]
    for title, items, empty in (
        ("What changes", changes, NOTHING_DIFFERS),
        ("Who will undo it", plan.undone_by, NOTHING_UNDOES),
    ):
        print(f"{title}:" if items else f"{title}: {empty}", file=out)
        for item in items:
            print(f"  - {printable(item)}", file=out)


def print_event(out: TextIO, event: ProgressEvent) -> None:
    from console.model import ProgressStatus

    stamp = event.at.astimezone().strftime("%H:%M:%S")
    prefix = {
        ProgressStatus.STARTED: "->",
        ProgressStatus.OUTPUT: "  |",
        ProgressStatus.FINISHED: "ok",
        ProgressStatus.FAILED: "!!",
        ProgressStatus.SKIPPED: "--",
    }[event.status]
    print(f"{stamp} {prefix} {printable(event.message)}", file=out, flush=True)


def print_journal_warnings(states: Sequence[JournalState], err: TextIO) -> None:
    """One line per journal line that was skipped because it could not be read."""
    for state in states:
        for warning in state.warnings:
            print(f"warning: {printable(warning)}", file=err)
