"""Every screen of the flow at 80x24 and at 60x20, as SVG snapshots on fixed data.

80x24 is the terminal the runbooks assume; 60x20 is a split pane or a phone
over SSH, and must stay usable: what does not fit scrolls, nothing is cut
off without a sign.  The wizard screens are pushed on the real app (its
dashboard on ``fixed_dashboard``'s data) the way ``r`` pushes them, with a
flow on ``fixed_flow``'s data, so the footers show the app's keys too.  The
dashboard, help and history at 80x24 are in ``test_dashboard`` and
``test_history_screen``; here they are at 60x20.

Review them as pictures after ``make snapshots``: the files are in
``__snapshots__/test_layout_snapshots/``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen

from screens.actions import ActionsScreen
from screens.assess import AssessScreen
from screens.checklist import ChecklistScreen
from screens.confirm import ConfirmScreen
from screens.execute import ExecuteScreen
from screens.history import HistoryScreen
from screens.record import RecordScreen
from screens.target import TargetScreen
from screens.verify import VerifyScreen
from tests.screens.fixed_dashboard import FixedWorld, fixed_app
from tests.screens.fixed_flow import (
    ACTIONS,
    PLAN,
    assessed_flow,
    finished_flow,
    prepared_flow,
)

SIZES = [(80, 24), (60, 20)]
SIZE_IDS = ["80x24", "60x20"]
MAX_PAUSES = 600

Snap = Callable[..., bool]
Settle = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utc_zone: None) -> None:
    """History and state files are relative to the working folder: a fresh one per test."""
    monkeypatch.chdir(tmp_path)


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    for _ in range(MAX_PAUSES):
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.05)
    raise AssertionError(f"gave up waiting for {what}; screen is {pilot.app.screen!r}")


def over_dashboard(screen: Callable[[], Screen[Any]], ready: Callable[[Any], bool]) -> Settle:
    """Push ``screen()`` on the dashboard as ``r`` would, then wait until ``ready(screen)``."""

    async def settle(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        pushed = screen()
        pilot.app.push_screen(pushed)
        await wait_until(pilot, lambda: pilot.app.screen is pushed and ready(pushed), "screen")

    return settle


def wizard_app() -> App[Any]:
    return FixedWorld().app()


# =========================================================================== the wizard


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_assess(snap_compare: Snap, size: tuple[int, int]) -> None:
    flow, clock = assessed_flow()
    settle = over_dashboard(
        lambda: AssessScreen(flow, clock=clock), lambda s: s.assessment is not None
    )
    assert snap_compare(wizard_app(), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_checklist(snap_compare: Snap, size: tuple[int, int]) -> None:
    flow, _ = assessed_flow()
    flow.set_reason("5xx spike right after the v1.3.0 deploy", "")
    settle = over_dashboard(lambda: ChecklistScreen(flow), lambda s: True)
    assert snap_compare(wizard_app(), terminal_size=size, run_before=settle)


def target_ready(screen: TargetScreen) -> bool:
    return screen.plan is not None and screen.shown is not None


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_target(snap_compare: Snap, size: tuple[int, int]) -> None:
    flow, _ = prepared_flow()
    settle = over_dashboard(lambda: TargetScreen(flow), target_ready)
    assert snap_compare(wizard_app(), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_confirm(snap_compare: Snap, size: tuple[int, int]) -> None:
    """Over the Target screen, as Enter there opens it; the name typed."""
    flow, _ = prepared_flow()
    to_target = over_dashboard(lambda: TargetScreen(flow), target_ready)

    async def settle(pilot: Pilot[Any]) -> None:
        await to_target(pilot)
        pilot.app.push_screen(ConfirmScreen(PLAN))
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "confirm")
        pilot.app.screen.query_one("#confirm-name").focus()
        await pilot.press("w", "e", "b")
        await pilot.pause()

    assert snap_compare(wizard_app(), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_execute_failed(snap_compare: Snap, size: tuple[int, int]) -> None:
    """The restart fails with systemd's long message: every output line whole, wrapped."""
    flow, _ = prepared_flow(fail_restart=True)
    settle = over_dashboard(lambda: ExecuteScreen(flow, PLAN), lambda s: s.phase == "failed")
    assert snap_compare(wizard_app(), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_verify_passed(snap_compare: Snap, size: tuple[int, int]) -> None:
    flow, _ = prepared_flow()
    flow.execute(PLAN)
    settle = over_dashboard(lambda: VerifyScreen(flow), lambda s: s.verification is not None)
    assert snap_compare(wizard_app(), terminal_size=size, run_before=settle)


def record_previewed(screen: RecordScreen) -> bool:
    return "| Outcome |" in screen.entry


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_record(snap_compare: Snap, size: tuple[int, int]) -> None:
    flow = finished_flow()
    settle = over_dashboard(lambda: RecordScreen(flow), record_previewed)
    assert snap_compare(wizard_app(), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_record_saved(snap_compare: Snap, size: tuple[int, int]) -> None:
    """After saving: where the entry and the postmortem draft went, one line each."""
    flow = finished_flow()
    preview = over_dashboard(lambda: RecordScreen(flow), record_previewed)

    async def settle(pilot: Pilot[Any]) -> None:
        await preview(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, RecordScreen)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: screen.saved is not None, "the saved entry")

    assert snap_compare(wizard_app(), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_actions(snap_compare: Snap, size: tuple[int, int]) -> None:
    flow, _ = assessed_flow()
    settle = over_dashboard(lambda: ActionsScreen(flow, ACTIONS), lambda s: True)
    assert snap_compare(wizard_app(), terminal_size=size, run_before=settle)


# =========================================================================== beside it, at 60x20


def test_dashboard_60x20(snap_compare: Snap) -> None:
    async def loaded(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        await pilot.app.screen.refresh_all()
        await pilot.pause()

    assert snap_compare(fixed_app(), terminal_size=(60, 20), run_before=loaded)


def test_help_60x20(snap_compare: Snap) -> None:
    async def open_help(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        await pilot.app.screen.refresh_all()
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(fixed_app(), terminal_size=(60, 20), run_before=open_help)


def test_history_60x20(snap_compare: Snap, tmp_path: Path) -> None:
    from tests.screens.test_history_screen import HistoryApp, loaded, make_history

    make_history(tmp_path)

    async def settle(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: loaded(pilot.app), "the entries")
        assert isinstance(pilot.app.screen, HistoryScreen)
        # Column widths follow the rows a frame or two later (as in test_history_screen).
        await wait_until(
            pilot,
            lambda: "2026-01-14&#160;03:02" in pilot.app.export_screenshot(),
            "the columns at their full width",
        )

    assert snap_compare(
        HistoryApp(Path("docs/rollback-history.md")), terminal_size=(60, 20), run_before=settle
    )
