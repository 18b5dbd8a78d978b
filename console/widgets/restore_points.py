"""Restore points of the service's data (RDS snapshots), newest first.

Runbook 003 asks, before a rollback that touches data, how recent the last
snapshot is; this panel answers it without opening the AWS console.  It is
only composed for services whose provider lists restore points (ECS with
``rds_instance``); restoring one is the provider's ``restore-rds-snapshot``
action (``a``), a flow of its own with its own confirmation.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import DataTable, Static

from console.textsafe import printable
from console.widgets.formatting import age, truncate
from console.widgets.panel import DataPanel
from console.widgets.table_sync import Column, KeyedRows, Row, cell

if TYPE_CHECKING:
    from console.model import RestorePoint, Snapshot

#: Rows shown; older snapshots stay in the action's list.
SHOWN = 20
ID_WIDTH = 48


class RestorePointsPanel(DataPanel):
    """DataTable of restore points (id, age, status, kind) and why they could not be read."""

    TITLE = "Snapshots"

    DEFAULT_CSS = """
    RestorePointsPanel DataTable {
        height: 1fr;
    }
    RestorePointsPanel #restore-note {
        height: auto;
        max-height: 2;
        color: $text-muted;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.snapshot: Snapshot | None = None
        self._rows: KeyedRows | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="restore-note")
        table: DataTable[Text] = DataTable(id="restore-table", cursor_type="row")
        yield table

    def on_mount(self) -> None:
        self._rows = KeyedRows(
            self.query_one("#restore-table", DataTable),
            [
                Column("id", "snapshot"),
                Column("age", "age", width=4),
                Column("created", "created", width=11),
                Column("status", "status", width=9),
                Column("detail", "kind"),
            ],
        )

    def show_snapshot(self, snapshot: Snapshot, now: datetime) -> None:
        assert self._rows is not None
        self.snapshot = snapshot
        points = snapshot.restore_points
        self._rows.apply([self._row(point, now) for point in points[:SHOWN]])
        source = snapshot.restore_source or "restore points"
        self.border_title = Content(f"{self.TITLE}: {printable(source)} ({len(points)})")
        note = self.query_one("#restore-note", Static)
        if snapshot.restore_error:
            note.update(
                Content.from_markup(
                    "[$text-error]not read:[/] $e", e=printable(snapshot.restore_error)
                )
            )
        elif not points:
            note.update(Content("no snapshots: a restore is not possible from here"))
        else:
            newest = points[0]
            when = age(newest.created, now) if newest.created else "?"
            note.update(
                Content.from_markup(
                    "newest [b]$i[/b] ($a old, $s) · restore one: [b]a[/b]",
                    i=printable(truncate(newest.id, ID_WIDTH)),
                    a=when,
                    s=printable(newest.status),
                )
            )

    @staticmethod
    def _row(point: RestorePoint, now: datetime) -> Row:
        created = point.created.astimezone().strftime("%m-%d %H:%M") if point.created else "?"
        return (
            point.id,
            (
                cell(truncate(point.id, ID_WIDTH)),
                cell(age(point.created, now), "dim"),
                cell(created),
                cell(point.status, "" if point.status == "available" else "yellow"),
                cell(point.detail, "dim"),
            ),
        )
