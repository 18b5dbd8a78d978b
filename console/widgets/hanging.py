"""Lines with a hanging indent: a long one continues under its own text, not at column 0.

A plan step's command that is longer than the screen is wide used to wrap to
the left edge, where its second half read as a new command::

       $ ln -sfn /srv/web/releases/v1.2.9
    /srv/web/current

Here every line is a prefix (``"   $ "``, ``"1. "``, a timestamp) and a body;
the body wraps in the room right of the prefix and its continuation lines
are indented by the prefix's width::

       $ ln -sfn /srv/web/releases/v1.2.9
         /srv/web/current

``hang`` does it for one line at a given width (pure; Content in, Content
out); ``HangingText`` is a widget that does it at whatever width it gets,
again after every resize.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget

#: One line: its prefix (the continuation lines are indented by its width) and its body.
Row = tuple[Content, Content]

#: The body never gets fewer cells than this, however long the prefix (a very narrow
#: terminal folds the prefix's room rather than the text to one character a line).
MIN_BODY = 12


def hang(prefix: Content, body: Content, width: int) -> list[Content]:
    """``prefix + body`` wrapped to ``width`` cells, continuation lines under the body.

    Words wrap at spaces; a word longer than the room (a path) is folded.
    ``width`` <= 0 (not laid out yet) gives the line unwrapped.
    """
    if width <= 0:
        return [prefix + body]
    indent = min(prefix.cell_length, max(0, width - MIN_BODY))
    room = width - indent
    pad = Content(" " * indent)
    wrapped = body.wrap(room, overflow="fold") or [Content()]
    if prefix.cell_length > indent:
        # No room beside the prefix: it gets its own line(s), the body goes under it.
        return [*prefix.wrap(width), *(pad + line for line in wrapped)]
    return [prefix + wrapped[0], *(pad + line for line in wrapped[1:])]


class HangingText(Widget):
    """Rows of (prefix, body) shown with hanging indents at the widget's width.

    ``height: auto`` fits the wrapped lines; ``update`` replaces the rows, or
    shows a plain ``Content`` (a message such as "Asking the platform…").
    """

    DEFAULT_CSS = """
    HangingText {
        height: auto;
    }
    """

    def __init__(
        self,
        rows: Sequence[Row] | Content | str = (),
        *,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: tuple[Row, ...] = self._as_rows(rows)

    @staticmethod
    def _as_rows(rows: Sequence[Row] | Content | str) -> tuple[Row, ...]:
        if isinstance(rows, str):
            rows = Content(rows)
        if isinstance(rows, Content):
            return tuple((Content(), line) for line in rows.split("\n"))
        return tuple(rows)

    def update(self, rows: Sequence[Row] | Content | str) -> None:
        """Show other rows (a ``Content`` or ``str``: its lines, wrapped without indent)."""
        self.rows = self._as_rows(rows)
        self.refresh(layout=True)

    def lines(self, width: int) -> list[Content]:
        """The rows wrapped to ``width`` cells."""
        out: list[Content] = []
        for prefix, body in self.rows:
            out.extend(hang(prefix, body, width))
        return out

    @property
    def plain(self) -> str:
        """The rows as plain text, one a line, unwrapped (for tests and copying)."""
        return "\n".join((prefix + body).plain for prefix, body in self.rows)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return max((line.cell_length for line in self.lines(0)), default=0)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines(width))

    def render(self) -> Content:
        return Content("\n").join(self.lines(self.content_size.width))
