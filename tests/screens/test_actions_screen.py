"""The actions screen, driven by keys on the demo: restart in place through the wizard."""

from __future__ import annotations

from console.app import RollbackConsoleApp
from console.demo import DemoSandbox
from screens.actions import ActionsScreen
from screens.confirm import ConfirmScreen
from screens.execute import ExecuteScreen


async def wait_for(pilot, predicate, tries: int = 400) -> None:  # type: ignore[no-untyped-def]
    for _ in range(tries):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never happened; screen is {pilot.app.screen!r}")


async def test_restart_action_by_keyboard(
    demo_sandbox: DemoSandbox, demo_app: RollbackConsoleApp
) -> None:
    before = demo_sandbox.pid_file.read_text().strip()
    async with demo_app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(demo_app.screen, ActionsScreen))
        screen = demo_app.screen
        assert isinstance(screen, ActionsScreen)
        assert [a.id for a in screen.actions] == ["restart"]
        await wait_for(pilot, lambda: demo_app.focused is screen.query_one("#actions-list"))
        await pilot.press("enter")  # the highlighted action: restart (asks for no argument)
        await wait_for(pilot, lambda: demo_app.focused is screen.query_one("#actions-reason"))
        await pilot.press(*"hung", "space", *"workers", "enter")
        await wait_for(pilot, lambda: screen.plan is not None)
        assert screen.plan is not None and screen.plan.action == "restart"
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: isinstance(demo_app.screen, ConfirmScreen))
        await pilot.press(*"web", "enter")  # the name field has the focus
        await wait_for(pilot, lambda: isinstance(demo_app.screen, ExecuteScreen))
        execute = demo_app.screen
        assert isinstance(execute, ExecuteScreen)
        await wait_for(pilot, lambda: execute.phase != "running")
        assert execute.phase == "ready", execute.phase
    assert demo_sandbox.pid_file.read_text().strip() != before
