"""The Target screen's plan preview says what changes and who will undo it (issue 14),
above the steps, in the scrollable plan box, at 80x24; back on the dashboard after the
entry is saved, the console says who will undo the rollback.

On the demo sandbox: the real host provider compares the release folders.
"""

from __future__ import annotations

import dataclasses
import html
import re
from pathlib import Path

from textual.containers import VerticalScroll

from console.demo import DemoSandbox
from console.model import Plan
from screens.plan_view import PlanView, plan_preview
from screens.record import RecordScreen
from screens.target import TargetScreen
from tests.screens.test_flow import PLAN, ScreenApp, finished_flow, wait_until
from tests.test_changes import ARGO, demo_flow


def preview_lines(plan: Plan) -> list[str]:
    """The plan preview's rows as text, one a line (prefix and body joined)."""
    return [(prefix + body).plain for prefix, body in plan_preview(plan)]


def screen_text(svg: str) -> str:
    """The characters of an exported screenshot, one screen line a line."""
    rows = re.findall(r"<text [^>]*>(.*?)</text>", svg)
    return html.unescape("".join(rows)).replace("\xa0", " ")


async def test_the_target_screen_shows_what_changes_above_the_steps_at_80x24(
    demo_sandbox: DemoSandbox,
) -> None:
    flow = demo_flow(demo_sandbox)
    app = ScreenApp(TargetScreen(flow))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: getattr(screen, "plan", None) is not None, "the plan")
        await pilot.pause()
        shown = screen.query_one("#plan", PlanView).plain
        assert shown.index("What changes") < shown.index("- files: 3 changed (1 the same)")
        assert shown.index("- config release.json (changed)") < shown.index("1. Point current")
        assert "Who will undo it: nothing detected" in shown
        assert isinstance(screen.query_one("#plan-box"), VerticalScroll)
        # Seen on the 80x24 screen without scrolling: both lists and the first step.
        text = screen_text(app.export_screenshot())
        for line in (
            "What changes",
            "- config release.json (changed)",
            "Who will undo it: nothing detected",
            "1. Point current at releases/v1.2.9",
        ):
            assert line in text, text


def test_the_plan_preview_shows_both_lists_above_the_steps(sandbox: DemoSandbox) -> None:
    plan = demo_flow(sandbox).plan(None, dry_run=True)
    shown = preview_lines(dataclasses.replace(plan, undone_by=(ARGO,)))
    assert shown[:7] == [
        "Roll back web (demo) from v1.3.0 to v1.2.9",
        "What changes",
        "- files: 3 changed (1 the same)",
        "- config release.json (changed)",
        "Who will undo it",
        f"- {ARGO}",
        "Steps",
    ]
    assert shown[7] == "1. Point current at releases/v1.2.9"
    nothing = preview_lines(dataclasses.replace(plan, changes=()))
    assert "What changes: nothing found between the two revisions" in nothing
    assert "Who will undo it: nothing detected" in nothing
    restart = demo_flow(sandbox).plan_action("restart", None, dry_run=True)
    assert not any("What changes" in line for line in preview_lines(restart))


async def test_back_on_the_dashboard_the_console_says_who_will_undo_the_rollback(
    tmp_path: Path,
) -> None:
    flow = finished_flow(tmp_path)
    flow.incident.plan = dataclasses.replace(PLAN, undone_by=(ARGO,))
    app = ScreenApp(RecordScreen(flow))
    async with app.run_test(size=(80, 24)) as pilot:
        record = app.screen
        assert isinstance(record, RecordScreen)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: record.saved is not None, "the saved entry")
        assert not app._notifications
        await pilot.press("q")
        await wait_until(pilot, lambda: not isinstance(app.screen, RecordScreen), "dashboard")
        (note,) = list(app._notifications)
        assert note.title == "Who will undo it" and note.message == ARGO
        assert note.severity == "warning"
    entry = flow.config.console.history_file.read_text()
    assert f"### Who will undo it\n\n- {ARGO}\n" in entry
