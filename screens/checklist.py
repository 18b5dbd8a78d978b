"""Step 2, Prepare: the runbook's "事前確認" items, ticked or skipped (with a reason).

Items come from ``flow.incident.checklist`` (the service's own checklist or
the runbook default).  When the screen opens, the console ticks what it can
establish itself, each with what it saw (``flow.establish_prepare``: the
target, the migrations in range, the team told by webhook); ``auto`` items
are shown greyed and cannot be ticked here, but the cursor stops on every row
so ``Down`` counts rows as the operator sees them.  Continuing is refused
while a required item is neither done nor skipped with a reason
(``Incident.missing_required``).  Every mark goes to the incident journal,
which fsyncs, so marks are written from a worker; while one is in flight the
screen is busy, so keys typed ahead wait for it (a burst ``space down down
space enter`` judges the list after both ticks, as slow keys would).
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from console.flow import RollbackFlow
from console.model import ChecklistItem, ItemState
from screens import wizard
from screens.flow_common import AskText, FlowScreen, checklist_prompt

PHASE = "prepare"


class ChecklistScreen(FlowScreen):
    """The prepare-phase checklist; ``target`` is passed on to the target step untouched."""

    STEP = 2
    HEADLINE = "Prepare: checks before touching anything"
    CSS_PATH = "checklist.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "space,x",
            "tick",
            "Tick/untick",
            tooltip="Mark the item done (or not)",
            id="checklist-tick",
        ),
        Binding("s", "skip", "Skip…", tooltip="Skip the item; asks why", id="checklist-skip"),
        Binding(
            "ctrl+n",
            "continue",
            "Continue",
            priority=True,
            tooltip="Go to the target step",
            id="checklist-continue",
        ),
        Binding(
            "escape",
            "back",
            "Back",
            tooltip="Back to the assessment, nothing done",
            id="checklist-back",
        ),
    ]

    def __init__(self, flow: RollbackFlow, target: str | None = None) -> None:
        super().__init__(flow)
        self.target = target
        self.items: tuple[ChecklistItem, ...] = tuple(
            item for item in flow.incident.checklist if item.phase == PHASE
        )
        #: Marks being written (workers): until they are, the next key waits.
        self.marking = 0
        self.establishing = True

    def compose_body(self) -> ComposeResult:
        yield Static(
            Content.from_markup(
                "Work through the list. [b]required[/b] items must be ticked, or skipped "
                "with a reason; [dim]auto[/dim] items the console ticks itself."
            ),
            id="checklist-intro",
        )
        yield OptionList(*self._options(), id="checklist")

    @property
    def busy(self) -> bool:
        return self.establishing or self.marking > 0

    def _first_open(self) -> int:
        """The first item the operator has to act on (0 when none is open)."""
        return next(
            (
                n
                for n, i in enumerate(self.items)
                if not i.auto and self._state(i) is ItemState.PENDING
            ),
            0,
        )

    def on_mount(self) -> None:
        options = self.query_one("#checklist", OptionList)
        self._first_highlight = self._first_open()
        options.highlighted = self._first_highlight
        self.set_focus(options)
        self.hint("checking what the console can establish itself…")
        self.establish()

    @work(thread=True, exclusive=True, exit_on_error=False, group="establish")
    def establish(self) -> None:
        """Blocking (a platform read, perhaps the database, journal writes)."""
        self.flow.establish_prepare()

    @on(Worker.StateChanged)
    def _established(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "establish" or event.state not in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
        ):
            return
        self.establishing = False
        self._refresh_rows()
        options = self.query_one("#checklist", OptionList)
        if options.highlighted == self._first_highlight:
            # Still where it opened (nobody moved it): on the first item left open now.
            options.highlighted = self._first_open()
        self._update_hint()
        if event.state is WorkerState.ERROR:
            self.error(f"Could not check the items the console ticks: {event.worker.error}")
        self.keys_may_come()

    # ----------------------------------------------------------------- rendering

    def _state(self, item: ChecklistItem) -> ItemState:
        return self.flow.incident.state_of(item.id)

    def _options(self) -> list[Option]:
        marks = self.flow.incident.marks
        return [
            Option(checklist_prompt(item, marks.get(item.id)), id=item.id) for item in self.items
        ]

    def _refresh_rows(self) -> None:
        options = self.query_one("#checklist", OptionList)
        marks = self.flow.incident.marks
        for item in self.items:
            options.replace_option_prompt(item.id, checklist_prompt(item, marks.get(item.id)))

    def _update_hint(self) -> None:
        missing = self.flow.incident.missing_required(PHASE)
        if missing:
            self.hint(
                "[b]↑↓[/b] choose · [b]space[/b] tick · [b]s[/b] skip (say why) · "
                f"{len(missing)} required still open"
            )
        else:
            self.hint(
                "[b]Enter[/b] to choose the target revision · [b]space[/b] tick · [b]s[/b] skip"
            )

    def _selected(self) -> ChecklistItem | None:
        option = self.query_one("#checklist", OptionList).highlighted_option
        if option is None:
            return None
        return next((i for i in self.items if i.id == option.id), None)

    # ----------------------------------------------------------------- actions

    def action_tick(self) -> None:
        item = self._selected()
        if item is None:
            return
        if item.skippable and self._state(item) is ItemState.SKIPPED:
            self.error(None)
            self.mark_item(item.id, ItemState.PENDING, "")  # un-skip: the step is planned again
            return
        if item.auto:
            also = "; s skips it, saying why" if item.skippable else ""
            self.error(f"'{item.text}' is ticked by the console itself when it happens{also}.")
            return
        state = self._state(item)
        new = ItemState.PENDING if state is ItemState.DONE else ItemState.DONE
        self.error(None)
        self.mark_item(item.id, new, "")

    def action_skip(self) -> None:
        item = self._selected()
        if item is None:
            return
        if item.auto and not item.skippable:
            self.error(f"'{item.text}' is ticked by the console itself; nothing to skip.")
            return
        must_say = item.required or item.skippable
        question = f"Skip '{item.text}'? Say why (recorded in the history entry)."
        if not must_say:
            question = f"Skip '{item.text}'? Say why (optional, recorded)."

        def skipped(note: str | None) -> None:
            if note is None:
                return
            self.mark_item(item.id, ItemState.SKIPPED, note)

        self.app.push_screen(
            AskText(question, placeholder="reason for skipping", required=must_say),
            skipped,
        )

    def mark_item(self, item_id: str, state: ItemState, note: str) -> None:
        self.marking += 1
        self._write_mark(item_id, state, note)

    @work(thread=True, exit_on_error=False, group="mark")
    def _write_mark(self, item_id: str, state: ItemState, note: str) -> str:
        """Blocking (journal fsync); raises ValueError for a required item skipped without why."""
        self.flow.incident.mark(item_id, state, note)
        return item_id

    @on(Worker.StateChanged)
    def _marked(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "mark" or event.state not in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            return
        self.marking -= 1
        if event.state is WorkerState.SUCCESS:
            self._refresh_rows()
            self._update_hint()
        elif event.state is WorkerState.ERROR:
            self.error(str(event.worker.error))
        self.keys_may_come()

    @on(OptionList.OptionSelected)
    def _option_selected(self) -> None:
        self.action_continue()

    def action_continue(self) -> None:
        missing = self.flow.incident.missing_required(PHASE)
        if missing:
            names = "; ".join(f"'{i.text}'" for i in missing)
            self.error(f"Cannot continue: tick or skip (with a reason) {names}")
            return
        self.error(None)
        wizard.to_target(self.app, self.flow, self.target)

    def action_back(self) -> None:
        """Back to the assessment; ticks stay (they are in the journal)."""
        self.dismiss(None)
