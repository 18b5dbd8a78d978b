"""The dashboard's top line: which service, what is live, how urgent, and by when to decide.

Two lines beside a coloured severity badge::

     CRITICAL  web (production) · host · current v1.3.0
               Roll back now · decide within 4:12 (by 02:05:00)

Re-rendered every second from cached data by the dashboard; it never reads
anything itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Static

from console.textsafe import printable

if TYPE_CHECKING:
    from console.model import Assessment, Severity


class SeverityBadge(Static):
    """The severity in capitals on its colour (``-critical``, ``-high``, ...)."""

    DEFAULT_CSS = """
    SeverityBadge {
        width: 12;
        height: 2;
        content-align: center middle;
        text-style: bold;
        background: $panel;
        color: $text-muted;
    }
    SeverityBadge.-critical {
        background: $error;
        color: $text;
    }
    SeverityBadge.-high {
        background: $warning;
        color: $background;
    }
    SeverityBadge.-medium {
        background: $warning 40%;
        color: $text;
    }
    SeverityBadge.-low {
        background: $success 60%;
        color: $text;
    }
    """

    def show(self, severity: Severity | None, *, assessing: bool = False) -> None:
        """Show ``severity`` (None: still waiting for data; ``assessing``: too little yet)."""
        from console.model import Severity  # (shown after the first frame: see dashboard)

        label = severity.value.upper() if severity is not None else "…"
        if assessing:
            label = "ASSESSING"
        self.update(Content(label))
        for level in Severity:
            self.set_class(level is severity, f"-{level.value}")


#: Below this many columns the countdown drops its "to decide" ("4:12 left"), so the
#: first line still has room for the live version at 60 columns.
COMPACT_BELOW = 72


class ServiceStatusBar(Horizontal):
    """Service, environment, provider, current version, severity, recommendation, countdown."""

    DEFAULT_CSS = """
    ServiceStatusBar {
        height: 2;
        background: $boost;
    }
    ServiceStatusBar #status-lines {
        width: 1fr;
        padding: 0 1;
    }
    ServiceStatusBar #status-top {
        height: 1;
    }
    ServiceStatusBar #status-lines Static {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    ServiceStatusBar #status-service {
        width: 1fr;
    }
    ServiceStatusBar #status-countdown {
        width: auto;
        text-style: bold;
        padding-left: 1;
    }
    ServiceStatusBar #status-countdown.-overdue {
        color: $text-error;
    }
    /* An alert (a paused update) may need two lines: the bar grows by one meanwhile. */
    ServiceStatusBar.-alert {
        height: 3;
    }
    ServiceStatusBar #status-lines #status-decision.-alert {
        height: 2;
        background: $error;
        color: $text;
        text-style: bold;
        text-wrap: wrap;
    }
    ServiceStatusBar #status-deadline {
        width: auto;
        padding-left: 1;
        color: $text-muted;
    }
    """

    _shown: tuple[Assessment | None, str | None, str | None] | None = None
    #: The platform's alert and what ``r`` does about it (see ``show_alert``).
    _alert: tuple[str, str] = ("", "")
    _service: tuple[str, str, str, str | None] | None = None

    def compose(self) -> ComposeResult:
        yield SeverityBadge(id="severity-badge")
        with Vertical(id="status-lines"):
            with Horizontal(id="status-top"):
                yield Static("", id="status-service")
                yield Static("", id="status-countdown")
                yield Static("", id="status-deadline")
            yield Static(Content("Reading the service…"), id="status-decision")

    def show_service(
        self, *, name: str, environment: str, provider: str, version: str | None
    ) -> None:
        """First line: ``web (production) · host · current v1.3.0``.

        Below ``COMPACT_BELOW`` columns the provider is left out (the help and
        every wizard step name it): the live version is what must stay readable.
        """
        self._service = (name, environment, provider, version)
        compact = 0 < self.size.width < COMPACT_BELOW
        self.query_one("#status-service", Static).update(
            Content.from_markup(
                "[b]$name[/b] ($env) · "
                + ("" if compact else "$provider · ")
                + "current [b]$version[/b]",
                name=name,
                env=environment,
                provider=provider,
                version=printable(version or "…"),
            )
        )

    def show_alert(self, alert: str, action: str = "") -> None:
        """A platform state that comes before the verdict (``Snapshot.alert``: "update
        paused: ..."): it takes the second line, loudly, with what ``r`` does about it.
        "" clears it.  Shown from the next ``show_assessment`` (every second)."""
        self._alert = (alert, action)

    def show_assessment(
        self, assessment: Assessment | None, remaining: str | None, deadline: str | None
    ) -> None:
        """Badge, countdown (``remaining`` from ``format_remaining``) and recommendation.

        ``assessment`` None means no data has arrived yet.  Below ``COMPACT_BELOW``
        columns the countdown is only "4:12 left" / "overdue by 0:41".
        """
        self._shown = (assessment, remaining, deadline)
        compact = 0 < self.size.width < COMPACT_BELOW
        self.query_one(SeverityBadge).show(
            assessment.severity if assessment else None,
            assessing=assessment is not None and assessment.assessing,
        )
        countdown = self.query_one("#status-countdown", Static)
        by = self.query_one("#status-deadline", Static)
        line = self.query_one("#status-decision", Static)
        by.update(Content(f"(by {deadline})") if deadline and remaining else "")
        if assessment is None:
            countdown.update("")
            if not self._show_alert(line):
                line.update(Content("Waiting for health and error-rate data…"))
            return
        overdue = remaining is not None and remaining.startswith("overdue")
        countdown.set_class(overdue, "-overdue")
        if remaining is None:
            countdown.update("")
        elif overdue:
            countdown.update(Content(remaining if compact else f"decision {remaining}"))
        else:
            countdown.update(Content(remaining if compact else f"{remaining} to decide"))
        if self._show_alert(line):
            return
        # The recommendation's tail ("— decide within 5 minutes") is what the countdown shows.
        head = assessment.recommendation.split(" — ")[0]
        parts = [Content.styled(head, "bold")]
        if assessment.reasons:
            parts.append(Content(f" · {printable(assessment.reasons[0])}"))
        line.update(Content.assemble(*parts))

    def _show_alert(self, line: Static) -> bool:
        """The alert on ``line`` (and True), or the line's usual look back (and False)."""
        alert, action = self._alert
        line.set_class(bool(alert), "-alert")
        self.set_class(bool(alert), "-alert")
        if alert:
            tail = f" · r: {action}" if action else ""
            line.update(Content(printable(alert) + printable(tail)))
        return bool(alert)

    def on_resize(self, event: events.Resize) -> None:
        """Across ``COMPACT_BELOW`` the lines change words: show them again at once."""
        if self._service is not None:
            name, environment, provider, version = self._service
            self.show_service(
                name=name, environment=environment, provider=provider, version=version
            )
        if self._shown is not None:
            self.show_assessment(*self._shown)
