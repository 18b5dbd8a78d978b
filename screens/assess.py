"""Step 1, Assess: how bad is it, what do the runbooks recommend, and why are we rolling back.

``flow.assess()`` (blocking: health checks, the error-rate source, the
platform) runs in a thread worker; the screen only renders its ``Assessment``.
The decision countdown is recomputed every second from the assessment's
deadline and the clock, never from a local counter, so it cannot drift.

The reason is prefilled from the assessment (``suggested_reason``) and Enter
accepts it; the entry records whether it was accepted or typed.  Enter
pressed before the assessment is in means "continue as soon as it is": the
screen is busy until then, so keys typed ahead wait (``screens.typeahead``).
Nothing is changed on the platform here; Escape returns to the dashboard,
asking first once a reason was typed or an item ticked.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Input, Label, LoadingIndicator, Static
from textual.worker import Worker, WorkerState, get_current_worker

from console.flow import FIRST_SAMPLE_WAIT_S, RollbackFlow
from console.model import Assessment, Severity, utcnow
from console.severity import format_remaining, suggested_reason
from screens import wizard
from screens.flow_common import AskYesNo, FlowScreen, bullet_lines, millis, percent


class AssessScreen(FlowScreen):
    """Shows severity, recommendation, reasons, numbers and the decision deadline; asks why.

    ``target`` is the revision the operator picked on the dashboard (None: the
    previous one); it is handed on to the target step.  ``clock`` exists for
    tests that need a frozen countdown.
    """

    STEP = 1
    HEADLINE = "Assess: how bad is it?"
    CSS_PATH = "assess.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+n",
            "continue",
            "Continue",
            priority=True,
            tooltip="Save the reason, go on",
            id="assess-continue",
        ),
        Binding(
            "ctrl+r",
            "reassess",
            "Re-assess",
            tooltip="Read health and error rate again",
            id="assess-reassess",
        ),
        Binding(
            "escape",
            "leave",
            "Dashboard",
            tooltip="Back to the dashboard, nothing done",
            id="assess-leave",
        ),
    ]

    def __init__(
        self,
        flow: RollbackFlow,
        target: str | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(flow)
        self.target = target
        self.clock = clock
        self.assessment: Assessment | None = flow.incident.assessment
        self.assessing = False
        #: The reason the console offers from the assessment ("" when it has none).
        self.suggestion = ""
        #: Enter was pressed while assessing: continue once the assessment is in.
        self.continue_when_assessed = False
        #: The reason is being saved (journal); the checklist opens next.
        self.saving = False
        #: What the reason field held when the screen opened (coming back from the checklist).
        self.first_reason = flow.incident.reason

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="assess-top"):
            yield Static("…", id="severity")
            with Vertical(id="assess-summary"):
                yield Static("Reading health checks and the error rate…", id="recommendation")
                yield Static("", id="metrics")
                yield Static("", id="countdown")
        yield LoadingIndicator(id="assess-loading")
        yield Static("", id="reasons")
        with Horizontal(classes="assess-field"):
            yield Label("Reason", classes="assess-label")
            yield Input(
                value=self.flow.incident.reason,
                placeholder="why you roll back (required, recorded) e.g. 5xx after v1.3.0",
                id="reason",
            )
        with Horizontal(classes="assess-field"):
            yield Label("Impact", classes="assess-label")
            yield Input(
                value=self.flow.incident.impact,
                placeholder="optional: who or what is affected",
                id="impact",
            )

    @property
    def busy(self) -> bool:
        return self.continue_when_assessed or self.saving

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#reason", Input))
        self.set_interval(1.0, self._tick)
        if self.assessment is None:
            self.assessing = True
            # After the first frame: the assessment's reads (5,000 pods on a big Deployment)
            # would otherwise hold the GIL while the screen is being drawn.
            self.call_after_refresh(self.run_assessment)
        else:
            self._show(self.assessment)
        self._update_hint()

    # ----------------------------------------------------------------- assessment

    @work(thread=True, exclusive=True, exit_on_error=False, group="assess")
    def run_assessment(self) -> Assessment:
        """Blocking: wait (bounded) for the sample a severity needs, then assess.

        With still too little data the assessment says "assessing (n of N
        samples)" and ctrl+r reads again; it never guesses a severity.
        """
        worker = get_current_worker()
        self.flow.wait_for_sample(FIRST_SAMPLE_WAIT_S, cancelled=lambda: worker.is_cancelled)
        return self.flow.assess()

    @on(Worker.StateChanged)
    def _assessment_done(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "assess":
            return
        state = event.state
        self.assessing = state in (WorkerState.PENDING, WorkerState.RUNNING)
        self.query_one("#assess-loading").display = self.assessing
        if state is WorkerState.SUCCESS and isinstance(event.worker.result, Assessment):
            self.error(None)
            self._show(event.worker.result)
            if self.continue_when_assessed:
                self.continue_when_assessed = False
                self.action_continue()
        elif state is WorkerState.ERROR:
            self.continue_when_assessed = False
            err = event.worker.error
            self.error(f"Could not assess: {err} (ctrl+r to retry; you can still go on)")
            self.query_one("#recommendation", Static).update(
                "No assessment: decide from the dashboard's numbers."
            )
            self._set_severity(Severity.UNKNOWN)
        self._update_hint()

    def _show(self, assessment: Assessment) -> None:
        self.assessment = assessment
        self._set_severity(assessment.severity, assessing=assessment.assessing)
        self.query_one("#recommendation", Static).update(
            Content.from_markup("[b]$text[/b]", text=assessment.recommendation)
        )
        self.query_one("#metrics", Static).update(
            Content.from_markup(
                "Error rate [b]$rate[/b]  ·  p95 [b]$p95[/b]",
                rate=percent(assessment.error_rate),
                p95=millis(assessment.p95_ms),
            )
        )
        reasons = assessment.reasons or ("no threshold crossed",)
        self.query_one("#reasons", Static).update(bullet_lines(reasons))
        self._offer_reason(assessment)
        self._tick()

    def _offer_reason(self, assessment: Assessment) -> None:
        """Prefill the reason from the assessment, unless the operator typed their own."""
        snapshot = self.flow.snapshot
        live = snapshot.current if snapshot is not None else None
        suggestion = suggested_reason(
            assessment,
            since=self.flow.incident.detected_at,
            version=(live.version or live.id) if live is not None else "",
            alert=snapshot.alert if snapshot is not None else "",
        )
        field = self.query_one("#reason", Input)
        if suggestion and field.value.strip() in ("", self.suggestion):
            field.value = suggestion
            field.cursor_position = len(suggestion)
        self.suggestion = suggestion

    def _set_severity(self, severity: Severity, *, assessing: bool = False) -> None:
        box = self.query_one("#severity", Static)
        box.update("ASSESSING" if assessing else severity.value.upper())
        for level in Severity:
            box.set_class(level is severity, f"-{level.value}")

    def _tick(self) -> None:
        """Recompute the countdown from the deadline and the clock (called every second)."""
        countdown = self.query_one("#countdown", Static)
        deadline = self.assessment.deadline if self.assessment else None
        if deadline is None:
            countdown.update("")
            return
        now = self.clock()
        local = deadline.astimezone().strftime("%H:%M:%S")
        remaining = format_remaining(deadline, now)
        overdue = deadline <= now
        countdown.set_class(overdue, "-overdue")
        countdown.update(
            Content.from_markup(
                "Decide by [b]$local[/b]: $remaining", local=local, remaining=remaining
            )
        )

    # ----------------------------------------------------------------- actions

    def _update_hint(self) -> None:
        if self.continue_when_assessed:
            self.hint("continuing as soon as the assessment is in · [b]Esc[/b] stops")
        elif self.assessing:
            self.hint("type the reason while the numbers come in, then [b]Enter[/b]")
        elif self.suggestion and self._reason() == self.suggestion:
            self.hint(
                "[b]Enter[/b] accepts the suggested reason (or edit it) · "
                "[b]ctrl+r[/b] re-assess · [b]Esc[/b] back"
            )
        else:
            self.hint(
                "type why you are rolling back, then [b]Enter[/b] for the checklist"
                " · [b]Esc[/b] back"
            )

    def _reason(self) -> str:
        return self.query_one("#reason", Input).value.strip()

    @on(Input.Changed, "#reason")
    def _reason_changed(self) -> None:
        if self._reason():
            self.error(None)  # a stale "a reason is required" would contradict the field
        self._update_hint()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.action_continue()

    def action_continue(self) -> None:
        if self.saving:
            return
        if self.assessing and not self._reason():
            # The suggestion comes with the assessment: take it (or say what is missing) then.
            self.continue_when_assessed = True
            self._update_hint()
            return
        reason = self._reason()
        if not reason:
            self.error("A reason is required: type why you are rolling back (it is recorded).")
            self.set_focus(self.query_one("#reason", Input))
            return
        impact = self.query_one("#impact", Input).value.strip()
        given = "accepted" if self.suggestion and reason == self.suggestion else "typed"
        self.error(None)
        self.saving = True
        self.set_reason(reason, impact, given)

    @work(thread=True, exclusive=True, exit_on_error=False, group="reason")
    def set_reason(self, reason: str, impact: str, given: str) -> None:
        """Blocking (the incident journal fsyncs), so it runs in a worker too."""
        self.flow.set_reason(reason, impact, given=given)

    @on(Worker.StateChanged)
    def _reason_saved(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "reason":
            return
        if event.state is WorkerState.SUCCESS:
            self.saving = False
            self.first_reason = self.flow.incident.reason
            wizard.to_checklist(self.app, self.flow, self.target)
        elif event.state is WorkerState.ERROR:
            self.saving = False
            self.error(f"Could not save the reason: {event.worker.error}")
            self.keys_may_come()

    def action_reassess(self) -> None:
        if not self.assessing:
            self.assessing = True
            self.query_one("#assess-loading").display = True
            self._update_hint()
            self.run_assessment()

    def action_leave(self) -> None:
        """Back to the dashboard; nothing was changed and nothing is recorded.

        Once the operator typed a reason or ticked an item, ask first: leaving
        throws that away.  Escape while "continue" waits for the assessment
        only stops the waiting.
        """
        if self.continue_when_assessed:
            self.continue_when_assessed = False
            self._update_hint()
            return
        if not self._something_done():
            self.dismiss(None)
            return

        def answered(leave: bool | None) -> None:
            if leave:
                self.dismiss(None)

        self.app.push_screen(
            AskYesNo(
                "Leave the rollback? Nothing was changed on the platform; the reason and "
                "the checklist ticks given so far are not recorded.",
                yes_label="Leave",
                no_label="Stay",
            ),
            answered,
        )

    def _something_done(self) -> bool:
        typed = self._reason() not in ("", self.suggestion, self.first_reason)
        impact = self.query_one("#impact", Input).value.strip() != self.flow.incident.impact
        return typed or impact or bool(self.flow.incident.marks)
