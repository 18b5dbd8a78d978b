"""The rollback wizard, driven by keys like an operator would, on a real demo service.

The whole-flow test opens the console on the demo sandbox (real release
folders, a real process serving real HTTP, v1.3.0 broken), presses ``r`` on
the dashboard and walks every step by keyboard: reason, checklist, target,
typed confirmation, execute, verify, record.  Then it checks the world, not
the screens: the demo answers v1.2.9 and is healthy over real HTTP, and the
history file holds exactly one truthful entry.

The snapshot tests render the confirmation dialog and the record screen from
fixed data (a frozen clock, a provider and an error-rate source that are
plain objects returning fixed ``console.model`` values), so the SVGs only
change when the screens do.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Button, Input

from console.config import Config, ConsoleConfig, HealthCheck, ServiceConfig, load_config
from console.demo import DemoSandbox, build_sandbox
from console.flow import RollbackFlow
from console.incident import Incident
from console.lock import ServiceLock
from console.model import (
    Assessment,
    ItemState,
    Outcome,
    Plan,
    ProgressEvent,
    ProgressStatus,
    ReadyResult,
    Revision,
    Sample,
    Severity,
    Snapshot,
    Step,
    StepKind,
    Unit,
    Verification,
)
from console.resume import open_incidents
from providers.base import CommandFailed, OutcomeUnknown
from screens.assess import AssessScreen
from screens.checklist import ChecklistScreen
from screens.confirm import ConfirmScreen
from screens.execute import ExecuteScreen
from screens.flow_common import AskYesNo, ErrorLine, FlowModal, FlowScreen
from screens.record import RecordScreen
from screens.target import TargetScreen
from screens.verify import VerifyScreen

#: Upper bound on pilot pauses while waiting for a worker (0.1 s each); a bound, not a timing.
MAX_PAUSES = 1200


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    """Pause the pilot until ``condition`` holds; fail naming ``what`` if it never does."""
    for _ in range(MAX_PAUSES):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"gave up waiting for {what}; screen is {pilot.app.screen!r}")


async def type_text(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*["space" if ch == " " else ch for ch in text])


def error_line(screen: Screen[Any]) -> str:
    return str(screen.query_one("#flow-error", ErrorLine).render())


# =========================================================================== the real flow


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[DemoSandbox]:
    """A started demo sandbox with a short verify window; stopped however the test ends."""
    box = build_sandbox(tmp_path / "sandbox")
    data = tomllib.loads(box.config_path.read_text())
    data["services"][0]["verify_window_s"] = 3
    box.config_path.write_text(tomli_w.dumps(data))
    box.start()
    try:
        yield box
    finally:
        box.stop()


def served_version(box: DemoSandbox) -> str:
    return httpx.get(box.health_url.replace("/health", "/version"), timeout=5).text.strip()


async def execute_ended(pilot: Pilot[Any], what: str) -> ExecuteScreen:
    """The execute screen once its run is no longer running (``what`` names the end awaited)."""
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, ExecuteScreen), "execute")
    execute = app.screen
    assert isinstance(execute, ExecuteScreen)
    await wait_until(pilot, lambda: execute.phase != "running", what)
    return execute


def flow_screen(app: App[Any]) -> FlowScreen | FlowModal[Any] | None:
    screen = app.screen
    return screen if isinstance(screen, FlowScreen | FlowModal) else None


async def test_operator_rolls_the_demo_back_by_keyboard_alone(sandbox: DemoSandbox) -> None:
    from console.app import make_app

    assert "v1.3.0" in served_version(sandbox)
    config = load_config(sandbox.config_path)
    app = make_app(config)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        # Dashboard -> Assess.
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, AssessScreen), "the assess step")
        assess = app.screen
        assert isinstance(assess, AssessScreen)
        await wait_until(pilot, lambda: assess.assessment is not None, "the assessment")
        assert assess.assessment is not None
        assert assess.assessment.severity in (Severity.CRITICAL, Severity.HIGH)
        # The reason is offered from the assessment; emptied, there is no way on.
        reason = assess.query_one("#reason", Input)
        assert reason.value == assess.suggestion
        assert "(high)" in reason.value or "(critical)" in reason.value
        assert "on v1.3.0" in reason.value
        await pilot.press("ctrl+u")
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is assess
        assert "reason is required" in error_line(assess)
        await type_text(pilot, "5xx spike after v1.3.0")
        assert error_line(assess) == "", "a stale 'reason is required' must go while typing"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen), "the checklist")

        # Checklist: what the console can establish is ticked, saying what it saw.
        checklist = app.screen
        assert isinstance(checklist, ChecklistScreen)
        await wait_until(pilot, lambda: not checklist.busy, "the established items")
        incident = checklist.flow.incident
        assert incident.marks["decide"].note.endswith("reason typed")
        assert "no database configured" in incident.marks["migrations"].note
        assert "v1.2.9" in incident.marks["target"].note
        assert incident.missing_required("prepare") == []
        # Unticking the decision blocks continuing; the cursor stops on every row.
        await pilot.press("home", "space")
        await wait_until(pilot, lambda: incident.state_of("decide") is ItemState.PENDING, "untick")
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is checklist
        assert "Cannot continue" in error_line(checklist)
        assert "Rollback is needed" in error_line(checklist)
        await pilot.press("space", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TargetScreen), "the target step")

        # Target: the previous release is preselected and planned.
        target = app.screen
        assert isinstance(target, TargetScreen)
        await wait_until(pilot, lambda: target.plan is not None, "the plan")
        assert target.plan is not None
        assert target.plan.to_revision.version == "v1.2.9"
        assert target.plan.from_revision is not None
        assert target.plan.from_revision.version == "v1.3.0"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")

        # Confirm: the name field has the focus; a wrong name is explained, never confirms.
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert app.focused is confirm.query_one("#confirm-name", Input)
        button = confirm.query_one("#confirm", Button)
        assert button.disabled
        await type_text(pilot, "Web")
        assert button.disabled
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is confirm, "a wrong name must not confirm"
        assert "upper/lower case" in str(confirm.query_one("#confirm-match").render())
        assert (sandbox.root / "current").resolve().name == "v1.3.0"
        await pilot.press("ctrl+u")
        await type_text(pilot, "web")
        assert not button.disabled
        await pilot.press("enter")

        # Execute, then verify (which starts by itself once the platform is ready).
        await wait_until(
            pilot, lambda: isinstance(app.screen, ExecuteScreen | VerifyScreen), "execution"
        )
        await wait_until(pilot, lambda: isinstance(app.screen, VerifyScreen), "verification")
        verify = app.screen
        assert isinstance(verify, VerifyScreen)
        await wait_until(pilot, lambda: verify.verification is not None, "the verdict")
        assert verify.verification is not None
        assert verify.verification.passed, verify.verification.message
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RecordScreen), "the record step")

        # Record: tick "team told", save, back to the dashboard.
        record = app.screen
        assert isinstance(record, RecordScreen)
        await pilot.press("down", "space")
        await wait_until(
            pilot, lambda: incident.state_of("notify-done") is ItemState.DONE, "after tick"
        )
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: record.saved is not None, "the saved entry")
        assert "Saved" in str(record.query_one("#record-saved").render())
        await pilot.press("enter")
        await wait_until(pilot, lambda: flow_screen(app) is None, "the dashboard")

    # The world, not the screens: v1.2.9 is live and healthy over real HTTP.
    assert (sandbox.root / "current").resolve().name == "v1.2.9"
    assert "v1.2.9" in served_version(sandbox)
    statuses = [httpx.get(sandbox.health_url, timeout=5).status_code for _ in range(20)]
    assert statuses == [200] * 20
    # One truthful history entry.
    history = config.console.history_file.read_text()
    assert len(re.findall(r"^\| Outcome \|", history, re.MULTILINE)) == 1
    assert re.search(r"^\| Service \| web \|", history, re.MULTILINE)
    assert "v1.3.0" in _field(history, "From")
    assert "v1.2.9" in _field(history, "To")
    assert _field(history, "Outcome") == "rolled back and verified"
    assert _field(history, "Reason") == "5xx spike after v1.3.0"
    assert _field(history, "Reason given") == "typed by the operator"
    assert "- [x] Team told the rollback is complete" in history


def _field(entry: str, name: str) -> str:
    match = re.search(rf"^\| {re.escape(name)} \| (.*) \|$", entry, re.MULTILINE)
    assert match, f"field {name!r} missing from entry:\n{entry}"
    return match.group(1)


# =========================================================================== fixed data

T0 = datetime(2026, 1, 16, 2, 0, tzinfo=UTC)

REVISIONS = (
    Revision("v1.3.0", "v1.3.0", T0 - timedelta(hours=1), "deploy v1.3.0", current=True),
    Revision("v1.2.9", "v1.2.9", T0 - timedelta(days=1), "deploy v1.2.9"),
    Revision("v1.2.8", "v1.2.8", T0 - timedelta(days=3), "deploy v1.2.8"),
)

PLAN = Plan(
    service="web",
    environment="production",
    provider="host",
    from_revision=REVISIONS[0],
    to_revision=REVISIONS[1],
    steps=(
        Step(
            "Point current at releases/v1.2.9",
            "ln -sfn /srv/web/releases/v1.2.9 /srv/web/current",
            StepKind.SWITCH,
        ),
        Step("Restart the service", "systemctl restart web.service", StepKind.RESTART),
    ),
)


class FrozenClock:
    """A clock that only moves when the test says so."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FixedProvider:
    """A provider as plain data: always the same snapshot, plan, events and readiness."""

    name = "host"

    def __init__(self, clock: FrozenClock | None = None) -> None:
        self.clock = clock or FrozenClock(T0)
        self.live = REVISIONS[0]

    def snapshot(self) -> Snapshot:
        return Snapshot(
            service="web",
            environment="production",
            provider="host",
            taken_at=self.clock(),
            current=self.live,
            revisions=tuple(
                Revision(r.id, r.version, r.created, r.change_cause, current=r.id == self.live.id)
                for r in REVISIONS
            ),
            units=(Unit("web-1 (pid 4242)", "running", True, self.live.id),),
        )

    def plan(self, target: str | None, *, dry_run: bool = False) -> Plan:
        return PLAN

    def execute(self, plan: Plan) -> Iterator[ProgressEvent]:
        for number, step in enumerate(plan.steps):
            yield ProgressEvent(number, ProgressStatus.STARTED, step.title, at=self.clock())
            self.clock.advance(2)
            yield ProgressEvent(number, ProgressStatus.FINISHED, "ok", at=self.clock())
        self.live = plan.to_revision

    def wait_ready(
        self, plan: Plan, timeout_s: float, on_progress: Callable[[str], None] | None = None
    ) -> ReadyResult:
        self.clock.advance(3)
        return ReadyResult(True, "1/1 process serving v1.2.9", 3.0)


class FailingRestartProvider(FixedProvider):
    """The switch works, the restart fails, as a real ``systemctl restart`` can."""

    def execute(self, plan: Plan) -> Iterator[ProgressEvent]:
        yield ProgressEvent(0, ProgressStatus.STARTED, plan.steps[0].title, at=self.clock())
        yield ProgressEvent(0, ProgressStatus.FINISHED, "ok", at=self.clock())
        yield ProgressEvent(1, ProgressStatus.STARTED, plan.steps[1].title, at=self.clock())
        yield ProgressEvent(1, ProgressStatus.OUTPUT, "unit failed", at=self.clock())
        yield ProgressEvent(1, ProgressStatus.FAILED, "exited 3", at=self.clock())
        raise CommandFailed("systemctl restart web.service exited 3: unit failed")


class FixedSource:
    """An error-rate source that always reports the same healthy sample."""

    name = "probe"

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def sample(self, since: datetime | None = None) -> Sample:
        return Sample(T0, 0.0, 12.0, 300, "probe")

    def history(self, points: int = 60) -> list[Sample]:
        return []

    def wait_for_data(self, timeout_s: float) -> bool:
        return True


def fixed_flow(
    root: Path,
    provider: FixedProvider | None = None,
    health: tuple[HealthCheck, ...] = (HealthCheck("http://10.0.0.5:8080/health"),),
) -> tuple[RollbackFlow, FrozenClock]:
    """A flow on fixed data, assessed, with a reason and the prepare checklist done."""
    clock = FrozenClock(T0)
    service = ServiceConfig("web", "production", "host", verify_window_s=60, health=health)
    config = Config(
        root / "config.toml",
        ConsoleConfig("alice", root / "rollback-history.md", root / "state"),
        (service,),
    )
    provider = provider or FixedProvider(clock)
    provider.clock = clock
    flow = RollbackFlow(config, service, provider, FixedSource(), operator="alice")
    flow.incident = incident = Incident(
        service=service,
        operator="alice",
        state_dir=root / "state",
        clock=clock,
        detected_at=T0,
        id="web-production-20260116T020000Z",
        redact=flow.redact,
    )
    incident.set_assessment(
        Assessment(
            Severity.CRITICAL,
            "Roll back now",
            ("error rate 61.0% is at or above 50%",),
            T0 + timedelta(minutes=5),
            0.61,
            380.0,
        ),
        Sample(T0, 0.61, 380.0, 300, "probe"),
    )
    clock.advance(40)
    flow.set_reason("5xx spike right after the v1.3.0 deploy", "checkout failing for ~60%")
    for item in ("decide", "notify-start", "migrations"):
        incident.mark(item, ItemState.DONE)
    incident.mark("backup", ItemState.SKIPPED, "no schema change in v1.3.0")
    clock.advance(20)
    flow.refresh()
    flow.plan("v1.2.9")
    clock.advance(30)
    return flow, clock


def finished_flow(root: Path) -> RollbackFlow:
    """A flow that has rolled web back from v1.3.0 to v1.2.9 and verified it, on fixed data.

    The verdict is set the way ``RollbackFlow.verify`` sets it, without watching
    a real service for a minute.
    """
    flow, clock = fixed_flow(root)
    incident = flow.incident
    before = incident.before
    flow.history_shown(flow.refresh())  # what the Target screen does once its list is shown
    flow.execute(PLAN)
    clock.advance(60)
    after = Sample(clock(), 0.0, 12.0, 300, "probe")
    incident.verification = Verification(
        True, "healthy for 60 s: 0.0% errors, p95 12 ms", 60.0, before, after
    )
    incident.after = after
    for item in ("health", "error-rate", "latency"):
        incident.mark(item, ItemState.DONE)
    incident.recovered_at = clock()
    incident.log("verified", incident.verification.message)
    return flow


class ScreenApp(App[None]):
    """A bare app that shows one screen on top of an empty one."""

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__()
        self.first = screen

    def on_mount(self) -> None:
        self.push_screen(self.first)


SIZES = [(80, 24), (120, 40)]

Snap = Callable[..., bool]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_confirm_dialog_snapshot(snap_compare: Snap, size: tuple[int, int]) -> None:
    async def settle(pilot: Pilot[Any]) -> None:
        await pilot.pause()

    assert snap_compare(ScreenApp(ConfirmScreen(PLAN)), terminal_size=size, run_before=settle)


def test_confirm_dialog_with_wrong_name_snapshot(snap_compare: Snap) -> None:
    async def type_wrong_name(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        name = pilot.app.screen.query_one("#confirm-name", Input)
        name.cursor_blink = False
        await pilot.press("tab", "w", "b", "e")
        assert pilot.app.screen.query_one("#confirm", Button).disabled
        await pilot.pause()

    assert snap_compare(
        ScreenApp(ConfirmScreen(PLAN)), terminal_size=(80, 24), run_before=type_wrong_name
    )


def record_settled(tmp_path: Path) -> tuple[App[None], Callable[[Pilot[Any]], Awaitable[None]]]:
    flow = finished_flow(tmp_path)
    app = ScreenApp(RecordScreen(flow))

    async def settle(pilot: Pilot[Any]) -> None:
        def previewed() -> bool:
            screen = pilot.app.screen
            return isinstance(screen, RecordScreen) and "| Outcome |" in screen.entry

        await wait_until(pilot, previewed, "the entry preview")
        await pilot.pause()

    return app, settle


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_record_screen_snapshot(
    snap_compare: Snap, size: tuple[int, int], tmp_path: Path, utc_zone: None
) -> None:
    app, settle = record_settled(tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=settle)


# =========================================================================== screens on fixed data


async def test_record_screen_reports_a_failed_write_and_retries(tmp_path: Path) -> None:
    flow = finished_flow(tmp_path)
    history = flow.config.console.history_file
    history.mkdir()  # a folder where the file should be: the write fails like a full disk would
    app = ScreenApp(RecordScreen(flow))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RecordScreen), "record")
        record = app.screen
        assert isinstance(record, RecordScreen)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "Could not write" in error_line(record), "the error")
        assert record.saved is None
        history.rmdir()
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: record.saved is not None, "the retried save")
        assert error_line(record) == ""
    assert _field(history.read_text(), "Outcome") == "rolled back and verified"


async def test_lock_held_by_someone_else_names_them_and_changes_nothing(tmp_path: Path) -> None:
    flow, _ = fixed_flow(tmp_path)
    provider = flow.provider
    assert isinstance(provider, FixedProvider)
    app = ScreenApp(ExecuteScreen(flow, PLAN))
    with ServiceLock(flow.config.console.state_dir, flow.service, "bob"):
        async with app.run_test(size=(80, 24)) as pilot:
            execute = await execute_ended(pilot, "the refusal")
            assert execute.phase == "refused"
            assert "bob" in error_line(execute)
            assert "nothing was changed" in error_line(execute)
            assert not flow.executed
            assert provider.live == REVISIONS[0]
            await pilot.press("enter")
            await wait_until(pilot, lambda: flow_screen(app) is None, "leaving the flow")


async def test_failed_step_is_shown_and_recorded_as_a_failure(tmp_path: Path) -> None:
    flow, _ = fixed_flow(tmp_path, FailingRestartProvider())
    app = ScreenApp(ExecuteScreen(flow, PLAN))
    async with app.run_test(size=(80, 24)) as pilot:
        execute = await execute_ended(pilot, "the failure")
        assert execute.phase == "failed"
        assert "exited 3" in error_line(execute)
        assert execute.step_states == ["done", "failed"]
        # Escape asks before leaving anything unrecorded; the safe answer is focused.
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is execute
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RecordScreen), "record")
        record = app.screen
        assert isinstance(record, RecordScreen)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: record.saved is not None, "the saved entry")
    entry = flow.config.console.history_file.read_text()
    assert _field(entry, "Outcome") == "rollback failed"
    assert "unit failed" in entry


async def test_assess_countdown_comes_from_the_deadline_and_the_clock(tmp_path: Path) -> None:
    flow, clock = fixed_flow(tmp_path)
    clock.now = T0 + timedelta(minutes=3, seconds=30)
    app = ScreenApp(AssessScreen(flow, None, clock=clock))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, AssessScreen), "assess")
        assess = app.screen
        assert isinstance(assess, AssessScreen)
        countdown = assess.query_one("#countdown")
        await wait_until(pilot, lambda: "Decide by" in str(countdown.render()), "countdown")
        first = str(countdown.render())
        clock.advance(120)
        await wait_until(pilot, lambda: str(countdown.render()) != first, "the next second")
        assert "overdue" in str(countdown.render()).lower() or "-overdue" in countdown.classes
        # Escape: a reason was given and items ticked, so it asks; leaving changes nothing.
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, AskYesNo), "the question")
        await pilot.press("right", "enter")  # from "Stay" (focused first) to "Leave"
        await wait_until(pilot, lambda: flow_screen(app) is None, "leaving the flow")
    assert not flow.executed
    assert not flow.config.console.history_file.exists()


async def test_aborting_verification_asks_first_and_records_not_verified(tmp_path: Path) -> None:
    flow, _ = fixed_flow(tmp_path, health=())
    flow.execute(PLAN)
    app = ScreenApp(VerifyScreen(flow, window_s=600))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, VerifyScreen), "verify")
        verify = app.screen
        assert isinstance(verify, VerifyScreen)
        # Escape asks; "Keep watching" is focused, so Enter keeps watching.
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, FlowModal), "the question")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is verify, "back to verify")
        assert not verify.stop.is_set()
        await pilot.press("a")
        await wait_until(pilot, lambda: verify.verification is not None, "the verdict")
        assert verify.verification is not None
        assert not verify.verification.passed
        assert "aborted" in verify.verification.message
        assert "NOT VERIFIED" in str(verify.query_one("#verify-verdict").render())
    assert flow.outcome() is Outcome.NOT_VERIFIED
    # No health check is configured: the item is left open saying so, never "failed".
    assert flow.incident.state_of("health") is ItemState.PENDING
    assert flow.incident.marks["health"].note == "no health checks configured"


class UnknownSwitchProvider(FixedProvider):
    """The switch was sent; its answer was lost and the platform could not be read again."""

    def execute(self, plan: Plan) -> Iterator[ProgressEvent]:
        yield ProgressEvent(0, ProgressStatus.STARTED, plan.steps[0].title, at=self.clock())
        yield ProgressEvent(0, ProgressStatus.OUTPUT, "no answer; not known", at=self.clock())
        raise OutcomeUnknown("no answer to the switch; whether it was applied is not known")


async def test_a_switch_whose_outcome_is_not_known_is_left_open_not_recorded(
    tmp_path: Path,
) -> None:
    """Neither "failed" nor "done": no record screen, no entry, the incident left open."""
    flow, _ = fixed_flow(tmp_path, UnknownSwitchProvider())
    app = ScreenApp(ExecuteScreen(flow, PLAN))
    async with app.run_test(size=(80, 24)) as pilot:
        execute = await execute_ended(pilot, "the outcome")
        assert execute.phase == "unknown"
        assert "whether it was applied is not known" in error_line(execute)
        assert execute.step_states == ["unknown", "pending"]
        await pilot.press("enter")
        await wait_until(pilot, lambda: flow_screen(app) is None, "leaving the flow")
    assert not flow.config.console.history_file.exists()
    (pending,) = open_incidents(flow.config.console.state_dir)
    assert pending.step_started == 0 and 0 not in pending.steps_done
    with pytest.raises(ValueError):
        flow.record()
