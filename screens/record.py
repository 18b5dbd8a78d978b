"""Step 7, Record: preview the rollback-history entry, tick the last items, save it.

The preview is exactly what will be appended: ``console.history.render_entry``
of ``flow.build_record()``, redacted with the flow's redactor.  The items the
console cannot observe (main API checked by hand, team told, postmortem
scheduled) can be ticked here before saving.  ``flow.record()`` appends the
entry (blocking, in a worker); a failed write (disk full, permissions) is one
red line and the save can be retried.  Saving also writes the postmortem draft
beside the history file (``console.postmortem``), and the flow sends the
completion message to the team webhook if it has not yet.  After saving, c
shows the message to copy, and Enter or q goes back to the dashboard.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.timer import Timer
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from console.errors import one_line
from console.flow import RollbackFlow
from console.flow_record import FlowResult
from console.history import render_entry
from console.model import ChecklistItem, ItemState, Outcome
from console.postmortem import write_draft_after
from console.textsafe import printable, printable_lines
from console.widgets.formatting import middle_truncate
from screens import wizard
from screens.flow_common import FlowScreen, checklist_prompt
from screens.notify import NotificationScreen, delivery_status

#: Phases whose hand-ticked items are offered here (the console cannot observe them).
PHASES = ("verify", "after")

_OUTCOME_STYLE = {
    Outcome.ROLLED_BACK: "$text-success",
    Outcome.NOT_VERIFIED: "$text-warning",
    Outcome.FAILED: "$text-error",
    Outcome.ABORTED: "$text-warning",
    Outcome.DRY_RUN: "$text-muted",
    Outcome.UNDONE: "$text-error",
    Outcome.RESTORED: "$text-success",
}


def entry_preview(markdown: str) -> Content:
    """The entry's markdown as it will be written, lightly highlighted for reading.

    Shown raw rather than rendered: one table row a line fits an 80x24
    terminal, and the operator sees the exact bytes that go into the file.
    """
    lines: list[Content] = []
    for raw in markdown.rstrip("\n").split("\n"):
        line = printable(raw)
        if line.startswith("#"):
            lines.append(Content.from_markup("[b $text-accent]$l[/]", l=line))
        elif line.startswith("<!--"):
            lines.append(Content.from_markup("[$text-muted]$l[/]", l=line))
        elif line.startswith("- [x]"):
            lines.append(Content.from_markup("[$text-success]- [x][/]$l", l=line[5:]))
        elif line.startswith("- [!]"):
            lines.append(Content.from_markup("[$text-error]- [!][/]$l", l=line[5:]))
        else:
            lines.append(Content(line))
    return Content("\n").join(lines)


class RecordScreen(FlowScreen):
    """Preview and save the history entry for ``flow``."""

    STEP = 7
    HEADLINE = "Record: the rollback-history entry"
    CSS_PATH = "record.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "space,x",
            "tick",
            "Tick/untick",
            tooltip="Mark the highlighted item done",
            id="record-tick",
        ),
        Binding(
            "ctrl+s",
            "save",
            "Save entry",
            priority=True,
            tooltip="Append the entry",
            id="record-save",
        ),
        Binding("enter", "save_or_leave", "Save / done", show=False, id="record-save-or-leave"),
        Binding(
            "q",
            "done",
            "Dashboard",
            tooltip="Back to the dashboard (after saving)",
            id="record-done",
        ),
        Binding(
            "c",
            "message",
            "Team message",
            tooltip="Show and copy the completion message",
            id="record-message",
        ),
        Binding(
            "escape",
            "leave",
            "Leave…",
            tooltip="Leave (asks first if not saved)",
            id="record-leave",
        ),
    ]

    def __init__(self, flow: RollbackFlow) -> None:
        super().__init__(flow)
        self.items: tuple[ChecklistItem, ...] = tuple(
            item for item in flow.incident.checklist if item.phase in PHASES and not item.auto
        )
        self.saved: FlowResult | None = None
        #: The markdown last rendered for the preview (exactly what would be appended).
        self.entry = ""
        self.saving = False
        #: After saving: where the postmortem draft went, or why it did not.
        self.postmortem = ""
        self._status_timer: Timer | None = None
        #: Ticks being written: keys typed ahead (Enter: save) wait for them.
        self.marking = 0

    @property
    def busy(self) -> bool:
        return self.saving or self.marking > 0

    def compose_body(self) -> ComposeResult:
        yield Static("", id="record-outcome")
        yield OptionList(*self._options(), id="record-items")
        with VerticalScroll(id="record-preview"):
            yield Static("Rendering the entry…", id="record-entry")
        yield Static("", id="record-saved")

    def on_mount(self) -> None:
        items = self.query_one("#record-items", OptionList)
        items.border_title = "Tick what is done, then save"
        items.display = bool(self.items)
        self.query_one(
            "#record-preview"
        ).border_title = f"Entry to append to {self.flow.config.console.history_file.name}"
        self.set_focus(items if self.items else self.query_one("#record-preview"))
        self._show_outcome()
        self.build_preview()
        self._update_hint()

    # ----------------------------------------------------------------- preview

    @work(thread=True, exclusive=True, exit_on_error=False, group="preview")
    def build_preview(self) -> str:
        return render_entry(self.flow.build_record(), redact=self.flow.redact)

    def _show_outcome(self) -> None:
        outcome = self.flow.outcome()
        self.query_one("#record-outcome", Static).update(
            Content.from_markup(
                f"Outcome: [b {_OUTCOME_STYLE[outcome]}]$o[/]", o=self.flow.outcome_text()
            )
        )

    def _options(self) -> list[Option]:
        marks = self.flow.incident.marks
        return [
            Option(checklist_prompt(item, marks.get(item.id), tags=False), id=item.id)
            for item in self.items
        ]

    def _refresh_items(self) -> None:
        options = self.query_one("#record-items", OptionList)
        marks = self.flow.incident.marks
        for item in self.items:
            options.replace_option_prompt(
                item.id, checklist_prompt(item, marks.get(item.id), tags=False)
            )

    # ----------------------------------------------------------------- workers

    def mark_item(self, item_id: str, state: ItemState) -> None:
        self.marking += 1
        self._write_mark(item_id, state)

    @work(thread=True, exit_on_error=False, group="mark")
    def _write_mark(self, item_id: str, state: ItemState) -> None:
        self.flow.incident.mark(item_id, state)

    @work(thread=True, exclusive=True, exit_on_error=False, group="save")
    def save_entry(self) -> FlowResult:
        """Blocking: append the entry under the history file's lock, then the postmortem draft."""
        result = self.flow.record()
        if result.record is not None:
            self.postmortem = write_draft_after(
                result.record, self.flow.config.console, redact=self.flow.redact, beside=True
            )
        return result

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        group, state, worker = event.worker.group, event.state, event.worker
        if group == "preview":
            if state is WorkerState.SUCCESS and isinstance(worker.result, str):
                self.entry = worker.result
                self.query_one("#record-entry", Static).update(entry_preview(worker.result))
            elif state is WorkerState.ERROR:
                self.error(f"Could not render the entry: {worker.error}")
        elif group == "mark":
            if state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
                self.marking -= 1
                self.keys_may_come()
            if state is WorkerState.SUCCESS:
                self._refresh_items()
                self.build_preview()
            elif state is WorkerState.ERROR:
                self.error(str(worker.error))
        elif group == "save":
            if state is WorkerState.SUCCESS and isinstance(worker.result, FlowResult):
                self._saved(worker.result)
            elif state is WorkerState.ERROR:
                self.saving = False
                err = worker.error
                detail = one_line(err)
                self.error(f"Could not write the history entry: {detail} (ctrl+s to retry)")
                self._update_hint()
                self.keys_may_come()

    def _saved(self, result: FlowResult) -> None:
        self.saving = False
        self.saved = result
        self.error(None)
        self._show_saved()
        if result.git is not None and not result.git.ok:
            self.app.notify(result.git.line, severity="error", timeout=15)
        if self.flow.notifier is not None and self.flow.notifier.pending:
            # Until the webhook answers (it never holds up the save): then say what it said.
            self._status_timer = self.set_interval(0.5, self._show_saved, name="team-status")
        items = self.query_one("#record-items", OptionList)
        items.disabled = True
        # Their ticks are in the entry now: the preview gets the room back.
        items.display = False
        self.refresh_bindings()
        self.query_one("#record-preview").focus()
        self._update_hint()
        self.keys_may_come()

    def _show_saved(self) -> None:
        """Where the entry and the postmortem draft went, and what the team webhook said."""
        if self.saved is None:
            return
        notifier = self.flow.notifier
        if self._status_timer is not None and not (notifier and notifier.pending):
            self._status_timer.stop()
            self._status_timer = None
        path = self.saved.history_file or Path(self.flow.config.console.history_file)
        saved = self.query_one("#record-saved", Static)
        # One line each: the history file's path and the draft's (relative to that file's
        # folder) are cut in the middle rather than wrapped mid-name; hover shows them whole.
        room = saved.content_size.width or 78
        postmortem = printable(self.flow.redact(self.postmortem))
        label, _, where = postmortem.rpartition(": ")
        if self._postmortem_path() and label:
            postmortem = f"{label}: {middle_truncate(where, room - len(label) - 2)}"
        saved.update(
            Content.from_markup(
                "[b $text-success]Saved[/] to $p",
                p=middle_truncate(printable(str(path)), room - len("Saved to ")),
            )
            + Content(
                "\n"
                + "\n".join(
                    line
                    for line in (
                        postmortem,
                        printable(self.flow.redact(self._git_line())),
                        printable(self.flow.redact(self._team_line())),
                    )
                    if line
                )
            )
        )
        whole = (f"Saved to {path.absolute()}", self._postmortem_path())
        saved.tooltip = printable_lines(self.flow.redact("\n".join(line for line in whole if line)))

    def _postmortem_path(self) -> str:
        """Where the draft is, whole (the line on screen gives it from the history folder)."""
        folder = Path(self.flow.config.console.history_file).absolute().parent
        for prefix in ("Postmortem draft: ", "Postmortem draft already there, kept as it is: "):
            if self.postmortem.startswith(prefix):
                return f"{prefix}{folder / self.postmortem[len(prefix) :]}"
        return ""

    def on_resize(self) -> None:
        """Another width: the saved lines are cut again to fit."""
        if self.saved is not None:
            self.call_after_refresh(self._show_saved)

    def _git_line(self) -> str:
        """``[console] history_git``: committed (and pushed), or why not."""
        git = self.saved.git if self.saved is not None else None
        return "" if git is None else f"Git: {git.line}"

    def _team_line(self) -> str:
        if not self.flow.executed:
            return ""
        return "Team: " + delivery_status(self.flow, "completion")

    def _update_hint(self) -> None:
        if self.saved is not None:
            self.hint(
                "[b]c[/b] team message to copy · [b]Enter[/b] or [b]q[/b] back to the dashboard"
            )
        elif self.saving:
            self.hint("saving…")
        elif self.items:
            self.hint(
                "[b]space[/b] tick · [b]ctrl+s[/b] or [b]Enter[/b] save the entry"
                " · [b]Tab[/b] to scroll the preview"
            )
        else:
            self.hint("[b]ctrl+s[/b] or [b]Enter[/b] save the entry")

    # ----------------------------------------------------------------- actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """After saving, only the way back is offered; "q" is offered only after saving."""
        saved = self.saved is not None
        if action in ("tick", "save"):
            return not saved
        if action == "done":
            return saved
        if action == "message":
            return saved and self.flow.executed
        return True

    def action_tick(self) -> None:
        if self.saved is not None or not self.items:
            return
        option = self.query_one("#record-items", OptionList).highlighted_option
        if option is None or option.id is None:
            return
        state = self.flow.incident.state_of(option.id)
        self.mark_item(option.id, ItemState.PENDING if state is ItemState.DONE else ItemState.DONE)

    @on(OptionList.OptionSelected, "#record-items")
    def _enter_on_item(self) -> None:
        self.action_save_or_leave()

    def action_save(self) -> None:
        if self.saved is not None:
            self.notify("Already saved.")
            return
        if self.saving:
            return
        self.saving = True
        self.error(None)
        self._update_hint()
        self.save_entry()

    def action_save_or_leave(self) -> None:
        if self.saved is not None:
            self.return_to_dashboard()
        else:
            self.action_save()

    def action_message(self) -> None:
        """Show the completion message (as sent to the team webhook) and copy it."""
        self.app.push_screen(NotificationScreen(self.flow, "completion"))

    def return_to_dashboard(self) -> None:
        """Back to the dashboard, which then says what would undo the rollback and what was
        done about it (a suspended GitOps controller and how to re-enable it)."""
        plan = self.flow.incident.plan
        if self.saved is not None and self.flow.executed and plan and plan.undone_by:
            self.app.notify(
                "\n".join(plan.undone_by), title="Who will undo it", severity="warning", timeout=30
            )
        super().return_to_dashboard()

    def action_done(self) -> None:
        if self.saved is not None:
            self.return_to_dashboard()
        else:
            self.error("Not saved yet: ctrl+s saves the entry (Esc leaves without saving).")

    def action_leave(self) -> None:
        if self.saved is not None:
            self.return_to_dashboard()
            return
        wizard.ask_leave_unrecorded(self.app, self.return_to_dashboard)
