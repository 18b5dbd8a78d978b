"""Shared parts of the rollback wizard: the step indicator, the screen frame, two small modals.

Every wizard screen (assess, prepare, target, confirm, execute, verify,
record) shows the same frame so an operator who has never seen the console
always knows three things: which step they are on, which service they are
touching, and which key to press next.  ``FlowScreen`` draws that frame; the
screens only compose their own body.

The wizard is a stack of screens on top of the dashboard.  Leaving the wizard
(``return_to_dashboard``) pops every wizard screen at once, whatever step it
was left from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, Generic, TypeVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from console.flow import RollbackFlow
from console.model import ChecklistItem, ChecklistMark, ItemState
from console.textsafe import printable, printable_lines
from console.widgets.footer import KeyFooter

#: The wizard's steps, in order; ``FlowScreen.STEP`` indexes this from 1.
STEPS: tuple[str, ...] = ("Assess", "Prepare", "Target", "Confirm", "Execute", "Verify", "Record")

#: One-character state markers used by every list of checklist items and steps.
MARK_PENDING = "[ ]"
MARK_DONE = "[x]"
MARK_SKIPPED = "[-]"
MARK_FAILED = "[!]"

STATE_MARKS: dict[ItemState, str] = {
    ItemState.PENDING: MARK_PENDING,
    ItemState.DONE: MARK_DONE,
    ItemState.SKIPPED: MARK_SKIPPED,
    ItemState.FAILED: MARK_FAILED,
}


def percent(value: float | None) -> str:
    """An error rate (0..1) as the operator reads it; "n/a" when the source had no data."""
    return "n/a" if value is None else f"{value:.1%}"


def millis(value: float | None) -> str:
    """A latency in ms, rounded; "n/a" when unknown."""
    return "n/a" if value is None else f"{value:.0f} ms"


class StepIndicator(Widget):
    """ "1 Assess › 2 Prepare › ... › 7 Record" with the current step highlighted.

    When the full line does not fit (a narrow modal), the other steps shrink to
    their numbers so the current step's name is always readable.
    """

    DEFAULT_CSS = """
    StepIndicator {
        height: 1;
        width: 1fr;
        color: $text-muted;
    }
    """

    def __init__(self, step: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.step = step

    def render(self) -> Content:
        full = self._line(compact=False)
        if full.cell_length <= self.size.width or self.size.width == 0:
            return full
        return self._line(compact=True)

    def _line(self, *, compact: bool) -> Content:
        parts: list[Content] = []
        for number, name in enumerate(STEPS, 1):
            if number == self.step:
                parts.append(Content.from_markup(f"[b reverse $accent]{number} {name}[/]"))
            elif compact:
                style = "$text-success" if number < self.step else "$text-muted"
                parts.append(Content.from_markup(f"[{style}]{number}[/]"))
            elif number < self.step:
                parts.append(Content.from_markup(f"[$text-success]{number} {name}[/]"))
            else:
                parts.append(Content(f"{number} {name}"))
        return Content(" › " if not compact else "›").join(parts)


class HintLine(Static):
    """The one line at the bottom that says what to press next."""

    DEFAULT_CSS = """
    HintLine {
        height: auto;
        max-height: 2;
        padding: 0 1;
        background: $boost;
        color: $text;
    }
    """


class ErrorLine(Static):
    """One red line for the last thing that went wrong; hidden while empty."""

    DEFAULT_CSS = """
    ErrorLine {
        height: auto;
        max-height: 2;
        padding: 0 1;
        color: $text-error;
        text-style: bold;
        display: none;
    }
    ErrorLine.-shown {
        display: block;
    }
    """

    #: Lines shown at most; a longer message ends in "…" on the last (the whole of it is
    #: in the output, the timeline and the entry).
    MAX_LINES: ClassVar[int] = 2

    _message: str = ""

    def show(self, message: str | None) -> None:
        """Show ``message`` (plain text, never markup, control characters escaped) or hide
        the line when None/empty."""
        self._message = printable_lines(message or "")
        self._fit()
        self.set_class(bool(message), "-shown")

    def _fit(self) -> None:
        content = Content(self._message)
        width = self.content_size.width
        if width > 0:
            lines = content.wrap(width)
            if len(lines) > self.MAX_LINES:
                last = lines[self.MAX_LINES - 1].truncate(width - 1) + Content("…")
                content = Content("\n").join([*lines[: self.MAX_LINES - 1], last])
        self.update(content)

    def on_resize(self) -> None:
        """Cut again for the new width (and when the line first shows)."""
        if self._message:
            self._fit()


class FlowScreen(Screen[None]):
    """The frame of a wizard step: step indicator, service label, body, error, hint, footer.

    Subclasses set ``STEP`` (1..7) and ``HEADLINE`` (what this step is for) and
    implement ``compose_body``.
    """

    STEP: ClassVar[int] = 0
    HEADLINE: ClassVar[str] = ""
    #: Under 24 lines (60x20) text fields take one line instead of three (see the CSS).
    VERTICAL_BREAKPOINTS = [(0, "-short"), (24, "-roomy")]  # noqa: RUF012

    DEFAULT_CSS = """
    FlowScreen {
        layout: vertical;
    }
    FlowScreen.-short Input {
        height: 1;
        border: none;
        padding: 0 1;
    }
    FlowScreen.-short Input:focus {
        background: $boost;
    }
    FlowScreen #flow-frame-top {
        height: auto;
        padding: 0 1;
        background: $panel;
    }
    FlowScreen #flow-service {
        height: auto;
        width: 1fr;
    }
    FlowScreen #flow-body {
        height: 1fr;
        padding: 0 1;
        overflow-y: auto;
    }
    """

    def __init__(self, flow: RollbackFlow) -> None:
        super().__init__()
        self.flow = flow
        #: Painted with its focus set: keys typed ahead may come in (``screens.typeahead``).
        self.painted = False

    # ----------------------------------------------------------------- type-ahead

    @property
    def busy(self) -> bool:
        """Something this screen started decides what the next key means (a tick being
        written, a plan being made, "continue" pressed before the data was in)."""
        return False

    @property
    def accepts_keys(self) -> bool:
        return self.painted and not self.busy

    def on_screen_resume(self) -> None:
        self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        self.painted = True
        self.keys_may_come()

    def keys_may_come(self) -> None:
        """Call when ``busy`` may have turned False: keys typed ahead are delivered."""
        typeahead = getattr(self.app, "typeahead", None)
        if typeahead is not None:
            typeahead.poke()

    def drop_typed_ahead(self) -> int:
        """Something failed or asks a question: keys typed blind must not run past it."""
        typeahead = getattr(self.app, "typeahead", None)
        return typeahead.drop() if typeahead is not None else 0

    def compose(self) -> ComposeResult:
        with Vertical(id="flow-frame-top"):
            yield StepIndicator(self.STEP, id="flow-steps")
            yield Static(self.service_line(), id="flow-service")
        with Vertical(id="flow-body"):
            yield from self.compose_body()
        yield ErrorLine(id="flow-error")
        yield HintLine(id="flow-hint")
        yield KeyFooter()

    def compose_body(self) -> ComposeResult:
        """The step's own widgets."""
        yield from ()

    def service_line(self) -> Content:
        service = self.flow.service
        return Content.from_markup(
            "[b]$label[/b] on $provider  [$text-muted]·[/]  $headline",
            label=service.label,
            provider=service.provider,
            headline=self.HEADLINE,
        )

    def hint(self, markup: str) -> None:
        """Say what to press next (Textual markup; key names in bold)."""
        self.query_one("#flow-hint", HintLine).update(Content.from_markup("Next: " + markup))

    def error(self, message: str | None) -> None:
        """Show one red line (plain text, redacted: errors may quote a secret), or clear it.

        A shown error drops the keys typed ahead, and says so."""
        if message:
            dropped = self.drop_typed_ahead()
            if dropped:
                message += f" ({dropped} key(s) typed ahead were ignored)"
        self.query_one("#flow-error", ErrorLine).show(self.flow.redact(message or ""))

    def return_to_dashboard(self) -> None:
        """Leave the wizard: pop every wizard screen and modal down to the screen below them.

        The flow is over: its service lock is released at once (this console may
        resume or start again) and the platform lock, if held, in a worker.
        """
        flow = self.flow
        flow.release_service_lock()
        if flow.holds_platform_lock:
            self.app.run_worker(flow.close, thread=True, group="release-lock", exit_on_error=False)
        return_to_dashboard(self.app)


def return_to_dashboard(app: App[object]) -> None:
    """Pop all wizard screens (and their modals) so the screen that opened the wizard is active."""
    stack = app.screen_stack
    for screen in reversed(stack):
        if not isinstance(screen, FlowScreen | FlowModal):
            if screen is not app.screen:
                screen.pop_until_active()
            return
    # The wizard was the whole stack (a test app): pop down to the bottom screen.
    if len(stack) > 1:
        stack[0].pop_until_active()


ResultT = TypeVar("ResultT")


class FlowModal(ModalScreen[ResultT], Generic[ResultT]):
    """Base of the wizard's modals, so ``return_to_dashboard`` pops them too.

    Like ``FlowScreen``, a modal takes keys typed ahead once it is painted.
    """

    def __init__(self) -> None:
        super().__init__()
        self.painted = False

    @property
    def accepts_keys(self) -> bool:
        return self.painted

    def on_screen_resume(self) -> None:
        self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        self.painted = True
        typeahead = getattr(self.app, "typeahead", None)
        if typeahead is not None:
            typeahead.poke()


class AskText(FlowModal[str | None]):
    """A one-line question answered in an Input; dismisses with the text, or None on Escape.

    ``required`` refuses an empty answer with one line instead of dismissing.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape", "cancel", "Cancel", tooltip="Close without answering", id="dialog-cancel"
        ),
    ]

    DEFAULT_CSS = """
    AskText {
        align: center middle;
    }
    AskText > Vertical {
        width: 72;
        max-width: 100%;
        height: auto;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    AskText #ask-question {
        margin-bottom: 1;
    }
    AskText #ask-error {
        color: $text-error;
        height: auto;
    }
    AskText #ask-help {
        color: $text-muted;
    }
    """

    def __init__(self, question: str, *, placeholder: str = "", required: bool = True) -> None:
        super().__init__()
        self.question = question
        self.placeholder = placeholder
        self.required = required

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(printable_lines(self.question)), id="ask-question")
            yield Input(placeholder=self.placeholder, id="ask-input")
            yield Static("", id="ask-error")
            yield Static(
                Content.from_markup("[b]Enter[/b] save · [b]Esc[/b] cancel"), id="ask-help"
            )

    @on(Input.Submitted, "#ask-input")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.required and not text:
            self.query_one("#ask-error", Static).update(
                "An answer is required (it goes into the history entry)."
            )
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class AskYesNo(FlowModal[bool]):
    """A yes/no question with the safe answer focused first (Posting's confirmation idea).

    Dismisses True for ``yes_label``, False for ``no_label``, Escape or ``n``.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,n", "answer(False)", "No", tooltip="Keep things as they are", id="dialog-no"
        ),
        Binding(
            "left,right", "app.focus_next", "Switch button", show=False, id="dialog-focus-next"
        ),
    ]

    DEFAULT_CSS = """
    AskYesNo {
        align: center middle;
    }
    AskYesNo > Vertical {
        width: 72;
        max-width: 100%;
        height: auto;
        border: thick $error;
        background: $surface;
        padding: 0 1;
    }
    AskYesNo #yesno-question {
        margin-bottom: 1;
    }
    AskYesNo Horizontal {
        height: auto;
        align-horizontal: right;
    }
    AskYesNo Button {
        margin-left: 2;
    }
    """

    def __init__(self, question: str, *, yes_label: str, no_label: str = "Cancel") -> None:
        super().__init__()
        self.question = question
        self.yes_label = yes_label
        self.no_label = no_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(printable_lines(self.question)), id="yesno-question")
            with Horizontal():
                yield Button(self.no_label, id="yesno-no", variant="primary")
                yield Button(self.yes_label, id="yesno-yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#yesno-no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yesno-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


def bullet_lines(lines: Iterable[str], bullet: str = "•") -> Content:
    """Plain lines as one bulleted block (user data is never parsed as markup, and its
    control characters are escaped)."""
    return Content("\n").join(Content(f"{bullet} {printable(line)}") for line in lines)


def checklist_prompt(
    item: ChecklistItem, mark: ChecklistMark | None, *, tags: bool = True
) -> Content:
    """One checklist line: state marker, a required / auto tag column (``tags``), text, note."""
    state = mark.state if mark else ItemState.PENDING
    style = {
        ItemState.DONE: "$text-success",
        ItemState.SKIPPED: "$text-warning",
        ItemState.FAILED: "$text-error",
        ItemState.PENDING: "",
    }[state]
    marker = Content.from_markup(f"[{style}]$m[/]" if style else "$m", m=STATE_MARKS[state])
    text = Content(printable(item.text))
    if mark is not None and mark.note and state is ItemState.DONE:
        # What the console (or the operator) saw: the evidence behind the tick.
        text = text + Content.from_markup(" [$text-muted]— $note[/]", note=printable(mark.note))
    elif mark is not None and mark.note:
        text = text + Content(f" ({state.value}: {printable(mark.note)})")
    if not tags:
        tag = Content()
    elif item.auto:
        tag = Content.from_markup("[$text-muted]auto     [/]")
    elif item.required:
        tag = Content.from_markup("[b $text-warning]required[/] ")
    else:
        tag = Content("         ")
    line = marker + Content(" ") + tag + text
    return line.stylize("$text-muted") if item.auto else line
