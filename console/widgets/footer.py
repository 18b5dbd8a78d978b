"""Textual's footer, without the work it repeats on every screen change.

Every screen shows a footer, so its cost is paid on every key that opens one
(``tests/bench_keys.py``).  Textual's ``Footer`` spends most of it on two
things this subclass avoids, with the same keys, looks and behaviour:

- It recomposes (removes every key, mounts new ones) each time the screen's
  bindings change, and opening a screen changes them twice in one frame
  (the screen becomes active, then something takes the focus), coming back
  to a screen once more, and moving the focus between widgets with the same
  keys once each time.  Here the changes of one frame make one recompose, and
  none when the keys shown would be the same.
- Each key it mounts starts "compact" and is then bound to the footer's
  "not compact", so every key's styles are computed three times (mounted,
  class added, class removed).  Here each key starts with the value it ends
  with.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer as TextualFooter

# FooterKey has no public module; textual is pinned (pyproject.toml), and
# tests/screens/test_footer.py fails if this stops being Textual's footer key.
from textual.widgets._footer import FooterKey


class Footer(TextualFooter):
    """``textual.widgets.Footer``, recomposed once per frame, its keys styled once."""

    _recompose_pending = False
    #: What the keys on show were composed from (``_shown_keys``); None: nothing yet.
    _composed: tuple[object, ...] | None = None

    def _shown_keys(self) -> tuple[object, ...]:
        """Everything ``compose`` renders from: the shown bindings, whether each is enabled,
        their tooltips, the palette key."""
        return (
            self.show_command_palette,
            self.compact,
            *(
                (binding.key, binding.action, binding.description, binding.group, enabled, tooltip)
                for (_node, binding, enabled, tooltip) in self.screen.active_bindings.values()
                if binding.show
            ),
        )

    def compose(self) -> ComposeResult:
        self._composed = self._shown_keys() if self._bindings_ready else None
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                # Set before mounting, so no watcher runs and the styles are computed once:
                # the value Textual's binding ends with (the palette's key is not bound,
                # and stays compact).
                compact = True if widget.has_class("-command-palette") else self.compact
                widget.set_reactive(FooterKey.compact, compact)
                widget.set_class(compact, "-compact", update=False)
            yield widget

    def bindings_changed(self, screen: Screen[object]) -> None:
        """The screen's bindings changed: recompose once, after this frame's other changes."""
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._recompose_pending:
            self._recompose_pending = True
            self.call_after_refresh(self._recompose_once)

    async def _recompose_once(self) -> None:
        self._recompose_pending = False
        if self.is_attached and self._shown_keys() != self._composed:
            await self.recompose()
