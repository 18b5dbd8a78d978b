"""Names from outside reach the TUI as text: control characters escaped, markup shown as typed.

The console runs on a host service whose release folders are named with an
escape sequence (set the terminal's title, clear the screen) and with Rich
markup.  What Textual would write to the terminal (the rendered strips of
the screen) must hold neither the escape character nor the markup's effect:
the dashboard, the wizard's target step (the plan names the release), and
the history browser show the names escaped and literal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot

from console.app import make_app
from console.config import load_config
from console.history import append_entry
from console.model import ItemState, Revision
from screens.assess import AssessScreen
from screens.checklist import ChecklistScreen
from screens.history import HistoryScreen
from screens.target import TargetScreen
from tests.signals import FlipServer, healthy
from tests.test_history import make_record
from tests.test_textsafe import EVIL, SHOWN, site

#: A release name that is Rich / Textual markup.
MARKUP = "v1.5[bold]x[reverse]y"


def screen_text(app: App[Any]) -> str:
    """Every character the screen would send to the terminal, line by line."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def until(pilot: Pilot[Any], condition: Any, what: str) -> None:
    for _ in range(300):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture
def health() -> FlipServer:
    server = FlipServer(healthy)
    yield server
    server.close()


def assert_shown_as_text(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text, repr(text)
    assert SHOWN in text, text


async def test_dashboard_and_wizard_show_escape_sequences_and_markup_as_text(
    tmp_path: Path, health: FlipServer
) -> None:
    config = load_config(site(tmp_path, health.url, names=("v1", MARKUP, EVIL)))
    app = make_app(config)
    async with app.run_test(size=(180, 50)) as pilot:
        await app.refresh_all()
        await pilot.pause()
        dashboard = screen_text(app)
        assert_shown_as_text(dashboard)
        assert MARKUP in dashboard  # the brackets are shown, not taken as bold
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, AssessScreen), "the assess step")
        assess = app.screen
        assert isinstance(assess, AssessScreen)
        await until(pilot, lambda: not assess.assessing, "the assessment")
        await pilot.press(*"bad", "enter")
        await until(pilot, lambda: isinstance(app.screen, ChecklistScreen), "the checklist")
        incident = assess.flow.incident
        for item in incident.missing_required("prepare"):  # not what this test is about
            incident.mark(item.id, ItemState.DONE, "checked")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TargetScreen), "the target step")
        target = app.screen
        assert isinstance(target, TargetScreen)
        await until(pilot, lambda: target.plan is not None, "the plan")
        await pilot.pause()
        wizard = screen_text(app)
        assert_shown_as_text(wizard)
        assert f"from {SHOWN} to {MARKUP}" in wizard


async def test_history_browser_shows_names_from_the_file_as_text(
    tmp_path: Path, health: FlipServer
) -> None:
    config = load_config(site(tmp_path, health.url, names=("v1", "v2")))
    append_entry(
        config.console.history_file,
        make_record(from_revision=Revision(EVIL, EVIL), to_revision=Revision(MARKUP, MARKUP)),
    )
    # A hand edit can put anything in the file, the escape character included.
    with open(config.console.history_file, "a", encoding="utf-8") as fh:
        fh.write(f"\n## 2026-01-17 hand-written\n\n| Date | 2026-01-17 |\n| Service | {EVIL} |\n")
    os.utime(config.console.history_file)
    app = make_app(config)
    async with app.run_test(size=(180, 50)) as pilot:
        await pilot.press("h")
        await until(
            pilot,
            lambda: isinstance(app.screen, HistoryScreen) and app.screen.loaded,
            "the history browser",
        )
        await pilot.pause()
        listing = screen_text(app)
        assert "\x1b" not in listing and "\x07" not in listing, repr(listing)
        assert MARKUP in listing
        await pilot.press("enter")  # the newest entry: the hand-written one
        await pilot.pause()
        assert_shown_as_text(screen_text(app))
