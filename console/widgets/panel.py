"""The frame every dashboard panel shares: a title, the age of its data, its last error.

A panel never fetches anything.  The dashboard hands it data (``show_*`` on
the subclasses, then ``mark_updated``) or a failure (``mark_failed``); a
failure keeps the last good data on screen and adds one red line, so an
operator can always tell how old what they read is and why it stopped
updating.  ``tick`` is called every second to age the subtitle.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from console.textsafe import printable
from console.widgets.formatting import ago

#: Data older than this many refresh intervals is shown as stale (warning colour).
STALE_AFTER_S = 10.0


class PanelError(Static):
    """The panel's last error, one red line, ellipsized; hidden while there is none."""

    DEFAULT_CSS = """
    PanelError {
        height: 1;
        color: $text-error;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        display: none;
    }
    PanelError.-shown {
        display: block;
    }
    """

    def show(self, message: str | None) -> None:
        """Show ``message`` as plain text (never markup, control characters escaped), or
        hide the line."""
        self.update(Content(printable(message or "")))
        self.set_class(bool(message), "-shown")


class DataPanel(Vertical):
    """Base of the dashboard panels; subclasses set ``TITLE`` and implement ``compose_body``."""

    TITLE: ClassVar[str] = ""

    DEFAULT_CSS = """
    DataPanel {
        border: round $primary 60%;
        border-title-color: $text;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        padding: 0 1;
        height: 1fr;
    }
    DataPanel:focus-within {
        border: round $primary;
    }
    DataPanel.-failed {
        border: round $error 70%;
    }
    DataPanel.-stale {
        border-subtitle-color: $text-warning;
    }
    DataPanel.-failed {
        border-subtitle-color: $text-error;
    }
    DataPanel .line {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    DataPanel .muted {
        color: $text-muted;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = self.TITLE
        self.border_subtitle = "loading…"
        #: When the data on screen was read (the app's clock); None before the first read.
        self.updated_at: datetime | None = None
        #: The last read's error, or None when the last read succeeded.
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_body()
        yield PanelError(classes="panel-error")

    def compose_body(self) -> ComposeResult:
        """The panel's own widgets, above the error line."""
        yield from ()

    def mark_updated(self, at: datetime) -> None:
        """The data just shown was read at ``at``; clears the error line."""
        self.updated_at = at
        self.error = None
        self.remove_class("-failed")
        self.query_one(PanelError).show(None)
        self.tick(at)

    def mark_failed(self, error: str, at: datetime) -> None:
        """The last read failed: keep the data, show ``error`` in red."""
        self.error = error
        self.add_class("-failed")
        self.query_one(PanelError).show(error)
        self.tick(at)

    def tick(self, now: datetime) -> None:
        """Refresh the age in the subtitle ("12s ago"), from the app's clock."""
        if self.updated_at is None:
            self.border_subtitle = "no data" if self.error else "loading…"
            self.remove_class("-stale")
            return
        stale = (now - self.updated_at).total_seconds() >= STALE_AFTER_S
        self.set_class(stale, "-stale")
        self.border_subtitle = ago(self.updated_at, now)
