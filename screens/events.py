"""Platform details of the service on screen: facts, recent events, notes.

What ``kubectl describe deployment`` and ``aws ecs describe-services`` would
show below the status: generation and conditions, deployments and the
circuit breaker, the events the platform recorded (newest first).  It opens
instantly on the dashboard's latest snapshot; facts a provider reads only on
demand (the host's processes, ports, systemd unit and disk: ``read_details``)
are read in a thread worker and shown below when they arrive.  Everything is
redacted and shown with control characters escaped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from console.model import Snapshot
from console.textsafe import printable
from console.widgets.footer import KeyFooter

#: ``(label, value)`` facts, as ``Snapshot.facts``.
Facts = tuple[tuple[str, str], ...]
#: What the screen says when there is nothing beyond the dashboard.
NO_FACTS = "The platform reported no further facts."


class EventsScreen(ModalScreen[None]):
    """Facts as "label: value" rows (a long value wraps under itself), then a table of events."""

    CSS_PATH = "events.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,e,q", "dismiss", "Close", tooltip="Back to the dashboard", id="events-dismiss"
        ),
    ]

    def __init__(
        self,
        snapshot: Snapshot | None,
        label: str,
        *,
        read_details: Callable[[], Facts | None] | None = None,
        redact: Callable[[str], str] = str,
    ) -> None:
        """``read_details``: blocking, the provider's on-demand facts (None: it has none)."""
        super().__init__()
        self.snapshot = snapshot
        self.label = label
        self.read_details = read_details
        self.redact = redact
        #: The on-demand facts once read (None until then, or when there are none).
        self.details: Facts | None = None

    def _shown(self, text: str) -> str:
        """Text from outside (a platform, a command line): redacted, control characters escaped."""
        return printable(self.redact(text))

    def _snapshot_facts(self) -> Facts:
        snap = self.snapshot
        if snap is None:
            return ()
        return (*snap.facts, *(("note", note) for note in snap.notes))

    def fact_lines(self) -> list[str]:
        """Every fact shown now as one "label: value" line (what the operator reads)."""
        facts = (*self._snapshot_facts(), *(self.details or ()))
        return [f"{self._shown(label).strip()}: {self._shown(value)}" for label, value in facts]

    def _grid(self, facts: Facts) -> Table:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for label, value in facts:
            grid.add_row(Text(self._shown(label) + ":"), Text(self._shown(str(value))))
        return grid

    def compose(self) -> ComposeResult:
        snap = self.snapshot
        with Vertical(id="events-box") as box:
            box.border_title = f"Details · {self.label}"
            box.border_subtitle = "Esc closes"
            with VerticalScroll(id="events-scroll") as scroll:
                alone = snap is None or not snap.events
                scroll.set_class(alone, "-alone")
                scroll.can_focus = alone  # else the events table takes the keys
                yield self._facts()
                live = Static(Text("Reading live facts…"), id="events-live")
                live.display = self.read_details is not None
                yield live
            if snap is not None and snap.events:
                yield self._events(snap)
        yield KeyFooter()

    def _facts(self) -> Static:
        if self.snapshot is None:
            return Static("No snapshot yet: the platform has not answered.", id="events-facts")
        facts = self._snapshot_facts()
        if not facts:
            empty = Static(NO_FACTS, id="events-facts")
            empty.display = self.read_details is None  # shown if the live read finds none
            return empty
        return Static(self._grid(facts), id="events-facts")

    def _events(self, snap: Snapshot) -> DataTable[Text]:
        table: DataTable[Text] = DataTable(id="events-table", cursor_type="row")
        table.add_columns("age", "type", "reason", "object", "message")
        shown = self._shown
        for event in snap.events:
            age = ""
            if event.at is not None:
                age = _age((snap.taken_at - event.at).total_seconds())
            count = f" (x{event.count})" if event.count > 1 else ""
            style = "bold yellow" if event.kind.lower() == "warning" else ""
            table.add_row(
                Text(age),
                Text(shown(event.kind), style=style),
                Text(shown(event.reason)),
                Text(shown(event.object)),
                Text(shown(event.message) + count),
            )
        return table

    def on_mount(self) -> None:
        if self.read_details is not None:
            self._read(self.read_details)

    @work(thread=True, exclusive=True, exit_on_error=False, group="details")
    def _read(self, read: Callable[[], Facts | None]) -> Facts | None:
        """Blocking: the provider's on-demand facts (processes, ports, unit, disk)."""
        return read()

    @on(Worker.StateChanged)
    def _details_read(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "details":
            return
        live = self.query_one("#events-live", Static)
        if event.state is WorkerState.SUCCESS:
            result = event.worker.result
            self.details = result if isinstance(result, tuple) and result else None
            if self.details:
                live.update(self._grid(self.details))
            else:
                live.display = False
                self.query_one("#events-facts", Static).display = True
        elif event.state is WorkerState.ERROR:
            error = event.worker.error
            reason = (str(error) or type(error).__name__) if error is not None else "unknown"
            live.update(Text(f"Live facts could not be read: {self._shown(reason)}"))


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
