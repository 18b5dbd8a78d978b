"""Step 5, Execute: run the confirmed plan and show every step as the platform reports it.

``flow.execute`` (blocking: takes the service lock, runs the provider's steps,
waits until the platform reports ready) runs in a thread worker; each
``ProgressEvent`` is posted to this screen as a message (``post_message`` is
thread-safe) and only rendered here.  A running rollback cannot be stopped
from the console, so Escape says so instead of pretending to cancel.  A
failure is shown as one red line and the operator is sent on to record it
truthfully; a lock held by someone else names the holder and changes nothing.
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
from textual.worker import Worker, WorkerState, get_current_worker

from console.errors import ConsoleError, LockHeld, OutcomeUnknown, one_line
from console.flow import RollbackFlow
from console.flow_resume import SwitchUndone
from console.model import Outcome, Plan, ProgressEvent, ProgressStatus, ReadyResult, Step
from console.outcomes import outcome_text
from console.runner import Held
from console.textsafe import printable
from console.widgets.output_log import OutputLog
from screens import wizard
from screens.flow_common import AskYesNo, FlowScreen
from screens.pitr_switch import SwitchConfirmScreen

#: Seconds the "ready" result stays on screen before verification starts by itself.
AUTO_ADVANCE_S = 1.5

#: The same prefixes the headless CLI prints, so both logs read alike.
_LOG_PREFIX = {
    ProgressStatus.STARTED: "->",
    ProgressStatus.OUTPUT: "  |",
    ProgressStatus.FINISHED: "ok",
    ProgressStatus.FAILED: "!!",
    ProgressStatus.SKIPPED: "--",
}

_MARKERS = {
    "pending": ("○", "$text-muted"),
    "running": ("▶", "$text-warning"),
    "done": ("✓", "$text-success"),
    "failed": ("✗", "$text-error"),
    "skipped": ("–", "$text-muted"),
    "unknown": ("?", "$text-warning"),
}


class ExecuteScreen(FlowScreen):
    """Runs ``plan`` through ``flow.execute`` and shows steps, output and the result."""

    STEP = 5
    HEADLINE = "Execute: performing the rollback"
    CSS_PATH = "execute.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter", "next", "Continue", tooltip="Go to the next step when done", id="execute-next"
        ),
        Binding(
            "escape",
            "leave",
            "Leave…",
            tooltip="Leave the rollback (asks first)",
            id="execute-leave",
        ),
    ]

    @dataclass
    class Progress(Message):
        """One provider event, posted from the worker thread."""

        event: ProgressEvent

    def __init__(self, flow: RollbackFlow, plan: Plan, *, resume: bool = False) -> None:
        super().__init__(flow)
        self.plan = plan
        #: Continue an interrupted rollback (``flow.resume_execute``) instead of starting one.
        self.resume = resume
        self.step_states: list[str] = ["pending"] * len(plan.steps)
        if resume and flow.resume_state is not None:
            for index in flow.resume_state.steps_done:
                if 0 <= index < len(self.step_states):
                    self.step_states[index] = "done"
        self.ready_state = "pending"
        #: "running", "ready", "not-ready", "failed" or "refused".
        self.phase = "running"
        self.result: ReadyResult | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(
            Content.from_markup("[b]$s[/b]", s=printable(self.plan.summary)), id="execute-summary"
        )
        yield ProgressBar(total=len(self.plan.steps) + 1, show_eta=False, id="execute-progress")
        yield Static(self._steps(), id="execute-steps")
        yield OutputLog(id="execute-log", max_lines=2000)
        yield Static("", id="execute-result")

    @property
    def busy(self) -> bool:
        """While the plan runs and until verification opens, keys typed ahead wait: they are
        for the steps after this one (Enter on Verify, Enter on Record)."""
        return self.phase in ("running", "ready")

    def on_mount(self) -> None:
        self.query_one("#execute-log", OutputLog).border_title = "Output"
        self.hint("wait: the rollback is running (it cannot be stopped halfway)")
        self.run_plan()

    # ----------------------------------------------------------------- worker

    @work(thread=True, exclusive=True, exit_on_error=False, group="execute")
    def run_plan(self) -> ReadyResult:
        """Blocking: lock, steps, wait until ready.  Unexpected errors are recorded as failures."""
        try:
            if self.resume:
                return self.flow.resume_execute(
                    on_event=self._post_event,
                    on_note=lambda note: self.app.call_from_thread(self._note, note),
                    confirm=self._ask_switch,
                )
            return self.flow.execute(self.plan, on_event=self._post_event, confirm=self._ask_switch)
        except ConsoleError:
            raise
        except Exception as err:
            if self.flow.executed and not self.flow.execute_error:
                # The flow only records ProviderErrors; anything else mid-rollback
                # must not end up in the history as "not verified".
                self.flow.execute_error = f"unexpected {type(err).__name__}: {err}"
                self.flow.incident.log("failed", f"rollback failed: {self.flow.execute_error}")
            raise

    def _ask_switch(self, index: int, step: Step) -> bool:
        """From the worker: the switch's own confirmation (``screens.pitr_switch``), the checks
        in view; the worker waits for the answer, the UI does not."""
        answered = threading.Event()
        answer: list[bool] = []
        worker = get_current_worker()

        def done(ok: bool | None) -> None:
            answer.append(bool(ok))
            answered.set()

        def ask() -> None:
            self.hint("the restored database is checked: confirm the switch, or not now")
            checks = list(self.flow.incident.checks.values())
            self.app.push_screen(SwitchConfirmScreen(self.flow.service.name, step, checks), done)

        self.app.call_from_thread(ask)
        while not answered.wait(0.2):
            if worker.is_cancelled:
                return False
        return answer[0]

    def _note(self, note: str) -> None:
        self.query_one("#execute-log", OutputLog).write_line(printable(note), "resume: ")

    def _post_event(self, event: ProgressEvent) -> None:
        self.post_message(self.Progress(event))

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        event = message.event
        stamp = event.at.astimezone().strftime("%H:%M:%S")
        log = self.query_one("#execute-log", OutputLog)
        # A long line (a path, a command) wraps under its text, never cut at the edge.
        log.write_line(printable(event.message), f"{stamp} {_LOG_PREFIX[event.status]} ")
        if event.status is ProgressStatus.OUTPUT or not 0 <= event.step < len(self.step_states):
            return
        state = {
            ProgressStatus.STARTED: "running",
            ProgressStatus.FINISHED: "done",
            ProgressStatus.FAILED: "failed",
            ProgressStatus.SKIPPED: "skipped",
        }[event.status]
        self.step_states[event.step] = state
        if state in ("done", "skipped"):
            self.query_one("#execute-progress", ProgressBar).advance(1)
        if all(s in ("done", "skipped") for s in self.step_states):
            self.ready_state = "running"
        self._render_steps()

    @on(Worker.StateChanged)
    def _finished(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "execute":
            return
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, ReadyResult):
            self._show_ready(event.worker.result)
        elif event.state is WorkerState.ERROR:
            self._show_error(event.worker.error)

    def _show_ready(self, ready: ReadyResult) -> None:
        self.result = ready
        self.call_after_refresh(self.refresh_bindings)
        result = self.query_one("#execute-result", Static)
        bar = self.query_one("#execute-progress", ProgressBar)
        if ready.ready:
            self.phase = "ready"
            self.ready_state = "done"
            bar.update(progress=bar.total or 0.0)
            result.update(
                Content.from_markup(
                    "[b $text-success]Platform reports ready:[/] $m", m=printable(ready.message)
                )
            )
            self.hint("verification starts by itself · [b]Enter[/b] to start it now")
            self.set_timer(AUTO_ADVANCE_S, self.action_next)
        else:
            self.phase = "not-ready"
            self.ready_state = "failed"
            result.update(
                Content.from_markup(
                    "[b $text-error]Platform did not report ready:[/] $m",
                    m=printable(ready.message),
                )
            )
            self.error(f"Outcome: {outcome_text(Outcome.NOT_VERIFIED, self.plan.action)}")
            self.hint("[b]Enter[/b] to record what happened in the history")
        self._render_steps()

    def _show_error(self, err: BaseException | None) -> None:
        self.call_after_refresh(self.refresh_bindings)
        line = one_line(err) if err is not None else "unknown error"
        if isinstance(err, Held):
            self._show_held()
            return
        if isinstance(err, SwitchUndone):
            self.phase = "undone"
            self.ready_state = "skipped"
            self.error(f"NOT rolled back: {line}")
            self.query_one("#execute-result", Static).update(
                Content.from_markup(
                    "[b $text-error]The switch is no longer live.[/] Someone (or something) "
                    "put $live back after this console stopped. Roll back to $target again "
                    "(a new plan, confirmed), or record it as not rolled back.",
                    live=err.live.version if err.live else "another release",
                    target=err.target.version,
                )
            )
            self.hint("[b]Enter[/b] choose: roll back again, or record 'not rolled back'")
            return
        if isinstance(err, LockHeld):
            self.phase = "refused"
            self.error(f"Refused, nothing was changed: {line}")
            self.query_one("#execute-result", Static).update(
                "Someone else is rolling this service back. Coordinate with them."
            )
            self.hint("[b]Enter[/b] or [b]Esc[/b] back to the dashboard (nothing recorded)")
            return
        if isinstance(err, OutcomeUnknown):
            self.phase = "unknown"
            self.ready_state = "skipped"
            self.step_states = [
                "unknown" if state == "running" else state for state in self.step_states
            ]
            self._render_steps()
            self.error(f"Not known whether it took effect: {line}")
            self.query_one("#execute-result", Static).update(
                Content.from_markup(
                    "[b $text-warning]Outcome not known yet.[/] The incident stays open "
                    "(no history entry yet). Once the platform answers, resume it: the "
                    "console reads what the platform did and never sends a change twice."
                )
            )
            self.hint(
                "[b]Enter[/b] back to the dashboard, which offers to resume "
                f"(or `rollback-console resume {self.flow.service.name}`)"
            )
            return
        self.phase = "failed"
        self.ready_state = "skipped"
        for number, state in enumerate(self.step_states):
            if state == "running":
                self.step_states[number] = "failed"
        self._render_steps()
        self.error(line)
        self.query_one("#execute-result", Static).update(
            Content.from_markup("[b $text-error]Outcome: rollback failed[/]")
        )
        self.hint("[b]Enter[/b] to record the failure in the history (it is recorded as is)")

    def _show_held(self) -> None:
        """Stopped before the switch on purpose: nothing failed, the entry says what is left."""
        self.phase = "held"
        self.ready_state = "skipped"
        self._render_steps()
        plan = self.flow.incident.plan or self.plan
        self.query_one("#execute-result", Static).update(
            Content.from_markup(
                "[b $text-warning]Switch not done.[/] The restored database keeps running; "
                "the application still uses the live one. To switch later: $c",
                c=self.flow.switch_command(plan),
            )
        )
        self.hint("[b]Enter[/b] to record it (restored, not switched) in the history")

    # ----------------------------------------------------------------- rendering

    def _line(self, state: str, text: str) -> Content:
        marker, style = _MARKERS[state]
        return Content.from_markup(f"[{style}]$m[/] $t", m=marker, t=printable(text))

    def _steps(self) -> Content:
        lines = [
            self._line(state, f"{number}. {step.title}")
            for number, (state, step) in enumerate(
                zip(self.step_states, self.plan.steps, strict=True), 1
            )
        ]
        timeout = self.flow.service.ready_timeout_s
        waiting = "Wait for the platform to report ready"
        if self.ready_state == "running":
            waiting = f"Waiting for the platform to report ready (up to {timeout:.0f} s)…"
        lines.append(self._line(self.ready_state, waiting))
        return Content("\n").join(lines)

    def _render_steps(self) -> None:
        self.query_one("#execute-steps", Static).update(self._steps())

    # ----------------------------------------------------------------- actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Dim "continue" while the rollback runs (Escape stays: it explains why not)."""
        if action == "next":
            return self.phase != "running"
        return True

    def action_next(self) -> None:
        if not self.is_current:
            return
        if self.phase == "running":
            self.error("Still running: wait for the result.")
        elif self.phase == "ready":
            wizard.to_verify(self.app, self.flow)
        elif self.phase == "refused":
            self.return_to_dashboard()
        elif self.phase == "undone":
            self._ask_after_undone()
        elif self.phase == "unknown":
            self.return_to_dashboard()
            offer = getattr(self.app, "offer_resume", None)
            if offer is not None:
                offer()
        else:
            wizard.to_record(self.app, self.flow)

    def _ask_after_undone(self) -> None:
        """Roll back again (a new plan, confirmed as any other) or record 'not rolled back'."""
        state = self.flow.resume_state
        target = state.plan.to_revision.version if state and state.plan else "the target"

        def answered(again: bool | None) -> None:
            if again:
                self.replan()
            else:
                wizard.to_record(self.app, self.flow)

        self.app.push_screen(
            AskYesNo(
                f"The switch to {target} was undone after the console stopped. Plan the "
                f"rollback to {target} again from the live state (you confirm it next), or "
                "record this incident as not rolled back?",
                yes_label="Roll back again",
                no_label="Record 'not rolled back'",
            ),
            answered,
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="replan")
    def replan(self) -> Plan:
        """Blocking: a new plan to the interrupted target (``flow.replan_after_undo``)."""
        return self.flow.replan_after_undo()

    @on(Worker.StateChanged)
    def _replanned(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "replan":
            return
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, Plan):
            wizard.confirm_then_execute(
                self.app,
                self.flow,
                event.worker.result,
                replace=True,
                cancelled=lambda: wizard.to_record(self.app, self.flow),
            )
        elif event.state is WorkerState.ERROR:
            err = event.worker.error
            self.error(f"Cannot plan again: {err}")
            self.hint("[b]Enter[/b] choose again, or [b]Esc[/b] to leave")

    def action_leave(self) -> None:
        if self.phase == "running":
            self.error(
                "The rollback is running and cannot be stopped from here; wait for the result."
            )
            return
        if self.phase in ("refused", "unknown"):
            self.return_to_dashboard()
            return
        if self.phase == "undone":
            self._ask_after_undone()
            return
        wizard.ask_leave_unrecorded(self.app, self.return_to_dashboard)
