"""How a headless rollback (fresh or resumed) ends: verified, recorded, the team told.

The entry is appended once; a history file that cannot be written leaves the
incident open for ``resume`` (which saves the entry without rolling back
again); a change whose outcome is unknown leaves it open too, and says how it
is settled.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from console.cli.parser import PROG
from console.errors import EXIT_FAILED, EXIT_OK
from console.model import Outcome, ReadyResult
from console.textsafe import printable
from providers.base import OutcomeUnknown

if TYPE_CHECKING:
    from console.flow import RollbackFlow
    from console.flow_record import FlowResult


def verify_and_record(
    flow: RollbackFlow, ready: ReadyResult, args: argparse.Namespace, out: TextIO, err: TextIO
) -> int:
    """After execution (fresh or resumed): verify unless already verified, record, exit code."""
    from console.verify import watch_limit

    svc = flow.service
    print(
        f"{'ready' if ready.ready else 'NOT READY'}: {printable(ready.message)}",
        file=out,
        flush=True,
    )
    units = flow.incident.marks.get("units")
    if units is not None:  # what ticked (or failed) "All processes / pods / tasks running"
        print(f"units: {printable(units.note)}", file=out, flush=True)
    verified = flow.incident.verification
    if ready.ready and not (verified and verified.passed):
        flow.source.wait_for_data(min(5.0, svc.error_rate.window_s))
        window = args.verify_window if args.verify_window else svc.verify_window_s
        print(
            f"verifying for {window:g} s (and until {svc.verify_min_rounds} health rounds and "
            f"{svc.verify_min_requests} requests are in, at most {watch_limit(window):g} s) ...",
            file=out,
            flush=True,
        )
        verification = flow.verify(window_s=window)
        print(
            f"{'verified' if verification.passed else 'NOT VERIFIED'}: "
            f"{printable(verification.message)}",
            file=out,
        )
    print(f"outcome: {flow.outcome_text()}", file=out)
    result = record_entry(flow, out, err)
    return EXIT_OK if result and result.outcome is Outcome.ROLLED_BACK else EXIT_FAILED


def left_open(flow: RollbackFlow, exc: OutcomeUnknown, out: TextIO, err: TextIO) -> None:
    """The change may or may not have taken effect: no entry yet, and say how it is settled.

    A plain retry would be wrong either way (a rollback that did take effect would
    be followed by a "previous revision" that is the broken release again), so the
    operator is sent to ``resume``, which reads the platform first.
    """
    svc = flow.service
    print(f"rollback interrupted: {exc}", file=err)
    print(
        f"the incident stays open (no history entry yet): once the platform answers, "
        f"`{PROG} resume {svc.name}` reads what it did and finishes, sending the change "
        "again only if it did not take effect",
        file=err,
    )
    _report_notifications(flow, out)


def record_entry(flow: RollbackFlow, out: TextIO, err: TextIO) -> FlowResult | None:
    """Append the history entry; None (and one line saying so) when the file cannot be written.

    The entry is then missing but not lost: the incident's journal stays open
    (no "recorded" event), and ``resume`` writes the entry without rolling back
    a second time: to the history file once it can be written, else to the
    fallback file in the state dir (the result says so, and this prints it).
    """
    from console.flow_record import fallback_history_file
    from console.history import HistoryWriteError

    try:
        result = flow.record()
    except HistoryWriteError as exc:
        svc = flow.service
        print(
            f"error: {svc.label}: {flow.outcome_text()}, but the history entry was NOT saved "
            f"({exc.reason}: {exc.path}); the incident stays open: "
            f"`{PROG} resume {svc.name}` saves the entry without rolling back again (to "
            f"{fallback_history_file(flow.config.console.state_dir)} if the file still "
            "cannot be written)",
            file=err,
        )
        return None
    if result.not_saved_to is not None:
        print(
            f"history file {result.not_saved_to} still cannot be written "
            f"({result.not_saved_reason}): entry saved to {result.history_file} instead; "
            f"copy it into {result.not_saved_to} once that can be written",
            file=out,
        )
    else:
        print(f"history entry appended to {result.history_file}", file=out)
    if result.git is not None:  # [console] history_git: committed, pushed, or why not
        print(
            result.git.line if result.git.ok else f"warning: {result.git.line}",
            file=out if result.git.ok else err,
        )
    _after_record(flow, result, out)
    return result


def _after_record(flow: RollbackFlow, result: FlowResult, out: TextIO) -> None:
    """After the entry is saved: the postmortem draft, and what the team webhook answered.

    The messages went out in the background while the rollback ran; before
    this process exits they get ``[console] webhook_exit_wait_s`` more to
    finish, and each result is one line.
    """
    from console.postmortem import write_draft_after

    if result.record is not None:
        line = write_draft_after(result.record, flow.config.console, redact=flow.redact)
        print(line[0].lower() + line[1:], file=out)
    _report_notifications(flow, out)


def _report_notifications(flow: RollbackFlow, out: TextIO) -> None:
    """Give the messages sent in the background a bounded chance to finish; one line each.

    A slow webhook (timeouts times retries: minutes) must not hold the exit of
    a command whose entry is already saved.  After ``webhook_exit_wait_s`` the
    command exits, and with it the background sender: a message that had no
    answer by then is reported as not confirmed (the operator tells the team),
    never as "will be retried".
    """
    notifier = flow.notifier
    if notifier is None or not notifier.configured:
        return
    wait_s = flow.config.console.webhook_exit_wait_s
    if notifier.pending and wait_s > 0:
        print(
            f"team notification: waiting up to {wait_s:g} s for the team webhook ...",
            file=out,
            flush=True,
        )
    notifier.wait(wait_s)
    delivered, unanswered = notifier.outcome()
    for delivery in delivered:
        print(f"team notification: {notifier.redact(delivery.describe())}", file=out)
    for kind in unanswered:
        print(
            f"team notification: {kind} message not confirmed sent (gave up waiting at exit "
            f"after {wait_s:g} s; the team webhook had not answered): tell the team yourself",
            file=out,
        )
