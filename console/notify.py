"""Team notifications: runbook 001's start and completion messages, and their webhook.

``render_message`` fills the templates of ``console.templates`` (English or
Japanese, ``[console] language``) from a ``HistoryRecord``: the service,
environment, from -> to version, reason, operator, severity, time, outcome,
time to recover and the error rate before / after.  The same text is shown
for copying (the TUI copies it with OSC 52) and posted to the team.

``WebhookNotifier`` posts ``{"text": ...}`` to a Slack-compatible incoming
webhook whose URL is in the environment variable ``[console] webhook_env``
names.  The URL is a secret: it is read when a message goes out, and every
text this module produces (the result lines that go into the incident
timeline, the journal and the history) is redacted of it.  Sending happens in
a daemon thread, so a slow or dead webhook never holds up the rollback;
5xx, 408, 429 (after its ``Retry-After``), timeouts and connection errors are
retried with exponential back-off, other answers are final.
"""

from __future__ import annotations

import contextlib
import email.utils
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from string import Template
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from console import templates
from console.config import ConsoleConfig
from console.history import format_duration
from console.model import HistoryRecord, Revision, Sample, TimelineEvent
from console.outcomes import outcome_text
from console.redact import Redactor, env_secrets
from console.textsafe import one_line

if TYPE_CHECKING:
    from console.flow import RollbackFlow

#: The two messages of runbook 001 (when execution starts, and after verification), and
#: the one for a rollback left open because its outcome is not known (``OutcomeUnknown``).
KINDS = ("start", "completion", "interrupted")
#: Timeline kind of every notification line (what ``already_sent`` looks for).
TIMELINE_KIND = "notify"


# --------------------------------------------------------------------------- rendering


def format_time(dt: datetime, tz: tzinfo | None = None) -> str:
    """``2026-01-16 11:00 JST`` (runbook 001's ``YYYY-MM-DD HH:MM JST``) in ``tz`` (default local).

    A zone without a real abbreviation shows its UTC offset instead.
    """
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    local = dt.astimezone(tz)
    name = local.tzname() or ""
    if not name or name[0] in "+-" or (name.startswith("UTC") and len(name) > 3):
        raw = local.strftime("%z")
        name = f"UTC{raw[:3]}:{raw[3:5]}" if len(raw) >= 5 else "UTC"
    return f"{local:%Y-%m-%d %H:%M} {name}"


def version_of(rev: Revision | None, missing: str) -> str:
    """What the team calls a revision: its version label, else its id."""
    if rev is None:
        return missing
    return rev.version or rev.id or missing


def error_rate_text(sample: Sample | None, language: str) -> str:
    """``61.0% (p95 380 ms)``, or "not measured" in ``language``."""
    if sample is None or sample.error_rate is None:
        return templates.label(language, "not measured")
    p95 = f" (p95 {sample.p95_ms:.0f} ms)" if sample.p95_ms is not None else ""
    return f"{sample.error_rate:.1%}{p95}"


def duration_text(seconds: float, language: str) -> str:
    """``7m 12s`` in English, ``7分12秒`` in Japanese (both read back by ``parse_duration``)."""
    if language != "ja":
        return format_duration(seconds)
    minutes, secs = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}時間{minutes:02d}分{secs:02d}秒" if hours else f"{minutes}分{secs:02d}秒"


def message_values(
    record: HistoryRecord,
    language: str,
    *,
    tz: tzinfo | None = None,
    redact: Callable[[str], str] | None = None,
) -> dict[str, str]:
    """Every ``${name}`` the notification and postmortem templates use, as display text."""
    red = redact or (lambda text: text)

    def label(key: str) -> str:
        return templates.label(language, key)

    outcome = record.outcome.value
    ttr = record.time_to_recover_s
    recovered = record.recovered_at
    values = {
        "incident_id": record.incident_id,
        "service": record.service,
        "environment": record.environment,
        "from_version": version_of(record.from_revision, label("unknown")),
        "to_version": version_of(record.to_revision, label("none")),
        "reason": record.reason,
        "impact": record.impact,
        "operator": record.operator,
        "severity": record.severity.value.capitalize(),
        "detected_at": format_time(record.detected_at, tz),
        "date": format_time(record.finished_at, tz),
        "time": format_time(recovered or record.finished_at, tz),
        "time_label": label("time.recovered" if recovered else "time.finished"),
        "recovered_at": format_time(recovered, tz) if recovered else label("not recovered"),
        "outcome": label(f"outcome.{outcome}"),
        "headline": label(f"headline.{outcome}"),
        **_action_values(record, language, label),
        "time_to_recover": duration_text(ttr, language)
        if ttr is not None
        else label("not recovered"),
        "error_rate_before": error_rate_text(record.before, language),
        "error_rate_after": error_rate_text(record.after, language),
        # What would re-apply the broken version, and what was done about it (a suspended
        # GitOps controller and how to re-enable it): the whole line, or "" when nothing.
        "undone_by": label("undone_by") + "; ".join(record.undone_by) if record.undone_by else "",
    }
    return {name: one_line(red(value)) for name, value in values.items()}


def _action_values(
    record: HistoryRecord, language: str, label: Callable[[str], str]
) -> dict[str, str]:
    """``${action}`` (what was done), ``${action_start}``, ``${start_headline}`` and
    ``${change}`` (the postmortem's title).

    A rollback reads "rolled web back from v1.3.0 to v1.2.9"; a provider
    action (restart, image rollback, gradual shift) names itself instead, and
    the headline and ``${outcome}`` say what it did ("restarted and verified",
    "restart, not verified") rather than "Rollback complete".
    """
    frm = version_of(record.from_revision, label("unknown"))
    to = version_of(record.to_revision, label("none"))
    if not record.action:
        if language == "ja":
            return {
                "action": f"{frm} から {to} にロールバック",
                "action_start": f"{frm} から {to} へのロールバックを開始します",
                "start_headline": "【ロールバック開始】",
                "change": f"{frm} → {to} のロールバック",
            }
        return {
            "action": f"rolled {record.service} back from {frm} to {to}",
            "action_start": f"rolling {record.service} back from {frm} to {to}",
            "start_headline": "[Rollback started]",
            "change": f"rolled back {frm} → {to}",
        }
    span = f"{record.action} ({frm} → {to})"
    name = record.action.split()[0]
    if language == "ja":
        outcome = label(f"action.{record.outcome.value}").replace("{action}", name)
        return {
            "action": span,
            "action_start": f"{span} を開始します",
            "outcome": outcome,
            "headline": f"【{outcome}】",
            "start_headline": f"【{record.action} 開始】",
            "change": span,
        }
    # What the action did ("restarted and verified"), never "rolled back" or "service healthy".
    outcome = outcome_text(record.outcome, record.action)
    return {
        "action": span,
        "action_start": span,
        "outcome": outcome,
        "headline": f"[{outcome[:1].upper()}{outcome[1:]}]",
        "start_headline": f"[{record.action} started]",
        "change": span,
    }


def render_message(
    kind: str,
    record: HistoryRecord,
    language: str,
    *,
    tz: tzinfo | None = None,
    redact: Callable[[str], str] | None = None,
) -> str:
    """The ``kind`` ("start" or "completion") message for ``record``, in ``language``.

    For "start", ``record.finished_at`` is the moment the message is made (the
    start time); for "completion" the outcome and recovery come from the record.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r} (known: {', '.join(KINDS)})")
    values = message_values(record, language, tz=tz, redact=redact)
    text = templates.load(kind, language).template
    # A line that is only a value left empty (``${undone_by}`` with nothing to say) goes.
    text = _LONE_VALUE.sub(lambda m: "" if values.get(m["name"]) == "" else m[0], text)
    return Template(text).substitute(values).rstrip("\n") + "\n"


#: A template line holding one ``${name}`` and nothing else.
_LONE_VALUE = re.compile(r"(?m)^\$\{(?P<name>\w+)\}[ \t]*\n")


def slack_escape(text: str) -> str:
    """Slack's text escaping: ``&``, ``<``, ``>`` (so a reason cannot ``<!channel>`` everyone)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message_kind(flow: RollbackFlow) -> str:
    """Which message the team needs now: "completion" once the rollback has an end,
    "interrupted" while its outcome is not known, else "start".

    Before execution the start message can already be copied (the prepare
    checklist's "team told a rollback is starting").
    """
    if flow.outcome_unknown:
        return "interrupted"
    ended = (
        flow.incident.verification is not None
        or bool(flow.execute_error)
        or (flow.ready is not None and not flow.ready.ready)
    )
    return "completion" if flow.executed and ended else "start"


def already_sent(timeline: Iterable[TimelineEvent], kind: str) -> bool:
    """Whether the timeline (of a resumed incident, say) records the ``kind`` message as sent."""
    prefix = f"{kind} message sent"
    return any(ev.kind == TIMELINE_KIND and ev.message.startswith(prefix) for ev in timeline)


# --------------------------------------------------------------------------- the webhook


@dataclass(frozen=True)
class Delivery:
    """What became of one message.  ``reason`` never contains the webhook URL."""

    kind: str
    sent: bool
    attempts: int
    reason: str = ""

    def describe(self) -> str:
        """The timeline line: ``completion message sent to the team webhook`` or why not."""
        if self.sent:
            retried = f" (attempt {self.attempts})" if self.attempts > 1 else ""
            return f"{self.kind} message sent to the team webhook{retried}"
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{self.kind} message not sent: {self.reason}{tries}"


#: How long a message waits for the one sent before it to be answered, to keep their order.
ORDER_WAIT_S = 2.0


class WebhookNotifier:
    """Posts messages to the Slack-compatible webhook named by ``env_name``, in the background.

    ``send`` returns at once; ``deliver`` is the blocking part (also usable on
    its own).  ``wait`` lets a command that is about to exit give pending
    messages their chance.  ``sleep`` and ``transport`` exist for tests.
    """

    def __init__(
        self,
        env_name: str,
        *,
        environ: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        attempts: int = 3,
        backoff_s: float = 1.0,
        max_wait_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.env_name = env_name
        self.environ = os.environ if environ is None else environ
        self.timeout_s = timeout_s
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self.sleep = sleep
        self.transport = transport
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.results: list[Delivery] = []
        #: Kinds of the messages sent and not yet delivered or given up on.
        self._in_flight: list[str] = []

    @classmethod
    def from_config(cls, console: ConsoleConfig) -> WebhookNotifier:
        return cls(
            console.webhook_env,
            timeout_s=console.webhook_timeout_s,
            attempts=console.webhook_attempts,
        )

    @property
    def configured(self) -> bool:
        """True when the config names a webhook variable (set or not)."""
        return bool(self.env_name)

    def _url(self) -> str:
        return self.environ.get(self.env_name, "").strip() if self.env_name else ""

    def redact(self, text: str) -> str:
        """``text`` without the webhook URL (or its path, which holds the token).

        The same rule ``Config.redactor`` applies to every ``*_env`` value
        (``console.redact.env_secrets``); this one reads the variable now.
        """
        return Redactor(env_secrets(self._url()))(text)

    # ----------------------------------------------------------------- sending

    def send(
        self, kind: str, text: str, on_result: Callable[[Delivery], object] | None = None
    ) -> threading.Thread:
        """Deliver ``text`` in a daemon thread and call ``on_result`` there; returns at once.

        Messages go out in the order they were sent, so the team never reads
        "complete" before "started"; a message whose predecessor gets no answer
        for ``ORDER_WAIT_S`` goes out anyway.
        """

        def run() -> None:
            if previous is not None:
                # In the order they were sent ("started" before "complete"), unless the
                # earlier one hangs: then this one goes anyway, a moment later.
                previous.join(ORDER_WAIT_S)
            try:
                delivery = self.deliver(kind, text)
            except Exception as exc:  # a bug here must not take the console down
                delivery = Delivery(kind, False, 0, self.redact(f"{type(exc).__name__}: {exc}"))
            with self._lock:
                self.results.append(delivery)
                self._in_flight.remove(kind)
            if on_result is not None:
                # e.g. the journal's disk is full: the sender just ends.
                with contextlib.suppress(Exception):
                    on_result(delivery)

        thread = threading.Thread(target=run, name=f"notify-{kind}", daemon=True)
        with self._lock:
            previous = self._threads[-1] if self._threads else None
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            self._in_flight.append(kind)
        thread.start()
        return thread

    def outcome(self) -> tuple[list[Delivery], list[str]]:
        """What is known at this moment: the deliveries that ended, and the kinds of the
        messages still being sent (each message in exactly one of the two)."""
        with self._lock:
            return list(self.results), list(self._in_flight)

    @property
    def pending(self) -> bool:
        with self._lock:
            return any(t.is_alive() for t in self._threads)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for messages in flight (at most ``timeout_s`` in all); True when none is left."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
        return not self.pending

    def deliver(self, kind: str, text: str) -> Delivery:
        """Post ``text`` with retries (blocking); the result, with a reason free of the URL."""
        if not self.env_name:
            return Delivery(kind, False, 0, "no webhook configured ([console] webhook_env)")
        url = self._url()
        if not url:
            return Delivery(kind, False, 0, f"${self.env_name} is not set")
        if urlsplit(url).scheme not in ("http", "https"):
            return Delivery(kind, False, 0, f"${self.env_name} does not hold an http(s) URL")
        payload = {"text": slack_escape(text)}
        reason = ""
        with httpx.Client(
            timeout=self.timeout_s, transport=self.transport, follow_redirects=False
        ) as client:
            for attempt in range(1, self.attempts + 1):
                wait: float | None = None
                try:
                    response = client.post(url, json=payload)
                except httpx.TimeoutException:
                    reason = f"no answer within {self.timeout_s:g} s"
                except httpx.HTTPError as exc:
                    reason = _transport_reason(exc)
                else:
                    status = response.status_code
                    if 200 <= status < 300:
                        return Delivery(kind, True, attempt)
                    reason = f"HTTP {status}{_body_excerpt(response)}"
                    if status == 429:
                        wait = self._retry_after(response.headers.get("Retry-After"))
                    elif status < 500 and status != 408:
                        # The webhook refused the message itself: sending it again will not help.
                        return Delivery(kind, False, attempt, self.redact(reason))
                if attempt < self.attempts:
                    self.sleep(wait if wait is not None else self.backoff_s * 2 ** (attempt - 1))
        return Delivery(kind, False, self.attempts, self.redact(reason))

    def _retry_after(self, value: str | None) -> float | None:
        """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), capped."""
        if not value:
            return None
        value = value.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - datetime.now(UTC)).total_seconds()
        return min(max(0.0, seconds), self.max_wait_s)


def _transport_reason(exc: httpx.HTTPError) -> str:
    """A short reason for a request that got no answer (no URL: httpx errors may carry it)."""
    detail = one_line(str(exc))[:120]
    kinds: dict[type[httpx.HTTPError], str] = {
        httpx.ConnectError: "cannot connect",
        httpx.RemoteProtocolError: "the connection broke",
        httpx.ReadError: "the connection broke",
        httpx.WriteError: "the connection broke",
    }
    kind = kinds.get(type(exc), type(exc).__name__)
    return f"{kind}: {detail}" if detail else kind


def _body_excerpt(response: httpx.Response) -> str:
    try:
        body = one_line(response.text)[:80]
    except Exception:
        return ""
    return f" ({body})" if body else ""
