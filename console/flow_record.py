"""The end of a rollback: the team told, the outcome from what was observed, the entry saved.

``record`` appends the history entry once (an incident id never gets two), a
resumed incident whose history file still cannot be written goes to the
fallback file in the state dir; the team's completion message goes out in
the background and never holds the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from console.flow_locks import LockSteps
from console.history import HistoryWriteError, append_entry
from console.history.git import GitResult
from console.model import HistoryRecord, ItemState, Outcome
from console.notify import Delivery, WebhookNotifier, already_sent, render_message
from console.outcomes import outcome_text


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
    #: ``[console] history_git``: what git did with the entry (None: not asked to).
    git: GitResult | None = None


class RecordSteps(LockSteps):
    """The record half of ``RollbackFlow`` (its methods take the flow as ``self``)."""

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

        def delivered(delivery: Delivery) -> None:
            said = notifier.redact(delivery.describe())
            self.incident.log("notify", said)
            if kind == "start":
                # "Team told a rollback is starting": what became of the message, not the promise.
                state = ItemState.DONE if delivery.sent else ItemState.FAILED
                self.incident.mark("notify-start", state, said)

        notifier.send(kind, self.notification(kind), delivered)

    def outcome(self) -> Outcome:
        """What the history entry must say, from what was observed."""
        if self.undone:
            return Outcome.UNDONE
        if self.execute_error:
            return Outcome.FAILED
        if self.held:  # restored, checked, not switched (``console.flow_hold``)
            return Outcome.RESTORED
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
        return FlowResult(outcome, outcome.value, record, path, git=self._commit(record))

    def _commit(self, record: HistoryRecord) -> GitResult | None:
        """``history_git``: commit (and push) the entry just saved (after the lock is gone: a
        slow remote holds nobody up); the result's line is shown by the CLI and the screen."""
        console = self.config.console
        if not console.history_git:
            return None
        from console.history import render_entry
        from console.history.git import commit_entry, headline

        message = headline(render_entry(record, self.redact))
        return commit_entry(console, message, record.operator)

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
