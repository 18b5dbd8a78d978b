"""The database side in the TUI: the dashboard panel, the restore dialog, the schema choice.

Driven with Textual's pilot on the demo sandbox with a real PostgreSQL
behind it (see ``tests.pg_fixture.add_database``), plus one snapshot of the
panel rendering fixed data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from console.config import load_config
from console.demo import DemoSandbox
from console.model import (
    BackupInfo,
    CheckResult,
    DatabaseStatus,
    DataLoss,
    ItemState,
    MigrationRevision,
    StepKind,
)
from console.widgets.database import DatabasePanel
from tests.fakes.demo import running
from tests.pg_fixture import PgServer, add_database, database_at_head, shared_server

ENV = "PANEL_DATABASE_URL"
NOW = datetime(2026, 1, 27, 10, 0, tzinfo=UTC)
MAX_PAUSES = 600


@pytest.fixture(scope="session")
def pg() -> PgServer:
    return shared_server()


@pytest.fixture
def sandbox(tmp_path: Path, pg: PgServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoSandbox]:
    monkeypatch.setenv(ENV, pg.dsn(database_at_head(pg)))
    with running(
        tmp_path / "sandbox",
        lambda box: add_database(box.config_path, box.root / "releases", pg, ENV),
    ) as box:
        yield box


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    for _ in range(MAX_PAUSES):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"gave up waiting for {what}; screen is {pilot.app.screen!r}")


def text_of(panel: DatabasePanel, name: str) -> str:
    return str(panel.query_one(f"#db-{name}").render())


# --------------------------------------------------------------------------- fixed data


def fixed_status() -> DatabaseStatus:
    history = (
        MigrationRevision("0004", "create audit_log, index users.email", ("0003",), True),
        MigrationRevision("0003", "add users.nickname, drop users.legacy_code", ("0002",)),
        MigrationRevision("0002", "create users", ("0001",)),
        MigrationRevision("0001", "create projects"),
    )
    return DatabaseStatus(
        connected=True,
        checked_at=NOW,
        target="mks_db on db.internal:5432 as mks_user",
        server_version="16.2",
        current=("0004",),
        heads=("0004",),
        history=history,
        checks=(CheckResult("users", "3", True, at=NOW), CheckResult("projects", "2", True)),
        last_backup=BackupInfo(
            "/backups/web-mks_db-20260127T095500Z.dump",
            7_520,
            True,
            taken_at=NOW - timedelta(minutes=5),
        ),
        release="v1.2.9",
        release_heads=("0002",),
        crossing=history[:2],
        losses=(
            DataLoss("0004", "audit_log", "", "drop_table"),
            DataLoss("0003", "users", "nickname"),
        ),
    )


class PanelApp(App[None]):
    def __init__(self, panel: DatabasePanel) -> None:
        super().__init__()
        self.panel = panel

    def compose(self) -> ComposeResult:
        yield self.panel


def fixed_panel() -> DatabasePanel:
    return DatabasePanel(lambda _target: fixed_status(), clock=lambda: NOW, autostart=False)


async def test_panel_names_what_the_rollback_would_cross_and_drop() -> None:
    panel = fixed_panel()
    async with PanelApp(panel).run_test(size=(110, 14)) as pilot:
        panel.show_status(fixed_status())
        await pilot.pause()
        assert panel.border_title == "Database (ok)"
        assert "PostgreSQL 16.2 · mks_db on db.internal:5432 as mks_user" in text_of(panel, "conn")
        assert "schema 0004 (head) · alembic" in text_of(panel, "schema")
        assert (
            "v1.2.9 needs 0002 · drops audit_log, users.nickname · crosses 0004, 0003"
            in text_of(panel, "crossing")
        )
        assert "checks users 3 · projects 2" in text_of(panel, "checks")
        assert "web-mks_db-20260127T095500Z.dump · 7.5 kB · 5m ago" in text_of(panel, "backup")
        # A later read with other answers shows what they were ("before / after").
        later = fixed_status()
        changed = (CheckResult("users", "1", True), CheckResult("projects", "ERR", False, "boom"))
        import dataclasses

        panel.show_status(dataclasses.replace(later, checks=changed))
        await pilot.pause()
        assert "users 1 (was 3) · projects ERROR" in text_of(panel, "checks")
        down = dataclasses.replace(
            later, connected=False, error="cannot connect to mks_db: refused"
        )
        panel.show_status(down)
        await pilot.pause()
        assert panel.border_title == "Database (down)"
        assert panel.error == "cannot connect to mks_db: refused"


def test_panel_snapshot(snap_compare: Callable[..., bool]) -> None:
    async def show(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, PanelApp)
        app.panel.show_status(fixed_status())
        await pilot.pause()

    assert snap_compare(PanelApp(fixed_panel()), terminal_size=(100, 14), run_before=show)


# --------------------------------------------------------------------------- the real thing


async def test_dashboard_panel_backs_up_and_the_restore_dialog_restores(
    sandbox: DemoSandbox, pg: PgServer
) -> None:
    from console.app import make_app
    from screens.db_restore import DatabaseRestoreScreen

    config = load_config(sandbox.config_path)
    app = make_app(config)
    async with app.run_test(size=(140, 44)) as pilot:
        panel = app.screen.query_one(DatabasePanel)
        await wait_until(pilot, lambda: panel.status is not None, "the first database read")
        assert panel.status is not None and panel.status.connected, panel.status
        await wait_until(
            pilot, lambda: "crosses 0004, 0003" in text_of(panel, "crossing"), "the crossing line"
        )
        assert "v1.2.9 needs 0002 · drops audit_log, users.nickname" in text_of(panel, "crossing")

        panel.query_one("#db-lines").focus()
        await pilot.press("b")
        backups = sandbox.root / "state" / "backups"
        await wait_until(pilot, lambda: bool(list(backups.glob("web-*.dump"))), "the backup")
        await wait_until(pilot, lambda: not panel.backing_up, "the backup to finish")

        await pilot.press("o")
        await wait_until(
            pilot, lambda: isinstance(app.screen, DatabaseRestoreScreen), "the restore dialog"
        )
        dialog = app.screen
        assert isinstance(dialog, DatabaseRestoreScreen)
        files = dialog.query_one("#restore-files", OptionList)
        await wait_until(pilot, lambda: files.option_count == 1, "the backup list")
        files.highlighted = 0
        await wait_until(pilot, lambda: dialog.chosen is not None, "the verification")
        button = dialog.query_one("#restore-go")
        assert button.disabled
        # Typed values set directly: key presses wait for an idle app, and the
        # dashboard behind the dialog is never idle for long.
        dialog.query_one("#restore-reason", Input).value = "drill"
        name = dialog.query_one("#restore-name", Input)
        name.focus()
        name.value = "we"
        await pilot.pause()
        assert button.disabled, "a wrong name must not enable the restore"
        name.value = "web"
        await pilot.pause()
        assert not button.disabled
        await pilot.press("enter")
        await wait_until(pilot, lambda: dialog.phase == "done", "the restore")
        assert dialog.result is not None
        assert dialog.result.outcome.value == "restored", dialog.result  # not "rolled back"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DatabaseRestoreScreen)
    history = config.console.history_file.read_text()
    assert "| Action | db-restore" in history
    assert "drill" in history
    assert pg.password not in history


async def test_schema_choice_on_the_target_step_replans_with_the_data_loss_named(
    sandbox: DemoSandbox,
) -> None:
    from console.flow import RollbackFlow
    from console.signals import make_error_rate_source
    from providers import load_provider
    from screens.checklist import ChecklistScreen
    from screens.schema_target import SchemaTargetScreen
    from screens.target import TargetScreen

    config = load_config(sandbox.config_path)
    svc = config.services[0]
    flow = RollbackFlow(config, svc, load_provider(svc), make_error_rate_source(svc), reason="t")

    class FlowApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(ChecklistScreen(flow))

    app = FlowApp()
    async with app.run_test(size=(120, 44)) as pilot:
        checklist = app.screen
        assert isinstance(checklist, ChecklistScreen)
        ids = [item.id for item in checklist.items]
        assert "db-backup" in ids
        options = checklist.query_one("#checklist", OptionList)
        options.highlighted = ids.index("db-backup")
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("enter")  # an empty reason is refused
        await pilot.pause()
        assert flow.incident.state_of("db-backup") is ItemState.PENDING
        app.screen.query_one(Input).value = "restore drill"
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: flow.incident.state_of("db-backup") is ItemState.SKIPPED,
            "the skip",
        )
        assert flow.incident.marks["db-backup"].note == "restore drill"
        await pilot.press("space")  # un-skip: the backup step is planned again
        await wait_until(
            pilot, lambda: flow.incident.state_of("db-backup") is ItemState.PENDING, "un-skip"
        )

        app.push_screen(TargetScreen(flow))
        await wait_until(pilot, lambda: isinstance(app.screen, TargetScreen), "the target step")
        target = app.screen
        assert isinstance(target, TargetScreen)
        await wait_until(pilot, lambda: target.plan is not None, "the first plan")
        assert target.plan is not None
        kinds = [s.kind for s in target.plan.steps]
        assert kinds[0] is StepKind.BACKUP and StepKind.MIGRATION not in kinds
        assert any("SCHEMA MISMATCH" in w for w in target.plan.warnings)

        await pilot.press("m")
        await wait_until(pilot, lambda: isinstance(app.screen, SchemaTargetScreen), "the choice")
        choice = app.screen
        assert isinstance(choice, SchemaTargetScreen)
        await wait_until(pilot, lambda: "revision:0:0002" in choice.targets, "the options")
        choices = choice.query_one("#schema-options", OptionList)
        choices.highlighted = list(choice.targets).index("revision:0:0002")
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: target.plan is not None and target.planning is None,
            "the plan with the schema step",
        )
        plan = target.plan
        assert plan is not None
        assert [s.kind for s in plan.steps][:3] == [
            StepKind.BACKUP,
            StepKind.COMMAND,
            StepKind.MIGRATION,
        ]
        loss = next(w for w in plan.warnings if w.startswith("DATA LOSS"))
        assert "users.nickname (column, 0003)" in loss
        preview = str(target.query_one("#plan").render())
        assert "DATA LOSS" in preview and "alembic -c" in preview
