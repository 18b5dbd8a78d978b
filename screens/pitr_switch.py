"""The switch after a point-in-time recovery: a confirmation of its own, the checks in view.

The restored database is running and its checks ran beside the live one's;
nothing the application reads has changed yet.  The runner stops before the
switch step (``Step.confirm_before``) and the execute screen opens this dialog
from its worker: the checks side by side (live before, restored after), the
step and its command, and the service name to type.  "Not now" (Esc, ``n``)
stops the plan there on purpose: the restored database keeps running, and the
entry says the switch was not done and how to do it later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Input, Static

from console.model import CheckPair, Step
from console.textsafe import printable
from console.widgets.footer import KeyFooter
from screens.confirm import mismatch
from screens.flow_common import FlowModal


def checks_table(checks: Sequence[CheckPair]) -> Content:
    """The checks as aligned columns: check, live database (before), restored (after)."""
    if not checks:
        return Content.from_markup("[$text-muted]No checks configured or none ran.[/]")
    rows = [("check", "live (before)", "restored (after)")] + [
        (printable(c.name), printable(c.live), printable(c.restored)) for c in checks
    ]
    widths = [min(28, max(len(r[i]) for r in rows)) for i in range(3)]

    def line(row: tuple[str, str, str]) -> str:
        cells = [c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(row, widths, strict=True)]
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    head = Content.from_markup("[b]$h[/b]", h=line(rows[0]))
    body = [Content(line(r)) for r in rows[1:]]
    return Content("\n").join([head, *body])


class SwitchConfirmScreen(FlowModal[bool]):
    """Dismisses True (switch now) only after the service name was typed; False: not now."""

    CSS_PATH = "pitr_switch.tcss"
    VERTICAL_BREAKPOINTS = [(0, "-short"), (24, "-roomy")]  # noqa: RUF012

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "not_now",
            "Not now",
            id="pitr-switch-not-now",
            tooltip="Stop before the switch: the restored database keeps running",
        ),
    ]
    #: The name field has the focus when the dialog opens (Textual focuses it once mounted).
    AUTO_FOCUS = "#switch-name"
    HELP_KEYS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("Enter", "switch now, once the service name is typed"),
        ("Tab", "to the buttons"),
    )

    def __init__(self, service: str, step: Step, checks: Sequence[CheckPair]) -> None:
        super().__init__()
        self.expected = service
        self.step = step
        self.checks = tuple(checks)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="switch-dialog", can_focus=False):
            yield Static(
                Content.from_markup(
                    "[b]Switch the application to the restored database?[/b] "
                    "Restored and checked; nothing the application reads has changed yet."
                ),
                id="switch-title",
            )
            yield Static(checks_table(self.checks), id="switch-checks")
            yield Static(
                Content.from_markup(
                    "[b]Next step:[/b] $t\n[$text-muted]$ $c[/]",
                    t=printable(self.step.title),
                    c=printable(self.step.command),
                ),
                id="switch-step",
            )
            yield Static(
                Content.from_markup(
                    "Type the service name to switch now: [b]$name[/b]", name=self.expected
                ),
                id="switch-prompt",
            )
            yield Input(placeholder="the service name, exactly", id="switch-name")
            yield Static("", id="switch-match")
            with Horizontal(id="switch-buttons"):
                yield Button("Not now: stop here", id="not-now", variant="primary")
                yield Button("Switch", id="switch", variant="error", disabled=True)
        yield KeyFooter()

    @property
    def name_matches(self) -> bool:
        return self.query_one("#switch-name", Input).value == self.expected

    @on(Input.Changed, "#switch-name")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#switch", Button).disabled = not self.name_matches
        feedback = self.query_one("#switch-match", Static)
        if self.name_matches:
            feedback.update(Content.from_markup("[$text-success]Name matches: Enter switches.[/]"))
        elif event.value:
            feedback.update(
                Content.from_markup(
                    "[$text-warning]$why[/]", why=mismatch(event.value, self.expected)
                )
            )
        else:
            feedback.update("")

    @on(Input.Submitted, "#switch-name")
    @on(Button.Pressed, "#switch")
    def _switch(self) -> None:
        if self.name_matches:
            self.dismiss(True)

    @on(Button.Pressed, "#not-now")
    def _not_now_pressed(self) -> None:
        self.dismiss(False)

    def action_not_now(self) -> None:
        self.dismiss(False)
