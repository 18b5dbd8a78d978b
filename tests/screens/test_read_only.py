"""Read-only mode in the TUI (``--read-only`` / ``[console] read_only``), like k9s
``--readonly``: everything visible, nothing that changes a platform offered.

The console runs on the real demo sandbox; the keys that would change it (``r``,
``a``, a resume offer) are not in the footer, help or the palette, and pressed
anyway they say "read-only: ..." and open nothing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
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


async def test_read_only_names_an_interrupted_rollback_and_does_not_offer_it(
    demo_sandbox: DemoSandbox,
) -> None:
    from screens.flow_common import AskYesNo
    from tests.screens.test_resume_offer import crash_before_switch

    crash_before_switch(demo_sandbox)
    app = make_app(read_only(load_config(demo_sandbox.config_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(
            pilot,
            lambda: any("interrupted rollback of web" in n for n in notes(app)),
            "the read-only note",
        )
        assert not isinstance(app.screen, AskYesNo)
        assert any(n.startswith("read-only: ") for n in notes(app))
        app.offer_resume()  # asked again (as after a rollback of unknown outcome): still not
        await pilot.pause(0.5)
        assert not isinstance(app.screen, AskYesNo)
    assert (demo_sandbox.root / "current").resolve().name == "v1.3.0"


async def test_read_only_database_panel_neither_backs_up_nor_restores() -> None:
    """``b`` and ``o`` on the database panel, in an app that is read-only the console's way."""
    from console.widgets.database import DatabasePanel
    from tests.providers.test_database_panel import PanelApp, fixed_status

    taken: list[str] = []
    requested: list[object] = []

    class ReadOnlyApp(PanelApp):
        read_only = True
        offers = RollbackConsoleApp.offers
        refused_read_only = RollbackConsoleApp.refused_read_only

        def on_database_panel_restore_requested(self, message: object) -> None:
            requested.append(message)

    def backup(_on_line: object) -> Any:
        taken.append("backup")
        raise AssertionError("a read-only console took a backup")

    panel = DatabasePanel(lambda _t: fixed_status(), backup, autostart=False)
    app = ReadOnlyApp(panel)
    async with app.run_test(size=(110, 14)) as pilot:
        panel.focus()
        await pilot.press("b", "o")
        await pilot.pause()
        said = [str(n.message) for n in app._notifications]
    assert not taken and not requested
    assert any(s.startswith("read-only: database backups") for s in said), said
    assert any(s.startswith("read-only: database restores") for s in said), said


async def test_with_a_log_file_what_the_operator_was_told_is_logged(
    demo_sandbox: DemoSandbox, tmp_path: Path
) -> None:
    """--log-file with the TUI: the refusals (and every other notification) and the HTTP
    calls of the dashboard's polls are in the file, nothing of it on the screen."""
    from console import oplog

    log = oplog.setup(tmp_path / "tui.log")
    try:
        app = make_app(read_only(load_config(demo_sandbox.config_path)))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: app.runtime.snapshot is not None, "the snapshot")
            await pilot.press("r")
            await pilot.pause()
            assert "rollback_console" not in app.export_screenshot()
    finally:
        oplog.stop()
    text = log.read_text()
    assert "INFO rollback_console.tui warning: read-only: rolling back is not offered" in text
    assert " INFO rollback_console.api GET http://127.0.0.1:" in text
