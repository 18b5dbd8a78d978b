"""The 02:00 case from the dashboard, on a real single-node Swarm (issue 17's done-when).

A service paused on a broken v3: the dashboard's status line says so loudly
("update paused: ..." and what ``r`` does about it), the facts (``e``) start
with it, and ``r`` → Enter (the suggested reason) → Enter (checklist) → Enter
(the default target: the paused update rolled back to PreviousSpec, v2) → the
service name → Enter ends rolled back to v2, verified over HTTP on every
replica's host port, with the entry saved.  The app is the real one, driven by
Textual's pilot at 80x24.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Static

from console.config import load_config
from console.widgets.status_bar import ServiceStatusBar
from screens.assess import AssessScreen
from screens.checklist import ChecklistScreen
from screens.confirm import ConfirmScreen
from screens.dashboard import DashboardScreen
from screens.events import EventsScreen
from screens.record import RecordScreen
from screens.target import TargetScreen
from screens.verify import VerifyScreen
from tests.screens.test_flow import type_text, wait_until
from tests.swarm.conftest import Front, Swarm, write_config


def _status_line(pilot: Pilot[Any]) -> Static:
    return pilot.app.screen.query_one(ServiceStatusBar).query_one("#status-decision", Static)


def _field(entry: str, name: str) -> str:
    match = re.search(rf"^\| {re.escape(name)} \| (.*) \|$", entry, re.MULTILINE)
    assert match, f"field {name!r} missing from entry:\n{entry}"
    return match.group(1)


async def test_paused_update_rolled_back_from_the_dashboard(
    swarm: Swarm, service: str, tmp_path: Path
) -> None:
    from console.app import make_app

    swarm.paused_on_v3(service)
    front = Front(swarm, service)
    try:
        config = load_config(write_config(tmp_path, swarm, service, front.url, verify_window_s=4))
        app = make_app(config)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, DashboardScreen)
            # Loud: the status line is the paused update, on the alert colour, and says
            # what r does about it.
            line = _status_line(pilot)
            await wait_until(pilot, lambda: line.has_class("-alert"), "the paused-update alert")
            shown = str(line.render())
            assert shown.startswith("update paused: "), shown
            assert "r: roll back the paused update to local/web:v2" in shown, shown
            snapshot = app.runtime.snapshot
            assert snapshot is not None and snapshot.paused
            assert snapshot.alert.startswith("update paused: ")
            # The facts start with it too: the Swarm message and the failing task's error.
            assert snapshot.facts[0][0] == "update paused"
            assert "local/web:v3" in snapshot.facts[0][1], snapshot.facts[0]
            assert "exit" in snapshot.facts[0][1], snapshot.facts[0]
            await pilot.press("e")
            await wait_until(pilot, lambda: isinstance(app.screen, EventsScreen), "the facts")
            await pilot.press("escape")
            await wait_until(
                pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again"
            )

            # r: the reason is offered (the alert, when the signals call for nothing).
            await pilot.press("r")
            await wait_until(pilot, lambda: isinstance(app.screen, AssessScreen), "assess")
            assess = app.screen
            assert isinstance(assess, AssessScreen)
            await wait_until(pilot, lambda: assess.assessment is not None, "the assessment")
            reason = assess.query_one("#reason", Input)
            await wait_until(pilot, lambda: bool(reason.value), "the suggested reason")
            assert reason.value == assess.suggestion
            await pilot.press("enter")
            await wait_until(
                pilot, lambda: isinstance(app.screen, ChecklistScreen), "the checklist"
            )
            checklist = app.screen
            assert isinstance(checklist, ChecklistScreen)
            await wait_until(pilot, lambda: not checklist.busy, "the established items")
            await pilot.press("enter")

            # The default target: the paused update rolled back to PreviousSpec.
            await wait_until(pilot, lambda: isinstance(app.screen, TargetScreen), "the target")
            target = app.screen
            assert isinstance(target, TargetScreen)
            await wait_until(pilot, lambda: target.plan is not None, "the plan")
            plan = target.plan
            assert plan is not None
            assert plan.to_revision.id == "local/web:v2"
            assert plan.steps[0].op == "swarm.rollback"
            assert plan.steps[0].title.startswith("Roll back the paused update of ")
            assert f"service rollback {service}" in plan.steps[0].command
            await pilot.press("enter")
            await wait_until(
                pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation"
            )
            await type_text(pilot, service)
            await pilot.press("enter")

            await wait_until(pilot, lambda: isinstance(app.screen, VerifyScreen), "verification")
            verify = app.screen
            assert isinstance(verify, VerifyScreen)
            await wait_until(pilot, lambda: verify.verification is not None, "the verdict")
            assert verify.verification is not None
            assert verify.verification.passed, verify.verification.message
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, RecordScreen), "the record")
            record = app.screen
            assert isinstance(record, RecordScreen)
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: record.saved is not None, "the saved entry")
    finally:
        front.stop()

    # The world, not the screens: v2 live, every replica answers v2 over HTTP.
    svc = swarm.inspect(service)
    assert svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "local/web:v2"
    assert svc["UpdateStatus"]["State"] == "rollback_completed"
    assert swarm.versions(service) == ["v2", "v2"]
    entry = config.console.history_file.read_text()
    assert _field(entry, "Outcome") == "rolled back and verified"
    assert "v3" in _field(entry, "From") and "v2" in _field(entry, "To")
    assert "rollback-console-lock" not in swarm.docker("config", "ls")
