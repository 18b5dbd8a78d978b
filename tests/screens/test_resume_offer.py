"""The console, started after a crash, offers to finish the interrupted rollback."""

from __future__ import annotations

from pathlib import Path

from console.app import make_app
from console.config import load_config
from console.demo import DemoSandbox
from console.flow import RollbackFlow
from console.resume import open_incidents
from console.signals import make_error_rate_source
from providers import load_provider
from screens.execute import ExecuteScreen
from screens.flow_common import AskYesNo


def crash_before_switch(box: DemoSandbox) -> None:
    """Leave the journal a console killed right after "switch started" leaves behind."""
    config = load_config(box.config_path)
    svc = config.service("web")
    flow = RollbackFlow(config, svc, load_provider(svc), make_error_rate_source(svc), reason="x")
    flow.plan(None)
    flow.incident.journal_event("execute")
    flow.incident.journal_event("step", index=0, status="started")


async def test_interrupted_rollback_is_offered_and_resumed_by_keyboard(
    demo_sandbox: DemoSandbox,
) -> None:
    crash_before_switch(demo_sandbox)
    config = load_config(demo_sandbox.config_path)
    app = make_app(config)
    async with app.run_test(size=(100, 32)) as pilot:
        for _ in range(200):
            if isinstance(app.screen, AskYesNo):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, AskYesNo)
        question = str(app.screen.question)
        assert "interrupted rollback of web" in question
        assert "started, not seen finishing" in question
        await pilot.press("right", "enter")  # from "Later" (focused first) to "Resume"
        for _ in range(400):
            screen = app.screen
            if isinstance(screen, ExecuteScreen) and screen.phase != "running":
                break
            await pilot.pause(0.05)
        screen = app.screen
        assert isinstance(screen, ExecuteScreen)
        assert screen.phase == "ready", screen.phase
    assert Path(demo_sandbox.root / "current").resolve().name == "v1.2.9"
    # The incident stays open until it is recorded (verify + record come next).
    assert len(open_incidents(config.console.state_dir)) == 1


async def test_the_offer_can_be_made_again_later(demo_sandbox: DemoSandbox) -> None:
    """After a rollback whose outcome was not known, the execute screen asks the app to
    look for open incidents again: the same offer appears without restarting."""
    config = load_config(demo_sandbox.config_path)
    app = make_app(config)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause(0.2)
        assert not isinstance(app.screen, AskYesNo)  # nothing open at start
        crash_before_switch(demo_sandbox)
        app.offer_resume()
        for _ in range(200):
            if isinstance(app.screen, AskYesNo):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, AskYesNo)
        assert "interrupted rollback of web" in str(app.screen.question)


async def test_a_new_rollback_is_not_started_over_an_open_one(demo_sandbox: DemoSandbox) -> None:
    """ "Later", then ``r`` (or ``a``): the console offers the resume again instead of a new
    wizard, whose "previous release" could be the broken one again."""
    from screens.assess import AssessScreen

    crash_before_switch(demo_sandbox)
    config = load_config(demo_sandbox.config_path)
    app = make_app(config)
    async with app.run_test(size=(100, 32)) as pilot:
        for key in ("r", "a"):
            for _ in range(200):
                if isinstance(app.screen, AskYesNo):
                    break
                await pilot.pause(0.05)
            assert isinstance(app.screen, AskYesNo)
            await pilot.press("enter")  # "Later" is focused first
            await pilot.pause(0.1)
            assert not isinstance(app.screen, AskYesNo)
            await pilot.press(key)
            for _ in range(200):
                if isinstance(app.screen, AskYesNo | AssessScreen):
                    break
                await pilot.pause(0.05)
            assert isinstance(app.screen, AskYesNo), type(app.screen)
            assert "interrupted rollback of web" in str(app.screen.question)
    assert len(open_incidents(config.console.state_dir)) == 1
