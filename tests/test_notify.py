"""Team notifications: the messages, and a real local webhook that misbehaves on demand.

``Webhook`` is a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 that records every
request and answers from a script: a status (500, 429 with ``Retry-After``,
404...) or ``HANG``, which holds the request until the test sets an Event.
No timing is asserted anywhere: back-off pauses go through a recording
``sleep``, and "never blocks the rollback" is shown by the flow finishing
while the webhook is still holding its requests.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
import tomli_w
from textual.app import App
from textual.pilot import Pilot

from console.config import Config, ConfigError, load_config
from console.demo import build_sandbox
from console.flow import RollbackFlow
from console.model import Outcome, Sample, Severity
from console.notify import (
    Delivery,
    WebhookNotifier,
    already_sent,
    message_kind,
    render_message,
    slack_escape,
)
from console.postmortem import write_draft
from providers import load_provider
from screens.notify import NotificationScreen
from screens.record import RecordScreen
from tests.test_history import make_record

JST = timezone(timedelta(hours=9), "JST")
#: The secret part of the webhook URL (Slack puts the token in the path).
TOKEN = "T0SECRET/B0SECRET/xoxSecretToken1234567890"
ENV = "TEST_TEAM_WEBHOOK"
HANG = "hang"


class Webhook:
    """A Slack-compatible incoming webhook on a real socket, scripted per request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        #: Answers for the coming requests, in order: (status, headers, body) or HANG.
        #: When empty: 200 "ok".
        self.script: list[tuple[int, dict[str, str], str] | str] = []
        #: Requests answered HANG wait on this; set it to let them answer 200.
        self.release = threading.Event()
        self.arrived = threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with hook.arrived:
                    answer = hook.script.pop(0) if hook.script else (200, {}, "ok")
                    hook.requests.append(
                        {
                            "path": self.path,
                            "json": json.loads(body),
                            "content_type": self.headers.get("Content-Type", ""),
                        }
                    )
                    hook.arrived.notify_all()
                if answer == HANG:
                    hook.release.wait()
                    answer = (200, {}, "ok")
                assert not isinstance(answer, str)
                status, headers, text = answer
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    data = text.encode()
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/services/{TOKEN}"

    def wait_for(self, count: int) -> None:
        """Block until ``count`` requests arrived (bounded, so a bug fails instead of hanging)."""
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.requests) >= count, timeout=30), (
                f"only {len(self.requests)} of {count} requests arrived"
            )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    hook.start()
    try:
        yield hook
    finally:
        hook.stop()


class Sleeps:
    """A ``sleep`` that records what it was asked to wait and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def notifier(url: str, sleeps: Sleeps | None = None, **options: Any) -> WebhookNotifier:
    return WebhookNotifier(
        ENV, environ={ENV: url}, sleep=sleeps or Sleeps(), backoff_s=0.5, **options
    )


# =========================================================================== messages


def test_start_message_has_what_the_team_needs_in_english() -> None:
    text = render_message("start", make_record(), "en", tz=JST)
    assert text.startswith("[Rollback started] web (production)")
    for expected in (
        "from v1.3.0 to v1.2.9",
        "Cause: 5xx spike after v1.3.0",
        "Operator: alice",
        "Severity: High",
        "Detected: 2026-11-25 02:07 JST",
        "Started: 2026-11-25 02:14 JST",
        "Error rate: 12.5%",
    ):
        assert expected in text


def test_completion_message_in_japanese_follows_runbook_001() -> None:
    text = render_message("completion", make_record(), "ja", tz=JST)
    assert text.startswith("【ロールバック完了・復旧】")
    for expected in (
        "復旧時刻: 2026-11-25 02:14 JST",
        "対象環境: production",
        "対象サービス: web",
        "対応内容: v1.3.0 から v1.2.9 にロールバック",
        "確認結果: サービス正常稼働中",
        "復旧時間: 7分12秒",
        "エラー率: 前 12.5% (p95 1840 ms) → 後 0.2% (p95 120 ms)",
        "理由: 5xx spike after v1.3.0",
        "実施者: alice",
        "ポストモーテム作成",
    ):
        assert expected in text


def test_japanese_start_message_follows_runbook_001() -> None:
    text = render_message("start", make_record(), "ja", tz=JST)
    assert text.startswith("【ロールバック開始】")
    assert "発生時刻: 2026-11-25 02:07 JST" in text
    assert "対応: v1.3.0 から v1.2.9 へのロールバックを開始します" in text


def test_an_action_says_what_it_did_not_that_it_rolled_back() -> None:
    record = dataclasses.replace(make_record(), action="restart")
    start = render_message("start", record, "en", tz=JST)
    assert start.startswith("[restart started] web (production)")
    assert "Action: restart (v1.3.0 → v1.2.9)" in start
    done = render_message("completion", record, "en", tz=JST)
    assert done.startswith("[Restarted and verified] web")
    assert "Result: restarted and verified\n" in done
    assert "rolled" not in done.split("\n", 1)[0] and "rolled web back" not in done
    ja = render_message("completion", record, "ja", tz=JST)
    assert ja.startswith("【restart 完了・正常性確認済み】")
    assert "対応内容: restart (v1.3.0 → v1.2.9)" in ja
    assert "確認結果: restart 完了・正常性確認済み" in ja


def test_completion_of_a_failed_rollback_says_so() -> None:
    record = make_record(outcome=Outcome.FAILED, recovered_at=None, after=None)
    en = render_message("completion", record, "en", tz=JST)
    assert en.startswith("[Rollback FAILED]")
    assert "Time to recover: not recovered" in en
    assert "Finished: 2026-11-25 02:14 JST" in en
    assert "0.2%" not in en and "not measured after" in en
    ja = render_message("completion", record, "ja", tz=JST)
    assert ja.startswith("【ロールバック失敗】")
    assert "復旧時間: 未復旧" in ja


def test_values_stay_on_their_line_and_are_never_template_syntax() -> None:
    record = make_record(reason="line one\nline two ${service} $$", severity=Severity.CRITICAL)
    text = render_message("completion", record, "en", tz=JST)
    assert "Reason: line one line two ${service} $$\n" in text
    assert "Severity: Critical" in text


def test_slack_control_sequences_are_escaped() -> None:
    assert slack_escape("<!channel> a & b > c") == "&lt;!channel&gt; a &amp; b &gt; c"


def test_unknown_kind_and_language_are_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        render_message("midway", make_record(), "en")
    with pytest.raises(ValueError, match="language"):
        render_message("start", make_record(), "fr")


# =========================================================================== the webhook


def test_a_message_is_posted_as_slack_json(webhook: Webhook) -> None:
    delivery = notifier(webhook.url).deliver("start", "rollback <!here> of web")
    assert delivery == Delivery("start", True, 1)
    assert webhook.requests[0]["json"] == {"text": "rollback &lt;!here&gt; of web"}
    assert webhook.requests[0]["content_type"] == "application/json"
    assert webhook.requests[0]["path"] == f"/services/{TOKEN}"


def test_500_is_retried_with_back_off_until_it_is_accepted(webhook: Webhook) -> None:
    webhook.script = [(500, {}, "oops"), (503, {}, ""), (200, {}, "ok")]
    sleeps = Sleeps()
    delivery = notifier(webhook.url, sleeps).deliver("completion", "done")
    assert delivery.sent and delivery.attempts == 3
    assert len(webhook.requests) == 3
    assert sleeps.calls == [0.5, 1.0]
    assert delivery.describe() == "completion message sent to the team webhook (attempt 3)"


def test_429_waits_as_long_as_retry_after_says(webhook: Webhook) -> None:
    webhook.script = [(429, {"Retry-After": "7"}, "rate limited"), (200, {}, "ok")]
    sleeps = Sleeps()
    delivery = notifier(webhook.url, sleeps).deliver("start", "x")
    assert delivery.sent and delivery.attempts == 2
    assert sleeps.calls == [7.0]


def test_retry_after_as_a_date_and_a_cap(webhook: Webhook) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    webhook.script = [(429, {"Retry-After": soon}, ""), (429, {"Retry-After": "soon"}, "")]
    sleeps = Sleeps()
    delivery = notifier(webhook.url, sleeps, max_wait_s=30).deliver("start", "x")
    assert delivery.sent
    # Two hours is capped to 30 s; an unreadable header falls back to the back-off.
    assert sleeps.calls == [30.0, 1.0]


def test_gives_up_after_the_last_attempt_with_the_reason(webhook: Webhook) -> None:
    webhook.script = [(500, {}, "internal error")] * 3
    sleeps = Sleeps()
    delivery = notifier(webhook.url, sleeps).deliver("completion", "x")
    assert not delivery.sent
    assert len(webhook.requests) == 3
    assert len(sleeps.calls) == 2
    assert delivery.describe() == (
        "completion message not sent: HTTP 500 (internal error) after 3 attempts"
    )


def test_a_refused_message_is_not_retried(webhook: Webhook) -> None:
    webhook.script = [(404, {}, "no_service")]
    sleeps = Sleeps()
    delivery = notifier(webhook.url, sleeps).deliver("start", "x")
    assert delivery == Delivery("start", False, 1, "HTTP 404 (no_service)")
    assert sleeps.calls == []


def test_a_hanging_webhook_times_out_and_is_retried(webhook: Webhook) -> None:
    webhook.script = [HANG, HANG, HANG]
    delivery = notifier(webhook.url, timeout_s=0.2).deliver("start", "x")
    assert not delivery.sent
    assert len(webhook.requests) == 3
    assert delivery.reason == "no answer within 0.2 s"


def test_nobody_listening_is_a_connection_failure() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/{TOKEN}"
    delivery = notifier(url).deliver("start", "x")
    assert not delivery.sent and delivery.attempts == 3
    assert delivery.reason.startswith("cannot connect")
    assert TOKEN not in delivery.describe()


def test_unset_or_bad_variable_is_said_without_the_value() -> None:
    unset = WebhookNotifier(ENV, environ={}).deliver("start", "x")
    assert unset.reason == f"${ENV} is not set" and unset.attempts == 0
    bad = WebhookNotifier(ENV, environ={ENV: "hooks.example/" + TOKEN}).deliver("start", "x")
    assert bad.reason == f"${ENV} does not hold an http(s) URL"
    assert TOKEN not in bad.describe()
    assert not WebhookNotifier("").configured


def test_send_returns_at_once_and_reports_in_the_background(webhook: Webhook) -> None:
    webhook.script = [HANG]
    results: list[Delivery] = []
    hook = notifier(webhook.url)
    hook.send("start", "x", results.append)
    webhook.wait_for(1)
    assert hook.pending and results == []
    webhook.release.set()
    assert hook.wait(30)
    assert results == [Delivery("start", True, 1)]


def test_config_names_the_variable_and_rejects_a_pasted_url(tmp_path: Path) -> None:
    config = write_site(tmp_path, webhook_env=ENV)
    console = load_config(config).console
    assert (console.webhook_env, console.webhook_timeout_s, console.webhook_attempts) == (
        ENV,
        0.5,
        3,
    )
    text = config.read_text().replace(
        f'webhook_env = "{ENV}"', f'webhook_env = "https://x/{TOKEN}"'
    )
    config.write_text(text)
    with pytest.raises(ConfigError, match="webhook_env") as err:
        load_config(config)
    assert TOKEN not in str(err.value)


# =========================================================================== in the flow


def write_site(root: Path, **console: Any) -> Path:
    """Real release folders (v1 live, v0 before it) and a config for a host service."""
    for name, age in (("v0", 7200), ("v1", 3600)):
        folder = root / "releases" / name
        folder.mkdir(parents=True)
        stamp = datetime.now(UTC).timestamp() - age
        os.utime(folder, (stamp, stamp))
    os.symlink(root / "releases" / "v1", root / "current")
    extra = "".join(f'{key} = "{value}"\n' for key, value in console.items())
    path = root / "config.toml"
    path.write_text(
        f"""
[console]
operator = "alice"
history_file = "{root / "docs" / "rollback-history.md"}"
state_dir = "{root / "state"}"
webhook_timeout_s = 0.5
{extra}
[[services]]
name = "web"
environment = "production"
provider = "host"

[services.host]
strategy = "symlink"
releases_dir = "{root / "releases"}"
current_link = "{root / "current"}"

[services.error_rate]
source = "probe"
urls = ["http://127.0.0.1:9/health"]
"""
    )
    return path


class SteadySource:
    """Error rate as plain data: failing before the rollback, healthy after it."""

    name = "probe"

    def __init__(self) -> None:
        self.rate = 0.42

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def sample(self, since: datetime | None = None) -> Sample:
        return Sample(datetime.now(UTC), self.rate, 80.0, 200, "probe")

    def history(self, points: int = 60) -> list[Sample]:
        return []

    def wait_for_data(self, timeout_s: float) -> bool:
        return True


def rolled_back_flow(config: Config, url: str) -> tuple[RollbackFlow, SteadySource]:
    svc = config.service("web")
    source = SteadySource()
    flow = RollbackFlow(config, svc, load_provider(svc), source, reason="5xx after v1")
    flow.notifier = WebhookNotifier(
        ENV,
        environ={ENV: url},
        timeout_s=config.console.webhook_timeout_s,
        backoff_s=0.01,
        sleep=Sleeps(),
    )
    flow.refresh()
    flow.assess()
    return flow, source


def everything_written(config: Config, flow: RollbackFlow, *texts: str) -> str:
    """History, journal, postmortem drafts and the given outputs, as one string."""
    parts = list(texts)
    for folder in (config.console.history_file.parent, config.console.state_dir):
        parts += [p.read_text() for p in folder.rglob("*") if p.is_file()]
    parts += [f"{ev.kind} {ev.message}" for ev in flow.incident.timeline]
    return "\n".join(parts)


def test_rollback_finishes_while_the_webhook_hangs_then_the_timeline_says_sent(
    tmp_path: Path, webhook: Webhook
) -> None:
    config = load_config(write_site(tmp_path, webhook_env=ENV, language="ja"))
    # Long enough that nothing times out: the requests wait for the test's Event.
    config = replace(config, console=replace(config.console, webhook_timeout_s=60.0))
    webhook.script = [HANG, HANG]
    flow, source = rolled_back_flow(config, webhook.url)

    plan = flow.plan(None)
    ready = flow.execute(plan)
    assert ready.ready
    webhook.wait_for(1)  # the start message is out, and held by the webhook
    source.rate = 0.0
    flow.verify(window_s=0.05)
    webhook.wait_for(2)  # so is the completion message
    result = flow.record()
    assert result.record is not None
    draft = write_draft(result.record, config.console.history_file, "ja")

    # The rollback is done and recorded while both messages are still unanswered.
    assert result.outcome is Outcome.ROLLED_BACK
    assert (tmp_path / "current").resolve().name == "v0"
    assert flow.notifier is not None and flow.notifier.pending
    assert not any("message sent" in ev.message for ev in flow.incident.timeline)

    webhook.release.set()
    assert flow.notifier.wait(30)
    lines = [ev.message for ev in flow.incident.timeline if ev.kind == "notify"]
    assert "start message sent to the team webhook" in lines
    assert "completion message sent to the team webhook" in lines
    assert already_sent(flow.incident.timeline, "completion")

    start, completion = (r["json"]["text"] for r in webhook.requests)
    assert start.startswith("【ロールバック開始】") and "v1 から v0" in start
    assert completion.startswith("【ロールバック完了・復旧】")
    assert "確認結果: サービス正常稼働中" in completion
    journal = flow.incident.journal_file.read_text()
    assert "completion message sent to the team webhook" in journal
    assert draft.created

    written = everything_written(config, flow, start, completion)
    assert webhook.url not in written and TOKEN not in written


def test_a_failing_webhook_is_recorded_and_changes_nothing_else(
    tmp_path: Path, webhook: Webhook
) -> None:
    config = load_config(write_site(tmp_path, webhook_env=ENV))
    config = replace(config, console=replace(config.console, webhook_timeout_s=0.2))
    answers: list[tuple[int, dict[str, str], str] | str] = [(500, {}, "")] * 3
    webhook.script = answers + [HANG] * 3  # start: 500s; completion: timeouts
    flow, source = rolled_back_flow(config, webhook.url)
    flow.execute(flow.plan(None))
    webhook.wait_for(3)  # the start message's attempts come first
    source.rate = 0.0
    flow.verify(window_s=0.05)
    result = flow.record()
    assert result.outcome is Outcome.ROLLED_BACK
    assert flow.notifier is not None and flow.notifier.wait(30)
    lines = [ev.message for ev in flow.incident.timeline if ev.kind == "notify"]
    assert "start message not sent: HTTP 500 after 3 attempts" in lines
    assert "completion message not sent: no answer within 0.2 s after 3 attempts" in lines
    assert len(webhook.requests) == 6
    written = everything_written(config, flow)
    assert webhook.url not in written and TOKEN not in written


def test_a_failed_rollback_still_tells_the_team(tmp_path: Path, webhook: Webhook) -> None:
    config = load_config(write_site(tmp_path, webhook_env=ENV))
    flow, _ = rolled_back_flow(config, webhook.url)
    flow.execute(flow.plan(None))
    flow.execute_error = "systemctl restart web exited 3"
    flow.record()
    assert flow.notifier is not None and flow.notifier.wait(30)
    texts = [r["json"]["text"] for r in webhook.requests]
    assert len(texts) == 2 and texts[1].startswith("[Rollback FAILED] web (production)")


def test_without_a_webhook_nothing_is_sent_or_logged(tmp_path: Path) -> None:
    config = load_config(write_site(tmp_path))
    flow, source = rolled_back_flow(config, "http://127.0.0.1:9/never")
    flow.notifier = None  # as the console builds it: from the config, which names no variable
    flow.execute(flow.plan(None))
    source.rate = 0.0
    flow.verify(window_s=0.05)
    flow.record()
    assert not [ev for ev in flow.incident.timeline if ev.kind == "notify"]
    assert "[Rollback complete: service recovered]" in flow.notification("completion")


# =========================================================================== headless, end to end


def test_headless_rollback_tells_the_team_and_writes_the_postmortem(
    tmp_path: Path, webhook: Webhook
) -> None:
    """`rollback-console rollback` on the demo sandbox (real process, real HTTP, real webhook)."""
    box = build_sandbox(tmp_path / "sandbox")
    data = tomllib.loads(box.config_path.read_text())
    data["console"].update(webhook_env=ENV, language="ja")
    box.config_path.write_text(tomli_w.dumps(data))
    webhook.script = [(503, {}, "busy")]  # the start message needs a second attempt
    box.start()
    try:
        result = subprocess.run(
            [
                *(sys.executable, "-m", "console.cli", "rollback", "web", "--yes"),
                *("--config", str(box.config_path), "--reason", "5xx after v1.3.0"),
                *("--verify-window", "2"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            env={**os.environ, ENV: webhook.url},
        )
    finally:
        box.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "team notification: start message sent to the team webhook (attempt 2)" in out
    assert "team notification: completion message sent to the team webhook" in out
    drafts = list((box.root / "postmortems").glob("*.md"))
    assert len(drafts) == 1 and f"postmortem draft: {drafts[0]}" in out
    draft = drafts[0].read_text()
    assert draft.startswith("# ポストモーテム（下書き）: web (demo) v1.3.0 → v1.2.9")
    texts = [r["json"]["text"] for r in webhook.requests]
    assert texts[0] == texts[1] and texts[0].startswith("【ロールバック開始】")
    assert texts[2].startswith("【ロールバック完了・復旧】") and "v1.3.0 から v1.2.9" in texts[2]
    # The URL never shows: not in the output, the history, the draft or the journal.
    written = result.stdout + result.stderr
    for path in box.root.rglob("*"):
        if path.is_file() and path.suffix in (".md", ".jsonl", ".toml", ".log", ".txt"):
            written += path.read_text(errors="replace")
    assert TOKEN not in written and webhook.url not in written


# =========================================================================== on screen


class RecordApp(App[None]):
    """The Record step on its own, over an empty screen (as the wizard leaves it)."""

    def __init__(self, flow: RollbackFlow) -> None:
        super().__init__()
        self.flow = flow

    def on_mount(self) -> None:
        self.push_screen(RecordScreen(self.flow))


async def settle_until(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    """Pause the pilot until ``condition`` holds (bounded; not a timing assertion)."""
    for _ in range(600):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"gave up waiting for {what}; screen is {pilot.app.screen!r}")


def test_message_kind_follows_the_rollback(tmp_path: Path, webhook: Webhook) -> None:
    config = load_config(write_site(tmp_path, webhook_env=ENV))
    flow, source = rolled_back_flow(config, webhook.url)
    assert message_kind(flow) == "start"  # before execution: tell the team it starts
    flow.execute(flow.plan(None))
    assert message_kind(flow) == "start"
    source.rate = 0.0
    flow.verify(window_s=0.05)
    assert message_kind(flow) == "completion"
    assert flow.notifier is not None and flow.notifier.wait(30)


async def test_record_step_writes_the_draft_says_what_the_webhook_did_and_copies(
    tmp_path: Path, webhook: Webhook
) -> None:
    config = load_config(write_site(tmp_path, webhook_env=ENV))
    config = replace(config, console=replace(config.console, webhook_timeout_s=60.0))
    webhook.script = [(200, {}, "ok"), HANG]  # the completion message is held
    flow, source = rolled_back_flow(config, webhook.url)
    flow.execute(flow.plan(None))
    webhook.wait_for(1)
    source.rate = 0.0
    flow.verify(window_s=0.05)
    webhook.wait_for(2)
    app = RecordApp(flow)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle_until(pilot, lambda: isinstance(app.screen, RecordScreen), "record")
        record = cast(RecordScreen, app.screen)
        await pilot.press("c")  # nothing to copy before the entry is saved
        assert app.screen is record
        await pilot.press("ctrl+s")
        await settle_until(pilot, lambda: record.saved is not None, "the saved entry")
        saved = str(record.query_one("#record-saved").render())
        drafts = list((tmp_path / "docs" / "postmortems").glob("*.md"))
        # One line: the draft's path from the history file's folder (the line above names it).
        assert len(drafts) == 1 and f"Postmortem draft: postmortems/{drafts[0].name}" in saved
        assert "Team: Sending the completion message to the team webhook." in saved
        # The webhook answers; the line follows without anyone pressing a key.
        webhook.release.set()
        await settle_until(
            pilot,
            lambda: "Completion message sent" in str(record.query_one("#record-saved").render()),
            "the webhook's answer on screen",
        )
        await pilot.press("c")
        await settle_until(
            pilot, lambda: isinstance(app.screen, NotificationScreen), "the team message"
        )
        message = app.screen
        assert isinstance(message, NotificationScreen)
        assert app.clipboard == message.text == flow.notification("completion")
        assert message.text.startswith("[Rollback complete: service recovered] web (production)")
        status = str(message.query_one("#notify-status").render())
        assert status == "Completion message sent to the team webhook."
        await pilot.press("escape")
        await settle_until(pilot, lambda: app.screen is record, "back on the record step")
    written = everything_written(config, flow, saved, status)
    assert webhook.url not in written and TOKEN not in written


def test_check_config_says_whether_the_webhook_variable_is_set_never_its_value(
    tmp_path: Path,
) -> None:
    config = write_site(tmp_path, webhook_env=ENV)

    def check(env: dict[str, str]) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "console.cli", "check-config", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in {**os.environ, **env}.items() if v},
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    secret = f"https://hooks.example/services/{TOKEN}"
    with_url = check({ENV: secret})
    assert f"team webhook: ${ENV} (set)" in with_url
    assert TOKEN not in with_url and "hooks.example" not in with_url
    assert f"team webhook: ${ENV} (NOT SET" in check({ENV: ""})


def test_interrupted_message_says_the_outcome_is_not_known_and_how_it_goes_on() -> None:
    en = render_message("interrupted", make_record(), "en", tz=JST)
    assert en.startswith("[Rollback interrupted: outcome not known yet] web (production)")
    assert "Action: rolling web back from v1.3.0 to v1.2.9" in en
    assert "alice resumes it once the platform answers (rollback-console resume web)" in en
    ja = render_message("interrupted", make_record(), "ja", tz=JST)
    assert ja.startswith("【ロールバック中断：結果未確定】")
    assert "対象サービス: web" in ja
    assert "alice が再開します（rollback-console resume web）" in ja


class UnknownOutcome:
    """The host provider, except that the switch's outcome cannot be told (``OutcomeUnknown``),
    as when a platform API loses the answer and then stops answering."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def execute(self, plan: Any) -> Iterator[Any]:
        from console.model import ProgressEvent, ProgressStatus
        from providers.base import OutcomeUnknown

        yield ProgressEvent(0, ProgressStatus.STARTED, plan.steps[0].command)
        raise OutcomeUnknown("no answer to the switch, and the platform cannot be read")

    def parts(self) -> tuple[Any, ...]:
        """Typed steps run by parts: each of the host's, with its answer lost."""
        return tuple(LostAnswer(part.ops) for part in self.inner.parts())


class LostAnswer:
    """A part that sends its change and never learns whether it took effect."""

    def __init__(self, ops: frozenset[str]) -> None:
        self.ops = ops

    def run(self, step: Any, plan: Any) -> Iterator[str]:
        from providers.base import OutcomeUnknown

        raise OutcomeUnknown("no answer to the switch, and the platform cannot be read")
        yield ""  # a generator, as every part's run

    def took_effect(self, step: Any, plan: Any) -> bool | None:
        return None


def test_a_rollback_left_open_tells_the_team_it_is_interrupted(
    tmp_path: Path, webhook: Webhook
) -> None:
    from providers.base import OutcomeUnknown

    config = load_config(write_site(tmp_path, webhook_env=ENV))
    flow, _ = rolled_back_flow(config, webhook.url)
    flow.provider = UnknownOutcome(flow.provider)
    with pytest.raises(OutcomeUnknown):
        flow.execute(flow.plan(None))
    assert message_kind(flow) == "interrupted"
    assert flow.notifier is not None and flow.notifier.wait(30)
    texts = [r["json"]["text"] for r in webhook.requests]
    assert len(texts) == 2, texts
    assert texts[0].startswith("[Rollback started] web (production)")
    assert texts[1].startswith("[Rollback interrupted: outcome not known yet] web (production)")
    lines = [ev.message for ev in flow.incident.timeline if ev.kind == "notify"]
    assert "interrupted message sent to the team webhook" in lines
    assert not config.console.history_file.exists()
