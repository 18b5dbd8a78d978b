"""A slow team webhook does not hold the CLI's exit after the entry is saved.

Real processes on the demo sandbox and a real local webhook that never
answers (it holds every request open).  With the webhook's own limits
(60 s per request, 3 attempts) the console used to wait minutes after the
history entry before exiting; now it waits ``[console] webhook_exit_wait_s``
(10 s by default), says which messages were not confirmed, and ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
import tomli_w

from console.config import load_config
from console.demo import DemoSandbox
from tests.conftest import REPO
from tests.test_notify import ENV, HANG, TOKEN, Webhook

pytestmark = pytest.mark.e2e


@pytest.fixture
def silent_webhook() -> Iterator[Webhook]:
    """A webhook that takes every request and never answers (until the test ends)."""
    hook = Webhook()
    hook.script = [HANG] * 20
    hook.start()
    try:
        yield hook
    finally:
        hook.stop()


def configure(box: DemoSandbox, **console: Any) -> None:
    data = tomllib.loads(box.config_path.read_text())
    data["console"].update(webhook_env=ENV, webhook_timeout_s=60, webhook_attempts=3, **console)
    box.config_path.write_text(tomli_w.dumps(data))


def rollback(box: DemoSandbox, hook: Webhook) -> subprocess.CompletedProcess[str]:
    """A real rollback; the test fails (rather than hangs) if the console does not end."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "console.cli", "rollback", "web", "--yes"),
            *("--reason", "5xx after v1.3.0", "--verify-window", "2"),
            *("--config", str(box.config_path)),
        ],
        capture_output=True,
        text=True,
        timeout=150,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
        env={**os.environ, ENV: hook.url},
    )


def test_a_silent_webhook_gives_up_at_exit_by_default_and_says_so(
    sandbox: DemoSandbox, silent_webhook: Webhook
) -> None:
    configure(sandbox)
    result = rollback(sandbox, silent_webhook)
    assert result.returncode == 0, result.stdout + result.stderr
    assert load_config(sandbox.config_path).console.webhook_exit_wait_s == 10
    out = result.stdout
    assert "history entry appended to" in out
    assert out.index("history entry appended to") < out.index("team notification")
    assert "team notification: waiting up to 10 s for the team webhook" in out
    for kind in ("start", "completion"):
        assert (
            f"team notification: {kind} message not confirmed sent "
            "(gave up waiting at exit after 10 s; the team webhook had not answered): "
            "tell the team yourself"
        ) in out
    assert "retried" not in out and "sent to the team webhook" not in out
    assert TOKEN not in out + result.stderr
    silent_webhook.wait_for(2)  # both messages did reach it; neither was answered
    assert "rolled back and verified" in (sandbox.root / "rollback-history.md").read_text()


def test_the_wait_at_exit_is_a_config_key_and_0_does_not_wait(
    sandbox: DemoSandbox, silent_webhook: Webhook
) -> None:
    configure(sandbox, webhook_exit_wait_s=0)
    result = rollback(sandbox, silent_webhook)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "waiting up to" not in result.stdout
    assert "completion message not confirmed sent (gave up waiting at exit after 0 s" in (
        result.stdout
    )
