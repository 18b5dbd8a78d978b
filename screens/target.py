"""Step 3, Target: pick the revision to roll back to and read exactly what will be done.

The revision list is ``flow.snapshot.revisions`` (newest first).  Choosing a
row asks the provider for a plan (``flow.plan``, blocking, in a worker); the
provider validates the target, so "already current" or "unknown" come back as
one line (``InvalidTarget`` / ``NotFound``) and the operator stays here.  The
plan preview lists every step with its equivalent shell command, which ``c``
copies (OSC 52, which not every terminal lets through) and ``w`` writes to a
shell script in the state dir.  Nothing is changed on the platform until the
confirmation step.
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

from console.durable import os_reason
from console.errors import one_line
from console.flow import RollbackFlow
from console.model import Plan, Revision, SchemaTarget, Snapshot
from console.plan_script import write_script
from console.recent import RolledBackMeanwhile
from console.textsafe import printable
from console.widgets.formatting import change_summary, truncate
from screens import wizard
from screens.flow_common import FlowScreen
from screens.plan_view import PlanView, plan_commands, plan_preview


class TargetScreen(FlowScreen):
    """Revision list plus plan preview; ``target`` preselects a revision (None: the previous)."""

    STEP = 3
    HEADLINE = "Target: which revision to roll back to"
    CSS_PATH = "target.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "confirm",
            "Review & confirm",
            priority=True,  # before the table's own Enter, so the footer offers it
            tooltip="Open the confirmation",
            id="target-confirm",
        ),
        Binding(
            "c",
            "copy",
            "Copy commands",
            tooltip="Copy the plan's shell commands (OSC 52, if the terminal allows it)",
            id="target-copy",
        ),
        Binding(
            "w",
            "write_script",
            "Write to file",
            show=False,  # the footer is full at 80 columns; the hint line and `c` name it
            tooltip="Write the plan's commands to a shell script in the state dir (0600)",
            id="target-write-script",
        ),
        Binding(
            "m",
            "schema",
            "Schema…",
            tooltip="Database schema: none, downgrade, or stamp (services with a database)",
            id="target-schema",
        ),
        Binding(
            "escape",
            "back",
            "Back",
            tooltip="Back to the checklist, nothing done",
            id="target-back",
        ),
    ]

    def __init__(self, flow: RollbackFlow, target: str | None = None) -> None:
        super().__init__(flow)
        self.target = target
        self.plan: Plan | None = None
        self.planning: str | None = None
        #: The revision list on screen (None until the platform has answered).
        self.shown: Snapshot | None = None
        #: Whether the plan asked for names its target as the operator's choice: the
        #: dashboard's chosen row, or Enter on a row here.  The preselected previous is
        #: not, and is refused if another console just rolled back to the live release.
        self.explicit = target is not None
        #: The revision list is being read: Enter means nothing yet, so keys wait.
        self.reading = True

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
            yield PlanView(id="plan")

    @property
    def busy(self) -> bool:
        """Reading the revisions or making a plan: Enter typed ahead waits for the plan."""
        return self.reading or self.planning is not None

    def on_mount(self) -> None:
        table = self.query_one("#revisions", DataTable)
        table.add_column("", key="mark", width=2)
        table.add_column("Revision", key="id")
        table.add_column("Deployed", key="created", width=len("2026-01-16 02:00"))
        table.add_column("Change", key="cause")
        self.set_focus(table)
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
        self.shown = snapshot
        current_id = snapshot.current.id if snapshot.current else None
        room = self._change_room(snapshot)
        for rev in snapshot.revisions:
            table.add_row(*self._cells(rev, rev.id == current_id, room), key=rev.id)
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
    def _label(rev: Revision) -> str:
        """``v1.2.9``, or ``v1.2.9 (3)`` when the platform's id is another name (as on the
        dashboard); names from the platform have their control characters escaped."""
        return printable(rev.version if rev.id == rev.version else f"{rev.version} ({rev.id})")

    def _change_room(self, snapshot: Snapshot) -> int:
        """Cells left for the "Change" column, so a long one ends in "…" on screen."""
        table = self.query_one("#revisions", DataTable)
        width = self.query_one("#flow-body").scrollable_content_region.width
        if width <= 0:
            return 60
        label = max((len(self._label(rev)) for rev in snapshot.revisions), default=0)
        padding = 2 * table.cell_padding
        used = (2 + padding) + (max(label, len("Revision")) + padding) + (16 + padding)
        # A vertical scrollbar may take its two columns when there are many revisions.
        return max(12, width - used - padding - 2)

    def _cells(self, rev: Revision, current: bool, room: int) -> tuple[Text, ...]:
        # Rich Text, not Content: DataTable measures column widths with Rich.
        created = rev.created.astimezone().strftime("%Y-%m-%d %H:%M") if rev.created else ""
        mark = Text("●", style="bold green") if current else Text("")
        cause = change_summary(rev)
        if current:
            # First, so a long change cut to the column's width never cuts this off.
            cause = f"live now · {cause}" if cause else "live now"
        return (
            mark,
            Text(self._label(rev)),
            Text(created),
            Text(truncate(printable(cause), room), no_wrap=True),
        )

    def on_resize(self) -> None:
        """Another width: the "Change" cells are cut again to fit, once laid out."""
        self.call_after_refresh(self._recut_changes)

    def _recut_changes(self) -> None:
        """Each "Change" cell cut to the room it has now (the cursor stays where it is)."""
        snapshot = self.shown
        if snapshot is None:
            return
        table = self.query_one("#revisions", DataTable)
        room = self._change_room(snapshot)
        current_id = snapshot.current.id if snapshot.current else None
        for rev in snapshot.revisions:
            cells = self._cells(rev, rev.id == current_id, room)
            table.update_cell(rev.id, "cause", cells[3], update_width=True)

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
                self.reading = False
                self._show_revisions(worker.result)
            elif state is WorkerState.ERROR:
                self.reading = False
                self.query_one("#target-loading").display = False
                self.error(f"Could not read the revisions: {worker.error} (Esc, then try again)")
            self._update_hint()
            self.keys_may_come()
        elif group == "plan":
            if state is WorkerState.RUNNING:
                self.query_one("#plan", PlanView).update("Asking the platform for a plan…")
            elif state is WorkerState.SUCCESS and isinstance(worker.result, Plan):
                self.planning = None
                self.plan = worker.result
                self.error(None)
                self.query_one("#plan", PlanView).update(
                    plan_preview(worker.result, self.flow.redact)
                )
            elif state is WorkerState.ERROR:
                self.planning = None
                self.plan = None
                err = worker.error
                line = one_line(err)
                if isinstance(err, RolledBackMeanwhile):
                    self.error(f"Refused: {line}")
                else:
                    self.error(f"Cannot roll back to that revision: {line}")
                self.query_one("#plan", PlanView).update("No plan: choose another revision.")
            self._update_hint()
            self.keys_may_come()

    @on(DataTable.RowHighlighted)
    def _row_moved(self) -> None:
        if self.plan is not None and self.plan.to_revision.id != self._row_revision():
            self.query_one("#plan", PlanView).update(
                Content.from_markup(
                    "Press [b]Enter[/b] to see the plan for $rev.",
                    rev=printable(self._row_revision() or ""),
                )
            )
        elif self.plan is not None:
            self.query_one("#plan", PlanView).update(plan_preview(self.plan, self.flow.redact))
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
                "[b]c[/b] copy · [b]w[/b] to file"
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
        """Copy the commands with OSC 52: nothing says whether the terminal took them."""
        if self.plan is None:
            self.error("No plan yet: choose a revision with Enter first.")
            return
        self.app.copy_to_clipboard(plan_commands(self.plan, self.flow.redact))
        self.notify(
            f"{len(self.plan.steps)} command(s) copied (if your terminal allows OSC 52). "
            "Nothing pasted? Press w to write them to a file."
        )

    def action_write_script(self) -> None:
        """``w``: the plan's commands as a shell script in the state dir (read, not run)."""
        if self.plan is None:
            self.error("No plan yet: choose a revision with Enter first.")
            return
        self._write_script(self.plan)

    @work(thread=True, exclusive=True, exit_on_error=False, group="script")
    def _write_script(self, plan: Plan) -> None:
        """Blocking (mkdir, fsync): write the script; say where, or why not."""
        flow = self.flow
        try:
            path = write_script(
                flow.config.console.state_dir,
                plan,
                flow.redact,
                operator=flow.config.console.operator,
            )
        except OSError as exc:
            where = exc.filename or flow.config.console.state_dir
            self.app.call_from_thread(
                self.error, f"Could not write the commands ({os_reason(exc)}): {where}"
            )
            return
        self.app.call_from_thread(
            self.notify,
            f"Commands written to {path} (mode 0600): review before running.",
            timeout=15,
        )

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
