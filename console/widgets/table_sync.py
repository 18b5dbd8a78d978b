"""Keep a DataTable equal to a keyed list of rows by editing it in place.

``clear()`` + ``add_rows()`` on every refresh blocks the app ~0.4 s at 5,000
rows and loses the cursor (see BACKENDS.md, "Speed facts").  ``KeyedRows``
instead compares each new row with the one already shown and only updates
the cells that changed, adds new keys, removes gone keys, and re-sorts only
when the order differs; the cursor stays on the same key.

Cells are given as plain ``Cell`` tuples ``(text, style)`` and turned into
``rich.text.Text`` here, because a ``str`` cell would be parsed as markup
(a change cause like ``"fix [prod]"`` would vanish or raise), with control
characters escaped (``console.textsafe``: a release or unit name holding an
escape sequence must not reach the terminal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from console.textsafe import printable

#: One cell: its text and a Rich style ("" for none).
Cell = tuple[str, str]
#: One row: its key and its cells, in column order.
Row = tuple[str, tuple[Cell, ...]]


@dataclass(frozen=True)
class Column:
    """A column: its key, its header, and a fixed width (None: as wide as its content)."""

    key: str
    label: str
    width: int | None = None


@dataclass(frozen=True)
class SyncStats:
    """What one ``apply`` changed, for tests and benchmarks."""

    added: int
    removed: int
    updated_cells: int
    resorted: bool


def cell(text: str, style: str = "") -> Cell:
    return (text, style)


def _text(value: Cell) -> Text:
    text, style = value
    return Text(printable(text), style=style, no_wrap=True, overflow="ellipsis", end="")


class KeyedRows:
    """The rows of one DataTable, keyed, updated in place (never clear + add_rows)."""

    #: Above this many removals at once, rebuilding is cheaper than remove_row (O(n) each).
    REBUILD_AFTER_REMOVALS = 500

    def __init__(self, table: DataTable[Text], columns: Sequence[Column]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.rows: dict[str, tuple[Cell, ...]] = {}
        for column in self.columns:
            table.add_column(column.label, key=column.key, width=column.width)

    def selected_key(self) -> str | None:
        """The key of the row under the cursor, or None for an empty table."""
        table = self.table
        if table.row_count == 0:
            return None
        row = min(table.cursor_row, table.row_count - 1)
        key = table.coordinate_to_cell_key(Coordinate(max(row, 0), 0)).row_key.value
        return key

    def select(self, key: str) -> None:
        """Move the cursor to the row ``key`` (nothing happens if it is not shown)."""
        if key in self.rows:
            self.table.move_cursor(row=self.table.get_row_index(key), scroll=True)

    def apply(self, rows: Sequence[Row]) -> SyncStats:
        """Make the table show exactly ``rows``, in that order, touching only what changed."""
        table = self.table
        selected = self.selected_key()
        new = dict(rows)
        gone = [key for key in self.rows if key not in new]
        if len(gone) > self.REBUILD_AFTER_REMOVALS:
            return self._rebuild(rows, selected)
        for key in gone:
            table.remove_row(key)
            del self.rows[key]
        updated = 0
        added = 0
        for key, cells in rows:
            old = self.rows.get(key)
            if old is None:
                table.add_row(*(_text(c) for c in cells), key=key)
                added += 1
            elif old != cells:
                for column, before, after in zip(self.columns, old, cells, strict=True):
                    if before != after:
                        table.update_cell(
                            key, column.key, _text(after), update_width=column.width is None
                        )
                        updated += 1
            self.rows[key] = cells
        resorted = self._reorder([key for key, _ in rows])
        if selected is not None:
            self.select(selected)
        return SyncStats(added, len(gone), updated, resorted)

    def _reorder(self, order: list[str]) -> bool:
        table = self.table
        shown = [row.key.value for row in table.ordered_rows]
        if shown == order:
            return False
        first = self.columns[0].key
        # sort() hands the key function cell values, not row keys: map each row's first
        # cell object (unique per row) to its wanted position.
        position = {id(table.get_cell(key, first)): index for index, key in enumerate(order)}
        table.sort(first, key=lambda value: position[id(value)])
        return True

    def _rebuild(self, rows: Sequence[Row], selected: str | None) -> SyncStats:
        removed = len(self.rows)
        self.table.clear()
        self.rows = {}
        for key, cells in rows:
            self.table.add_row(*(_text(c) for c in cells), key=key)
            self.rows[key] = cells
        if selected is not None:
            self.select(selected)
        return SyncStats(len(rows), removed, 0, False)
