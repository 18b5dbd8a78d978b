"""History browser: every rollback in the history file, newest first, and one entry in full.

``h`` on the dashboard (or "History" in the palette) opens it.  The table
lists each entry's date, service, from -> to, outcome and time to recover,
above it the median time to recover over the whole file; Enter opens the
entry's full markdown (rendered), ``c`` there copies it.  An outcome marked
``*`` is an entry the console did not write whole (hand-written, torn): the
entry view says what is off.  Entries are numbered
by their position in the file, oldest = 1, the same numbers
``rollback-console history --open N`` takes; the file is append-only, so a
number always means the same entry.

The file is read in a thread worker (it may sit on a slow share); hand-written
or torn entries are listed with what could be read and a note.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Markdown, Static
from textual.worker import Worker, WorkerState

from console.history import (
    MARKER_PREFIX,
    HistoryEntrySummary,
    format_duration,
    median_time_to_recover,
    read_entries,
)
from console.textsafe import printable, printable_lines
from console.widgets.footer import KeyFooter

#: The table's columns: (label, key).
COLUMNS = (
    ("#", "number"),
    ("Date", "date"),
    ("Service", "service"),
    ("From → To", "change"),
    ("Outcome", "outcome"),
    ("Recovered", "ttr"),
)

#: The outcome column's short words (the entry itself has the full sentence).
SHORT_OUTCOME = {
    "rolled back and verified": "verified",
    "rolled back, not verified": "not verified",
    "rollback failed": "FAILED",
    "aborted": "aborted",
    "dry run": "dry run",
    "restored": "restored",
}


def entry_date(entry: HistoryEntrySummary) -> str:
    """``2026-01-16 02:02`` in the zone the entry was written in (as the file shows it)."""
    if entry.at is not None:
        return f"{entry.at:%Y-%m-%d %H:%M}"
    return entry.date or "?"


def entry_change(entry: HistoryEntrySummary) -> str:
    return f"{entry.from_revision or '?'} → {entry.to_revision or '?'}"


def environments(entries: list[HistoryEntrySummary]) -> list[str]:
    return sorted({e.environment for e in entries if e.environment})


def summary_line(entries: list[HistoryEntrySummary]) -> str:
    """``4 entries, production · median time to recover 7m 12s (3 recovered)``."""
    count = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
    envs = environments(entries)
    if len(envs) == 1:
        count += f", {envs[0]}"
    recovered = [e for e in entries if e.time_to_recover_s is not None]
    median = median_time_to_recover(entries)
    if median is None:
        return f"{count} · no recovery time recorded yet"
    return (
        f"{count} · median time to recover {format_duration(median)} ({len(recovered)} recovered)"
    )


def entry_markdown(entry: HistoryEntrySummary) -> str:
    """The entry as written, without the console's machine-readable marker line."""
    lines = entry.raw.split("\n")
    return "\n".join(line for line in lines if not line.startswith(MARKER_PREFIX)).strip() + "\n"


class HistoryTable(DataTable[Text]):
    """The entries, one row each; Enter opens the highlighted one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "select_cursor",
            "Open entry",
            tooltip="Show the whole entry",
            id="history-select-cursor",
        ),
    ]


class HistoryScreen(Screen[None]):
    """Past rollbacks from ``history_file``, newest first, with the median time to recover."""

    #: Not part of the rollback wizard: switching service stays allowed (console.app).
    READ_ONLY_VIEWER: ClassVar[bool] = True

    CSS_PATH = "history.tcss"
    AUTO_FOCUS = "#history-table"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,h", "close", "Back", id="history-back", tooltip="Back to the dashboard"),
        Binding("R,f5", "reload", "Reload", id="history-reload", tooltip="Read the file again"),
    ]

    def __init__(self, history_file: Path) -> None:
        super().__init__()
        self.history_file = history_file
        #: Entries as read, oldest first (position + 1 is the entry's number).
        self.entries: list[HistoryEntrySummary] = []
        self.loaded = False

    def compose(self) -> ComposeResult:
        with Vertical(id="history-top"):
            yield Static(
                Content.from_markup(
                    "[b]Rollback history[/b]  [$text-muted]$path[/]", path=str(self.history_file)
                ),
                id="history-title",
            )
            yield Static("Reading the history file…", id="history-summary")
        table = HistoryTable(id="history-table", cursor_type="row", zebra_stripes=True)
        for label, key in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Static("", id="history-error")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.load_entries()

    @work(thread=True, exclusive=True, exit_on_error=False, group="history-load")
    def load_entries(self) -> list[HistoryEntrySummary]:
        """Blocking: parse the file (a missing file is simply no entries yet)."""
        if not self.history_file.exists():
            return []
        return read_entries(self.history_file)

    @on(Worker.StateChanged)
    def _loaded(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "history-load":
            return
        error = self.query_one("#history-error", Static)
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, list):
            error.display = False
            self._show(event.worker.result)
        elif event.state is WorkerState.ERROR:
            reason = event.worker.error
            detail = (
                reason.strerror
                if isinstance(reason, OSError) and reason.strerror
                else str(reason) or type(reason).__name__
            )
            error.update(Content(printable(f"Cannot read {self.history_file}: {detail}")))
            error.display = True
            self.loaded = True

    def _show(self, entries: list[HistoryEntrySummary]) -> None:
        self.entries = entries
        # One environment (the usual file): it is in the summary, not on every row.
        several = len(environments(entries)) > 1
        rows: list[tuple[str, tuple[str, ...]]] = []
        for number in range(len(entries), 0, -1):
            entry = entries[number - 1]
            ttr = entry.time_to_recover_s
            outcome = SHORT_OUTCOME.get(entry.outcome, entry.outcome or "?")
            service = entry.service or "?"
            if several:
                service += f" ({entry.environment or '?'})"
            cells = (
                str(number),
                entry_date(entry),
                service,
                entry_change(entry),
                outcome + (" *" if entry.note else ""),
                format_duration(ttr) if ttr is not None else "—",
            )
            # The file may be edited by hand: control characters escaped, never markup.
            rows.append((str(number), tuple(printable(cell) for cell in cells)))
        table = self.query_one(HistoryTable)
        table.clear(columns=True)
        # Widths are measured here, not left to the table: a frame drawn between adding
        # the rows and the table's own measuring would keep the header widths.
        for index, (label, key) in enumerate(COLUMNS):
            width = max([cell_len(label)] + [cell_len(row[index]) for _, row in rows])
            table.add_column(label, key=key, width=width)
        for key, row in rows:
            table.add_row(*(Text(cell) for cell in row), key=key)
        summary = self.query_one("#history-summary", Static)
        if entries:
            summary.update(Content(printable(summary_line(entries))))
        else:
            summary.update(Content("No rollbacks recorded yet."))
        self.loaded = True

    @on(DataTable.RowSelected, "#history-table")
    def _open(self, event: DataTable.RowSelected) -> None:
        number = int(event.row_key.value or 0)
        if 1 <= number <= len(self.entries):
            self.app.push_screen(HistoryEntryScreen(self.entries[number - 1], number))

    def action_reload(self) -> None:
        self.load_entries()

    def action_close(self) -> None:
        self.dismiss(None)


class HistoryEntryScreen(Screen[None]):
    """One entry's full markdown, rendered; ``c`` copies the markdown."""

    #: Not part of the rollback wizard: switching service stays allowed (console.app).
    READ_ONLY_VIEWER: ClassVar[bool] = True

    CSS_PATH = "history.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Back", tooltip="Back to the list", id="history-close"),
        Binding(
            "c", "copy", "Copy", tooltip="Copy the entry's markdown (OSC 52)", id="history-copy"
        ),
    ]

    def __init__(self, entry: HistoryEntrySummary, number: int) -> None:
        super().__init__()
        self.entry = entry
        self.number = number
        self.markdown = entry_markdown(entry)

    def compose(self) -> ComposeResult:
        entry = self.entry
        title = (
            f"#{self.number} · {entry_date(entry)} · {entry.service or '?'} "
            f"({entry.environment or '?'}) · {entry_change(entry)}"
        )
        yield Static(Content(printable(title)), id="entry-title")
        if entry.note:
            yield Static(Content(printable(f"Note: {entry.note}")), id="entry-note")
        with VerticalScroll(id="entry-body"):
            # Shown with control characters escaped (a hand edit may hold any); copied as is.
            yield Markdown(printable_lines(self.markdown), id="entry-markdown")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#entry-body").focus()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.markdown)
        self.notify("Entry copied where the terminal allows it (OSC 52).", timeout=4)

    def action_close(self) -> None:
        self.dismiss(None)
