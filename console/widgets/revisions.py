"""The revision history, newest first; the row under the cursor is the rollback target.

The current revision is marked ``●``, the one a plain rollback goes to is
marked ``previous``.  The cursor starts on "previous" (the default target) and
stays on the same revision across refreshes, because rows are updated in
place by key (``KeyedRows``), never cleared and re-added.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable

from console.textsafe import printable
from console.widgets.formatting import age, change_summary, truncate
from console.widgets.panel import DataPanel
from console.widgets.table_sync import Cell, Column, KeyedRows, Row, cell

if TYPE_CHECKING:
    from console.model import Revision, Snapshot

#: Longest change cause kept in a cell (the table crops, this adds the ellipsis).
CAUSE_WIDTH = 60


class RevisionHistoryPanel(DataPanel):
    """DataTable of revisions; ``selected`` is the revision under the cursor."""

    TITLE = "Revisions"

    # The scrollbar's column is kept whether or not the rows overflow: the change column
    # is cut to the room left, and that room must not shrink under the rows once a
    # scrollbar appears (the first paint read wider than every later one).
    DEFAULT_CSS = """
    RevisionHistoryPanel DataTable {
        height: 1fr;
        scrollbar-size-horizontal: 0;
        scrollbar-size-vertical: 1;
        scrollbar-gutter: stable;
    }
    """

    class TargetChanged(Message):
        """The operator moved the cursor to another revision (the rollback target)."""

        def __init__(self, revision: Revision | None) -> None:
            super().__init__()
            self.revision = revision

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.snapshot: Snapshot | None = None
        self._rows: KeyedRows | None = None
        self._placed_cursor = False
        #: The row the cursor was put on by the console (the previous revision at the
        #: first data), so a target the operator chose can be told from the default.
        self._auto_key: str | None = None
        self._last_now: datetime | None = None

    def compose_body(self) -> ComposeResult:
        table: DataTable[Text] = DataTable(
            id="revisions-table", cursor_type="row", zebra_stripes=False
        )
        yield table

    def on_mount(self) -> None:
        table = self.query_one("#revisions-table", DataTable)
        self._rows = KeyedRows(
            table,
            [
                Column("mark", "", width=10),
                Column("revision", "revision"),
                Column("created", "age", width=4),
                Column("cause", "change cause"),
            ],
        )

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#revisions-table", DataTable)

    @property
    def selected(self) -> Revision | None:
        """The revision under the cursor, or None before the first snapshot."""
        if self.snapshot is None or self._rows is None:
            return None
        key = self._rows.selected_key()
        return next((r for r in self.snapshot.revisions if r.id == key), None)

    @property
    def target(self) -> str | None:
        """The revision id to roll back to: the selection, or None (previous) if it is current."""
        rev = self.selected
        if rev is None or self._is_current(rev):
            return None
        return rev.id

    @property
    def chosen(self) -> bool:
        """Whether the operator moved the cursor to this target (not the console's default).

        A rollback to the default goes to "the previous" of whatever is live when
        it is planned, and is refused if another console just rolled back to it.
        """
        rev = self.selected
        return self.target is not None and rev is not None and rev.id != self._auto_key

    def _is_current(self, rev: Revision) -> bool:
        current = self.snapshot.current if self.snapshot else None
        return rev.current or (current is not None and rev.id == current.id)

    def show_snapshot(self, snapshot: Snapshot, now: datetime) -> None:
        """Update the rows in place; on the first data, put the cursor on "previous"."""
        assert self._rows is not None
        self.snapshot = snapshot
        self._last_now = now
        self._rows.apply(self._row_data(snapshot, now))
        if not self._placed_cursor and snapshot.revisions:
            self._placed_cursor = True
            previous = snapshot.previous()
            if previous is not None:
                self._rows.select(previous.id)
                self._auto_key = previous.id
            self.post_message(self.TargetChanged(self.selected))
        self._update_title()

    def _update_title(self) -> None:
        """``Revisions (3) · target v1.2.9``: the title always names what ``r`` rolls back to."""
        snapshot = self.snapshot
        if snapshot is None or not snapshot.revisions:
            self.border_title = self.TITLE
            return
        title = f"{self.TITLE} ({len(snapshot.revisions)})"
        target_id = self.target
        target = snapshot.find(target_id) if target_id else snapshot.previous()
        if target is not None:
            title += f" · target {printable(target.version)}"
        # Content, not a str: a title string is parsed as markup.
        self.border_title = Content(title)

    def _labels(self, snapshot: Snapshot) -> list[str]:
        return [
            printable(r.version if r.id == r.version else f"{r.version} ({r.id})")
            for r in snapshot.revisions
        ]

    def _cause_width(self, snapshot: Snapshot) -> int:
        """Room left for the change cause, so it ends in "…" instead of running off the panel."""
        width = self.table.scrollable_content_region.width
        if width <= 0:
            return CAUSE_WIDTH
        label = max((len(text) for text in self._labels(snapshot)), default=0)
        padding = 2 * self.table.cell_padding
        used = (10 + padding) + (max(label, len("revision")) + padding) + (4 + padding) + padding
        return max(12, min(CAUSE_WIDTH, width - used))

    def on_resize(self) -> None:
        if self.snapshot is not None and self._rows is not None and self._last_now is not None:
            self._rows.apply(self._row_data(self.snapshot, self._last_now))

    def _row_data(self, snapshot: Snapshot, now: datetime) -> list[Row]:
        previous = snapshot.previous()
        cause_width = self._cause_width(snapshot)
        rows: list[Row] = []
        for rev in snapshot.revisions:
            if self._is_current(rev):
                mark: Cell = cell("● current", "bold")
            elif previous is not None and rev.id == previous.id:
                mark = cell("previous", "")
            else:
                mark = cell("", "")
            label = rev.version if rev.id == rev.version else f"{rev.version} ({rev.id})"
            rows.append(
                (
                    rev.id,
                    (
                        mark,
                        cell(label, "bold" if self._is_current(rev) else ""),
                        cell(age(rev.created, now), "dim"),
                        cell(truncate(change_summary(rev), cause_width), "dim"),
                    ),
                )
            )
        return rows

    def tick(self, now: datetime) -> None:
        super().tick(now)
        # Ages of revisions move slowly (minutes at least): re-render them once a minute.
        if (
            self.snapshot is not None
            and self._rows is not None
            and (self._last_now is None or (now - self._last_now).total_seconds() >= 60)
        ):
            self._last_now = now
            self._rows.apply(self._row_data(self.snapshot, now))

    @on(DataTable.RowHighlighted, "#revisions-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if self.snapshot is not None:
            self._update_title()
            self.post_message(self.TargetChanged(self.selected))
