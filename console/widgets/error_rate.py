"""Error rate and p95 over the source's window, their history, and the thresholds in force."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Static

from console.config import ErrorRateConfig, Thresholds
from console.widgets.formatting import millis, percent, whole_percent
from console.widgets.panel import DataPanel
from console.widgets.rate_sparkline import NO_DATA, RateSparkline

if TYPE_CHECKING:
    from console.model import Sample

#: How many samples of history the sparkline asks the source for.
HISTORY_POINTS = 120


class ErrorRatePanel(DataPanel):
    """The rate in bold (coloured when a threshold is crossed), p95, a sparkline, thresholds."""

    TITLE = "Error rate"

    DEFAULT_CSS = """
    ErrorRatePanel #rate-now {
        text-style: bold;
    }
    ErrorRatePanel #rate-now.-high {
        color: $text-warning;
    }
    ErrorRatePanel #rate-now.-critical {
        color: $text-error;
    }
    ErrorRatePanel RateSparkline {
        height: 1;
    }
    ErrorRatePanel #rate-detail {
        height: auto;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(
        self,
        thresholds: Thresholds,
        source: ErrorRateConfig,
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.thresholds = thresholds
        self.source = source
        self.sample: Sample | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(Content("no data yet"), id="rate-now", classes="line")
        yield RateSparkline(
            [], high=self.thresholds.high_error_rate, critical=self.thresholds.critical_error_rate
        )
        yield Static(self._thresholds_line(), id="rate-thresholds", classes="line muted")
        yield Static(self._detail(None), id="rate-detail")

    def _thresholds_line(self) -> Content:
        th = self.thresholds
        return Content(
            f"crit ≥{whole_percent(th.critical_error_rate)} · "
            f"high ≥{whole_percent(th.high_error_rate)}"
        )

    def _detail(self, sample: Sample | None) -> Content:
        th = self.thresholds
        lines = []
        if th.baseline_p95_ms is not None:
            limit = th.baseline_p95_ms * th.latency_factor
            lines.append(
                f"p95 high ≥{limit:.0f} ms ({th.latency_factor:g}× {th.baseline_p95_ms:.0f})"
            )
        window = f"{self.source.source} · {self.source.window_s:g} s window"
        if sample is not None and sample.requests:
            window += f" · {sample.requests} req"
        lines.append(window)
        return Content("\n".join(lines))

    def show_rate(self, sample: Sample, history: Sequence[Sample]) -> None:
        """Render the current window and the sparkline of ``history`` (oldest first)."""
        self.sample = sample
        now = self.query_one("#rate-now", Static)
        rate = sample.error_rate
        if rate is None:
            now.update(Content("no data yet"))
            now.remove_class("-high", "-critical")
        else:
            now.update(Content(f"{percent(rate)} err · p95 {millis(sample.p95_ms)}"))
            critical = rate >= self.thresholds.critical_error_rate
            high = not critical and rate >= self.thresholds.high_error_rate
            slow = (
                self.thresholds.baseline_p95_ms is not None
                and sample.p95_ms is not None
                and sample.p95_ms
                >= self.thresholds.baseline_p95_ms * self.thresholds.latency_factor
            )
            now.set_class(critical, "-critical")
            now.set_class(high or (slow and not critical), "-high")
        self.query_one(RateSparkline).data = [
            NO_DATA if s.error_rate is None else s.error_rate for s in history
        ]
        self.query_one("#rate-detail", Static).update(self._detail(sample))
