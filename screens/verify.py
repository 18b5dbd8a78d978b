"""Step 6, Verify: prove the service recovered by watching it for the verify window.

``flow.verify`` (blocking: health checks and the error-rate source over the
window) runs in a thread worker and reports a ``VerifyTick`` every interval;
ticks are posted to this screen as messages and only rendered here.  ``a``
sets the stop event: the flow then records the rollback as not verified, so
aborting is never silent.  The verify checklist items (health, error rate,
latency) are ticked by the flow when the verdict is in and shown from the
incident, not guessed by the screen.  Enter while watching means "open the
record once it passed": the screen is busy until the verdict, so keys typed
ahead wait for the record; a verdict that did not pass drops them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.widgets import ProgressBar, Static
from textual.worker import Worker, WorkerState

from console.flow import RollbackFlow
from console.model import HealthResult, ItemState, Outcome, Sample, Verification
from console.outcomes import outcome_text
from console.redact import display_url
from console.textsafe import printable
from console.verify import VerifyTick, watch_limit
from screens import wizard
from screens.flow_common import STATE_MARKS, AskYesNo, FlowScreen, millis, percent

#: The verify items the flow ticks itself from the verdict.
AUTO_ITEMS = ("health", "error-rate", "latency")


def health_lines(results: tuple[HealthResult, ...]) -> Content:
    """One line per health check: ok/FAIL, URL, status or error, latency."""
    if not results:
        return Content.from_markup("[$text-muted]no health result yet[/]")
    lines = []
    for result in results:
        answer = (
            str(result.status_code) if result.status_code is not None else printable(result.error)
        )
        latency = f" {result.latency_ms:.0f} ms" if result.latency_ms is not None else ""
        mark = "[$text-success]ok  [/]" if result.ok else "[b $text-error]FAIL[/]"
        lines.append(
            Content.from_markup(
                f"{mark} $url $answer$latency",
                url=printable(display_url(result.url)),
                answer=answer,
                latency=latency,
            )
        )
    return Content("\n").join(lines)


def compare_line(label: str, before: str, now: str, good: bool | None) -> Content:
    """ "Error rate  61.2% before  ->  0.0% now", the "now" coloured by whether it is good."""
    style = "" if good is None else ("$text-success" if good else "$text-error")
    now_markup = f"[b {style}]$now[/]" if style else "[b]$now[/]"
    return Content.from_markup(
        f"$label $before before  →  {now_markup} now",
        label=f"{label:<11}",
        before=before,
        now=now,
    )


class VerifyScreen(FlowScreen):
    """Watches the service for ``window_s`` seconds (default: the service's verify window)."""

    STEP = 6
    HEADLINE = "Verify: is the service healthy again?"
    CSS_PATH = "verify.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "a",
            "abort",
            "Abort verify",
            tooltip="Stop watching; recorded as not verified",
            id="verify-abort",
        ),
        Binding("enter", "next", "Continue", tooltip="Write the history entry", id="verify-next"),
        Binding(
            "enter",
            "next_when_passed",
            "Continue once passed",
            show=False,  # the footer offers only what acts at once
            tooltip="While watching: open the record as soon as verification passes",
            id="verify-next-when-passed",
        ),
        Binding(
            "escape",
            "leave",
            "Leave…",
            tooltip="Leave the rollback (asks first)",
            id="verify-leave",
        ),
    ]

    @dataclass
    class Tick(Message):
        """One verify tick, posted from the worker thread."""

        tick: VerifyTick

    def __init__(self, flow: RollbackFlow, window_s: float | None = None) -> None:
        super().__init__(flow)
        self.window_s = flow.service.verify_window_s if window_s is None else window_s
        self.stop = threading.Event()
        self.verification: Verification | None = None
        self.failed_to_run = False
        #: Enter pressed while watching: go on to the record if (only if) it passes.
        self.next_when_passed = False

    def compose_body(self) -> ComposeResult:
        svc = self.flow.service
        th = svc.thresholds
        yield Static(
            Content(
                f"Watching for {self.window_s:.0f} s: every health check must pass, "
                f"error rate below {th.ok_error_rate:.0%}, p95 below {th.ok_p95_ms:.0f} ms, "
                f"over at least {svc.verify_min_rounds} health rounds and "
                f"{svc.verify_min_requests} requests (watched longer for them, at most "
                f"{watch_limit(self.window_s):.0f} s)."
            ),
            id="verify-intro",
        )
        yield ProgressBar(total=self.window_s, show_eta=False, id="verify-progress")
        yield Static("", id="verify-left")
        yield Static(health_lines(()), id="verify-health")
        yield Static("", id="verify-rate")
        yield Static("", id="verify-p95")
        yield Static(self._items(), id="verify-items")
        yield Static("", id="verify-verdict")

    @property
    def busy(self) -> bool:
        return self.next_when_passed and not self.done

    def on_mount(self) -> None:
        self._show_numbers(None)
        self.hint("wait for the verdict · [b]a[/b] aborts (recorded as not verified)")
        self.watch_service()

    # ----------------------------------------------------------------- worker

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify")
    def watch_service(self) -> Verification:
        return self.flow.verify(window_s=self.window_s, on_tick=self._post_tick, stop=self.stop)

    def _post_tick(self, tick: VerifyTick) -> None:
        self.post_message(self.Tick(tick))

    @on(Tick)
    def _tick(self, message: Tick) -> None:
        tick = message.tick
        self.query_one("#verify-progress", ProgressBar).update(
            total=tick.window_s, progress=min(tick.elapsed_s, tick.window_s)
        )
        left = max(0.0, tick.window_s - tick.elapsed_s)
        line = Content(f"{left:.0f} s left of {tick.window_s:.0f} s")
        if left <= 0 and not tick.enough and not tick.failed:
            requests = tick.sample.requests if tick.sample is not None else 0
            more = max(0.0, tick.limit_s - tick.elapsed_s)
            line = Content(
                f"window over; still too little evidence: {tick.rounds} of "
                f"{tick.rounds_needed} health rounds, {requests} of {tick.requests_needed} "
                f"requests (at most {more:.0f} s more)"
            )
        if tick.failed:
            line += Content.from_markup(
                " · [b $text-error]$n failed check(s): this will not pass[/]", n=tick.failures
            )
        elif tick.ignored:
            line += Content.from_markup(
                " · [$text-warning]$n start-up failure(s) forgiven[/]", n=tick.ignored
            )
        self.query_one("#verify-left", Static).update(line)
        self.query_one("#verify-health", Static).update(health_lines(tuple(tick.health)))
        self._show_numbers(tick.sample)

    def _show_numbers(self, now: Sample | None) -> None:
        before = self.flow.incident.before
        th = self.flow.service.thresholds
        rate_now = now.error_rate if now else None
        p95_now = now.p95_ms if now else None
        self.query_one("#verify-rate", Static).update(
            compare_line(
                "Error rate",
                percent(before.error_rate if before else None),
                percent(rate_now),
                None if rate_now is None else rate_now < th.ok_error_rate,
            )
        )
        self.query_one("#verify-p95", Static).update(
            compare_line(
                "p95",
                millis(before.p95_ms if before else None),
                millis(p95_now),
                None if p95_now is None else p95_now < th.ok_p95_ms,
            )
        )

    @on(Worker.StateChanged)
    def _finished(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "verify":
            return
        verdict = self.query_one("#verify-verdict", Static)
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, Verification):
            result = event.worker.result
            self.verification = result
            bar = self.query_one("#verify-progress", ProgressBar)
            if result.passed:
                bar.update(progress=bar.total or 0.0)
                verdict.update(
                    Content.from_markup(
                        "[b $text-success]PASSED:[/] $m", m=printable(result.message)
                    )
                )
            else:
                verdict.update(
                    Content.from_markup(
                        "[b $text-error]NOT VERIFIED:[/] $m", m=printable(result.message)
                    )
                )
            if result.after is not None:
                self._show_numbers(result.after)
            if result.health:
                self.query_one("#verify-health", Static).update(health_lines(result.health))
        elif event.state is WorkerState.ERROR:
            self.failed_to_run = True
            verdict.update(
                Content.from_markup(
                    "[b $text-error]NOT VERIFIED:[/] verification could not run: $e",
                    e=printable(self.flow.redact(str(event.worker.error))),
                )
            )
        else:
            return
        self.query_one("#verify-left", Static).update("")
        self.query_one("#verify-items", Static).update(self._items())
        self.refresh_bindings()
        self.hint("[b]Enter[/b] to review and save the history entry")
        passed = self.verification is not None and self.verification.passed
        if self.next_when_passed and passed:
            self.next_when_passed = False
            wizard.to_record(self.app, self.flow)
            return
        if not passed and self.drop_typed_ahead():
            self.hint(
                "[b]Enter[/b] to review and save the history entry "
                "(keys typed ahead were ignored: it did not pass)"
            )
        self.next_when_passed = False
        self.keys_may_come()

    def _items(self) -> Content:
        incident = self.flow.incident
        lines = []
        for item in incident.checklist:
            if item.id not in AUTO_ITEMS:
                continue
            state = incident.state_of(item.id)
            if state is ItemState.PENDING and self.done is False:
                marker = Content.from_markup("[$text-muted]…  [/]")
                lines.append(marker + Content(f"{item.text} (watching)"))
                continue
            style = "$text-success" if state is ItemState.DONE else "$text-error"
            lines.append(
                Content.from_markup(f"[{style}]$m[/] $t", m=STATE_MARKS[state], t=item.text)
            )
        return Content("\n").join(lines)

    @property
    def done(self) -> bool:
        return self.verification is not None or self.failed_to_run

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer only what acts now: "abort" while watching, "continue" once there is a verdict."""
        if action == "abort":
            return not self.done
        if action == "next":
            return self.done
        if action == "next_when_passed":
            return not self.done
        return True

    # ----------------------------------------------------------------- actions

    def action_abort(self) -> None:
        if self.done:
            return
        self.stop.set()
        self.hint("stopping… the result will be recorded as not verified")

    def action_next_when_passed(self) -> None:
        self.action_next()

    def action_next(self) -> None:
        if not self.done:
            self.next_when_passed = True
            self.hint("the record opens as soon as verification passes · [b]Esc[/b] asks to abort")
            return
        wizard.to_record(self.app, self.flow)

    def _action(self) -> str:
        plan = self.flow.incident.plan
        return plan.action if plan is not None else ""

    def action_leave(self) -> None:
        if not self.done:

            def answered(abort: bool | None) -> None:
                if abort:
                    self.action_abort()

            self.app.push_screen(
                AskYesNo(
                    "Stop verifying now? The history entry will say "
                    f"'{outcome_text(Outcome.NOT_VERIFIED, self._action())}'.",
                    yes_label="Abort verify",
                    no_label="Keep watching",
                ),
                answered,
            )
            return
        wizard.ask_leave_unrecorded(self.app, self.return_to_dashboard)
