"""Actions: what a provider can do besides rolling back to a revision.

Restart in place, restore a saved manifest, roll an ECS service to an image
tag, move Cloud Run traffic in steps...  The operator picks an action, picks
what it acts on when it asks (from the provider's list, or typed), gives the
reason, sees the plan with its commands, and confirms by typing the service
name.  From there it is the rollback's own path: execute, verify, record,
under the same locks and journal.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from console.errors import one_line
from console.flow import RollbackFlow
from console.model import Action, Plan
from console.textsafe import printable
from providers.base import SupportsActions
from screens import wizard
from screens.flow_common import FlowScreen
from screens.pitr_time import PitrTimeScreen
from screens.plan_view import PlanView, plan_commands, plan_preview


class ActionsScreen(FlowScreen):
    """Action list, then its argument, the reason and the plan; Enter walks down them."""

    STEP = 3
    HEADLINE = "Action: something other than a rollback to a revision"
    CSS_PATH = "actions.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "c",
            "copy",
            "Copy commands",
            tooltip="Copy the plan's shell commands",
            id="actions-copy",
        ),
        Binding(
            "ctrl+n",
            "confirm",
            "Review & confirm",
            priority=True,
            tooltip="Open the confirmation for the planned action",
            id="actions-confirm",
        ),
        Binding(
            "escape",
            "back",
            "Dashboard",
            tooltip="Back to the dashboard, nothing done",
            id="actions-back",
        ),
    ]

    def __init__(self, flow: RollbackFlow, actions: tuple[Action, ...]) -> None:
        super().__init__(flow)
        self.actions = actions
        self.chosen: Action | None = None
        self.plan: Plan | None = None

    def compose_body(self) -> ComposeResult:
        yield OptionList(
            *(
                Option(
                    Content.from_markup(
                        "[b]$t[/b]  $d", t=printable(a.title), d=printable(a.description)
                    ),
                    id=a.id,
                )
                for a in self.actions
            ),
            id="actions-list",
        )
        yield OptionList(id="actions-choices")
        yield Input(placeholder="what the action acts on", id="actions-argument")
        yield Input(placeholder="why (required, recorded)", id="actions-reason")
        yield PlanView(id="actions-plan")

    def on_mount(self) -> None:
        self.query_one("#actions-choices").display = False
        self.query_one("#actions-argument").display = False
        listing = self.query_one("#actions-list", OptionList)
        listing.highlighted = 0
        listing.focus()
        self.hint("[b]↑↓[/b] choose an action, [b]Enter[/b] to select it · [b]Esc[/b] dashboard")

    # ----------------------------------------------------------------- choosing

    @on(OptionList.OptionSelected, "#actions-list")
    def _action_chosen(self, event: OptionList.OptionSelected) -> None:
        self.chosen = next(a for a in self.actions if a.id == event.option.id)
        self.plan = None
        self.query_one("#actions-plan", PlanView).update("")
        choices = self.query_one("#actions-choices", OptionList)
        argument = self.query_one("#actions-argument", Input)
        if self.chosen.argument == "time":  # a point in time: its own screen, loss in view
            self.app.push_screen(PitrTimeScreen(self.flow, self.chosen, self._time_chosen))
            return
        choices.display = bool(self.chosen.argument and self.chosen.choices)
        argument.display = bool(self.chosen.argument and not self.chosen.choices)
        if choices.display:
            choices.clear_options()
            # Content, not a str: an OptionList parses a str prompt as markup.
            choices.add_options([Option(Content(printable(c)), id=c) for c in self.chosen.choices])
            choices.focus()
            self.hint(f"choose the {self.chosen.argument}, then [b]Enter[/b]")
        elif argument.display:
            argument.placeholder = f"the {self.chosen.argument} to use"
            argument.focus()
            self.hint(f"type the {self.chosen.argument}, then [b]Enter[/b]")
        else:
            self._ask_reason()

    def _time_chosen(self, moment: str) -> None:
        """The time screen gave a moment: shown in the argument field, then the reason."""
        argument = self.query_one("#actions-argument", Input)
        argument.display = True
        argument.value = moment
        self._ask_reason()

    @on(OptionList.OptionSelected, "#actions-choices")
    @on(Input.Submitted, "#actions-argument")
    def _argument_given(self) -> None:
        self._ask_reason()

    def _ask_reason(self) -> None:
        self.query_one("#actions-reason", Input).focus()
        self.hint("type why, then [b]Enter[/b] for the plan")

    @on(Input.Submitted, "#actions-reason")
    def _reason_given(self) -> None:
        reason = self.query_one("#actions-reason", Input).value.strip()
        if not reason:
            self.error("A reason is required: type why (it is recorded).")
            return
        if self.chosen is None:
            self.error("Choose an action first.")
            return
        self.error(None)
        self.flow.set_reason(reason)
        self.query_one("#actions-plan", PlanView).update("Asking the platform for a plan…")
        self.make_plan(self.chosen.id, self._argument())

    def _argument(self) -> str | None:
        if self.chosen is None or not self.chosen.argument:
            return None
        if self.chosen.choices:
            choices = self.query_one("#actions-choices", OptionList)
            index = choices.highlighted
            return self.chosen.choices[index] if index is not None else None
        return self.query_one("#actions-argument", Input).value.strip() or None

    # ----------------------------------------------------------------- planning

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def make_plan(self, action: str, argument: str | None) -> Plan:
        return self.flow.plan_action(action, argument)

    @on(Worker.StateChanged)
    def _planned(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "plan":
            return
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, Plan):
            self.plan = event.worker.result
            self.query_one("#actions-plan", PlanView).update(
                plan_preview(self.plan, self.flow.redact)
            )
            self.hint("[b]ctrl+n[/b] review and confirm · [b]c[/b] copy the commands")
        elif event.state is WorkerState.ERROR:
            err = event.worker.error
            line = one_line(err)
            self.plan = None
            self.query_one("#actions-plan", PlanView).update("No plan.")
            self.error(f"Cannot plan that action: {line}")

    # ----------------------------------------------------------------- keys

    def action_confirm(self) -> None:
        plan = self.plan
        if plan is None:
            self.error("No plan yet: choose an action, give the reason, Enter.")
            return

        wizard.confirm_then_execute(
            self.app,
            self.flow,
            plan,
            cancelled=lambda: self.hint(
                "not confirmed, nothing was changed · [b]ctrl+n[/b] to confirm again"
            ),
        )

    def action_copy(self) -> None:
        if self.plan is None:
            self.error("No plan yet.")
            return
        self.app.copy_to_clipboard(plan_commands(self.plan, self.flow.redact))
        self.notify(f"{len(self.plan.steps)} command(s) copied (if your terminal allows OSC 52).")

    def action_back(self) -> None:
        self.return_to_dashboard()


def provider_actions(provider: object) -> tuple[Action, ...]:
    """The provider's actions, or none (blocking: a provider may read the platform)."""
    return provider.actions() if isinstance(provider, SupportsActions) else ()
