"""A plan held before a confirmed step, and the checks a restore compared: the flow's side.

A point-in-time recovery restores into a new database, runs the checks on the
live one and the restored one, and only then switches the application: the
switch step is ``confirm_before`` and the runner asks (``console.runner``).
A "no" (the TUI's dialog, the terminal's prompt, ``--no-switch``) stops the
plan there on purpose: the restored database keeps running, the application
stays on the live one, and the entry says so and how to switch later.  The
checks' values (``runner.Compared`` lines) are kept for the entry, whichever
engine ran them.
"""

from __future__ import annotations

import shlex

from console.flow_state import FlowState
from console.model import ItemState, Plan, ProgressEvent
from console.runner import Compared, Held

PROG = "rollback-console"


class HoldSteps(FlowState):
    """The hold half of ``RollbackFlow`` (its methods take the flow as ``self``)."""

    def _seen(self, event: ProgressEvent) -> None:
        """Keep a compared check for the entry (before redaction makes the line a plain str)."""
        if isinstance(event.message, Compared):
            self.incident.add_check(event.message.pair)

    def switch_command(self, plan: Plan) -> str:
        """The command that does the held switch later (the same action at the same time:
        the restored database is found again by its name, nothing restored twice)."""
        words = [PROG, "action", self.service.name, plan.action]
        if plan.argument:
            words += ["--arg", plan.argument]
        return shlex.join(words) + " --reason TEXT"

    def _hold(self, held: Held, plan: Plan) -> None:
        """Record that the plan stopped before ``held.step`` on purpose (journaled first)."""
        command = self.switch_command(plan)
        self.held = f"not done: {held.title}"
        self.incident.journal_event("held", index=held.step, title=self.redact(held.title))
        self.incident.log("held", f"stopped before: {held.title} (not confirmed)")
        note = (
            f"The switch was NOT done: the plan stopped before '{held.title}' (not "
            "confirmed, for a manual comparison). The application still uses the live "
            f"database; the restored one keeps running. To switch: {command}"
        )
        self.incident.notes.append(self.redact(note))
        self.incident.journal_event("note", note=self.redact(note))
        self.incident.mark("run", ItemState.DONE, "stopped before the switch (not confirmed)")
