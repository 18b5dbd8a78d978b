"""The service's health checks: one line each, failing ones first in red."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from console.config import HealthCheck
from console.redact import display_url
from console.textsafe import printable
from console.widgets.formatting import left_truncate, short_url
from console.widgets.panel import DataPanel

if TYPE_CHECKING:
    from console.model import HealthResult


class HealthPanel(DataPanel):
    """Each check: ok/FAIL, status code (or the error), latency, then its name or URL."""

    TITLE = "Health"

    DEFAULT_CSS = """
    HealthPanel #health-lines {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    HealthPanel #health-lines > Static {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(
        self,
        checks: Sequence[HealthCheck] = (),
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.checks = tuple(checks)
        self.results: tuple[HealthResult, ...] = ()

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="health-lines", can_focus=False):
            if not self.checks:
                yield Static(Content("no health checks configured"), classes="muted")
            for check in self.checks:
                yield Static(
                    Content.assemble(("  …  ", "$text-muted"), self._label(check.display_url)),
                    classes="health-line",
                )

    def _label(self, url: str) -> str:
        """The check's name, else its URL without the scheme (``url`` is a ``display_url``:
        results never carry credentials, and neither does what is shown)."""
        check = next((c for c in self.checks if c.display_url == url), None)
        label = check.name if check is not None and check.name else short_url(display_url(url))
        return printable(label)

    def show_results(self, results: Sequence[HealthResult]) -> None:
        """Render one round of checks, in the configured order."""
        self.results = tuple(results)
        failing = sum(1 for r in results if not r.ok)
        total = len(results)
        self.border_title = (
            f"{self.TITLE} ({failing}/{total} failing)" if failing else f"{self.TITLE} (ok)"
        )
        self._render_lines()

    def on_resize(self) -> None:
        if self.results:
            self._render_lines()

    def _render_lines(self) -> None:
        width = self.query_one("#health-lines").scrollable_content_region.width
        lines = list(self.query(".health-line").results(Static))
        for index, result in enumerate(self.results):
            content = self._line(result, width)
            if index < len(lines):
                lines[index].update(content)
            else:
                line = Static(content, classes="health-line")
                self.query_one("#health-lines").mount(line)

    def _line(self, result: HealthResult, width: int) -> Content:
        if result.ok:
            badge = Content.styled(" ok ", "$text-success")
        else:
            badge = Content.styled("FAIL", "bold $text-error")
        if result.status_code is not None:
            code = Content.styled(str(result.status_code), "" if result.ok else "$text-error")
        else:
            code = Content.styled("---", "$text-error")
        latency = f"{result.latency_ms:.0f}ms" if result.latency_ms is not None else "-"
        head = Content.assemble(badge, " ", code, f" {latency:>5} ")
        # No HTTP answer: the error says why ("connection refused"); a status says enough.
        error = f" {printable(result.error)}" if result.error and result.status_code is None else ""
        room = width - head.cell_length - len(error)
        # The end of a URL (port and path) tells checks apart: cut it from the left.
        label = left_truncate(self._label(result.url), max(room, min(12, width // 3)))
        parts = [head, Content(label)]
        if error:
            parts.append(Content.styled(error, "$text-error"))
        return Content.assemble(*parts)
