"""The headless side of a point-in-time recovery: the moment, and the switch asked apart.

``action SERVICE pitr`` on a terminal without ``--arg`` proposes the default
moment (the live release's deploy time minus ``margin_s``, clamped into the
restorable window) with its data-loss window, and takes it only when the
operator accepts it (Enter) or types another; with ``--yes`` or without a
terminal nothing is chosen for the operator: exit 2, "pitr needs --arg TIME".

After the restored database's checks, the switch of the application is asked
apart (a ``confirm_before`` step): the checks side by side, then the service
name typed again; ``--yes`` switches, ``--no-switch`` stops there on purpose
(the entry says the switch was not done and the command that does it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from console.cli.output import Aborted
from console.cli.parser import UsageError
from console.model import Action, Snapshot, Step, utcnow
from console.pitr_time import (
    default_for,
    loss_line,
    margin_of,
    parse_moment,
    refusal,
    shown,
    stamp,
    why_default,
)
from console.textsafe import printable

if TYPE_CHECKING:
    from console.config import ServiceConfig
    from console.flow import RollbackFlow

#: Times the terminal asks again for a time it cannot use before giving up (exit 2).
TRIES = 3


def takes_time(action: Action | None) -> bool:
    return action is not None and action.argument == "time"


def refuse_without_time(action: Action | None, args: argparse.Namespace) -> None:
    """No ``--arg`` and nobody to show the default to (``--yes``, no terminal): exit 2 now."""
    if not takes_time(action) or args.arg is not None or args.dry_run:
        return
    if args.yes or not sys.stdin.isatty():
        assert action is not None
        raise UsageError(
            f"{action.id} needs --arg TIME (ISO 8601 with its zone, such as "
            "2026-01-05T22:41:07Z): without a terminal to confirm it on, no time is chosen "
            "for you"
        )


def ask_time(
    action: Action, svc: ServiceConfig, snapshot: Snapshot | None, given: str | None, out: TextIO
) -> str:
    """Show the window and a proposed moment (``given``, else the default) with its loss;
    Enter takes it, another time typed replaces it; ``Aborted`` after ``TRIES`` bad ones."""
    now = utcnow()
    margin = margin_of(svc)
    if action.earliest is not None and action.latest is not None:
        print(
            f"restorable: {shown(action.earliest)} to {shown(action.latest)}", file=out, flush=True
        )
    if given is not None:
        proposed, why = given, "given with --arg"
    else:
        proposed, why = (
            stamp(default_for(action, snapshot, margin, now)),
            why_default(snapshot, margin),
        )
    for _ in range(TRIES):
        try:
            when = parse_moment(proposed)
            problem = refusal(when, action.earliest, action.latest, utcnow())
        except ValueError as err:
            when, problem = None, str(err)
        if problem is not None or when is None:
            print(f"cannot restore to that: {printable(problem or '')}", file=out)
        else:
            print(f"restore to {stamp(when)} ({printable(why)})", file=out)
            print(f"DATA LOSS: {loss_line(when, utcnow())}", file=out)
        print(
            "Enter accepts this time, or type another (ISO 8601 with its zone): "
            if problem is None
            else "Type the time to restore to (ISO 8601 with its zone): ",
            end="",
            file=out,
        )
        out.flush()
        try:
            answer = input().strip()
        except EOFError:
            raise Aborted("no answer (end of input): nothing was changed") from None
        if not answer and problem is None and when is not None:
            return stamp(when)
        if answer:
            proposed, why = answer, "typed"
    raise Aborted(f"no usable time after {TRIES} tries: nothing was changed")


def switch_gate(
    flow: RollbackFlow, args: argparse.Namespace, out: TextIO
) -> Callable[[int, Step], bool] | None:
    """What the runner asks before the switch: ``--no-switch`` no, ``--yes`` (None) yes, else
    the checks side by side and the service name typed on the terminal."""
    svc = flow.service

    def no_switch(index: int, step: Step) -> bool:
        print(f"--no-switch: stopping before: {printable(step.title)}", file=out, flush=True)
        return False

    def ask(index: int, step: Step) -> bool:
        checks = list(flow.incident.checks.values())
        if checks:
            print("checks: live database (before) | restored database (after)", file=out)
            for c in checks:
                line = f"  {c.name}: {c.live} | {c.restored}"
                print(printable(line), file=out)
        print(f"next: {printable(step.title)}", file=out)
        print(
            f"Switch the application to the restored database? Type the service name "
            f"({svc.name}) to switch now; anything else stops here (the restored database "
            "keeps running, the application stays on the live one): ",
            end="",
            file=out,
        )
        out.flush()
        try:
            return input().strip() == svc.name
        except EOFError:
            return False

    if getattr(args, "no_switch", False):
        return no_switch
    if args.yes:
        return None
    return ask


def report_held(flow: RollbackFlow, out: TextIO) -> None:
    """The plan stopped before the switch: say so, and how to switch later."""
    plan = flow.incident.plan
    print(f"switch not done: {printable(flow.held)}", file=out)
    if plan is not None:
        print(
            "the restored database keeps running; to switch the application to it later: "
            f"{flow.switch_command(plan)}",
            file=out,
        )
