"""What is live right now: the current revision, when it was deployed, and why."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Static

from console.textsafe import printable
from console.widgets.formatting import age, local_time
from console.widgets.panel import DataPanel

if TYPE_CHECKING:
    from console.model import Revision, Snapshot


class CurrentVersionPanel(DataPanel):
    """The live revision: version (bold), id, created, change cause, image, platform notes."""

    TITLE = "Current version"

    DEFAULT_CSS = """
    CurrentVersionPanel #current-extra {
        height: auto;
        color: $text-muted;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.revision: Revision | None = None
        self._snapshot: Snapshot | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("…", id="current-version", classes="line")
        yield Static("", id="current-created", classes="line")
        yield Static("", id="current-cause", classes="line muted")
        yield Static("", id="current-extra")

    def show_snapshot(self, snapshot: Snapshot, now: datetime) -> None:
        """Render the snapshot's current revision (or say that none is known)."""
        self._snapshot = snapshot
        rev = snapshot.current
        self.revision = rev
        version = self.query_one("#current-version", Static)
        if rev is None:
            version.update(Content("(no current revision)"))
            self.query_one("#current-created", Static).update("")
            self.query_one("#current-cause", Static).update("")
            self.query_one("#current-extra", Static).display = False
            return
        self._show_version(now)
        self._show_created()
        cause = rev.change_cause or rev.detail or "no change cause recorded"
        self.query_one("#current-cause", Static).update(Content(printable(cause)))
        extra = [f"image {printable(rev.image)}"] if rev.image else []
        if rev.detail and rev.change_cause:
            extra.append(printable(rev.detail))
        extra_line = self.query_one("#current-extra", Static)
        extra_line.update(Content("\n".join(extra)))
        extra_line.display = bool(extra)

    def _show_version(self, now: datetime) -> None:
        """``v1.3.0 · 1h ago`` (the id too when it differs from the version)."""
        rev = self.revision
        if rev is None:
            return
        label = rev.version if rev.id == rev.version else f"{rev.version} (id {rev.id})"
        parts = [Content.styled(printable(label), "bold")]
        if rev.created is not None:
            parts.append(Content.styled(f" · {age(rev.created, now)} ago", "$text-muted"))
        self.query_one("#current-version", Static).update(Content.assemble(*parts))

    def _show_created(self) -> None:
        rev = self.revision
        created = self.query_one("#current-created", Static)
        if rev is None or rev.created is None:
            created.update(Content("deployed: time unknown"))
            return
        created.update(Content(f"deployed {local_time(rev.created)}"))

    def tick(self, now: datetime) -> None:
        super().tick(now)
        if self.revision is not None and self.is_mounted:
            self._show_version(now)
