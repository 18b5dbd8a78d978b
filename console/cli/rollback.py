"""Headless ``rollback`` and ``action``: the same flow as the TUI, confirmed on the terminal.

Refused before anything changes when it cannot go on (no ``--reason`` unless a
dry run; no ``--yes`` and no terminal; another console holds the service; an
interrupted rollback is open; an unknown ``--to`` or action, before the service
is sampled); then assess, plan, confirm (a wrong answer: ``Aborted``, exit 2),
execute; the ending (verify, record, messages) is ``console.cli.record``'s.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TextIO

from console.cli.common import load, require_writable
from console.cli.database import apply_database_options
from console.cli.output import confirm_on_terminal, print_event, print_plan, print_revisions
from console.cli.parser import PROG, UsageError
from console.cli.pitr import ask_time, refuse_without_time, report_held, switch_gate, takes_time
from console.cli.record import left_open, record_entry, verify_and_record
from console.config import Config, ServiceConfig
from console.errors import EXIT_FAILED, EXIT_OK
from console.journal import JournalWriteError
from console.model import Action, Assessment, ItemState
from console.runner import Held
from console.textsafe import printable
from providers.base import LockHeld, OutcomeUnknown, ProviderError

if TYPE_CHECKING:
    from console.flow import RollbackFlow


def cmd_rollback(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from console.flow import RollbackFlow
    from console.signals import make_error_rate_source
    from providers import load_provider

    reason = _reason(args)
    action: str | None = getattr(args, "action", None)
    config = load(args)
    svc = config.service(args.service)
    if not args.dry_run:
        require_writable(config, before=": nothing was changed")
        if not args.yes and not sys.stdin.isatty():
            # Said now, not after sampling the service for the assessment.
            raise UsageError(
                "refusing to roll back without --yes: standard input is not a terminal"
            )
    _refuse_if_interrupted(config, svc, dry_run=args.dry_run)
    provider = load_provider(svc)
    # Bad input the platform can tell (an unknown --to or action) is refused now,
    # before the service is sampled for the assessment (up to 30 s).
    offered = None
    if action:
        offered = _check_action(provider, svc, action, getattr(args, "arg", None))
        refuse_without_time(offered, args)
    elif args.to is not None:
        provider.plan(args.to, dry_run=True)
    source = make_error_rate_source(svc)
    source.start()
    flow: RollbackFlow | None = None
    try:
        flow = RollbackFlow(
            config,
            svc,
            provider,
            source,
            reason=reason,
            detected_at=getattr(args, "detected_at", None),
        )
        apply_database_options(flow, args)
        if flow.custom is not None and not action:
            flow.custom.require_env()  # a step's header variable unset: exit 2 before sampling
        snap = flow.refresh()
        current = snap.current.version if snap.current else "(unknown)"
        print(f"{svc.label}: current {printable(current)}", file=out, flush=True)
        assessment = _assess_with_enough_data(flow, out)
        for reason in assessment.reasons:
            print(f"  - {printable(reason)}", file=out)
        if action:
            argument = args.arg
            if takes_time(offered) and not args.yes and not args.dry_run:
                assert offered is not None  # the moment shown and confirmed on the terminal
                argument = ask_time(offered, svc, snap, args.arg, out)
            plan = flow.plan_action(action, argument, dry_run=args.dry_run)
        else:
            # The deploy history the target is chosen from, before the plan names it.
            print_revisions(snap, out)
            flow.history_shown(snap)
            plan = flow.plan(args.to, dry_run=args.dry_run)
        print_plan(plan, out)
        if args.dry_run:
            print("dry run: nothing was changed", file=out)
            return EXIT_OK
        if not args.yes:
            confirm_on_terminal(svc, out)  # anything but the name: Aborted, exit 2
        flow.incident.mark(
            "decide",
            ItemState.DONE,
            "confirmed with --yes" if args.yes else "confirmed by typing the service name",
        )
        flow.incident.notes.append(
            "Headless run (rollback-console rollback): the operator's prepare checklist "
            "was not ticked interactively."
        )
        try:
            ready = flow.execute(
                plan, on_event=lambda e: print_event(out, e), confirm=switch_gate(flow, args, out)
            )
        except Held:
            report_held(flow, out)
            return EXIT_OK if record_entry(flow, out, err) else EXIT_FAILED
        except (LockHeld, JournalWriteError):
            raise  # the journal failing stops the console: no entry, `resume` finishes
        except OutcomeUnknown as exc:
            left_open(flow, exc, out, err)
            return EXIT_FAILED
        except ProviderError as exc:
            print(f"rollback failed: {exc}", file=err)
            record_entry(flow, out, err)
            return EXIT_FAILED
        return verify_and_record(flow, ready, args, out, err)
    finally:
        if flow is not None:
            flow.close()
        source.stop()


def _assess_with_enough_data(flow: RollbackFlow, out: TextIO) -> Assessment:
    """Wait (bounded) for the sample a severity needs, assess, print the one line.

    Below the minimum the line says "assessing (n of N samples)", never a verdict.
    """
    from console.flow import FIRST_SAMPLE_WAIT_S
    from console.severity import describe

    needed = flow.service.thresholds.min_requests
    print(
        f"reading health and error rate (a severity needs {needed} requests; "
        f"waiting at most {FIRST_SAMPLE_WAIT_S:g} s) ...",
        file=out,
        flush=True,
    )
    flow.wait_for_sample(FIRST_SAMPLE_WAIT_S)
    assessment = flow.assess()
    print(describe(assessment), file=out, flush=True)
    return assessment


def cmd_action(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """List a service's actions, or run one through the same flow as a rollback."""
    if args.list or not args.action:
        from providers import load_provider
        from providers.base import SupportsActions

        config = load(args)
        svc = config.service(args.service)
        provider = load_provider(svc)
        actions = provider.actions() if isinstance(provider, SupportsActions) else ()
        if not actions:
            print(f"{svc.label}: no actions besides rollback", file=out)
        for item in actions:
            wants = f" --arg {item.argument.upper()}" if item.argument else ""
            print(f"  {item.id}{wants}: {item.title} — {item.description}", file=out)
            if item.choices:
                print(f"      choices: {', '.join(item.choices)}", file=out)
        return EXIT_OK
    return cmd_rollback(args, out, err)


def _reason(args: argparse.Namespace) -> str:
    """``--reason``: required to change anything, not for a dry run (which records nothing).

    A dry run writes no history entry and no journal; should its reason ever be
    shown, it says none was given rather than inventing one.
    """
    reason: str | None = args.reason
    if reason is None:
        if args.dry_run:
            return "(dry run, none given)"
        what = "run an action" if getattr(args, "action", None) else "roll back"
        raise UsageError(
            f"--reason is required to {what} (it goes into the history entry); "
            "a --dry-run goes without"
        )
    if not reason.strip():
        raise UsageError("--reason must not be empty")
    return reason


def _check_action(
    provider: object, svc: ServiceConfig, action: str, argument: str | None
) -> Action | None:
    """An action the service does not offer, or ``--arg`` given to one that takes none
    (``restart``): exit 2 before the service is sampled, nothing journaled or locked.

    Silently dropping an unwanted ``--arg`` would run something other than what the
    operator typed.  An action missing from the list is put to the provider's own
    planning (a dry run, nothing changed), which refuses it naming the ones it has, or
    accepts it (an action offered only in some states plans with its own refusal).
    """
    from providers.base import InvalidTarget, SupportsActions

    if not isinstance(provider, SupportsActions):
        raise InvalidTarget(f"{svc.label} has no actions besides rollback")
    actions = provider.actions()
    for item in actions:
        if item.id != action:
            continue
        if argument is not None and not item.argument:
            raise UsageError(
                f"action {action} of {svc.label} takes no argument, but --arg {argument!r} "
                "was given: leave --arg out"
            )
        return item
    provider.plan_action(action, argument, dry_run=True)
    return None


def _refuse_if_interrupted(config: Config, svc: ServiceConfig, *, dry_run: bool) -> None:
    """A new rollback must not start over another one: running (exit 3) or half-done (exit 2).

    A rollback another console is running (it holds the service lock: switching,
    waiting or verifying) is refused with exit 3 naming who; one left half-way by
    a console that stopped is refused with exit 2, naming ``resume``.  A dry run
    changes nothing and is never refused.
    """
    from console.lock import holder
    from console.resume import open_incidents

    if dry_run:
        return
    owner = holder(config.console.state_dir, svc.name, svc.environment)
    if owner is not None:
        what = f", incident {owner.incident}" if owner.incident else ""
        raise LockHeld(
            f"{svc.label} is being rolled back by {owner.describe()}{what}: "
            "wait for it to finish, or coordinate"
        )
    found = open_incidents(config.console.state_dir, svc.name)
    if found:
        raise UsageError(
            f"an interrupted rollback of {svc.name} is open (incident {found[-1].incident_id}): "
            f"finish it with `{PROG} resume {svc.name}` first"
        )
