"""Point in time: the moment a database is restored to, chosen with its data loss in view.

Opened from the actions screen for an action that asks for a ``time``
(``pitr``, any engine).  It shows what the platform can restore (earliest and
latest, from the action), proposes the moment just before the bad release went
live (the live revision's deploy time minus ``[services.database.pitr]
margin_s``, clamped into the window), and says as the time is edited what the
restore loses ("writes between 22:41:07 UTC and now, about 1 h 12 min, will
not be in the restored database").  A time that cannot be restored (no zone,
in the future, outside the window) is refused on the line under the field,
and Enter does nothing with it.  Keyboard only: type, or step it with the
arrows; Enter takes it; Esc goes back with nothing chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from console.errors import one_line
from console.flow import RollbackFlow
from console.model import Action, Snapshot
from console.pitr_time import (
    default_for,
    loss_line,
    margin_of,
    parse_moment,
    refusal,
    shown,
    stamp,
    why_default,
)
from console.textsafe import printable
from screens.flow_common import FlowScreen

#: How often the loss line is worked out again while nothing is typed ("now" moves on).
LOSS_REFRESH_S = 10.0


class PitrTimeScreen(FlowScreen):
    """The time field, the window, the default's reason and the live data-loss line."""

    STEP = 3
    HEADLINE = "Point in time: when to restore the database to"
    CSS_PATH = "pitr_time.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "shift(60)", "+1 min", tooltip="One minute later", id="pitr-time-later"),
        Binding(
            "down", "shift(-60)", "-1 min", tooltip="One minute earlier", id="pitr-time-earlier"
        ),
        Binding(
            "pageup", "shift(600)", "+10 min", tooltip="Ten minutes later", id="pitr-time-later-10"
        ),
        Binding(
            "pagedown",
            "shift(-600)",
            "-10 min",
            tooltip="Ten minutes earlier",
            id="pitr-time-earlier-10",
        ),
        Binding(
            "ctrl+r",
            "reset",
            "Default",
            tooltip="Back to the proposed time (deploy - margin)",
            id="pitr-time-reset",
        ),
        Binding(
            "escape",
            "back",
            "Back",
            tooltip="Back to the actions, no time chosen",
            id="pitr-time-back",
        ),
    ]
    #: Keys that are not bindings, for help (``?``).
    HELP_KEYS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("Enter", "restore to this time (the plan and its confirmation come next)"),
        ("0-9 : - T Z +", "edit the time (ISO 8601 with its zone)"),
    )

    def __init__(self, flow: RollbackFlow, action: Action, chosen: Callable[[str], None]) -> None:
        super().__init__(flow)
        self.action = action
        self.chosen = chosen
        self.default: datetime | None = None
        #: The moment typed, when it can be restored to (None: not yet, or refused).
        self.moment: datetime | None = None

    def now(self) -> datetime:
        return self.flow.incident.clock()

    def compose_body(self) -> ComposeResult:
        yield Static(self._window(), id="pitr-window")
        yield Static("Reading the live release's deploy time…", id="pitr-why")
        yield Static(
            Content.from_markup("[b]Restore to[/b] (ISO 8601 with its zone; UTC shown):"),
            id="pitr-label",
        )
        yield Input(placeholder="2026-01-05T22:41:07Z", id="pitr-time")
        yield Static("", id="pitr-loss")
        yield Static(
            Content.from_markup(
                "The restore goes into a [b]new[/b] database; the live one keeps running and "
                "is never deleted. The switch of the application is asked apart, after the "
                "checks."
            ),
            id="pitr-note",
        )

    def _window(self) -> Content:
        earliest, latest = self.action.earliest, self.action.latest
        if earliest is None or latest is None:
            return Content.from_markup(
                "[b]Restorable:[/b] not known ($d)", d=printable(self.action.description)
            )
        now = self.now()
        return Content.from_markup(
            "[b]Restorable:[/b] $e  →  $l", e=shown(earliest, now), l=shown(latest, now)
        )

    def on_mount(self) -> None:
        self.hint("wait: reading when the live release went live")
        self.set_interval(LOSS_REFRESH_S, self._update)
        if self.flow.snapshot is not None:
            self._proposed(self.flow.snapshot)
        else:
            self.read_snapshot()

    @work(thread=True, exclusive=True, exit_on_error=False, group="pitr-snapshot")
    def read_snapshot(self) -> Snapshot:
        return self.flow.snapshot or self.flow.refresh()

    @on(Worker.StateChanged)
    def _read(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "pitr-snapshot":
            return
        if event.state is WorkerState.SUCCESS and isinstance(event.worker.result, Snapshot):
            self._proposed(event.worker.result)
        elif event.state is WorkerState.ERROR:
            self.error(f"Cannot read the live release: {one_line(event.worker.error)}")
            self._proposed(None)

    def _proposed(self, snapshot: Snapshot | None) -> None:
        """Fill the field with the default and say where it comes from."""
        margin = margin_of(self.flow.service)
        self.default = default_for(self.action, snapshot, margin, self.now())
        self.query_one("#pitr-why", Static).update(
            Content.from_markup(
                "[b]Proposed:[/b] $why", why=printable(why_default(snapshot, margin))
            )
        )
        field = self.query_one("#pitr-time", Input)
        field.value = stamp(self.default)
        field.cursor_position = len(field.value)
        field.focus()
        self._update()

    # ----------------------------------------------------------------- editing

    @on(Input.Changed, "#pitr-time")
    def _typed(self) -> None:
        self._update()

    def _update(self) -> None:
        """Check the time typed; show its data-loss window, or why it cannot be used."""
        text = self.query_one("#pitr-time", Input).value
        loss = self.query_one("#pitr-loss", Static)
        now = self.now()
        try:
            when = parse_moment(text)
            problem = refusal(when, self.action.earliest, self.action.latest, now)
        except ValueError as err:
            when, problem = None, str(err)
        if problem is not None or when is None:
            self.moment = None
            loss.update(
                Content.from_markup("[$text-error]Cannot restore to that: $p[/]", p=problem or "")
            )
            self.hint(
                "type a time in the window · [b]ctrl+r[/b] the proposed time · [b]Esc[/b] back"
            )
            return
        self.moment = when
        loss.update(
            Content.from_markup("[b $text-warning]DATA LOSS:[/] $l", l=f"{loss_line(when, now)}.")
        )
        self.hint(f"[b]Enter[/b] restore to {shown(when, now)} · [b]↑↓[/b] ±1 min · [b]?[/b] keys")

    @on(Input.Submitted, "#pitr-time")
    def _submitted(self) -> None:
        self._update()
        if self.moment is None:
            self.error("That time cannot be restored to (see the line under the field).")
            return
        self.error(None)
        chosen = stamp(self.moment)
        self.dismiss_to(chosen)

    def dismiss_to(self, chosen: str) -> None:
        self.app.pop_screen()
        self.chosen(chosen)

    # ----------------------------------------------------------------- keys

    def action_shift(self, seconds: int) -> None:
        base = self.moment or self.default
        if base is None:
            return
        field = self.query_one("#pitr-time", Input)
        field.value = stamp(base + timedelta(seconds=seconds))
        field.cursor_position = len(field.value)

    def action_reset(self) -> None:
        if self.default is not None:
            field = self.query_one("#pitr-time", Input)
            field.value = stamp(self.default)
            field.cursor_position = len(field.value)

    def action_back(self) -> None:
        self.app.pop_screen()
