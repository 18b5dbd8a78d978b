"""Ten keystrokes from the demo's dashboard to a verified, recorded rollback (issue 13).

``r`` ``Enter`` ``Enter`` ``Enter`` ``w`` ``e`` ``b`` ``Enter`` … ``Enter`` ``Enter``:
roll back, accept the suggested reason, continue past a checklist whose
machine-checkable items the console ticked, take the default target, type the
service name, let it execute and verify, open the record, save it.  The demo
is the one ``make demo`` opens (real release folders, a real process serving
HTTP, v1.3.0 broken), at 80x24.

The same ten keys are then sent as one burst, the way a laggy SSH link
delivers them: the type-ahead (``screens.typeahead``) must give the same
result as keys typed one at a time after looking at each screen.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from textual import events
from textual.pilot import Pilot

from console.config import load_config
from console.demo import DemoSandbox
from screens.record import RecordScreen
from screens.verify import VerifyScreen
from tests.screens.test_flow import wait_until

#: The keys, each a decision the operator really makes.
TEN_KEYS = ("r", "enter", "enter", "enter", "w", "e", "b", "enter", "enter", "enter")
SIZE = (80, 24)


def _served_version(box: DemoSandbox) -> str:
    return httpx.get(box.health_url.replace("/health", "/version"), timeout=5).text.strip()


def _field(entry: str, name: str) -> str:
    match = re.search(rf"^\| {re.escape(name)} \| (.*) \|$", entry, re.MULTILINE)
    assert match, f"field {name!r} missing from entry:\n{entry}"
    return match.group(1)


def _assert_verified_entry(box: DemoSandbox, history: str) -> None:
    """The world after the ten keys: v1.2.9 live, one verified entry saying how it was decided."""
    assert (box.root / "current").resolve().name == "v1.2.9"
    assert "v1.2.9" in _served_version(box)
    assert len(re.findall(r"^\| Outcome \|", history, re.MULTILINE)) == 1
    assert _field(history, "Outcome") == "rolled back and verified"
    assert "v1.3.0" in _field(history, "From")
    assert "v1.2.9" in _field(history, "To")
    reason = _field(history, "Reason")
    assert re.search(r"\((critical|high)\) since \d\d:\d\d on v1\.3\.0$", reason), reason
    assert _field(history, "Reason given").startswith("suggested by the console")
    # The decision and what the console established are ticked, with what it saw.
    assert re.search(
        r"^- \[x\] Rollback is needed .*decided on the dashboard \(r\), the console's "
        r"suggested reason accepted",
        history,
        re.MULTILINE,
    )
    assert re.search(
        r"^- \[x\] Database migrations in the range checked .*no database configured",
        history,
        re.MULTILINE,
    )
    assert re.search(r"^- \[x\] Health checks pass for the whole verify window", history, re.M)


async def test_ten_keystrokes_typed_one_screen_at_a_time(demo_sandbox: DemoSandbox) -> None:
    from console.app import make_app

    config = load_config(demo_sandbox.config_path)
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key in TEN_KEYS[:8]:  # r, reason, checklist, target, w e b Enter
            await pilot.press(key)
        await wait_until(pilot, lambda: isinstance(app.screen, VerifyScreen), "verification")
        verify = app.screen
        assert isinstance(verify, VerifyScreen)
        await wait_until(pilot, lambda: verify.done, "the verdict")
        assert verify.verification is not None and verify.verification.passed
        await pilot.press(TEN_KEYS[8])
        await wait_until(pilot, lambda: isinstance(app.screen, RecordScreen), "the record")
        record = app.screen
        assert isinstance(record, RecordScreen)
        await pilot.press(TEN_KEYS[9])
        await wait_until(pilot, lambda: record.saved is not None, "the saved entry")
    _assert_verified_entry(demo_sandbox, config.console.history_file.read_text())


async def test_the_same_ten_keys_as_one_burst(demo_sandbox: DemoSandbox) -> None:
    from console.app import make_app

    config = load_config(demo_sandbox.config_path)
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        _burst(pilot, TEN_KEYS)
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, RecordScreen) and app.screen.saved is not None,
            "the entry saved by the burst",
        )
        assert app.typeahead.waiting == type(app.typeahead.waiting)()
    _assert_verified_entry(demo_sandbox, config.console.history_file.read_text())


def _burst(pilot: Pilot[Any], keys: tuple[str, ...]) -> None:
    """Every key queued at once, as one read from a slow terminal delivers them: nothing
    runs between them (``pilot.press`` waits for the app to be idle after each key)."""
    for key in keys:
        character = "\r" if key == "enter" else key
        pilot.app.post_message(events.Key(key, character))
