"""Command output that wraps under itself: no line is ever cut at the right edge.

Textual's ``Log`` keeps a line on one row and crops it at the widget's edge
(a path in ``ln -sfn … /srv/web/curr`` simply stops, with no sign that more
follows).  ``OutputLog`` keeps each line whole: its prefix (timestamp and
marker, ``"02:00:01 -> "``) stays at the left and the rest wraps in the
room right of it, continuation rows indented under the text, like a plan
step (``console.widgets.hanging``).  Rows are re-wrapped when the width
changes; only the rows on screen are rendered (the Line API), so a long
output costs nothing to show.
"""

from __future__ import annotations

from rich.segment import Segment
from textual import events
from textual.content import Content
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.widgets.hanging import hang


class OutputLog(ScrollView, can_focus=True):
    """Lines of (prefix, text), wrapped with a hanging indent; follows the end as it grows."""

    DEFAULT_CSS = """
    OutputLog {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-gutter: stable;
    }
    """

    def __init__(
        self, *, max_lines: int = 2000, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.max_lines = max_lines
        #: Every line written, as (prefix, text), oldest first (at most ``max_lines``).
        self.lines: list[tuple[str, str]] = []
        self._rows: list[str] = []
        self._width = 0
        #: Whether the view sticks to the end (new lines, a shrinking pane): until the
        #: operator scrolls up, and again once they scroll back to the end.
        self._follow = True

    def write_line(self, text: str, prefix: str = "") -> None:
        """Add one line (plain text: the caller escapes control characters)."""
        follow = self._follow
        self.lines.append((prefix, text))
        if len(self.lines) > self.max_lines:
            del self.lines[: len(self.lines) - self.max_lines]
            self._rewrap()
        else:
            self._rows.extend(self._wrap(prefix, text))
            self._resize_virtual()
        if follow:
            self.scroll_end(animate=False, immediate=False, x_axis=False)
        self.refresh()

    @property
    def plain(self) -> str:
        """Every line, unwrapped, one a row (what was written)."""
        return "\n".join(prefix + text for prefix, text in self.lines)

    @property
    def rows(self) -> list[str]:
        """The rows as shown at the current width."""
        return list(self._rows)

    def _wrap(self, prefix: str, text: str) -> list[str]:
        return [line.plain for line in hang(Content(prefix), Content(text), self._width)]

    def _rewrap(self) -> None:
        self._rows = [row for prefix, text in self.lines for row in self._wrap(prefix, text)]
        self._resize_virtual()

    def _resize_virtual(self) -> None:
        self.virtual_size = Size(self._width, len(self._rows))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._follow = new_value >= self.max_scroll_y

    def on_resize(self, event: events.Resize) -> None:
        """Wrap again at a new width; stay at the end (the pane shrinks as the result shows)."""
        width = self.scrollable_content_region.width
        if width != self._width:
            self._width = width
            self._rewrap()
        if self._follow:
            self.scroll_end(animate=False, immediate=False, x_axis=False)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        style = self.rich_style
        width = self.scrollable_content_region.width
        if index >= len(self._rows):
            return Strip.blank(width, style)
        return Strip([Segment(self._rows[index], style)]).adjust_cell_length(width, style)
