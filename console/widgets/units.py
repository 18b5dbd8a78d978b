"""The running pieces of the service: processes, pods, tasks or instances.

Built for thousands of rows: rows are keyed by unit name and updated in place
(only changed cells), ages are coarse ("3h") so most refreshes change nothing,
and the table's own virtual rendering only paints what is visible.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static

from console.textsafe import printable
from console.widgets.formatting import age, truncate
from console.widgets.panel import DataPanel
from console.widgets.table_sync import Column, KeyedRows, Row, cell

if TYPE_CHECKING:
    from console.model import Snapshot, Unit

#: Longest unit name or revision kept in a cell.
NAME_WIDTH = 40


class UnitsPanel(DataPanel):
    """DataTable of units (name, state, ready, restarts, age, revision) plus platform notes."""

    TITLE = "Units"

    DEFAULT_CSS = """
    UnitsPanel DataTable {
        height: 1fr;
    }
    UnitsPanel #units-notes {
        height: auto;
        max-height: 3;
        color: $text-warning;
        display: none;
    }
    UnitsPanel #units-notes.-shown {
        display: block;
    }
    """

    def __init__(
        self,
        *,
        restarts_high: int = 3,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.restarts_high = restarts_high
        self.snapshot: Snapshot | None = None
        self._rows: KeyedRows | None = None
        self._last_now: datetime | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="units-notes")
        table: DataTable[Text] = DataTable(id="units-table", cursor_type="row")
        yield table

    def on_mount(self) -> None:
        self._rows = KeyedRows(
            self.query_one("#units-table", DataTable),
            [
                Column("name", "unit"),
                Column("state", "state", width=10),
                Column("ready", "ready", width=5),
                Column("restarts", "rst", width=3),
                Column("age", "age", width=4),
                Column("revision", "revision"),
            ],
        )

    class LogsWanted(Message):
        """Enter on a unit: the operator wants its recent log lines."""

        def __init__(self, unit: str) -> None:
            super().__init__()
            self.unit = unit

    @on(DataTable.RowSelected, "#units-table")
    def _unit_chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.LogsWanted(str(event.row_key.value)))

    def show_snapshot(self, snapshot: Snapshot, now: datetime) -> None:
        """Update rows in place and the title counts; show the provider's notes, if any.

        Units as they were (every poll of a steady Deployment) are left alone: building
        and comparing 5,000 rows took ~50 ms of the UI thread every poll; their ages
        move on with ``tick``.
        """
        assert self._rows is not None
        previous, self.snapshot = self.snapshot, snapshot
        if previous is None or not self._same_units(previous, snapshot):
            self._last_now = now
            self._rows.apply(self._row_data(snapshot, now))
        # History (Swarm's shut-down tasks) aside, as console.model.live_units does: that
        # module is not imported before the first frame.
        units = tuple(u for u in snapshot.units if not u.retired)
        not_ready = sum(1 for u in units if not u.ready)
        history = len(snapshot.units) - len(units)
        title = f"{self.TITLE} ({len(units)}"
        title += f", {not_ready} not ready" if not_ready else ""
        title += f", {history} history)" if history else ")"
        self.border_title = title
        notes = self.query_one("#units-notes", Static)
        notes.update(Content("\n".join(printable(note) for note in snapshot.notes)))
        notes.set_class(bool(snapshot.notes), "-shown")

    @staticmethod
    def _same_units(before: Snapshot, after: Snapshot) -> bool:
        """Whether ``after`` shows the same rows as ``before`` (ages aside)."""
        current = (before.current.id if before.current else None) == (
            after.current.id if after.current else None
        )
        return current and before.units == after.units

    def _row_data(self, snapshot: Snapshot, now: datetime) -> list[Row]:
        current = snapshot.current.id if snapshot.current else None
        return [self._row(unit, current, now) for unit in snapshot.units]

    def _row(self, unit: Unit, current: str | None, now: datetime) -> Row:
        restarts_style = "bold red" if unit.restarts >= self.restarts_high else ""
        revision_style = "bold" if current is not None and unit.revision == current else ""
        return (
            unit.name,
            (
                cell(truncate(unit.name, NAME_WIDTH)),
                cell(unit.state, "" if unit.ready else "yellow"),
                cell("yes", "green")
                if unit.ready
                else cell("history", "dim")
                if unit.retired
                else cell("no", "bold red"),
                cell(str(unit.restarts), restarts_style),
                cell(age(unit.started, now), "dim"),
                cell(truncate(unit.revision, NAME_WIDTH), revision_style),
            ),
        )

    def tick(self, now: datetime) -> None:
        super().tick(now)
        # Unit ages are shown in whole units ("45s", "12m"): refresh them every 10 s at most.
        if (
            self.snapshot is not None
            and self._rows is not None
            and self._last_now is not None
            and (now - self._last_now).total_seconds() >= 10
        ):
            self._last_now = now
            self._rows.apply(self._row_data(self.snapshot, now))
