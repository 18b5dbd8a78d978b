"""The point-in-time screens on fixed data: the time screen, its confirmation, the switch.

The flow is ``fixed_flow``'s (frozen clock: now is T0 + 40 s; the live release
v1.3.0 went live at T0 - 52 min), the action says what is restorable.  The
time screen proposes T0 - 57 min (deploy minus the 300 s margin), refuses what
cannot be restored inline, steps by the arrows; the confirmation wants the
service name and the time's clock; the switch dialog shows the checks side by
side.  Snapshots at 80x24 and 60x20.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from console.config import Config
from console.model import Action, CheckPair, Plan, Step, StepKind
from console.runner import Compared
from screens.confirm import ConfirmScreen, pinned_warnings
from screens.execute import ExecuteScreen
from screens.help import HelpScreen
from screens.pitr_switch import SwitchConfirmScreen
from screens.pitr_time import PitrTimeScreen
from screens.record import RecordScreen
from tests.screens.fixed_flow import PLAN, T0, FixedFlow, assessed_flow
from tests.screens.test_flow import ScreenApp, Snap, wait_until

ACTION = Action(
    "pitr",
    "Restore the database to a point in time",
    "Restore into a NEW server on port 5433 (the live one is kept)",
    argument="time",
    dangerous=True,
    earliest=T0 - timedelta(days=1),
    latest=T0 + timedelta(seconds=10),
)
SIZES = [(80, 24), (60, 20)]
SWITCH = Step(
    "Point PITR_DATABASE_URL in /srv/web/app.env at web-pitr-20260116T010300Z (port 5433)",
    "sed -i 's|^PITR_DATABASE_URL=.*|PITR_DATABASE_URL=<the DSN with port 5433>|' /srv/web/app.env",
    StepKind.SWITCH,
    op="pitr.switch",
    confirm_before=True,
)
CHECKS = (
    CheckPair("orders", "1204331", "1198720"),
    CheckPair("payments_last_hour", "312", "0"),
)


def time_flow(root: Path) -> FixedFlow:
    flow, _clock = assessed_flow(root)
    flow.refresh()
    return flow


def time_app(root: Path, chosen: list[str]) -> ScreenApp:
    return ScreenApp(PitrTimeScreen(time_flow(root), ACTION, chosen.append))


async def proposed(pilot: Pilot[Any]) -> None:
    await wait_until(
        pilot,
        lambda: pilot.app.screen.query_one("#pitr-time", Input).value != "",
        "the proposed time",
    )
    pilot.app.screen.query_one("#pitr-time", Input).cursor_blink = False
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_time_screen_snapshot(snap_compare: Snap, size: tuple[int, int], tmp_path: Path) -> None:
    assert snap_compare(time_app(tmp_path, []), terminal_size=size, run_before=proposed)


def test_time_screen_refusing_a_time_snapshot(snap_compare: Snap, tmp_path: Path) -> None:
    async def future(pilot: Pilot[Any]) -> None:
        await proposed(pilot)
        field = pilot.app.screen.query_one("#pitr-time", Input)
        field.value = "2026-01-16T03:00:00Z"
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(time_app(tmp_path, []), terminal_size=(80, 24), run_before=future)


async def test_the_time_is_proposed_refused_stepped_and_chosen_by_keys(tmp_path: Path) -> None:
    chosen: list[str] = []
    app = time_app(tmp_path, chosen)
    async with app.run_test(size=(80, 24)) as pilot:
        await proposed(pilot)
        screen = app.screen
        assert isinstance(screen, PitrTimeScreen)
        field = screen.query_one("#pitr-time", Input)
        loss = screen.query_one("#pitr-loss", Static)
        # Deploy time (T0 - 52 min) minus the 300 s margin; the loss counts from it.
        assert field.value == "2026-01-16T01:03:00Z"
        assert "writes between 01:03:00 UTC and now, about 57 min, will not be" in str(
            loss.render()
        )
        await pilot.press("up", "up", "pagedown")
        assert field.value == "2026-01-16T00:55:00Z"
        assert "about 1 h 5 min" in str(loss.render())
        # In the future: refused inline, Enter does nothing with it.
        field.value = "2026-01-16T02:30:00Z"
        await pilot.pause()
        assert "in the future" in str(loss.render()) and screen.moment is None
        await pilot.press("enter")
        assert chosen == [] and app.screen is screen
        field.value = "yesterday"
        await pilot.pause()
        assert "is not a time" in str(loss.render())
        await pilot.press("ctrl+r", "enter")
        await wait_until(pilot, lambda: chosen != [], "the time chosen")
        assert chosen == ["2026-01-16T01:03:00Z"]


async def test_help_lists_the_time_screens_keys(tmp_path: Path) -> None:
    flow = time_flow(tmp_path)
    screen = PitrTimeScreen(flow, ACTION, lambda _t: None)
    app = ScreenApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await proposed(pilot)
        config: Config = flow.config
        app.push_screen(HelpScreen(config, flow.service, origin=screen))
        await pilot.pause()
        keys = str(app.screen.query_one("#help-keys", Static).render())
    for words in ("One minute later", "Ten minutes earlier", "Back to the proposed time",
                  "restore to this time"):  # fmt: skip
        assert words in keys


INSTANCE = "web-pitr-20260116T010300Z"
PITR_PLAN = dataclasses.replace(
    PLAN,
    action="pitr",
    argument="2026-01-16T01:03:00Z",
    steps=(
        Step(
            f"Restore the base backup before 2026-01-16 01:03:00 UTC into {INSTANCE}",
            f"cp -a /backup/base/20260115T2300Z /var/lib/postgresql/restores/{INSTANCE}",
            op="pitr.restore",
        ),
        Step(
            f"Start {INSTANCE} on port 5433, replay the WAL to the time, promote",
            f"pg_ctl -D /var/lib/postgresql/restores/{INSTANCE} -o '-p 5433' start",
            op="pitr.start",
        ),
        Step("Checks on the live and the restored database", "2 checks", op="pitr.checks"),
        SWITCH,
        *PLAN.steps[1:2],
    ),
    # The host provider's warnings, as it words them (providers/host/pitr.py).
    warnings=(
        "DATA LOSS: writes between 2026-01-16 01:03:00 UTC and now (about 57 min) will "
        "not be in the restored database.",
        f"The live database is kept running as it is; the restored one is {INSTANCE} on "
        f"port 5433 (data directory /var/lib/postgresql/restores/{INSTANCE}). The console "
        "never deletes a database.",
        "To go back: point PITR_DATABASE_URL in /srv/web/app.env back at port 5432 and "
        "systemctl restart web (the old server was never stopped).",
    ),
)


async def test_the_confirmation_wants_the_name_and_the_times_clock() -> None:
    answers: list[bool | None] = []
    app = ScreenApp(ConfirmScreen(PITR_PLAN))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfirmScreen)
        screen.dismiss = answers.append  # type: ignore[method-assign,assignment]
        await pilot.press(*"web", "enter")
        assert answers == []  # the name alone is not enough for a point in time
        assert app.focused is screen.query_one("#confirm-time", Input)
        await pilot.press(*"01:03:01", "enter")
        assert answers == []
        screen.query_one("#confirm-time", Input).value = ""
        await pilot.press(*"01:03:00", "enter")
        assert answers == [True]


RDS_PLAN = dataclasses.replace(
    PITR_PLAN,
    warnings=(
        PITR_PLAN.warnings[0],
        "The live database production-orders-db is kept as it is; the restored one is the "
        "RDS instance production-orders-db-pitr-20260116t010300z beside production-orders-db. "
        "The console never deletes a database.",
        PITR_PLAN.warnings[2],
    ),
)


@pytest.mark.parametrize("plan", [PITR_PLAN, RDS_PLAN], ids=["host", "rds"])
async def test_the_confirmation_fits_80x24_with_the_loss_the_instance_and_both_fields(
    plan: Plan,
) -> None:
    app = ScreenApp(ConfirmScreen(plan))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        dialog = screen.query_one("#confirm-dialog")
        assert dialog.max_scroll_y == 0 and dialog.scroll_y == 0, "the dialog scrolls"
        visible = dialog.content_region
        pinned = [str(w.render()) for w in screen.query(".confirm-pinned")]
        assert pinned[0].startswith("DATA LOSS") and "-pitr-20260116" in pinned[1].lower()
        for widget in (
            *screen.query(".confirm-pinned"),
            screen.query_one("#confirm-summary"),
            screen.query_one("#confirm-name"),
            screen.query_one("#confirm-time"),
            screen.query_one("#confirm"),
        ):
            assert visible.contains_region(widget.region), f"{widget} is cut off"
        # The other warnings are still there, in the steps box.
        assert "To go back" in str(screen.query_one("#confirm-plan").render())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_pitr_confirmation_snapshot(snap_compare: Snap, size: tuple[int, int]) -> None:
    async def settle(pilot: Pilot[Any]) -> None:
        await pilot.pause()

    app = ScreenApp(ConfirmScreen(PITR_PLAN))
    assert snap_compare(app, terminal_size=size, run_before=settle)


async def test_the_confirmation_is_usable_at_60x20() -> None:
    answers: list[bool | None] = []
    app = ScreenApp(ConfirmScreen(PITR_PLAN))
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        screen = app.screen
        screen.dismiss = answers.append  # type: ignore[method-assign,assignment]
        await pilot.press(*"web", "enter", *"01:03:00")
        await pilot.pause()
        dialog = screen.query_one("#confirm-dialog")
        time_field = screen.query_one("#confirm-time", Input)
        assert app.focused is time_field
        assert dialog.content_region.contains_region(time_field.region)
        await pilot.press("enter")
        assert answers == [True]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_switch_confirmation_snapshot(snap_compare: Snap, size: tuple[int, int]) -> None:
    async def settle(pilot: Pilot[Any]) -> None:
        await pilot.pause()

    app = ScreenApp(SwitchConfirmScreen("web", SWITCH, CHECKS))
    assert snap_compare(app, terminal_size=size, run_before=settle)


async def test_the_switch_is_done_only_with_the_name_and_not_now_is_a_no() -> None:
    for keys, expected in (((*"web", "enter"), True), (("escape",), False)):
        answers: list[bool | None] = []
        app = ScreenApp(SwitchConfirmScreen("web", SWITCH, CHECKS))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            screen.dismiss = answers.append  # type: ignore[method-assign,assignment]
            await pilot.press(*"wbe", "enter")
            assert answers == []
            screen.query_one("#switch-name", Input).value = ""
            await pilot.press(*keys)
            assert answers == [expected]


# ----------------------------------------------------------------- execute: the switch apart


class RestorePart:
    """A restore engine as plain data: restore and checks change nothing the app reads; the
    switch is ``confirm_before``; ``ran`` says which steps ran."""

    ops = frozenset({"x.restore", "x.checks", "pitr.switch"})

    def __init__(self) -> None:
        self.ran: list[str] = []

    def run(self, step: Step, plan: Any) -> Any:
        self.ran.append(step.op)
        for pair in CHECKS if step.op == "x.checks" else ():
            yield Compared(pair.name, pair.live, pair.restored)
        return f"{step.op} done"

    def took_effect(self, step: Step, plan: Any) -> bool | None:
        return None


class RestoreFlow(FixedFlow):
    """The fixed flow whose plan is run by ``RestorePart``."""

    part = RestorePart()

    def _parts(self) -> tuple[Any, ...]:
        return (self.part,)


def restore_flow(root: Path) -> tuple[RestoreFlow, Plan]:
    flow, _clock = assessed_flow(root, cls=RestoreFlow)
    assert isinstance(flow, RestoreFlow)
    flow.part = RestorePart()
    plan = dataclasses.replace(
        PITR_PLAN,
        steps=(
            Step("Restore into web-pitr-20260116T010300Z", "restore", op="x.restore"),
            Step("Checks on the live and the restored database", "checks", op="x.checks"),
            SWITCH,
        ),
    )
    flow.incident.plan = plan
    return flow, plan


@pytest.mark.parametrize("switch", [False, True], ids=["not-now", "switched"])
async def test_execute_stops_before_the_switch_and_asks_with_the_checks_in_view(
    tmp_path: Path, switch: bool
) -> None:
    flow, plan = restore_flow(tmp_path)
    app = ScreenApp(ExecuteScreen(flow, plan))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(
            pilot, lambda: isinstance(app.screen, SwitchConfirmScreen), "the switch question"
        )
        dialog = app.screen
        assert flow.part.ran == ["x.restore", "x.checks"]  # nothing switched before the answer
        table = str(dialog.query_one("#switch-checks", Static).render())
        assert "orders" in table and "1204331" in table and "1198720" in table
        await pilot.press(*(("w", "e", "b", "enter") if switch else ("escape",)))
        execute = app.screen
        assert isinstance(execute, ExecuteScreen)
        await wait_until(pilot, lambda: execute.phase not in ("running",), "the end")
        if switch:
            assert flow.part.ran[-1] == "pitr.switch" and execute.phase == "ready"
            assert not flow.held
            return
        assert execute.phase == "held" and flow.part.ran == ["x.restore", "x.checks"]
        result = str(execute.query_one("#execute-result", Static).render())
        assert "Switch not done" in result and "rollback-console action web pitr" in result
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RecordScreen), "record")
        record = app.screen
        assert isinstance(record, RecordScreen)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: record.saved is not None, "the saved entry")
    entry = flow.config.console.history_file.read_text()
    assert "database restored to a point in time, application not switched" in entry
    assert "| orders | 1204331 | 1198720 |" in entry
    assert "To switch: rollback-console action web pitr --arg 2026-01-16T01:03:00Z" in entry


def test_the_pinned_lines_say_the_loss_and_the_new_instance_for_every_engine() -> None:
    managed = dataclasses.replace(
        PITR_PLAN,
        warnings=(
            PITR_PLAN.warnings[0],
            "The live database orders-db is kept as it is; the restored one is the RDS "
            "instance orders-db-pitr-20260116t010300z beside orders-db. The console never "
            "deletes a database.",
        ),
    )
    assert pinned_warnings(managed) == (
        (
            PITR_PLAN.warnings[0],
            "Into a NEW RDS instance orders-db-pitr-20260116t010300z beside orders-db; "
            "the live one is kept.",
        ),
        (),
    )
    pinned, rest = pinned_warnings(PITR_PLAN)
    assert pinned[1] == f"Into a NEW {INSTANCE} on port 5433; the live one is kept."
    assert rest == PITR_PLAN.warnings[2:]
