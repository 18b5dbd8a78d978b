"""The key footer of every screen: cheap to show, and never a cut key.

Two things Textual's footer does not do for us, in two layers.

``Footer`` —
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

``KeyFooter`` (the one screens use) —
Textual's ``Footer`` lays the keys out in one row and lets the row run off
the right edge, under the command-palette key docked there: at 80 columns
the last key reads "h Histor▏".  ``KeyFooter`` measures the keys before it
shows them and leaves out, last first, the ones that do not fit whole.  Help
(``?``) is kept to the end, since the help screen lists every key, and the
palette key (``^p``, every action by name) goes only when nothing else is
left to drop.  The keys themselves come from the screen's bindings as they
always did (what is shown, enabled or hidden is the screen's business).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from textual import events
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
                if binding.show and self.offered(binding.action)
            ),
        )

    def offered(self, action: str) -> bool:
        """Whether the app offers ``action`` (read-only mode hides what changes a platform)."""
        offers = getattr(self.app, "offers", None)
        return offers is None or bool(offers(action))

    def compose(self) -> ComposeResult:
        self._composed = self._shown_keys() if self._bindings_ready else None
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                if not widget.has_class("-command-palette") and not self.offered(widget.action):
                    continue
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


#: Actions whose key is dropped last: the help screen lists every other key.
KEPT_LAST = frozenset({"help", "app.help"})


def key_width(key_display: str, description: str, *, compact: bool = False) -> int:
    """Cells a ``FooterKey`` takes: `` k Description `` (compact: ``k Description`` + margin).

    Mirrors ``FooterKey``'s own padding and the footer's margins.
    """
    if not description:
        return cell_len(key_display) + (1 if compact else 0)
    if compact:
        return cell_len(key_display) + 1 + cell_len(description) + 1
    return 1 + cell_len(key_display) + 1 + cell_len(description) + 1


def palette_width(key_display: str, description: str, *, compact: bool = False) -> int:
    """Cells the command-palette key takes at the right edge (its border and padding too)."""
    return key_width(key_display, description, compact=compact) + 1 + (0 if compact else 1)


def keys_to_hide(
    keys: Iterable[tuple[str, int]], room: int, kept_last: frozenset[str] = KEPT_LAST
) -> set[str]:
    """The actions to leave out so the ``(action, width)`` keys fit in ``room`` cells.

    Keys go from the end of the row; those in ``kept_last`` only once every
    other key is gone.  Returns the empty set when everything fits.
    """
    row = list(keys)
    used = sum(width for _, width in row)
    hidden: set[str] = set()
    order = [k for k in reversed(row) if k[0] not in kept_last] + [
        k for k in reversed(row) if k[0] in kept_last
    ]
    for action, width in order:
        if used <= room:
            break
        hidden.add(action)
        used -= width
    return hidden


class KeyFooter(Footer):
    """``Footer`` that leaves out the keys it has no room for instead of cutting them."""

    #: The width the keys were last laid out for (a resize to another one lays them out again).
    _laid_out_width = -1

    def compose(self) -> ComposeResult:
        self._laid_out_width = self.size.width
        hidden, hide_palette = self._left_out()
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                if widget.has_class("-command-palette"):
                    widget.display = not hide_palette
                elif widget.action in hidden:
                    widget.display = False
            yield widget

    def _left_out(self) -> tuple[set[str], bool]:
        """The actions whose keys do not fit, and whether the palette key goes too."""
        width = self.size.width
        if not self._bindings_ready or width <= 0:
            return set(), False
        app = self.app
        compact = self.compact
        seen: dict[str, int] = {}
        for _node, binding, _enabled, _tooltip in self.screen.active_bindings.values():
            if not binding.show or binding.action in seen or not self.offered(binding.action):
                continue
            description = binding.description
            seen[binding.action] = key_width(
                app.get_key_display(binding), description, compact=compact
            )
        palette = 0
        if self.show_command_palette and app.ENABLE_COMMAND_PALETTE:
            entry = self.screen.active_bindings.get(app.COMMAND_PALETTE_BINDING)
            if entry is not None:
                _node, binding, _enabled, _tooltip = entry
                palette = palette_width(
                    app.get_key_display(binding), binding.description, compact=compact
                )
                seen.pop(binding.action, None)
        keys = list(seen.items())
        hidden = keys_to_hide(keys, width - palette)
        help_keys = {action for action, _ in keys if action in KEPT_LAST}
        if palette and help_keys and help_keys <= hidden:
            # Not even help fits beside the palette key: the palette key goes instead.
            return keys_to_hide(keys, width), True
        return hidden, False

    def on_resize(self, event: events.Resize) -> None:
        """A new width may fit more (or fewer) keys: lay the row out again."""
        if self._bindings_ready and event.size.width != self._laid_out_width:
            self.call_after_refresh(self.recompose)
