"""The Target screen showing the revisions ticks "Deploy history reviewed"; executing does not.

Fixed data (``tests.screens.test_flow``'s provider and clock): the flow is
assessed and planned without the Target screen, so nothing has shown the
operator the revision list yet.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from console.history import render_entry
from console.model import ItemState
from screens.target import TargetScreen
from tests.screens.test_flow import PLAN, ScreenApp, fixed_flow, wait_until


async def test_the_target_screen_ticks_deploy_history_once_the_list_is_shown(
    tmp_path: Path,
) -> None:
    flow, _ = fixed_flow(tmp_path)
    assert flow.incident.state_of("history") is ItemState.PENDING
    app = ScreenApp(TargetScreen(flow))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(
            pilot, lambda: flow.incident.state_of("history") is ItemState.DONE, "the tick"
        )
        assert app.screen.query_one("#revisions", DataTable).row_count == 3
    note = flow.incident.marks["history"].note
    assert note == "revisions shown: v1.3.0 (live), v1.2.9, v1.2.8"


def test_executing_without_showing_the_history_leaves_it_unticked(tmp_path: Path) -> None:
    flow, _ = fixed_flow(tmp_path)
    flow.execute(PLAN)
    assert flow.incident.state_of("run") is ItemState.DONE
    assert flow.incident.state_of("history") is ItemState.PENDING
    assert "- [ ] Deploy history reviewed\n" in render_entry(flow.build_record())
