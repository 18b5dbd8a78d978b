"""The dashboard, driven like an operator would, on the real demo and on fixed data.

The first group runs the console on the demo sandbox: real release folders, a
real process serving real HTTP, v1.3.0 live and failing about 60% of
requests.  Waits are bounded loops of ``pilot.pause`` until the data arrives,
never timed assertions.

The second group renders the dashboard on fixed data (a provider, a source
and health checks that are plain objects returning fixed ``console.model``
values, and a frozen clock) for behaviour that needs control over the data
(in-place table updates, a source that starts failing) and for the SVG
snapshots, which only change when the screen does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from console.app import RollbackConsoleApp, make_app
from console.config import load_config
from console.demo import DemoSandbox
from console.model import HealthResult, Sample, Severity, Unit
from console.runtime import Backends
from console.widgets.current_version import CurrentVersionPanel
from console.widgets.error_rate import ErrorRatePanel
from console.widgets.health import HealthPanel
from console.widgets.messages import ERROR_RATE, HEALTH, SNAPSHOT
from console.widgets.panel import PanelError
from console.widgets.revisions import RevisionHistoryPanel
from console.widgets.status_bar import SeverityBadge
from console.widgets.units import UnitsPanel
from providers import load_provider
from providers.base import Unavailable
from screens.dashboard import DashboardScreen
from screens.help import HelpScreen
from tests.screens.fixed_dashboard import T0, FixedWorld, fixed_app, fixed_config

#: Upper bound on pilot pauses while waiting for data (0.1 s each); a bound, not a timing.
MAX_PAUSES = 600

SNAPSHOTS = Path(__file__).parent / "__snapshots__"


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    """Pause the pilot until ``condition`` holds; fail naming ``what`` if it never does."""
    for _ in range(MAX_PAUSES):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def dashboard(app: RollbackConsoleApp) -> DashboardScreen:
    screen = app.dashboard
    assert screen is not None
    return screen


def text_of(widget: Any) -> str:
    """The text of every Static in a widget tree, as plain text."""
    return "\n".join(str(node.render()) for node in widget.query(Static))


def table_rows(table: DataTable[Any]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row(row.key)] for row in table.ordered_rows]


def row_keys(table: DataTable[Any]) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


# =========================================================================== the real demo


async def test_dashboard_shows_the_live_release_its_history_and_its_process(
    demo_app: RollbackConsoleApp, demo_sandbox: DemoSandbox
) -> None:
    async with demo_app.run_test(size=(120, 40)) as pilot:
        screen = dashboard(demo_app)
        await wait_until(pilot, lambda: demo_app.runtime.snapshot is not None, "the snapshot")
        await pilot.pause()

        current = screen.query_one(CurrentVersionPanel)
        assert current.revision is not None and current.revision.version == "v1.3.0"
        assert "v1.3.0" in text_of(current)
        assert "current v1.3.0" in text_of(screen.query_one("#status"))

        revisions = screen.query_one("#revisions-table", DataTable)
        assert row_keys(revisions) == ["v1.3.0", "v1.2.9", "v1.2.8"]
        rows = table_rows(revisions)
        assert rows[0][0] == "● current"
        assert rows[1][0] == "previous"
        # The default rollback target is the previous release.
        assert screen.selected_target == "v1.2.9"

        pid = demo_sandbox.pid_file.read_text().strip()
        units = table_rows(screen.query_one("#units-table", DataTable))
        assert [u[0] for u in units] == [f"pid {pid}"]
        assert units[0][2] == "yes"
        assert units[0][5] == "v1.3.0"
        assert screen.query_one(UnitsPanel).border_title == "Units (1)"


async def test_health_shows_failing_checks_of_the_broken_release(
    demo_app: RollbackConsoleApp, demo_sandbox: DemoSandbox
) -> None:
    async with demo_app.run_test(size=(120, 40)) as pilot:
        panel = dashboard(demo_app).query_one(HealthPanel)
        # v1.3.0 fails ~60% of requests: some round of checks fails soon.
        await wait_until(
            pilot, lambda: any(not r.ok for r in panel.results), "a failing health check"
        )
        await pilot.pause()
        failing = [r for r in panel.results if not r.ok]
        assert failing[0].url == demo_sandbox.health_url
        assert failing[0].status_code == 500
        assert "1/1 failing" in str(panel.border_title)
        assert "FAIL" in text_of(panel)


async def test_error_rate_turns_high_and_severity_says_roll_back(
    demo_app: RollbackConsoleApp,
) -> None:
    async with demo_app.run_test(size=(80, 24)) as pilot:
        screen = dashboard(demo_app)

        def rate() -> float:
            sample = demo_app.runtime.sample
            return sample.error_rate if sample and sample.error_rate is not None else 0.0

        await wait_until(pilot, lambda: rate() >= 0.10, "an error rate of 10% or more")
        await wait_until(
            pilot,
            lambda: (
                screen.assessment is not None
                and screen.assessment.severity in (Severity.CRITICAL, Severity.HIGH)
            ),
            "severity critical or high",
        )
        await pilot.pause(1.1)  # one tick of the status bar
        assert screen.assessment is not None
        badge = screen.query_one(SeverityBadge)
        assert str(badge.render()) == screen.assessment.severity.value.upper()
        assert badge.has_class(f"-{screen.assessment.severity.value}")
        assert "Roll back" in text_of(screen.query_one("#status"))
        assert "left to decide" in text_of(screen.query_one("#status"))
        shown = text_of(screen.query_one(ErrorRatePanel))
        assert "% err" in shown
        assert "crit ≥50% · high ≥10%" in shown


async def test_a_failing_source_keeps_its_last_data_and_shows_the_error(
    demo_sandbox: DemoSandbox,
) -> None:
    """The real host provider, made to fail after its first good snapshot."""
    breaker: dict[str, Exception | None] = {"error": None}

    class Breakable:
        def __init__(self, real: Any) -> None:
            self.real = real
            self.name = real.name

        def snapshot(self) -> Any:
            if breaker["error"] is not None:
                raise breaker["error"]
            return self.real.snapshot()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

    backends = Backends(load_provider=lambda service: Breakable(load_provider(service)))
    app = make_app(load_config(demo_sandbox.config_path), backends=backends)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = dashboard(app)
        await wait_until(pilot, lambda: app.runtime.snapshot is not None, "the first snapshot")
        await app.refresh_all()
        breaker["error"] = Unavailable("host unreachable: connection reset")
        await app.refresh_all()
        await pilot.pause()

        current = screen.query_one(CurrentVersionPanel)
        assert current.error == "host unreachable: connection reset"
        assert current.has_class("-failed")
        assert "host unreachable" in str(current.query_one(PanelError).render())
        # The last good data stays on screen.
        assert current.revision is not None and current.revision.version == "v1.3.0"
        assert row_keys(screen.query_one("#revisions-table", DataTable)) == [
            "v1.3.0",
            "v1.2.9",
            "v1.2.8",
        ]
        assert screen.polls[SNAPSHOT].failures >= 1
        assert screen.polls[SNAPSHOT].next_delay() > screen.polls[SNAPSHOT].interval
        # The other sources are unaffected.
        assert screen.query_one(HealthPanel).error is None

        breaker["error"] = None
        await app.refresh_all()
        await pilot.pause()
        assert current.error is None and not current.has_class("-failed")
        assert screen.polls[SNAPSHOT].failures == 0


async def test_r_opens_the_wizard_on_the_revision_selected_with_the_arrows(
    demo_app: RollbackConsoleApp,
) -> None:
    from screens.assess import AssessScreen

    async with demo_app.run_test(size=(100, 30)) as pilot:
        screen = dashboard(demo_app)
        await wait_until(pilot, lambda: screen.selected_target == "v1.2.9", "the target")
        assert demo_app.focused is screen.query_one("#revisions-table")
        await pilot.press("down")
        assert screen.selected_target == "v1.2.8"
        assert "target v1.2.8" in str(screen.query_one(RevisionHistoryPanel).border_title)
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(demo_app.screen, AssessScreen), "Assess")
        assess = demo_app.screen
        assert isinstance(assess, AssessScreen)
        assert assess.target == "v1.2.8"
        assert assess.flow.provider is demo_app.runtime.provider
        assert assess.flow.source is demo_app.runtime.source
        await pilot.press("escape")
        await wait_until(pilot, lambda: demo_app.screen is screen, "the dashboard again")


async def test_help_opens_with_question_mark_and_closes_with_escape(
    demo_app: RollbackConsoleApp, demo_sandbox: DemoSandbox
) -> None:
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(demo_app.screen, HelpScreen)
        shown = text_of(demo_app.screen)
        assert "Roll back" in shown or "rollback wizard" in shown
        assert "7 Record" in shown
        assert str(demo_sandbox.config_path) in shown
        assert str(demo_sandbox.root / "rollback-history.md") in shown
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(demo_app.screen, DashboardScreen)


async def test_the_palette_opens_with_ctrl_p_and_reaches_the_actions(
    demo_app: RollbackConsoleApp,
) -> None:
    async with demo_app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(demo_app.screen, CommandPalette)
        await pilot.press(*"help")
        options = demo_app.screen.query_one(CommandList)
        await wait_until(pilot, lambda: options.option_count > 0, "the Help command")
        assert "Help" in str(options.get_option_at_index(0).prompt)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(demo_app.screen, HelpScreen), "help")


async def test_q_quits_from_the_dashboard(demo_app: RollbackConsoleApp) -> None:
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert demo_app.return_code == 0


# =========================================================================== fixed data


async def test_refresh_updates_tables_in_place_and_keeps_the_selection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_clear(self: DataTable[Any], columns: bool = False) -> Any:
        raise AssertionError("DataTable.clear() called on refresh")

    world = FixedWorld()
    app = world.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.refresh_all()
        await pilot.pause()
        screen = dashboard(app)
        revisions = screen.query_one("#revisions-table", DataTable)
        units = screen.query_one("#units-table", DataTable)
        assert screen.selected_target == "v1.2.9"
        await pilot.press("down")
        assert screen.selected_target == "v1.2.8"
        kept = units.get_cell("pid 4242", "name")

        monkeypatch.setattr(DataTable, "clear", no_clear)
        new = replace(world.provider.revisions[0], current=False)
        world.provider.revisions = (
            replace(new, id="v1.3.1", version="v1.3.1", change_cause="deploy v1.3.1"),
            *world.provider.revisions,
        )
        world.provider.units = (
            *world.provider.units[:2],
            replace(world.provider.units[2], state="running", ready=True, restarts=5),
            world.provider.units[3],
            Unit("pid 6000", "starting", False, "v1.3.0", 0, T0),
        )
        world.provider.units = tuple(u for u in world.provider.units if u.name != "pid 4243")
        await app.refresh_all()
        await pilot.pause()

        assert row_keys(revisions) == ["v1.3.1", "v1.3.0", "v1.2.9", "v1.2.8", "v1.2.7"]
        assert screen.selected_target == "v1.2.8", "the cursor stays on the same revision"
        assert row_keys(units) == ["pid 4242", "pid 5120", "pid 5121", "pid 6000"]
        assert units.get_cell("pid 4242", "name") is kept, "an unchanged cell is not rebuilt"
        assert str(units.get_cell("pid 5120", "restarts")) == "5"
        assert str(units.get_cell("pid 5120", "ready")) == "yes"


async def test_thousands_of_units_update_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    world = FixedWorld()
    world.provider.units = tuple(
        Unit(f"web-{i:05d}", "running", True, "v1.3.0", 0, T0 - timedelta(hours=1))
        for i in range(5000)
    )
    app = world.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.refresh_all()
        await pilot.pause()
        table = dashboard(app).query_one("#units-table", DataTable)
        assert table.row_count == 5000
        monkeypatch.setattr(DataTable, "clear", lambda *a, **k: pytest.fail("clear() called"))
        units = list(world.provider.units)
        units[1234] = replace(units[1234], ready=False, state="crashloop", restarts=7)
        del units[10]
        world.provider.units = tuple(units)
        await app.refresh_all()
        await pilot.pause()
        assert table.row_count == 4999
        assert str(table.get_cell("web-01234", "state")) == "crashloop"
        assert str(table.get_cell("web-01234", "ready")) == "no"
        assert "1 not ready" in str(dashboard(app).query_one(UnitsPanel).border_title)

        # The next polls read the same units (new objects, equal): no row is built again.
        panel = dashboard(app).query_one(UnitsPanel)
        monkeypatch.setattr(
            panel, "_row_data", lambda *a: pytest.fail("rows rebuilt for unchanged units")
        )
        world.provider.units = tuple(replace(u) for u in units)
        await app.refresh_all()
        await pilot.pause()
        assert table.row_count == 4999


async def test_health_and_error_rate_failures_show_on_their_own_panel() -> None:
    world = FixedWorld()
    app = world.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.refresh_all()
        world.health.fail = RuntimeError("checker crashed")
        world.source.fail = Unavailable("probe stopped")
        await app.refresh_all()
        await pilot.pause()
        screen = dashboard(app)
        errors = screen.panel_errors()
        assert errors == {"health": "RuntimeError: checker crashed", "error-rate": "probe stopped"}
        assert len(screen.query_one(HealthPanel).results) == 2, "last results kept"
        assert screen.query_one(ErrorRatePanel).sample is not None
        assert screen.polls[HEALTH].failures == 1
        assert screen.polls[ERROR_RATE].failures == 1
        assert screen.polls[SNAPSHOT].failures == 0


async def test_ages_count_up_from_the_last_good_read() -> None:
    world = FixedWorld()
    app = world.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.refresh_all()
        await pilot.pause()
        panel = dashboard(app).query_one(CurrentVersionPanel)
        assert panel.border_subtitle == "just now"
        world.clock.advance(12)
        dashboard(app)._tick()
        assert panel.border_subtitle == "12s ago"
        world.clock.advance(60)
        dashboard(app)._tick()
        assert panel.border_subtitle == "1m ago"
        assert panel.has_class("-stale")


async def test_the_decision_countdown_runs_from_when_it_turned_bad() -> None:
    world = FixedWorld()
    app = world.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.refresh_all()
        await pilot.pause()
        screen = dashboard(app)
        screen._tick()
        assert screen.assessment is not None
        assert screen.assessment.severity is Severity.CRITICAL
        assert "5:00 left to decide" in text_of(screen.query_one("#status"))
        world.clock.advance(301)
        screen._tick()
        assert "decision overdue by 0:01" in text_of(screen.query_one("#status"))


async def test_no_verdict_while_the_first_samples_come_in() -> None:
    """Issue 11: health still loading and three lucky requests of a failing service
    showed "LOW — Forward fix: no rollback needed".  Now: ASSESSING, with the count."""
    world = FixedWorld()
    world.provider.units = tuple(replace(u, restarts=0) for u in world.provider.units)
    few = Sample(T0, 0.0, 12.0, 3, "probe")
    world.source.sample = lambda since=None: few  # type: ignore[method-assign]
    answered = tuple(replace(r, ok=True, status_code=200) for r in world.health.results)
    release = threading.Event()

    def health_still_loading(checks: object) -> tuple[HealthResult, ...]:
        release.wait(30)
        return answered

    backends = replace(world.backends(), check_health=health_still_loading)
    app = make_app(fixed_config(), backends=backends, clock=world.clock)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = dashboard(app)
        await wait_until(pilot, lambda: app.runtime.sample is not None, "the first sample")
        screen._tick()
        assert screen.assessment is not None and screen.assessment.assessing
        assert screen.assessment.severity is Severity.UNKNOWN
        status = text_of(screen.query_one("#status"))
        assert "ASSESSING" in status
        assert "3 of 20 samples" in status and "health checks not answered yet" in status
        assert "LOW" not in status and "Forward fix" not in status

        release.set()  # health answers, all passing; still only 3 requests
        await wait_until(pilot, lambda: app.runtime.health_at is not None, "the health checks")
        screen._tick()
        status = text_of(screen.query_one("#status"))
        assert "ASSESSING" in status and "Assessing (3 of 20 samples)" in status
        assert "LOW" not in status

        enough = Sample(T0, 0.0, 12.0, 20, "probe")
        world.source.sample = lambda since=None: enough  # type: ignore[method-assign]
        await app.refresh_all()
        screen._tick()
        assert screen.assessment is not None and screen.assessment.severity is Severity.LOW
        assert "LOW" in text_of(screen.query_one("#status"))


async def test_missing_rollback_screens_become_one_error_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "screens.assess", None)
    app = FixedWorld().app(fixed_config(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.refresh_all()
        await pilot.press("r")
        await wait_until(pilot, lambda: bool(app._notifications), "a notification")
        (note,) = list(app._notifications)
        assert note.severity == "error"
        assert "rollback screens are not available" in note.message
        assert isinstance(app.screen, DashboardScreen)


async def test_switching_service_shows_the_other_dashboard() -> None:
    world = FixedWorld()
    app = world.app(fixed_config(services=2))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.refresh_all()
        assert app.sub_title == "web (production)"
        await pilot.press("s")
        await wait_until(
            pilot,
            lambda: app.dashboard is not None and app.dashboard.runtime.name == "api1",
            "the api1 dashboard",
        )
        assert app.sub_title == "api1 (production)"
        await app.refresh_all()
        await pilot.press("s")
        await wait_until(
            pilot,
            lambda: app.dashboard is not None and app.dashboard.runtime.name == "web",
            "back to web",
        )


async def test_provider_and_source_load_in_workers_after_the_first_frame() -> None:
    world = FixedWorld()
    seen: dict[str, Any] = {}

    def load(service: Any) -> Any:
        seen["thread"] = threading.current_thread()
        seen["dashboard_mounted"] = app.dashboard is not None and app.dashboard.is_mounted
        return world.provider

    app = make_app(
        fixed_config(), backends=replace(world.backends(), load_provider=load), clock=world.clock
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await app.refresh_all()
        await pilot.pause()
        assert seen["thread"] is not threading.main_thread(), "loaded off the UI thread"
        assert seen["dashboard_mounted"], "loaded after the dashboard was on screen"
        assert world.source.started and not world.source.stopped
    assert world.source.stopped, "sources are stopped when the app exits"


def test_cells_are_never_parsed_as_markup() -> None:
    from console.widgets.table_sync import _text

    assert isinstance(_text(("fix [prod] login", "")), Text)
    assert _text(("fix [prod] login", "")).plain == "fix [prod] login"


# =========================================================================== snapshots


class TestDashboardSnapshots:
    """The dashboard of web (production) during a bad v1.3.0 deploy, on fixed data."""

    @staticmethod
    async def _loaded(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, RollbackConsoleApp)
        await app.refresh_all()
        await pilot.pause()
        dashboard(app)._tick()
        await pilot.pause()

    def test_dashboard_80x24(self, snap_compare: Any, utc_zone: None) -> None:
        assert snap_compare(fixed_app(), terminal_size=(80, 24), run_before=self._loaded)

    def test_dashboard_120x40(self, snap_compare: Any, utc_zone: None) -> None:
        assert snap_compare(fixed_app(), terminal_size=(120, 40), run_before=self._loaded)

    def test_dashboard_with_a_failing_source_120x40(
        self, snap_compare: Any, utc_zone: None
    ) -> None:
        world = FixedWorld()

        async def fail_snapshot(pilot: Pilot[Any]) -> None:
            await self._loaded(pilot)
            world.provider.fail = Unavailable("platform API answered 503 Service Unavailable")
            world.clock.advance(14)
            await self._loaded(pilot)

        assert snap_compare(world.app(), terminal_size=(120, 40), run_before=fail_snapshot)

    def test_help_80x24(self, snap_compare: Any, utc_zone: None) -> None:
        async def open_help(pilot: Pilot[Any]) -> None:
            await self._loaded(pilot)
            await pilot.press("question_mark")
            await pilot.pause()

        assert snap_compare(fixed_app(), terminal_size=(80, 24), run_before=open_help)


async def test_the_readme_picture_renders(tmp_path: Path) -> None:
    from tests.screens.render_readme_svg import render_dashboard_svg

    path = await render_dashboard_svg(tmp_path / "dashboard.svg")
    svg = path.read_text()
    assert svg.startswith("<svg") and "CRITICAL" in svg and "v1.2.9" in svg


async def test_a_check_without_http_answer_shows_why() -> None:
    world = FixedWorld()
    url = "http://10.0.0.5:8080/health"
    world.health.results = (
        HealthResult(url, False, None, None, error="connection refused (10.0.0.5:8080)"),
        world.health.results[1],
    )
    app = world.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.refresh_all()
        await pilot.pause()
        panel = dashboard(app).query_one(HealthPanel)
        lines = [str(line.render()) for line in panel.query(".health-line").results(Static)]
        assert lines[0].startswith("FAIL ---")
        assert "/health connection refused (10.0.0.5:8080)" in lines[0]
        assert lines[1].startswith(" ok  200")


async def test_the_palette_offers_every_action_by_name() -> None:
    from screens.commands import RollbackCommands

    app = FixedWorld().app(fixed_config(services=2))
    async with app.run_test(size=(100, 30)):
        titles = [title for title, _, _ in RollbackCommands(app.screen).commands()]
    assert titles == [
        "Roll back web (production)…",
        "Actions…",
        "Events and details",
        "Refresh now",
        "Switch to api1 (production)",
        "Help",
        "History",
        "Show history file path",
        "Show config file path",
        "Quit",
    ]


async def test_polls_pause_under_the_wizard_and_catch_up_after() -> None:
    from textual.screen import Screen

    world = FixedWorld()
    app = world.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await app.refresh_all()
        screen = dashboard(app)
        await app.push_screen(Screen())  # a full screen, as every wizard step is
        await wait_until(pilot, lambda: screen.polls[SNAPSHOT].paused, "the snapshot poll paused")
        calls = world.provider.calls
        await pilot.pause(2.5)  # longer than a poll interval: nothing is read meanwhile
        assert world.provider.calls == calls
        app.pop_screen()
        await wait_until(pilot, lambda: world.provider.calls > calls, "a poll on return")


async def test_an_error_rate_with_no_request_in_yet_is_read_again_soon() -> None:
    """The probe has just started: its first window is empty.  The next read comes after
    ``NO_DATA_RETRY_S``, not a whole interval later, so the first rate shows as soon as
    it exists; a source that stays empty falls back to its interval."""
    from console.widgets.poller import NO_DATA_QUICK_READS, NO_DATA_RETRY_S

    world = FixedWorld()
    empty = Sample(T0, None, None, 0, "probe")
    world.source.sample = lambda since=None: empty  # type: ignore[method-assign]
    app = world.app()
    async with app.run_test(size=(120, 40)):
        screen = dashboard(app)
        poll = screen.polls[ERROR_RATE]
        await app.refresh_all()
        assert poll.empty >= 1
        assert poll.next_delay() == NO_DATA_RETRY_S < poll.interval
        assert screen.polls[SNAPSHOT].next_delay() == screen.polls[SNAPSHOT].interval

        poll.empty = NO_DATA_QUICK_READS + 1  # it stayed empty: back to the interval
        assert poll.next_delay() == poll.interval

        world.source.sample = lambda since=None: Sample(T0, 0.61, 380.0, 300, "probe")  # type: ignore[method-assign]
        await app.refresh_all()
        assert poll.empty == 0 and poll.next_delay() == poll.interval
        assert "61.0% err" in str(screen.query_one("#rate-now", Static).render())


async def test_the_wizard_is_prepared_once_the_first_data_is_on_screen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Textual parses every stylesheet again the first time each screen with its own CSS
    is shown; the console does it once, for all the wizard's screens, while the operator
    reads the dashboard, so the first ``r`` parses nothing."""
    from textual.css.stylesheet import Stylesheet

    from screens.assess import AssessScreen
    from screens.preload import SCREENS, css_files

    world = FixedWorld()
    app = world.app(fixed_config(tmp_path))
    assess_css = str(css_files(AssessScreen)[0])
    assert assess_css.endswith("screens/assess.tcss")
    async with app.run_test(size=(120, 40)) as pilot:
        assert not app.stylesheet.has_source(assess_css, "")  # not before the data
        await app.refresh_all()
        dashboard(app)._tick()
        await wait_until(
            pilot, lambda: app.stylesheet.has_source(assess_css, ""), "the wizard's CSS"
        )
        for module, name in SCREENS:
            screen_class = getattr(__import__(module, fromlist=[name]), name)
            for path in css_files(screen_class):
                assert app.stylesheet.has_source(str(path), ""), path

        parsed: list[str] = []
        reparse = Stylesheet.reparse
        monkeypatch.setattr(Stylesheet, "reparse", lambda s: (parsed.append("!"), reparse(s)))
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, AssessScreen), "the Assess step")
        await pilot.pause()
        assert parsed == []


async def test_a_slow_read_is_followed_by_a_longer_pause() -> None:
    """5,000 pods take ~0.5 s to read and parse, in a thread holding the GIL: reading
    them every 2 s slowed every key the operator pressed.  After a read the next waits at
    least ``SLOW_READ_FACTOR`` times as long as it took."""
    import time

    from console.widgets.poller import SLOW_READ_FACTOR

    world = FixedWorld()
    fixed = world.provider.snapshot

    def slow_snapshot() -> Any:
        time.sleep(0.6)
        return fixed()

    world.provider.snapshot = slow_snapshot  # type: ignore[method-assign]
    app = world.app()
    async with app.run_test(size=(120, 40)):
        screen = dashboard(app)
        await app.refresh_all()
        poll = screen.polls[SNAPSHOT]
        assert poll.last_read_s >= 0.6
        assert poll.next_delay() >= SLOW_READ_FACTOR * 0.6 > poll.interval
        quick = screen.polls[HEALTH]
        assert quick.next_delay() == quick.interval  # fast reads keep their interval


async def test_a_platform_alert_takes_the_status_line_loudly_until_it_is_gone() -> None:
    """A snapshot's alert (a Swarm update paused half-way) is the status line, on the alert
    colour and two lines tall at 80 columns, with what ``r`` does about it while the default
    target is selected; another target drops that part; a snapshot without it clears it."""

    def shown(line: Static) -> str:
        return str(line.render())

    world = FixedWorld()
    plain = world.provider.snapshot
    alert = "update paused: due to failure or early termination of task g3f96w4l5p4o"
    raised = {"on": True}

    def snapshot() -> Any:
        snap = plain()
        if not raised["on"]:
            return snap
        return replace(snap, alert=alert, alert_action="roll back the paused update to v1.2.9")

    world.provider.snapshot = snapshot  # type: ignore[method-assign]
    app = world.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = dashboard(app)
        line = screen.query_one("#status-decision", Static)
        await wait_until(pilot, lambda: line.has_class("-alert"), "the alert")
        assert screen.query_one("#status").has_class("-alert")
        assert shown(line) == f"{alert} · r: roll back the paused update to v1.2.9"
        assert line.size.height == 2
        await pilot.press("down")  # another target: r no longer does what the alert says
        await wait_until(pilot, lambda: "r:" not in shown(line), "the alert without r")
        assert shown(line) == alert
        raised["on"] = False
        await app.refresh_all()
        await wait_until(pilot, lambda: not line.has_class("-alert"), "the alert gone")
        assert not screen.query_one("#status").has_class("-alert")
        assert "update paused" not in shown(line)
