"""Help: what the console does, the rollback flow, every key, and where the files are.

The key table is built from the ``BINDINGS`` of the app and the dashboard, so
it cannot drift from what the keys really do.  Escape (or ``?``, or ``q``)
closes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from console.config import Config, ServiceConfig
from console.widgets.footer import Footer

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

#: Keys that are not in any BINDINGS list but an operator should know.
EXTRA_KEYS: tuple[tuple[str, str], ...] = (
    ("↑ ↓", "move in a table; in Revisions it picks the rollback target"),
    ("tab", "next panel (shift+tab: previous)"),
    ("^p", "command palette: every action by name"),
    ("^q", "quit at once, even inside the wizard"),
)


class HelpScreen(ModalScreen[None]):
    """A scrollable modal with the console's purpose, the flow, the keys and the paths."""

    CSS_PATH = "help.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "Close", tooltip="Back to the dashboard"),
    ]

    def __init__(self, config: Config, service: ServiceConfig) -> None:
        super().__init__()
        self.config = config
        self.service = service

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box") as box:
            box.border_title = "Help · rollback-console"
            box.border_subtitle = "Esc closes"
            with VerticalScroll(id="help-body"):
                yield Static(self._about(), id="help-about")
                yield Static(Content.styled("The rollback, one screen a step", "bold"))
                yield Static(self._flow(), id="help-flow")
                yield Static(Content.styled("Keys", "bold"))
                yield Static(self._keys(), id="help-keys")
                yield Static(Content.styled("Files", "bold"))
                yield Static(self._files(), id="help-files")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def _about(self) -> Content:
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

    def _key_rows(self) -> Iterable[tuple[str, str]]:
        from screens.dashboard import DashboardScreen

        seen: set[str] = set()
        several = len(getattr(self.app, "runtimes", ())) > 1
        for bindings in (DashboardScreen.BINDINGS, type(self.app).BINDINGS):
            for binding in Binding.make_bindings(bindings):
                if not binding.show or not binding.description:
                    continue
                if binding.action == "switch_service" and not several:
                    continue
                keys = [self.app.get_key_display(binding)]
                label = binding.tooltip or binding.description
                if label in seen:
                    continue
                seen.add(label)
                same = [
                    self.app.get_key_display(b)
                    for b in Binding.make_bindings(bindings)
                    if b.action == binding.action and b.key != binding.key
                ]
                yield " / ".join(keys + same), label
        yield from EXTRA_KEYS

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
