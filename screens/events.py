"""Platform details of the service on screen: facts, recent events, notes.

What ``kubectl describe deployment`` and ``aws ecs describe-services`` would
show below the status: generation and conditions, deployments and the
circuit breaker, the events the platform recorded (newest first).  It reads
the dashboard's latest snapshot only, so it opens instantly and never waits
on the network.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from console.model import Snapshot
from console.textsafe import printable
from console.widgets.footer import Footer


class EventsScreen(ModalScreen[None]):
    """Facts as "label: value" lines, then a table of events."""

    CSS_PATH = "events.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,e,q", "dismiss", "Close", tooltip="Back to the dashboard"),
    ]

    def __init__(self, snapshot: Snapshot | None, label: str) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.label = label

    def compose(self) -> ComposeResult:
        snap = self.snapshot
        with Vertical(id="events-box") as box:
            box.border_title = f"Details · {self.label}"
            box.border_subtitle = "Esc closes"
            if snap is None:
                yield Static("No snapshot yet: the platform has not answered.", id="events-facts")
            else:
                facts = [f"{label}: {printable(str(value))}" for label, value in snap.facts]
                facts += [f"note: {printable(note)}" for note in snap.notes]
                yield Static(
                    Text("\n".join(facts) or "The platform reported no further facts."),
                    id="events-facts",
                )
                table: DataTable[Text] = DataTable(id="events-table", cursor_type="row")
                table.add_columns("age", "type", "reason", "object", "message")
                for event in snap.events:
                    age = ""
                    if event.at is not None:
                        seconds = (snap.taken_at - event.at).total_seconds()
                        age = _age(seconds)
                    count = f" (x{event.count})" if event.count > 1 else ""
                    style = "bold yellow" if event.kind.lower() == "warning" else ""
                    shown = printable  # platform text: control characters escaped
                    table.add_row(
                        Text(age),
                        Text(shown(event.kind), style=style),
                        Text(shown(event.reason)),
                        Text(shown(event.object)),
                        Text(shown(event.message) + count),
                    )
                if not snap.events:
                    table.display = False
                yield table
        yield Footer()


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
