"""Step 4, Confirm: the last stop before the platform is touched.

A ``ModalScreen[bool]`` in the manner of Posting's confirmation dialog.  The
gate for a destructive action is the typed service name, not the focus: the
name field has the focus when the dialog opens, so typing the name and Enter
executes (ten keystrokes from the dashboard, README "The fast path"), while
Enter on anything but the exact name does nothing but say what differs
("'web ' has a trailing space").  Escape cancels; the confirm button stays
disabled until the name matches (the same gate as the headless ``rollback``
without ``--yes``).

A point-in-time recovery asks for the time's clock too, and must show what it
costs: its DATA LOSS warning and the new instance's name stay out of the
scrolling steps box, and the two fields sit side by side under one prompt, so
the whole dialog fits 80x24 without scrolling (at 60x20 it scrolls).
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Input, Static

from console.model import Plan
from console.pitr_time import PITR_ACTION, parse_moment
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
        Binding(
            "escape,n",
            "cancel",
            "Cancel",
            tooltip="Close; nothing is changed (n: on a button)",
            id="confirm-cancel",
        ),
    ]

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan
        self.expected = plan.service
        #: A point-in-time recovery: its exact time is confirmed too, by typing its clock.
        self.moment = moment_of(plan)

    def compose(self) -> ComposeResult:
        plan = self.plan
        pinned, rest = pinned_warnings(plan) if self.moment is not None else ((), plan.warnings)
        if self.moment is not None:
            self.add_class("-pitr")
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
            for i, warning in enumerate(pinned):
                yield Static(
                    Content.from_markup(
                        "[b $text-error]$w[/]" if i == 0 else "$w", w=printable(warning)
                    ),
                    classes="confirm-pinned",
                )
            with VerticalScroll(id="confirm-steps-box", can_focus=False):
                shown_plan = dataclasses.replace(plan, warnings=rest)
                yield PlanView(plan_rows(shown_plan, summary=False), id="confirm-plan")
            if self.moment is None:
                yield Static(
                    Content.from_markup(
                        "Type the service name to confirm: [b]$name[/b]", name=self.expected
                    ),
                    id="confirm-prompt",
                )
                yield Input(placeholder="the service name, exactly", id="confirm-name")
            else:
                yield Static(
                    Content.from_markup(
                        "Type [b]$name[/b], Enter, then the time [b]$clock[/b] (UTC), Enter",
                        name=self.expected,
                        clock=self.clock,
                    ),
                    id="confirm-prompt",
                )
                with Horizontal(id="confirm-fields"):
                    yield Input(placeholder="the service name", id="confirm-name")
                    yield Input(placeholder="HH:MM:SS (UTC)", id="confirm-time")
            yield Static("", id="confirm-match")
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(
                    f"Roll back {plan.service}" if self.moment is None else "Restore",
                    id="confirm",
                    variant="error",
                    disabled=True,
                )
            if self.moment is None:  # a point in time's prompt says it (and Esc: the footer)
                yield Static(
                    Content.from_markup(
                        "Next: type [b]$name[/b], press [b]Enter[/b] · [b]Esc[/b] cancels",
                        name=self.expected,
                    ),
                    id="confirm-hint",
                )
        yield KeyFooter()

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#confirm-name", Input))

    @property
    def clock(self) -> str:
        return f"{self.moment:%H:%M:%S}" if self.moment is not None else ""

    @property
    def time_matches(self) -> bool:
        if self.moment is None:
            return True
        return self.query_one("#confirm-time", Input).value.strip() == self.clock

    @property
    def name_matches(self) -> bool:
        """The name typed exactly, and for a point in time its clock too."""
        name = self.query_one("#confirm-name", Input).value == self.expected
        return name and self.time_matches

    @on(Input.Changed, "#confirm-time")
    def _time_typed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = not self.name_matches
        feedback = self.query_one("#confirm-match", Static)
        if self.name_matches:
            feedback.update(Content.from_markup("[$text-success]Name and time match: Enter.[/]"))
        elif event.value and not self.time_matches:
            feedback.update(
                Content.from_markup(
                    "[$text-warning]$t is not $c[/]", t=repr(event.value), c=self.clock
                )
            )
        else:
            feedback.update("")

    @on(Input.Submitted, "#confirm-time")
    def _time_submitted(self) -> None:
        if self.name_matches:
            self.dismiss(True)
        elif self.query_one("#confirm-name", Input).value != self.expected:
            self.query_one("#confirm-name", Input).focus()
        else:
            self.query_one("#confirm-match", Static).update(
                Content.from_markup(
                    "[$text-error]Type the time exactly as shown: $c (or Esc to cancel).[/]",
                    c=self.clock,
                )
            )

    @on(Input.Changed, "#confirm-name")
    def _typed(self, event: Input.Changed) -> None:
        matches = self.name_matches
        self.query_one("#confirm", Button).disabled = not matches
        feedback = self.query_one("#confirm-match", Static)
        if event.value == self.expected and not self.time_matches:
            feedback.update(
                Content.from_markup(
                    "[$text-success]Name matches.[/] Now the time: Enter, then type $c",
                    c=self.clock,
                )
            )
        elif matches:
            feedback.update(
                Content.from_markup("[$text-success]Name matches: Enter rolls back.[/]")
            )
        elif event.value:
            feedback.update(
                Content.from_markup(
                    "[$text-warning]$why[/]", why=mismatch(event.value, self.expected)
                )
            )
        else:
            feedback.update("")

    @on(Input.Submitted, "#confirm-name")
    def _submitted(self) -> None:
        if self.name_matches:
            self.dismiss(True)
        elif self.moment is not None and self.query_one("#confirm-name", Input).value == (
            self.expected
        ):
            self.query_one("#confirm-time", Input).focus()
        else:
            typed = self.query_one("#confirm-name", Input).value
            why = mismatch(typed, self.expected) if typed else "Nothing typed."
            self.query_one("#confirm-match", Static).update(
                Content.from_markup(
                    "[$text-error]$why Type exactly $name to confirm, or Esc to cancel.[/]",
                    why=why,
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


#: The providers' warning naming the new instance ("The live database ... is kept as it
#: is; the restored one is NAME on port 5433 (data directory ...). The console never ...");
#: the dialog says it in one line, without the parenthesis (the steps' commands show it).
_RESTORED_INTO = re.compile(
    r"the restored one is (?P<where>.+?)(?: \([^()]*\))?\. The console never"
)


def pinned_warnings(plan: Plan) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A point-in-time recovery's warnings that must be read before confirming -- the
    DATA LOSS window and the new instance (its warning said in fewer words) -- and the
    others, shown with the steps."""
    loss = tuple(w for w in plan.warnings if w.startswith("DATA LOSS"))
    rest = tuple(w for w in plan.warnings if w not in loss)
    into = next((w for w in rest if _RESTORED_INTO.search(w)), None)
    if into is None:
        return loss, rest
    where = _RESTORED_INTO.search(into)["where"]  # type: ignore[index]
    # "the RDS instance NAME beside orders-db" (the managed engines) or "NAME on port 5433"
    short = f"Into a NEW {where.removeprefix('the ')}; the live one is kept."
    return (*loss, short), tuple(w for w in rest if w != into)


def moment_of(plan: Plan) -> datetime | None:
    """The time a point-in-time recovery restores to (``plan.argument``), else None."""
    if plan.action != PITR_ACTION or not plan.argument:
        return None
    try:
        return parse_moment(plan.argument)
    except ValueError:
        return None


def mismatch(typed: str, expected: str) -> str:
    """Why ``typed`` is not ``expected``, in the words an operator needs at 02:00."""
    if typed.strip() == expected:
        where = []
        if typed != typed.lstrip():
            where.append("a leading space")
        if typed != typed.rstrip():
            where.append("a trailing space")
        return f"{typed!r} has {' and '.join(where)}."
    if typed.strip().casefold() == expected.casefold():
        return f"{typed!r} differs from {expected!r} in upper/lower case."
    if expected.startswith(typed):
        return f"{typed!r}: keep typing ({expected!r})."
    return f"{typed!r} is not {expected!r}."
