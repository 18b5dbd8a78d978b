"""A sparkline of error rates on a fixed 0-100% scale, coloured by the service's thresholds.

Textual's ``Sparkline`` scales every series between its own minimum and
maximum, which makes a steady 60% error rate with a little noise look like
wild swings and a flat 0.1% look as alarming as 90%.  An operator deciding on
a rollback needs the opposite: the height is the error rate, the colour says
which threshold it crossed.  This subclass keeps ``Sparkline``'s ``data``
reactive and CSS, and only changes how the bars are drawn: one bar per
sample, newest on the right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widgets import Sparkline

BARS = "▁▂▃▄▅▆▇█"
#: A value meaning "no data for this sample": drawn as a gap.
NO_DATA = -1.0


class RateSparkline(Sparkline):
    """Error rates (0..1) as bars on an absolute scale; ``NO_DATA`` draws a gap."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "ratesparkline--ok",
        "ratesparkline--high",
        "ratesparkline--critical",
        "ratesparkline--empty",
    }

    DEFAULT_CSS = """
    RateSparkline {
        height: 1;
    }
    RateSparkline > .ratesparkline--ok {
        color: $success;
    }
    RateSparkline > .ratesparkline--high {
        color: $warning;
    }
    RateSparkline > .ratesparkline--critical {
        color: $error;
    }
    RateSparkline > .ratesparkline--empty {
        color: $text-muted 40%;
    }
    """

    def __init__(
        self,
        data: Sequence[float] | None = None,
        *,
        high: float = 0.10,
        critical: float = 0.50,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(data, id=id, classes=classes)
        self.high = high
        self.critical = critical

    def _bucketed(self, width: int) -> list[float]:
        """One value per column: the newest ``width`` samples, or the max of each bucket."""
        data = list(self.data or [])
        if len(data) <= width:
            return data
        buckets: list[float] = []
        step = len(data) / width
        for column in range(width):
            start, end = int(column * step), int((column + 1) * step)
            buckets.append(max(data[start : max(end, start + 1)]))
        return buckets

    def render(self) -> Text:
        width, height = self.size.width, max(1, self.size.height)
        values = self._bucketed(width)
        styles = {
            name: self.get_component_rich_style(f"ratesparkline--{name}", partial=True)
            for name in ("ok", "high", "critical", "empty")
        }
        levels = len(BARS) * height
        lines: list[Text] = []
        for row in reversed(range(height)):
            line = Text(" " * (width - len(values)), no_wrap=True, end="")
            for value in values:
                line.append(*self._bar(value, row, levels, styles))
            lines.append(line)
        return Text("\n", end="").join(lines)

    def _bar(
        self, value: float, row: int, levels: int, styles: dict[str, Style]
    ) -> tuple[str, Style]:
        if value < 0:  # NO_DATA: a gap stays a gap
            return " ", styles["empty"]
        value = min(value, 1.0)
        if value == 0:
            return (BARS[0] if row == 0 else " "), styles["empty"]
        level = max(1, math.ceil(value * levels))
        if value >= self.critical:
            style = styles["critical"]
        elif value >= self.high:
            style = styles["high"]
        else:
            style = styles["ok"]
        filled = level - row * len(BARS)
        if filled <= 0:
            return " ", style
        return BARS[min(filled, len(BARS)) - 1], style
