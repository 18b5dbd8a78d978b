"""The last lines a unit (a pod, a task) logged, as ``kubectl logs --tail=50`` shows them.

The lines are read by the app in a worker before this screen opens; the
screen only shows them, so it never waits on the network.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Log

from console.textsafe import printable
from console.widgets.footer import KeyFooter


class LogsScreen(ModalScreen[None]):
    CSS_PATH = "logs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", tooltip="Back to the dashboard", id="logs-dismiss"),
    ]

    def __init__(self, unit: str, lines: tuple[str, ...], *, source: str = "") -> None:
        """``source``: where the lines come from (a host's log file, ``journalctl -u``)."""
        super().__init__()
        self.unit = unit
        self.lines = lines
        self.source = source

    def compose(self) -> ComposeResult:
        log = Log(id="logs-log", max_lines=5000)
        log.border_title = Content(f"Logs · {printable(self.unit)} · last {len(self.lines)} lines")
        log.border_subtitle = Content(
            f"from {printable(self.source)} · Esc closes" if self.source else "Esc closes"
        )
        yield log
        yield KeyFooter()

    def on_mount(self) -> None:
        log = self.query_one(Log)
        log.write_lines([printable(line) for line in self.lines] or ["(no log lines)"])
        log.focus()
