"""Fixtures for screen tests: a started demo sandbox, the console on it, stable snapshots."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from textual.widgets import Input

from console.app import RollbackConsoleApp, make_app
from console.config import load_config
from console.demo import DemoSandbox


@pytest.fixture(autouse=True)
def _stable_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same SVG on every machine: no NO_COLOR / TEXTUAL_THEME, no blinking Input cursor."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)
    # The blink timer toggles the cursor every 0.5 s: keep it shown.
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


@pytest.fixture
def utc_zone() -> Iterator[None]:
    """Render local times in UTC so snapshots do not depend on the machine's zone."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


@pytest.fixture
def demo_app(demo_sandbox: DemoSandbox) -> RollbackConsoleApp:
    """The console on the demo sandbox's own config, built like the CLI builds it."""
    return make_app(load_config(demo_sandbox.config_path))
