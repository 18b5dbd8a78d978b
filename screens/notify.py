"""The team message, shown for copying: runbook 001's start or completion notification.

Opened with ``c`` on the Record step and from the palette ("Copy
notification") while a rollback is open.  On opening, the text is copied to
the clipboard with ``App.copy_to_clipboard`` (OSC 52: it reaches the
operator's own clipboard through SSH where the terminal allows it); the text
stays on screen to select by hand where it does not.  Whether the webhook
took it is said below the text, from the incident timeline.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from console.flow import RollbackFlow
from console.notify import TIMELINE_KIND
from console.textsafe import printable_lines
from console.widgets.footer import KeyFooter
from screens.flow_common import FlowModal


def delivery_status(flow: RollbackFlow, kind: str) -> str:
    """The latest webhook line of the timeline about ``kind``, or why there is none."""
    if not flow.config.console.webhook_env:
        return "No team webhook configured ([console] webhook_env): copy the message by hand."
    lines = [
        ev.message
        for ev in flow.incident.timeline
        if ev.kind == TIMELINE_KIND and ev.message.startswith((f"{kind} ", f"sending the {kind} "))
    ]
    if lines:
        return lines[-1][0].upper() + lines[-1][1:] + "."
    if kind not in flow.notified:
        return f"The {kind} message goes to the team webhook when the rollback gets there."
    return f"The {kind} message was already sent before the console was restarted."


class NotificationScreen(FlowModal[None]):
    """The ``kind`` message of ``flow`` in the configured language, copied on opening."""

    CSS_PATH = "notify.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "c",
            "copy",
            "Copy again",
            tooltip="Copy the message to the clipboard (OSC 52)",
            id="notify-copy",
        ),
        Binding("escape,q", "close", "Close", tooltip="Back to where you were", id="notify-close"),
    ]

    def __init__(self, flow: RollbackFlow, kind: str) -> None:
        super().__init__()
        self.flow = flow
        self.kind = kind
        #: The message exactly as copied (and as sent to the webhook, before Slack escaping).
        self.text = flow.notification(kind)

    def compose(self) -> ComposeResult:
        with Vertical(id="notify-box") as box:
            box.border_title = f"{self.kind.capitalize()} message · {self.flow.service.label}"
            box.border_subtitle = "c copies · Esc closes"
            with VerticalScroll(id="notify-body"):
                yield Static(Content(printable_lines(self.text.rstrip("\n"))), id="notify-text")
            yield Static("", id="notify-copied")
            status = self.flow.redact(delivery_status(self.flow, self.kind))
            yield Static(Content(printable_lines(status)), id="notify-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#notify-body").focus()
        self.action_copy()

    def action_copy(self) -> None:
        """Copy the message with OSC 52 (the terminal decides whether it reaches the clipboard)."""
        self.app.copy_to_clipboard(self.text)
        self.query_one("#notify-copied", Static).update(
            Content("Copied (OSC 52, where the terminal allows it); else select the text above.")
        )

    def action_close(self) -> None:
        self.dismiss(None)
