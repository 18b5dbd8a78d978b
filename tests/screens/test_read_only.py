"""Read-only mode in the TUI (``--read-only`` / ``[console] read_only``), like k9s
``--readonly``: everything visible, nothing that changes a platform offered.

The console runs on the real demo sandbox; the keys that would change it (``r``,
``a``, a resume offer) are not in the footer, help or the palette, and pressed
anyway they say "read-only: ..." and open nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from textual.command import CommandPalette
from textual.widgets._footer import FooterKey

from console.app import RollbackConsoleApp, make_app
from console.config import Config, load_config
from console.demo import DemoSandbox
from screens.dashboard import DashboardScreen
from screens.help import HelpScreen
from tests.screens.test_dashboard import wait_until


def read_only(config: Config) -> Config:
    return dataclasses.replace(config, console=dataclasses.replace(config.console, read_only=True))


def footer_actions(app: RollbackConsoleApp) -> set[str]:
    return {key.action for key in app.screen.query(FooterKey) if key.display}


def notes(app: RollbackConsoleApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_read_only_dashboard_offers_nothing_that_changes_the_platform(
    demo_sandbox: DemoSandbox,
) -> None:
    app = make_app(read_only(load_config(demo_sandbox.config_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.runtime.snapshot is not None, "the first snapshot")
        await pilot.pause()
        assert "READ-ONLY" in app.title
        assert "READ-ONLY" in app.export_screenshot()  # the header says so
        shown = footer_actions(app)
        assert "rollback" not in shown and "app.actions" not in shown, shown
        assert "refresh" in shown  # what only reads stays
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen), app.screen  # no wizard
        assert any(n.startswith("read-only: rolling back") for n in notes(app)), notes(app)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert any(n.startswith("read-only: provider actions") for n in notes(app))
        # help lists no such key
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = str(app.screen.query_one("#help-keys").render())
        assert "Roll back" not in keys and "Restart, restore" not in keys, keys
        assert "Re-read every panel" in keys
        await pilot.press("escape")
        await pilot.pause()
        # the palette lists no rollback or action
        await pilot.press("ctrl+p")
        await pilot.pause()
        palette = app.screen
        assert isinstance(palette, CommandPalette)
        titles = [str(hit) for hit in await _palette_titles(app)]
        assert not any(t.startswith("Roll back") or t.startswith("Actions") for t in titles)
        assert any(t.startswith("Refresh") for t in titles)


async def _palette_titles(app: RollbackConsoleApp) -> list[Any]:
    from screens.commands import RollbackCommands

    provider = RollbackCommands(app.screen, None)
    return [title for title, _help, _call in provider.commands()]


async def test_without_read_only_the_same_keys_are_offered(demo_sandbox: DemoSandbox) -> None:
    """The control: the same console, not read-only, offers r and a."""
    app = make_app(load_config(demo_sandbox.config_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.runtime.snapshot is not None, "the first snapshot")
        await pilot.pause()
        assert "READ-ONLY" not in app.title
        assert {"rollback", "app.actions"} <= footer_actions(app)
