"""Step 4, Confirm: the last stop before the platform is touched.

A ``ModalScreen[bool]`` in the manner of Posting's confirmation dialog, made
deliberately slow for a destructive action: Cancel has the focus, Escape and
``n`` cancel, and the confirm button stays disabled until the service name is
typed exactly (the same gate as the headless ``rollback`` without ``--yes``).
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Input, Static

from console.model import Plan
from console.textsafe import printable
from console.widgets.footer import KeyFooter
from screens.flow_common import FlowModal, StepIndicator
from screens.plan_view import PlanView, plan_rows


class ConfirmScreen(FlowModal[bool]):
    """Shows ``plan.summary`` and its steps; dismisses True only after the name was typed."""

    STEP = 4
    CSS_PATH = "confirm.tcss"
    #: Under 24 lines (60x20) the input and buttons take one line each (confirm.tcss).
    VERTICAL_BREAKPOINTS = [(0, "-short"), (24, "-roomy")]  # noqa: RUF012

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "cancel", "Cancel", tooltip="Close; nothing is changed"),
    ]

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan
        self.expected = plan.service

    def compose(self) -> ComposeResult:
        plan = self.plan
        # Scrolls as a whole when even the compact dialog is taller than the terminal:
        # the name box and the buttons are reached, never cut off.
        with VerticalScroll(id="confirm-dialog", can_focus=False):
            yield StepIndicator(self.STEP, id="confirm-steps")
            yield Static(
                Content.from_markup(
                    "[b]$service ($env)[/b] on $provider  [$text-muted]·[/]  "
                    "Confirm: nothing has been changed yet",
                    service=plan.service,
                    env=plan.environment,
                    provider=plan.provider,
                ),
                id="confirm-service",
            )
            yield Static(Content(printable(plan.summary)), id="confirm-summary")
            with VerticalScroll(id="confirm-steps-box", can_focus=False):
                yield PlanView(plan_rows(plan, summary=False), id="confirm-plan")
            yield Static(
                Content.from_markup(
                    "Type the service name to confirm: [b]$name[/b]", name=self.expected
                ),
                id="confirm-prompt",
            )
            yield Input(placeholder="the service name, exactly", id="confirm-name")
            yield Static("", id="confirm-match")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(
                    f"Roll back {plan.service}", id="confirm", variant="error", disabled=True
                )
            yield Static(
                Content.from_markup(
                    "Next: [b]Tab[/b] to the box, type [b]$name[/b], press [b]Enter[/b]"
                    " · [b]Esc[/b] or [b]n[/b] cancels",
                    name=self.expected,
                ),
                id="confirm-hint",
            )
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @property
    def name_matches(self) -> bool:
        return self.query_one("#confirm-name", Input).value == self.expected

    @on(Input.Changed, "#confirm-name")
    def _typed(self, event: Input.Changed) -> None:
        matches = self.name_matches
        self.query_one("#confirm", Button).disabled = not matches
        feedback = self.query_one("#confirm-match", Static)
        if matches:
            feedback.update(
                Content.from_markup("[$text-success]Name matches: Enter rolls back.[/]")
            )
        elif event.value:
            feedback.update(
                Content.from_markup(
                    "[$text-warning]Does not match $name yet.[/]", name=repr(self.expected)
                )
            )
        else:
            feedback.update("")

    @on(Input.Submitted, "#confirm-name")
    def _submitted(self) -> None:
        if self.name_matches:
            self.dismiss(True)
        else:
            self.query_one("#confirm-match", Static).update(
                Content.from_markup(
                    "[$text-error]Type exactly $name to confirm, or Esc to cancel.[/]",
                    name=repr(self.expected),
                )
            )

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        if self.name_matches:
            self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)
