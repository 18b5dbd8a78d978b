"""The Record screen of an action says what the action did, as the entry it previews does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from console.model import Outcome
from screens.record import RecordScreen
from tests.screens.test_flow import PLAN, ScreenApp, fixed_flow, wait_until

RESTART = dataclasses.replace(PLAN, action="restart", to_revision=PLAN.from_revision)


async def test_the_record_screen_of_a_restart_says_restart_not_rolled_back(tmp_path: Path) -> None:
    flow, _ = fixed_flow(tmp_path)
    flow.incident.plan = RESTART
    flow.execute(RESTART)  # ready, but never verified
    assert flow.outcome() is Outcome.NOT_VERIFIED
    app = ScreenApp(RecordScreen(flow))
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RecordScreen), "record")
        record = app.screen
        assert isinstance(record, RecordScreen)
        await wait_until(pilot, lambda: "| Outcome |" in record.entry, "the preview")
        shown = str(record.query_one("#record-outcome").render())
        assert shown == "Outcome: restart, not verified"
        assert "| Outcome | restart, not verified |" in record.entry
