"""``resume``: finish rollbacks a console was interrupted in (crash, lost SSH session)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from console.cli.common import load, require_writable
from console.cli.output import (
    Aborted,
    confirm_on_terminal,
    print_event,
    print_journal_warnings,
    print_plan,
)
from console.cli.pitr import report_held, switch_gate
from console.cli.record import left_open, record_entry, verify_and_record
from console.config import Config, ServiceConfig
from console.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_LOCKED, EXIT_OK
from console.journal import JournalWriteError
from console.runner import Held
from console.textsafe import printable
from providers.base import LockHeld, OutcomeUnknown, ProviderError

if TYPE_CHECKING:
    from console.flow import RollbackFlow
    from console.resume import JournalState


def cmd_resume(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Finish interrupted rollbacks: re-read the platform, continue, verify, record once.

    A rollback another console is still running (it holds the service lock) is
    not interrupted: it is listed as in progress and refused with exit 3.
    """
    from console.resume import open_incidents

    config = load(args)
    if args.service:
        config.service(args.service)
    if not args.list:
        # The history file may stay unwritable: resume then saves to the fallback file.
        require_writable(config, history=False, before=": nothing was resumed")
    if not args.list and config.console.history_push:
        _push_pending_history(config, out, err)
    found = open_incidents(config.console.state_dir, args.service)
    print_journal_warnings(found, err)
    running = [state for state in found if state.live is not None]
    pending = [state for state in found if state.interrupted]
    for state in running:
        assert state.live is not None
        print(
            f"in progress: incident {state.incident_id} ({state.service}) is being run by "
            f"{state.live.describe()}: not interrupted, not resumed",
            file=out,
        )
    if not pending:
        if running and not args.list:
            raise LockHeld(
                f"the rollback of {running[0].service} (incident {running[0].incident_id}) "
                f"is in progress, run by {running[0].live.describe() if running[0].live else '?'}"
                ": there is nothing to resume; wait for it or coordinate"
            )
        print("no interrupted rollback to resume", file=out)
        return EXIT_OK
    for state in pending:
        print(
            f"interrupted: incident {printable(state.incident_id)} ({printable(state.service)}, "
            f"by {printable(state.operator or '?')})",
            file=out,
        )
        for line in state.describe():
            print(f"  {printable(line)}", file=out)
    if args.list:
        return EXIT_OK
    code = EXIT_LOCKED if running else EXIT_OK
    for state in pending:
        svc = config.service(state.service)
        if not args.yes:
            try:
                confirm_on_terminal(svc, out)
            except Aborted as aborted:  # this one is left open; the others are still asked
                print(f"aborted: incident {state.incident_id} not resumed: {aborted}", file=err)
                code = _worse(code, EXIT_BAD_INPUT)
                continue
        code = _worse(code, _resume_one(config, svc, state, args, out, err))
    return code


#: Which exit code wins when several incidents are resumed: an abort at the prompt
#: (2, nothing changed) never hides a resume that failed (1) or was refused (3).
_RANK = {EXIT_OK: 0, EXIT_BAD_INPUT: 1, EXIT_FAILED: 2, EXIT_LOCKED: 3}


def _worse(code: int, other: int) -> int:
    return max(code, other, key=lambda c: _RANK.get(c, len(_RANK)))


def _resume_one(
    config: Config,
    svc: ServiceConfig,
    state: JournalState,
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
) -> int:
    """Resume one interrupted incident to its entry; the exit code it earns."""
    from console.flow import RollbackFlow
    from console.flow_resume import SwitchUndone
    from console.signals import make_error_rate_source
    from providers import load_provider

    provider = load_provider(svc)
    source = make_error_rate_source(svc)
    source.start()
    flow: RollbackFlow | None = None
    try:
        flow = RollbackFlow(config, svc, provider, source, resume_state=state)
        print(f"resuming {state.incident_id}", file=out, flush=True)
        try:
            try:
                ready = flow.resume_execute(
                    on_event=lambda e: print_event(out, e),
                    on_note=lambda note: print(f"  {printable(note)}", file=out, flush=True),
                    confirm=switch_gate(flow, args, out),
                )
            except SwitchUndone as undone:
                if not _roll_back_again(flow, undone, args, out, err):
                    print(f"outcome: {flow.outcome().value}", file=out)
                    record_entry(flow, out, err)
                    return EXIT_FAILED
                plan = flow.replan_after_undo()
                print_plan(plan, out)
                ready = flow.execute(
                    plan,
                    on_event=lambda e: print_event(out, e),
                    confirm=switch_gate(flow, args, out),
                )
        except Held:
            report_held(flow, out)
            return EXIT_OK if record_entry(flow, out, err) else EXIT_FAILED
        except (LockHeld, JournalWriteError):
            raise
        except OutcomeUnknown as exc:
            left_open(flow, exc, out, err)
            return EXIT_FAILED
        except ProviderError as exc:
            print(f"rollback failed: {exc}", file=err)
            flow.execute_error = str(exc)
            record_entry(flow, out, err)
            return EXIT_FAILED
        return verify_and_record(flow, ready, args, out, err)
    finally:
        if flow is not None:
            flow.close()
        source.stop()


def _roll_back_again(
    flow: RollbackFlow, undone: Exception, args: argparse.Namespace, out: TextIO, err: TextIO
) -> bool:
    """After resume found the switch undone: roll back again (``--yes`` or typed), or not."""
    svc = flow.service
    print(f"NOT ROLLED BACK: {undone}", file=err)
    if args.yes:
        print("rolling back again (--yes): a new plan from the live state", file=out)
        return True
    print(
        f"Type the service name ({svc.name}) to roll back again; anything else records "
        "'not rolled back': ",
        end="",
        file=out,
    )
    out.flush()
    try:
        return input().strip() == svc.name
    except EOFError:
        return False


def _push_pending_history(config: Config, out: TextIO, err: TextIO) -> None:
    """``history_push``: what an earlier failed push left goes now (its line either way)."""
    from console.history.git import push_pending

    result = push_pending(config.console)
    if result is not None:
        print(
            result.line if result.ok else f"warning: {result.line}", file=out if result.ok else err
        )
