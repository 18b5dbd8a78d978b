"""The dashboard on an ECS service with an RDS instance: the real provider on moto's server.

Runbook 003 asks how recent the database's last snapshot is before anything
else; the dashboard answers it in a panel of its own, read by the ECS
provider (DescribeDBSnapshots through boto3, on moto) in the snapshot worker.
The error-rate source and the health checks are the fixed ones of the other
dashboard tests: this test is about the platform panels.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from console.app import make_app
from console.config import Config, ConsoleConfig
from console.runtime import Backends
from console.widgets.restore_points import RestorePointsPanel
from console.widgets.units import UnitsPanel
from tests.aws.moto_server import World, aws_world
from tests.providers.test_ecs import DB_INSTANCE, config, provider
from tests.screens.fixed_dashboard import FixedHealth, FixedSource, FrozenClock
from tests.screens.test_dashboard import table_rows, text_of, wait_until


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    yield from aws_world(monkeypatch, tmp_path)


def app_on(world: World, tmp_path: Path, **ecs: Any) -> Any:
    svc = config(world, **ecs)
    cfg = Config(
        tmp_path / "config.toml",
        ConsoleConfig("alice", tmp_path / "history.md", tmp_path / "state"),
        (svc,),
    )
    backends = Backends(make_source=lambda service: FixedSource(), check_health=FixedHealth())
    return make_app(cfg, backends=backends, clock=FrozenClock())


async def test_rds_snapshots_are_listed_newest_first_beside_the_tasks(
    aws: World, tmp_path: Path
) -> None:
    expected = provider(aws).rds_snapshots()
    app = app_on(aws, tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        panel = app.screen.query_one(RestorePointsPanel)
        table = panel.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == len(expected), "the RDS snapshots")
        rows = table_rows(table)
        assert [row[0] for row in rows] == [s.id for s in expected]
        assert all(row[3] == "available" for row in rows)
        assert f"RDS {DB_INSTANCE} ({len(expected)})" in str(panel.border_title)
        assert "restore one" in text_of(panel)
        assert app.screen.query_one(UnitsPanel).snapshot is not None


async def test_an_unreadable_rds_instance_says_why_and_the_rest_still_shows(
    aws: World, tmp_path: Path
) -> None:
    app = app_on(aws, tmp_path, rds_instance="nope")
    async with app.run_test(size=(100, 40)) as pilot:
        units = app.screen.query_one(UnitsPanel)
        await wait_until(pilot, lambda: units.snapshot is not None, "the ECS snapshot")
        panel = app.screen.query_one(RestorePointsPanel)
        note = text_of(panel)
        assert "not read" in note and "RDS instance 'nope'" in note
        assert panel.query_one(DataTable).row_count == 0
        assert units.snapshot is not None and units.snapshot.units


async def test_no_rds_instance_no_panel(aws: World, tmp_path: Path) -> None:
    app = app_on(aws, tmp_path, rds_instance="")
    async with app.run_test(size=(80, 24)) as pilot:
        units = app.screen.query_one(UnitsPanel)
        await wait_until(pilot, lambda: units.snapshot is not None, "the ECS snapshot")
        assert not app.screen.query(RestorePointsPanel)
