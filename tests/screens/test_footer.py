"""The console's footer (``console.widgets.footer``): Textual's keys, composed less often.

Every screen shows one, so what it does on each screen change is paid on
every key that opens a screen (``tests/bench_keys.py``).  These tests drive
a small app with Textual's pilot and count what the footer really does.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input

# The private module the footer relies on (textual is pinned in pyproject.toml).
from textual.widgets._footer import FooterKey

from console.widgets.footer import Footer


class CountingFooter(Footer):
    """Counts the compositions that produced keys (the first one, before the screen's
    bindings are known, produces none)."""

    with_keys = 0

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self.with_keys += 1
        yield from super().compose()


class Step(Screen[None]):
    """A wizard-like screen: its own keys, and an input that takes the focus on mount."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "nothing", "Continue"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def compose(self) -> ComposeResult:
        yield Input(id="reason")
        yield CountingFooter()

    #: Whether "Continue" is offered (``check_action``).
    can_continue = True

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def action_nothing(self) -> None:
        pass

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.can_continue if action == "nothing" else True


class Home(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "open", "Roll back")]

    def compose(self) -> ComposeResult:
        yield CountingFooter()

    def action_open(self) -> None:
        self.app.push_screen(Step())


class FooterApp(App[None]):
    def get_default_screen(self) -> Screen[Any]:
        return Home()


def keys_of(screen: Screen[Any]) -> list[str]:
    return [key.key for key in screen.query(FooterKey)]


async def test_opening_a_screen_composes_its_keys_once_and_they_are_right() -> None:
    """The screen becomes active, then its input takes the focus: two changes of its
    bindings in one frame, one composition."""
    app = FooterApp()
    async with app.run_test() as pilot:
        await pilot.press("r")
        await pilot.pause()
        step = app.screen
        assert isinstance(step, Step)
        footer = step.query_one(CountingFooter)
        assert footer.with_keys == 1
        assert {"ctrl+n", "escape"} <= set(keys_of(step))


async def test_coming_back_to_a_screen_with_the_same_keys_composes_nothing() -> None:
    app = FooterApp()
    async with app.run_test() as pilot:
        await pilot.pause()
        home = app.screen
        footer = home.query_one(CountingFooter)
        composed = footer.with_keys
        assert "r" in keys_of(home)
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is home
        assert footer.with_keys == composed
        assert "r" in keys_of(home)


async def test_keys_that_change_are_composed_again() -> None:
    app = FooterApp()
    async with app.run_test() as pilot:
        await pilot.press("r")
        await pilot.pause()
        step = app.screen
        footer = step.query_one(CountingFooter)
        composed = footer.with_keys
        assert isinstance(step, Step) and "ctrl+n" in keys_of(step)
        step.can_continue = False
        step.refresh_bindings()
        await pilot.pause()
        assert footer.with_keys == composed + 1
        assert "ctrl+n" not in keys_of(step)


async def test_each_key_is_styled_as_textual_styles_it_but_once() -> None:
    """Textual mounts each key compact, then un-compacts it (styles computed each time);
    the palette's key stays compact.  Here the keys start as they end."""
    restyled: list[str] = []

    class Watching(FooterApp):
        def update_styles(self, node: Any, animate: bool = True) -> None:
            if isinstance(node, FooterKey):
                restyled.append(node.key)
            super().update_styles(node, animate)

    app = Watching()
    async with app.run_test() as pilot:
        await pilot.press("r")
        await pilot.pause()
        keys = list(app.screen.query(FooterKey))
        assert keys
        for key in keys:
            palette = key.has_class("-command-palette")
            assert key.compact is palette and key.has_class("-compact") is palette
        assert restyled == []
