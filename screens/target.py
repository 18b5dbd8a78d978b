"""Step 3, Target: pick the revision to roll back to and read exactly what will be done.

The revision list is ``flow.snapshot.revisions`` (newest first).  Choosing a
row asks the provider for a plan (``flow.plan``, blocking, in a worker); the
provider validates the target, so "already current" or "unknown" come back as
one line (``InvalidTarget`` / ``NotFound``) and the operator stays here.  The
plan preview lists every step with its equivalent shell command, which ``c``
copies.  Nothing is changed on the platform until the confirmation step.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import DataTable, LoadingIndicator, Static
from textual.worker import Worker, WorkerState

from console.errors import one_line
from console.flow import RollbackFlow
from console.model import Plan, Revision, SchemaTarget, Snapshot
from console.recent import RolledBackMeanwhile
from console.textsafe import printable
from screens import wizard
from screens.flow_common import FlowScreen
from screens.plan_view import plan_commands, plan_preview


class TargetScreen(FlowScreen):
    """Revision list plus plan preview; ``target`` preselects a revision (None: the previous)."""

    STEP = 3
    HEADLINE = "Target: which revision to roll back to"
    CSS_PATH = "target.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "confirm", "Review & confirm", tooltip="Open the confirmation"),
        Binding("c", "copy", "Copy commands", tooltip="Copy the plan's shell commands"),
        Binding(
            "m",
            "schema",
            "Schema…",
            tooltip="Database schema: none, downgrade, or stamp (services with a database)",
        ),
        Binding("escape", "back", "Back", tooltip="Back to the checklist, nothing done"),
    ]

    def __init__(self, flow: RollbackFlow, target: str | None = None) -> None:
        super().__init__(flow)
        self.target = target
        self.plan: Plan | None = None
        self.planning: str | None = None
        #: Whether the plan asked for names its target as the operator's choice: the
        #: dashboard's chosen row, or Enter on a row here.  The preselected previous is
        #: not, and is refused if another console just rolled back to the live release.
        self.explicit = target is not None

    def compose_body(self) -> ComposeResult:
        yield Static(
            Content.from_markup(
                "Revisions, newest first. [b]●[/b] is live now; the highlighted row is the target."
            ),
            id="target-intro",
        )
        table: DataTable[Text] = DataTable(id="revisions", cursor_type="row")
        yield table
        yield LoadingIndicator(id="target-loading")
        with VerticalScroll(id="plan-box"):
            yield Static("", id="plan")

    def on_mount(self) -> None:
        table = self.query_one("#revisions", DataTable)
        table.add_column("", key="mark", width=2)
        table.add_column("Revision", key="id")
        table.add_column("Version", key="version")
        table.add_column("Deployed", key="created")
        table.add_column("Change", key="cause")
        table.focus()
        self.query_one("#plan-box").border_title = "What will be done"
        if self.flow.database is not None:
            schema = self.flow.schema_target.describe()
            self.query_one("#plan-box").border_title = Content(
                f"What will be done · schema: {printable(schema)}"
            )
        # Always re-read: minutes may have passed since the assessment, and someone
        # else may have deployed or rolled back meanwhile.  After the first frame: the
        # read (5,000 pods on a big Deployment) would hold the GIL while it is drawn.
        self.call_after_refresh(self.read_snapshot)
        self._update_hint()

    # ----------------------------------------------------------------- revisions

    @work(thread=True, exclusive=True, exit_on_error=False, group="snapshot")
    def read_snapshot(self) -> Snapshot:
        """Blocking: the platform's live revision list."""
        return self.flow.refresh()

    def _show_revisions(self, snapshot: Snapshot) -> None:
        self.query_one("#target-loading").display = False
        table = self.query_one("#revisions", DataTable)
        table.clear()
        current_id = snapshot.current.id if snapshot.current else None
        for rev in snapshot.revisions:
            table.add_row(*self._cells(rev, rev.id == current_id), key=rev.id)
        table.styles.height = min(len(snapshot.revisions) + 1, 8)
        if not snapshot.revisions:
            self.error("The platform lists no revisions: there is nothing to roll back to.")
            return
        self.history_shown(snapshot)
        wanted = self._preselected(snapshot)
        if wanted is not None:
            table.move_cursor(row=table.get_row_index(wanted.id))
            self.planning = wanted.id
            self.make_plan(wanted.id, self.explicit)

    @work(thread=True, exit_on_error=False, group="history")
    def history_shown(self, snapshot: Snapshot) -> None:
        """Blocking (journal fsync): tick "Deploy history reviewed", now that it is shown."""
        self.flow.history_shown(snapshot)

    def _preselected(self, snapshot: Snapshot) -> Revision | None:
        if self.target:
            found = snapshot.find(self.target)
            if found is None:
                self.error(f"Revision {self.target!r} is not in the list; choose another.")
            return found
        return snapshot.previous()

    @staticmethod
    def _cells(rev: Revision, current: bool) -> tuple[Text, ...]:
        # Rich Text, not Content: DataTable measures column widths with Rich.
        created = rev.created.astimezone().strftime("%Y-%m-%d %H:%M") if rev.created else ""
        mark = Text("●", style="bold green") if current else Text("")
        cause = rev.change_cause + (" (live now)" if current else "")
        shown = printable  # names from the platform: control characters escaped
        return (
            mark,
            Text(shown(rev.id)),
            Text(shown(rev.version)),
            Text(created),
            Text(shown(cause)),
        )

    def _row_revision(self) -> str | None:
        table = self.query_one("#revisions", DataTable)
        if table.row_count == 0:
            return None
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(row_key.value)

    # ----------------------------------------------------------------- planning

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def make_plan(self, rev_id: str, explicit: bool = True) -> Plan:
        """Blocking: the provider validates the target and returns the steps."""
        self.explicit = explicit
        return self.flow.plan(rev_id, explicit=explicit)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        group, state, worker = event.worker.group, event.state, event.worker
        if group == "snapshot":
            if state is WorkerState.SUCCESS and isinstance(worker.result, Snapshot):
                self._show_revisions(worker.result)
            elif state is WorkerState.ERROR:
                self.query_one("#target-loading").display = False
                self.error(f"Could not read the revisions: {worker.error} (Esc, then try again)")
            self._update_hint()
        elif group == "plan":
            if state is WorkerState.RUNNING:
                self.query_one("#plan", Static).update("Asking the platform for a plan…")
            elif state is WorkerState.SUCCESS and isinstance(worker.result, Plan):
                self.planning = None
                self.plan = worker.result
                self.error(None)
                self.query_one("#plan", Static).update(plan_preview(worker.result))
            elif state is WorkerState.ERROR:
                self.planning = None
                self.plan = None
                err = worker.error
                line = one_line(err)
                if isinstance(err, RolledBackMeanwhile):
                    self.error(f"Refused: {line}")
                else:
                    self.error(f"Cannot roll back to that revision: {line}")
                self.query_one("#plan", Static).update("No plan: choose another revision.")
            self._update_hint()

    @on(DataTable.RowHighlighted)
    def _row_moved(self) -> None:
        if self.plan is not None and self.plan.to_revision.id != self._row_revision():
            self.query_one("#plan", Static).update(
                Content.from_markup(
                    "Press [b]Enter[/b] to see the plan for $rev.",
                    rev=printable(self._row_revision() or ""),
                )
            )
        elif self.plan is not None:
            self.query_one("#plan", Static).update(plan_preview(self.plan))
        self._update_hint()

    @on(DataTable.RowSelected)
    def _row_chosen(self) -> None:
        self.action_confirm()

    def _update_hint(self) -> None:
        row = self._row_revision()
        if self.planning:
            self.hint("wait for the plan…")
        elif row is None:
            self.hint("wait for the revision list…")
        elif self.plan is not None and self.plan.to_revision.id == row:
            self.hint(
                "[b]Enter[/b] review and confirm · [b]↑↓[/b] other revision · "
                "[b]c[/b] copy the commands"
            )
        else:
            self.hint("[b]↑↓[/b] choose a revision, [b]Enter[/b] to see its plan")

    # ----------------------------------------------------------------- actions

    def action_confirm(self) -> None:
        """Enter: plan the highlighted revision, or, once planned, open the confirmation."""
        row = self._row_revision()
        if row is None or self.planning:
            return
        if self.plan is None or self.plan.to_revision.id != row:
            self.error(None)
            self.planning = row
            self._update_hint()
            self.make_plan(row)
            return
        wizard.confirm_then_execute(
            self.app,
            self.flow,
            self.plan,
            cancelled=lambda: self.hint(
                "not confirmed, nothing was changed · [b]Enter[/b] to confirm again"
            ),
        )

    def action_copy(self) -> None:
        if self.plan is None:
            self.error("No plan yet: choose a revision with Enter first.")
            return
        self.app.copy_to_clipboard(plan_commands(self.plan))
        self.notify(f"Copied {len(self.plan.steps)} command(s) to the clipboard.")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``m`` only for a service with a database."""
        if action == "schema":
            return self.flow.database is not None
        return True

    def action_schema(self) -> None:
        """Choose the schema change (``screens.schema_target``), then plan again."""
        from screens.schema_target import SchemaTargetScreen

        if self.flow.database is None or self.planning:
            return

        def chosen(target: SchemaTarget | None) -> None:
            if target is None or target == self.flow.schema_target:
                return
            self.flow.schema_target = target
            box = self.query_one("#plan-box")
            box.border_title = Content(
                f"What will be done · schema: {printable(target.describe())}"
            )
            row = self._row_revision()
            if row is not None:
                self.error(None)
                self.plan = None
                self.planning = row
                self._update_hint()
                self.make_plan(row, self.explicit)

        self.app.push_screen(SchemaTargetScreen(self.flow), chosen)

    def action_back(self) -> None:
        self.dismiss(None)
