"""Events (e) and logs (Enter on a unit) over the dashboard, from the provider's own data."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from textual.widgets import DataTable, Log

from console.model import PlatformEvent, Snapshot
from screens.events import EventsScreen
from screens.logs import LogsScreen
from tests.screens.fixed_dashboard import FixedProvider, FixedWorld


class DescribedProvider(FixedProvider):
    """The fixed provider plus facts, events and logs, as the Kubernetes provider gives them."""

    def snapshot(self) -> Snapshot:
        snap = super().snapshot()
        now = self.clock()
        return dataclasses.replace(
            snap,
            facts=(("generation", "7 (observed 7)"), ("Progressing", "True")),
            events=(
                PlatformEvent(
                    now - timedelta(seconds=30),
                    "Warning",
                    "BackOff",
                    "pod/web-1",
                    "Back-off restarting failed container",
                    count=4,
                ),
                PlatformEvent(
                    now - timedelta(minutes=5),
                    "Normal",
                    "ScalingReplicaSet",
                    "deployment/web",
                    "Scaled up replica set web-7d to 3",
                ),
            ),
        )

    def logs(self, unit: str, lines: int = 50) -> tuple[str, ...]:
        self.logs_asked = (unit, lines)
        return tuple(f"{unit} line {i}" for i in range(lines))


async def test_events_and_logs_open_from_the_dashboard() -> None:
    world = FixedWorld()
    world.provider = DescribedProvider(world.clock)
    app = world.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await app.refresh_all()
        await pilot.press("e")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, EventsScreen)
        table = screen.query_one("#events-table", DataTable)
        assert table.row_count == 2
        assert "Back-off restarting failed container (x4)" in str(table.get_row_at(0)[4])
        assert "generation: 7 (observed 7)" in screen.fact_lines()
        await pilot.press("escape")
        await pilot.pause()
        units = app.screen.query_one("#units-table", DataTable)
        units.focus()
        await pilot.press("enter")
        for _ in range(100):
            if isinstance(app.screen, LogsScreen):
                break
            await pilot.pause(0.05)
        logs = app.screen
        assert isinstance(logs, LogsScreen)
        first_unit = str(units.coordinate_to_cell_key(units.cursor_coordinate).row_key.value)
        assert world.provider.logs_asked == (first_unit, 50)
        assert logs.query_one(Log).line_count == 50
