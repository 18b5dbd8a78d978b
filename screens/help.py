"""Help: what the console does, the rollback flow, every key, and where the files are.

The key table is built from the ``BINDINGS`` of the screen help was opened
from (every one, including those the footer has no room for), its
``HELP_KEYS`` (keys that are not bindings: Enter on a unit, the arrows) and
the app's, so it cannot drift from what the keys really do there.  Escape
(or ``?``, or ``q``) closes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from console.config import Config, ServiceConfig
from console.widgets.footer import KeyFooter

#: The wizard's steps and what each asks of the operator.
FLOW_STEPS: tuple[tuple[str, str], ...] = (
    ("Assess", "severity, recommendation, decision deadline; type the reason"),
    ("Prepare", "runbook checklist: tick required items or skip with a reason"),
    ("Target", "pick the revision (default: previous); read the plan"),
    ("Confirm", "type the service name; nothing changes before this"),
    ("Execute", "runs under the service lock; live progress and output"),
    ("Verify", "health and error rate must hold for the verify window"),
    ("Record", "preview the history entry, append it to the history file"),
)

#: Keys that work on every screen and are not in its BINDINGS.
EXTRA_KEYS: tuple[tuple[str, str], ...] = (
    ("^p", "command palette: every action by name"),
    ("^q", "quit at once, even inside the wizard"),
    ("c / w", "on Target: copy the plan's commands (OSC 52) / write them to a script file"),
)


class HelpScreen(ModalScreen[None]):
    """A scrollable modal with the console's purpose, the flow, the keys and the paths."""

    CSS_PATH = "help.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,question_mark,q",
            "close",
            "Close",
            tooltip="Back to the dashboard",
            id="help-close",
        ),
    ]

    def __init__(
        self, config: Config, service: ServiceConfig, origin: Screen[object] | None = None
    ) -> None:
        super().__init__()
        self.config = config
        self.service = service
        #: The screen help was opened from: its keys are the ones listed.
        self.origin = origin

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box") as box:
            box.border_title = "Help · rollback-console"
            box.border_subtitle = "Esc closes"
            with VerticalScroll(id="help-body"):
                yield Static(self._about(), id="help-about")
                yield Static(Content.styled("The rollback, one screen a step", "bold"))
                yield Static(self._flow(), id="help-flow")
                yield Static(Content.styled(f"Keys on {self._origin_name()}", "bold"))
                yield Static(self._keys(), id="help-keys")
                yield Static(Content.styled("Files", "bold"))
                yield Static(self._files(), id="help-files")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def _about(self) -> Content:
        if getattr(self.app, "read_only", False):
            return Content.assemble(
                ("What this console does (READ-ONLY)\n", "bold"),
                "Shows what is live on ",
                (self.service.label, "bold"),
                " and how sick it is, and the rollback history. It was started read-only "
                "(--read-only or [console] read_only): nothing here changes the platform, "
                "and the keys that would are not offered.\n",
            )
        return Content.assemble(
            ("What this console does\n", "bold"),
            "Shows what is live on ",
            (self.service.label, "bold"),
            " and how sick it is, says how urgent a rollback is (the runbooks' "
            "thresholds), walks the checklist, rolls back on the platform, proves "
            "the service recovered, and appends the rollback-history entry. "
            "Press r on the dashboard to start.\n",
        )

    def _flow(self) -> Content:
        lines = [
            Content.assemble((f" {number} {name:<8}", "bold"), f" {text}")
            for number, (name, text) in enumerate(FLOW_STEPS, 1)
        ]
        resume = Content(
            " If the console stops mid-rollback (crash, lost SSH, an API that stops "
            "answering), the next start offers to resume: it reads the platform first "
            "and never sends a change twice (headless: rollback-console resume)."
        )
        return Content("\n").join([*lines, resume, Content("")])

    def _origin_name(self) -> str:
        origin = self.origin
        step = getattr(origin, "STEP", 0)
        if step:
            from screens.flow_common import STEPS

            return f"step {step}, {STEPS[step - 1]}"
        title = getattr(origin, "HELP_TITLE", "")
        return title or "the dashboard"

    def _key_rows(self) -> Iterable[tuple[str, str]]:
        from screens.dashboard import DashboardScreen

        origin_type = type(self.origin) if self.origin is not None else DashboardScreen
        seen: set[str] = set()
        for bindings in (origin_type.BINDINGS, type(self.app).BINDINGS):
            for binding in Binding.make_bindings(bindings):
                if not binding.description or binding.action.startswith("app.focus_"):
                    continue
                if not self._acts(binding) or not self._offered(binding.action):
                    continue
                label = binding.tooltip or binding.description
                if label in seen:
                    continue
                seen.add(label)
                keys = [
                    key
                    for b in Binding.make_bindings(bindings)
                    if b.action == binding.action and b.description
                    for key in self._displayed(b)
                ]
                yield " / ".join(dict.fromkeys(keys)), label
        yield from getattr(origin_type, "HELP_KEYS", ())
        yield from EXTRA_KEYS

    def _displayed(self, binding: Binding) -> list[str]:
        """How ``binding``'s key is shown: the ``[keys]`` remapping of its id, if any."""
        keymap: dict[str, str] = getattr(self.app, "keymap", {})
        remapped = keymap.get(binding.id or "")
        if not remapped:
            return [self.app.get_key_display(binding)]
        return [
            self.app.get_key_display(dataclasses.replace(binding, key=key, key_display=None))
            for key in remapped.split(",")
        ]

    def _offered(self, action: str) -> bool:
        """Read-only mode lists no key that changes a platform."""
        offers = getattr(self.app, "offers", None)
        return offers is None or bool(offers(action))

    def _acts(self, binding: Binding) -> bool:
        """Whether an app key does something on the origin screen (q quits only from the
        dashboard); the origin's own keys are all listed, whatever their state now."""
        if binding.action != "request_quit":
            return True
        return not getattr(self.origin, "STEP", 0)

    def _keys(self) -> Content:
        rows = list(self._key_rows())
        width = max(len(key) for key, _ in rows)
        lines = [Content.assemble((f" {key:<{width}}", "bold"), f"  {text}") for key, text in rows]
        return Content("\n").join([*lines, Content("")])

    def _files(self) -> Content:
        console = self.config.console
        rows = (
            ("Config", str(self.config.path)),
            ("History", str(console.history_file)),
            ("Journals", str(console.state_dir)),
        )
        return Content("\n").join(
            Content.assemble((f" {name:<9}", "bold"), path) for name, path in rows
        )

    def action_close(self) -> None:
        self.dismiss(None)
