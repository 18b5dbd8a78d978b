"""The host's extras on screen, on the real demo: `s` alone, `e`, a unit's logs, `c`, `w`.

The console runs on the demo sandbox's own config (a real process on a real
port writing ``run/app.log``), driven by keys: ``s`` with one service says so,
``e`` shows the process, its port and the release folder's disk, Enter on
the unit shows the end of the log file.  The Target screen's ``c`` no longer
claims a copy it cannot see, and ``w`` writes the plan's commands to a 0600
script in the state dir, redacted as the preview is.
"""

from __future__ import annotations

import stat
import tomllib
from typing import Any

import tomli_w
from textual.pilot import Pilot
from textual.widgets import DataTable, Log, Static

from console.app import RollbackConsoleApp
from console.config import load_config
from console.demo import DemoSandbox
from console.flow import RollbackFlow
from providers import load_provider
from providers.base import Unavailable
from screens.dashboard import DashboardScreen
from screens.events import EventsScreen
from screens.logs import LogsScreen
from screens.plan_view import PlanView
from screens.target import TargetScreen
from tests.screens.fixed_dashboard import FixedProvider, FixedWorld
from tests.screens.test_flow import FixedSource, ScreenApp, error_line, wait_until

#: A credential planted in the restart command: it must never reach the screen or the file.
SECRET = "s3cr3t-pass-9731"


def notes(app: Any) -> list[str]:
    return [note.message for note in app._notifications]


async def test_s_with_one_service_says_so_and_where_more_go(
    demo_app: RollbackConsoleApp, demo_sandbox: DemoSandbox
) -> None:
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await wait_until(pilot, lambda: bool(notes(demo_app)), "a notification")
        (message,) = notes(demo_app)
        assert "web (demo) is the only service configured" in message
        assert f"[[services]] in {demo_sandbox.config_path}" in message
        assert isinstance(demo_app.screen, DashboardScreen)


async def test_e_shows_the_process_its_port_and_the_disk(
    demo_app: RollbackConsoleApp, demo_sandbox: DemoSandbox
) -> None:
    pid = demo_sandbox.pid_file.read_text().strip()
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await pilot.press("e")
        screen = demo_app.screen
        assert isinstance(screen, EventsScreen)  # opened at once, before the facts are read
        await wait_until(pilot, lambda: screen.details is not None, "the live facts")
        lines = screen.fact_lines()
        assert any(line.startswith(f"process {pid}: user ") for line in lines), lines
        assert f"listening: 127.0.0.1:{demo_sandbox.port}" in lines
        assert any(line.startswith("release v1.3.0: ") for line in lines), lines
        assert any(" free of " in line for line in lines), lines
        assert "no further facts" not in str(screen.query_one("#events-facts", Static).render())
        assert "Reading" not in str(screen.query_one("#events-live", Static).render())
        await pilot.press("escape")
        assert isinstance(demo_app.screen, DashboardScreen)


async def test_enter_on_a_unit_shows_the_end_of_the_log_file(
    demo_app: RollbackConsoleApp, demo_sandbox: DemoSandbox
) -> None:
    log_file = demo_sandbox.root / "run" / "app.log"
    with open(log_file, "a") as fh:  # the service adds its own lines after these
        fh.writelines(f"marker {i}\n" for i in range(60))
    async with demo_app.run_test(size=(80, 24)) as pilot:
        units = demo_app.screen.query_one("#units-table", DataTable)
        await wait_until(pilot, lambda: units.row_count > 0, "the demo's unit")
        units.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(demo_app.screen, LogsScreen), "the logs")
        logs = demo_app.screen
        assert isinstance(logs, LogsScreen)
        assert logs.source == str(log_file)
        assert len(logs.lines) == 50
        assert logs.query_one(Log).line_count == 50
        text = log_file.read_text().splitlines()
        first = text.index(logs.lines[0], text.index("marker 0"))
        assert text[first : first + 50] == list(logs.lines)  # 50 lines in a row, from the end
        assert f"from {log_file}" in str(logs.query_one(Log).border_subtitle)


def secret_in_restart(box: DemoSandbox) -> None:
    data = tomllib.loads(box.config_path.read_text())
    data["services"][0]["host"]["restart"] += [f"https://ops:{SECRET}@hooks.example.invalid/x"]
    box.config_path.write_text(tomli_w.dumps(data))


def target_app(box: DemoSandbox) -> tuple[ScreenApp, RollbackFlow]:
    secret_in_restart(box)
    config = load_config(box.config_path)
    service = config.services[0]
    flow = RollbackFlow(config, service, load_provider(service), FixedSource(), operator="alice")
    return ScreenApp(TargetScreen(flow)), flow


async def planned(pilot: Pilot[Any]) -> TargetScreen:
    screen = pilot.app.screen
    assert isinstance(screen, TargetScreen)
    await wait_until(pilot, lambda: screen.plan is not None, "the plan")
    return screen


async def test_c_says_the_copy_depends_on_the_terminal(demo_sandbox: DemoSandbox) -> None:
    app, _ = target_app(demo_sandbox)
    async with app.run_test(size=(80, 24)) as pilot:
        await planned(pilot)
        await pilot.press("c")
        await wait_until(pilot, lambda: bool(notes(app)), "a notification")
        (message,) = notes(app)
        assert "2 command(s) copied (if your terminal allows OSC 52)" in message
        assert "Press w to write them to a file" in message
        assert not message.startswith("Copied")
        assert SECRET not in app.clipboard and "ops:***@hooks.example.invalid" in app.clipboard


async def test_w_writes_the_plan_as_a_private_script_in_the_state_dir(
    demo_sandbox: DemoSandbox,
) -> None:
    app, flow = target_app(demo_sandbox)
    state_dir = flow.config.console.state_dir
    async with app.run_test(size=(80, 24)) as pilot:
        target = await planned(pilot)
        preview = target.query_one("#plan", PlanView).plain
        await pilot.press("w")
        await wait_until(pilot, lambda: bool(notes(app)), "a notification")
        (message,) = notes(app)
    scripts = sorted(state_dir.glob("plan-web@demo-*.sh"))
    assert len(scripts) == 1
    script = scripts[0]
    assert f"Commands written to {script} (mode 0600): review before running." == message
    assert stat.S_IMODE(script.stat().st_mode) == 0o600
    text = script.read_text()
    lines = text.splitlines()
    assert lines[0] == "#!/bin/sh"
    assert lines[1] == "# service: web, environment: demo, v1.3.0 -> v1.2.9"
    assert "# REVIEW BEFORE RUNNING." in text
    assert "set -eu" in lines
    # The commands are the preview's, redacted the same way.
    assert SECRET not in text and SECRET not in preview
    commands = [line for line in lines if line and not line.startswith(("#", "set "))]
    assert len(commands) == 2
    assert commands[0] == (
        f"ln -sfn {demo_sandbox.root / 'releases' / 'v1.2.9'} {demo_sandbox.root / 'current'}"
    )
    assert "https://ops:***@hooks.example.invalid/x" in commands[1]
    for command in commands:
        assert f"$ {command}" in preview


async def test_w_says_why_when_the_state_dir_cannot_be_written(demo_sandbox: DemoSandbox) -> None:
    app, flow = target_app(demo_sandbox)
    state_dir = flow.config.console.state_dir
    assert not state_dir.exists()  # nothing is written before the first change
    state_dir.write_text("a file where the folder should be\n")
    async with app.run_test(size=(80, 24)) as pilot:
        target = await planned(pilot)
        await pilot.press("w")
        await wait_until(pilot, lambda: "Could not write" in error_line(target), "the error")
        line = " ".join(error_line(target).split())
        # Why first: a long path may run past the two lines the error has at 80x24.
        assert line.startswith("Could not write the commands (")
        assert "directory" in line.split("):")[0].lower() or "exists" in line.lower()
        assert str(state_dir)[:40] in line.replace(" ", "") or str(state_dir) in line
        assert not notes(app)


class DetailedProvider(FixedProvider):
    """The fixed provider, with on-demand details that may fail (and a secret in them)."""

    def __init__(self, clock: Any, fail: Exception | None = None) -> None:
        super().__init__(clock)
        self.details_fail = fail

    def details(self) -> tuple[tuple[str, str], ...]:
        if self.details_fail is not None:
            raise self.details_fail
        return (("process 1", "user app"), ("  command", f"app --db https://u:{SECRET}@db/x"))


async def test_details_are_redacted_and_a_failed_read_says_why() -> None:
    world = FixedWorld()
    world.provider = DetailedProvider(world.clock)
    app = world.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.refresh_all()
        await pilot.press("e")
        screen = app.screen
        assert isinstance(screen, EventsScreen)
        await wait_until(pilot, lambda: screen.details is not None, "the details")
        assert "command: app --db https://u:***@db/x" in screen.fact_lines()
        assert SECRET not in str(screen.query_one("#events-live", Static).render())
        await pilot.press("escape")
        world.provider.details_fail = Unavailable("cannot read /proc/1/status")
        await pilot.press("e")
        failed = app.screen
        assert isinstance(failed, EventsScreen)
        live = failed.query_one("#events-live", Static)
        await wait_until(pilot, lambda: "could not be read" in str(live.render()), "the error")
        assert "Live facts could not be read: cannot read /proc/1/status" in str(live.render())


async def test_a_provider_without_details_still_says_there_are_no_further_facts() -> None:
    world = FixedWorld()  # no details(), no facts, no notes
    app = world.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.refresh_all()
        await pilot.press("e")
        screen = app.screen
        assert isinstance(screen, EventsScreen)
        facts = screen.query_one("#events-facts", Static)
        await wait_until(pilot, lambda: facts.display, "the facts line")
        assert str(facts.render()) == "The platform reported no further facts."
        assert not screen.query_one("#events-live", Static).display
