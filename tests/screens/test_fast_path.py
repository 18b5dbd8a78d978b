"""What got in the way of the fast path (issue 13), each on the real demo at 80x24.

A burst on the checklist judges the list after its ticks; Escape on Assess
asks once something was typed; ``?`` opens help even in the reason field and
help lists the keys of the screen it came from; the footer offers only keys
that act; the timeline says the reason once, however often the operator goes
back and forth.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Static

from console.app import RollbackConsoleApp
from console.model import ItemState
from screens.assess import AssessScreen
from screens.checklist import ChecklistScreen
from screens.dashboard import DashboardScreen
from screens.flow_common import AskYesNo
from screens.help import HelpScreen
from screens.target import TargetScreen
from tests.screens.test_flow import error_line, type_text, wait_until

SIZE = (80, 24)


async def _to_assess(pilot: Pilot[Any]) -> AssessScreen:
    app = pilot.app
    await pilot.press("r")
    await wait_until(pilot, lambda: isinstance(app.screen, AssessScreen), "assess")
    screen = app.screen
    assert isinstance(screen, AssessScreen)
    await wait_until(pilot, lambda: screen.assessment is not None, "the assessment")
    return screen


async def _to_checklist(pilot: Pilot[Any]) -> ChecklistScreen:
    await _to_assess(pilot)
    await pilot.press("enter")
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen), "checklist")
    screen = app.screen
    assert isinstance(screen, ChecklistScreen)
    await wait_until(pilot, lambda: not screen.busy, "the established items")
    return screen


def _burst(pilot: Pilot[Any], *keys: str) -> None:
    for key in keys:
        pilot.app.post_message(events.Key(key, {"space": " ", "enter": "\r"}.get(key)))


def _footer_actions(screen: Any) -> set[str]:
    """The actions the footer offers on ``screen`` (shown and enabled)."""
    return {
        active.binding.action
        for active in screen.active_bindings.values()
        if active.binding.show and active.enabled
    }


async def test_a_burst_on_the_checklist_judges_the_list_after_its_ticks(
    demo_app: RollbackConsoleApp,
) -> None:
    async with demo_app.run_test(size=SIZE) as pilot:
        checklist = await _to_checklist(pilot)
        incident = checklist.flow.incident
        # Both required items open again, slowly: the decision (row 0), migrations (row 3).
        await pilot.press("home", "space")
        await wait_until(pilot, lambda: incident.state_of("decide") is ItemState.PENDING, "0")
        await pilot.press("down", "down", "down", "space")
        await wait_until(pilot, lambda: incident.missing_required("prepare") != [], "3")
        assert len(incident.missing_required("prepare")) == 2
        await pilot.press("home")
        # One read of a laggy link: tick, three rows down (the cursor stops on the auto
        # row too, as the operator counts them), tick, continue.
        _burst(pilot, "space", "down", "down", "down", "space", "enter")
        await wait_until(pilot, lambda: isinstance(demo_app.screen, TargetScreen), "target")
        assert incident.missing_required("prepare") == []


async def test_escape_on_assess_asks_once_a_reason_was_typed(
    demo_app: RollbackConsoleApp,
) -> None:
    async with demo_app.run_test(size=SIZE) as pilot:
        assess = await _to_assess(pilot)
        # The suggestion alone is nothing done: Escape leaves at once.
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(demo_app.screen, DashboardScreen), "left")
        assess = await _to_assess(pilot)
        await pilot.press("ctrl+u")
        await type_text(pilot, "payments failing")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(demo_app.screen, AskYesNo), "the question")
        await pilot.press("enter")  # the safe answer has the focus: stay
        await wait_until(pilot, lambda: demo_app.screen is assess, "back on assess")
        assert assess.query_one("#reason", Input).value == "payments failing"


async def test_question_mark_opens_help_with_this_screens_keys(
    demo_app: RollbackConsoleApp,
) -> None:
    async with demo_app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(demo_app.screen, HelpScreen), "help")
        keys = str(demo_app.screen.query_one("#help-keys", Static).render())
        for wanted in ("Platform facts and recent events", "Show the next configured service"):
            assert wanted in keys
        assert "on a unit: its last 50 log lines" in keys
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(demo_app.screen, DashboardScreen), "closed")

        assess = await _to_assess(pilot)
        before = assess.query_one("#reason", Input).value
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(demo_app.screen, HelpScreen), "help")
        keys = str(demo_app.screen.query_one("#help-keys", Static).render())
        assert "Read health and error rate again" in keys  # ctrl+r, Assess's own key
        assert "Quit (from the dashboard)" not in keys
        await pilot.press("escape")
        await wait_until(pilot, lambda: demo_app.screen is assess, "back on assess")
        assert assess.query_one("#reason", Input).value == before, "'?' typed nothing"


async def test_footer_offers_only_keys_that_act(demo_app: RollbackConsoleApp) -> None:
    async with demo_app.run_test(size=SIZE) as pilot:
        assert "request_quit" in _footer_actions(demo_app.screen)
        await _to_checklist(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(demo_app.screen, TargetScreen), "target")
        target = demo_app.screen
        await wait_until(pilot, lambda: not target.busy, "the plan")
        offered = _footer_actions(target)
        assert "request_quit" not in offered, "q does nothing inside the wizard"
        assert "confirm" in offered


async def test_the_timeline_says_the_reason_once(demo_app: RollbackConsoleApp) -> None:
    async with demo_app.run_test(size=SIZE) as pilot:
        checklist = await _to_checklist(pilot)
        await pilot.press("escape")  # back to assess, then on again with the same reason
        await wait_until(pilot, lambda: isinstance(demo_app.screen, AssessScreen), "assess")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(demo_app.screen, ChecklistScreen), "again")
        reasons = [e.message for e in checklist.flow.incident.timeline if e.kind == "reason"]
        assert len(reasons) == 1
        assert not reasons[0].startswith("reason:")
        assert error_line(demo_app.screen) == ""
