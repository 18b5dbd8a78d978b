"""Choose what the rollback does to the database schema (opened with ``m`` on the target step).

Reads the database's current revision and the migration history (in a
worker: it is I/O), then offers: no schema change (the default), downgrade
one step, downgrade to each older revision (or ``base``), or stamp a
revision (runbook 004's repair: records the revision, runs nothing).  Each
downgrade line says what it would drop, so the data loss is visible before
the plan is even made.  Dismisses with the chosen ``SchemaTarget``, or None.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from console.flow import RollbackFlow
from console.model import DatabaseStatus, SchemaTarget
from console.textsafe import printable
from screens.flow_common import FlowModal


def _key(target: SchemaTarget) -> str:
    return f"{target.mode}:{target.steps}:{target.revision}"


class SchemaTargetScreen(FlowModal[SchemaTarget | None]):
    """An OptionList of schema targets for ``flow``'s database; Escape keeps the current one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "cancel",
            "Cancel",
            tooltip="Keep the current choice",
            id="schema-target-cancel",
        ),
    ]

    DEFAULT_CSS = """
    SchemaTargetScreen {
        align: center middle;
    }
    SchemaTargetScreen > Vertical {
        width: 96;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    SchemaTargetScreen #schema-options {
        height: auto;
        max-height: 16;
    }
    SchemaTargetScreen #schema-help {
        color: $text-muted;
    }
    """

    def __init__(self, flow: RollbackFlow) -> None:
        super().__init__()
        self.flow = flow
        self.targets: dict[str, SchemaTarget] = {}

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Content.from_markup(
                    "[b]Database schema[/b] for the rollback of $label: reading the database…",
                    label=self.flow.service.label,
                ),
                id="schema-title",
            )
            yield OptionList(id="schema-options")
            yield Static(
                Content.from_markup(
                    "[b]Enter[/b] choose · [b]Esc[/b] keep "
                    "· schema steps run before the app rollback (runbook 004)"
                ),
                id="schema-help",
            )

    def on_mount(self) -> None:
        self.query_one("#schema-options", OptionList).focus()
        self.read_status()

    @work(thread=True, exclusive=True, exit_on_error=False, group="schema-status")
    def read_status(self) -> DatabaseStatus:
        from console.db_flow import read_status

        return read_status(self.flow.service, self.flow.config.console.state_dir, checks=False)

    @on(Worker.StateChanged)
    def _read(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "schema-status":
            return
        event.stop()
        title = self.query_one("#schema-title", Static)
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, DatabaseStatus):
            status = event.worker.result
            if not status.connected:
                title.update(
                    Content.from_markup(
                        "[b $text-error]The database cannot be read:[/] $e", e=status.error
                    )
                )
            else:
                here = ", ".join(status.current) or "no revision"
                title.update(
                    Content.from_markup(
                        "[b]Database schema[/b] for the rollback of $label · now at [b]$here[/b]",
                        label=self.flow.service.label,
                        here=here,
                    )
                )
            self._fill(status)
        elif event.state is WorkerState.ERROR:
            title.update(Content(printable(f"Could not read the database: {event.worker.error}")))
            self._fill(None)

    def _fill(self, status: DatabaseStatus | None) -> None:
        options = self.query_one("#schema-options", OptionList)
        choices: list[tuple[SchemaTarget, str]] = [
            (SchemaTarget(), "No schema change (the default): only the app is rolled back"),
        ]
        migrations = self.flow.service.database.migrations if self.flow.service.database else ""
        if migrations == "command":
            for steps in (1, 2, 3):
                choices.append(
                    (SchemaTarget("steps", steps=steps), f"Down {steps} step(s) (down_command)")
                )
        elif status is not None and status.history and len(status.current) == 1:
            ids = [r.id for r in status.history]
            here = status.current[0]
            below = ids[ids.index(here) + 1 :] if here in ids else []
            for rev in [*below, "base"]:
                message = next((r.message for r in status.history if r.id == rev), "everything")
                choices.append(
                    (SchemaTarget("revision", revision=rev), f"Downgrade to {rev} ({message})")
                )
            for rev in ids:
                if rev != here:
                    choices.append(
                        (
                            SchemaTarget("stamp", revision=rev),
                            f"Stamp {rev}: record it, run no migration (repair)",
                        )
                    )
        current = _key(self.flow.schema_target)
        options.clear_options()
        for target, label in choices:
            key = _key(target)
            self.targets[key] = target
            mark = "● " if key == current else "  "
            # Content, not a str: an OptionList parses a str prompt as markup.
            options.add_option(Option(Content(mark + printable(label)), id=key))
        keys = list(self.targets)
        options.highlighted = keys.index(current) if current in keys else 0

    @on(OptionList.OptionSelected, "#schema-options")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        target = self.targets.get(event.option.id or "")
        if target is not None:
            self.dismiss(target)

    def action_cancel(self) -> None:
        self.dismiss(None)
