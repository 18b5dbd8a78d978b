"""Two consoles on one service, seen on the screens (issue 11, items 1 and 3).

On the real demo sandbox: after another console rolled the service back, the
Target screen refuses the preselected "previous" (it would go one release
further back) and plans a row the operator chooses with Enter; after a
console killed while verifying and the broken release put back, resume says
the switch was undone and, when the operator chooses so, records "not rolled
back" instead of "rolled back".
"""

from __future__ import annotations

from console.app import make_app
from console.config import load_config
from console.demo import DemoSandbox, build_sandbox
from console.flow import RollbackFlow
from console.history import read_entries
from console.model import Outcome
from console.signals import make_error_rate_source
from providers import load_provider
from screens.execute import ExecuteScreen
from screens.flow_common import AskYesNo
from screens.record import RecordScreen
from screens.target import TargetScreen
from tests.screens.test_flow import ScreenApp, error_line, wait_until


def new_flow(box: DemoSandbox, reason: str) -> RollbackFlow:
    config = load_config(box.config_path)
    svc = config.service("web")
    return RollbackFlow(config, svc, load_provider(svc), make_error_rate_source(svc), reason=reason)


async def test_target_refuses_the_previous_after_another_rollback_and_plans_a_chosen_row(
    demo_sandbox: DemoSandbox,
) -> None:
    other = new_flow(demo_sandbox, "A")
    assert other.execute(other.plan(None)).ready
    other.record()

    flow = new_flow(demo_sandbox, "B")
    app = ScreenApp(TargetScreen(flow))
    async with app.run_test(size=(80, 24)) as pilot:
        target = app.screen
        assert isinstance(target, TargetScreen)
        await wait_until(pilot, lambda: "Refused" in error_line(target), "the refusal")
        assert target.plan is None
        assert "was rolled back by" in error_line(target)
        await pilot.press("enter")  # the highlighted row, now the operator's own choice
        await wait_until(pilot, lambda: target.plan is not None, "the explicit plan")
        assert target.plan is not None and target.plan.to_revision.id == "v1.2.8"
    assert (demo_sandbox.root / "current").resolve().name == "v1.2.9"


def killed_while_verifying(box: DemoSandbox) -> None:
    """A console that switched, saw the platform ready and died verifying."""
    flow = new_flow(box, "5xx")
    assert flow.execute(flow.plan(None)).ready
    flow.release_service_lock()  # the kernel's part when a console is killed


async def test_resume_of_an_undone_switch_records_not_rolled_back(
    demo_sandbox: DemoSandbox,
) -> None:
    killed_while_verifying(demo_sandbox)
    build_sandbox(demo_sandbox.root, port=demo_sandbox.port).start()  # `make demo` again
    assert (demo_sandbox.root / "current").resolve().name == "v1.3.0"

    config = load_config(demo_sandbox.config_path)
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, AskYesNo), "the resume offer")
        await pilot.press("right", "enter")  # Resume
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, ExecuteScreen) and app.screen.phase != "running",
            "the resume's end",
        )
        execute = app.screen
        assert isinstance(execute, ExecuteScreen)
        assert execute.phase == "undone"
        assert "NOT rolled back" in error_line(execute)
        assert "v1.3.0 is live now" in error_line(execute)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, AskYesNo), "the choice")
        await pilot.press("enter")  # the focused answer: record 'not rolled back'
        await wait_until(pilot, lambda: isinstance(app.screen, RecordScreen), "the record")
        record = app.screen
        assert isinstance(record, RecordScreen)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: record.saved is not None, "the saved entry")
    (entry,) = read_entries(config.console.history_file)
    assert entry.outcome == Outcome.UNDONE.value
    assert entry.time_to_recover_s is None
    assert (demo_sandbox.root / "current").resolve().name == "v1.3.0"
