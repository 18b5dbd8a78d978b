"""Restore a service's database from a backup: a flow of its own, confirmed on its own.

Opened from the database panel (``o``).  The operator picks a backup (newest
first, from the service's backup folder), reads what ``pg_restore --list``
found in it and what will happen, says why, and types the service name; only
then is the Restore button enabled (Cancel has the focus, as for every
destructive action).  ``console.db_restore_flow.DatabaseRestore`` does the work in a
thread worker: a verified backup of the current contents first (runbook 002),
``pg_restore --clean --if-exists --single-transaction``, the checks after,
and a history entry, exactly as ``rollback-console db-restore`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Log, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from console.config import Config, ServiceConfig
from console.db_restore_flow import (
    DatabaseRestore,
    RestoreResult,
    backup_schema,
    list_backups,
    verify_backup,
)
from console.errors import one_line
from console.model import BackupInfo, Outcome, ProgressEvent, ProgressStatus, format_bytes
from console.textsafe import printable
from providers.base import LockHeld, ProviderError

_PREFIX = {
    ProgressStatus.STARTED: "->",
    ProgressStatus.OUTPUT: "  |",
    ProgressStatus.FINISHED: "ok",
    ProgressStatus.FAILED: "!!",
    ProgressStatus.SKIPPED: "--",
}


class DatabaseRestoreScreen(ModalScreen[bool]):
    """Dismisses True when a restore ran (whatever its outcome), False when nothing was done."""

    CSS_PATH = "db_restore.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "close",
            "Close",
            tooltip="Close; nothing is changed before Restore",
            id="db-restore-close",
        ),
    ]

    @dataclass
    class Progress(Message):
        event: ProgressEvent

    def __init__(self, config: Config, service: ServiceConfig) -> None:
        super().__init__()
        self.config = config
        self.service = service
        self.backups: tuple[BackupInfo, ...] = ()
        self.chosen: BackupInfo | None = None
        #: "choose", "running", "done".
        self.phase = "choose"
        self.result: RestoreResult | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="restore-dialog"):
            yield Static(
                Content.from_markup(
                    "[b]Restore the database of $label[/b] from a backup",
                    label=self.service.label,
                ),
                id="restore-title",
            )
            yield OptionList(id="restore-files")
            with VerticalScroll(id="restore-plan-box", can_focus=False):
                yield Static("Choose a backup (newest first).", id="restore-plan")
            yield Input(placeholder="why (recorded in the history entry)", id="restore-reason")
            yield Input(placeholder=f"type {self.service.name} to confirm", id="restore-name")
            with Horizontal(id="restore-buttons"):
                yield Button("Cancel", id="restore-cancel", variant="primary")
                yield Button(
                    f"Restore {self.service.name}",
                    id="restore-go",
                    variant="error",
                    disabled=True,
                )
            yield Log(id="restore-log", max_lines=1000)
            yield Static("", id="restore-result")

    def on_mount(self) -> None:
        self.query_one("#restore-log", Log).display = False
        self.query_one("#restore-cancel", Button).focus()
        self.load_backups()

    # ----------------------------------------------------------------- choosing

    @work(thread=True, exclusive=True, exit_on_error=False, group="list")
    def load_backups(self) -> tuple[BackupInfo, ...]:
        return list_backups(self.service, self.config.console.state_dir)

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify")
    def verify(self, path: str) -> tuple[BackupInfo, tuple[str, ...]]:
        """The backup's ``pg_restore --list``, and whether its schema fits the running release."""
        info = verify_backup(self.service, Path(path))
        warnings = backup_schema(self.service, Path(path))[1] if info.verified else ()
        return info, warnings

    @on(Worker.StateChanged)
    def _worker(self, event: Worker.StateChanged) -> None:
        worker, state = event.worker, event.state
        if worker.group not in ("list", "verify", "restore"):
            return
        event.stop()
        if worker.group == "list" and state is WorkerState.SUCCESS:
            self._show_backups(worker.result or ())
        elif worker.group == "verify" and state is WorkerState.SUCCESS:
            if isinstance(worker.result, tuple):
                self._show_verified(*worker.result)
        elif worker.group == "restore" and state in (WorkerState.SUCCESS, WorkerState.ERROR):
            self._finished(worker.result if state is WorkerState.SUCCESS else None, worker.error)
        elif state is WorkerState.ERROR:
            self._say("[$text-error]$e[/]", e=_line(worker.error))

    def _show_backups(self, backups: tuple[BackupInfo, ...]) -> None:
        self.backups = backups
        options = self.query_one("#restore-files", OptionList)
        options.clear_options()
        if not backups:
            self._say("No backups in the backup folder yet (the panel's [b]b[/b] takes one).")
            return
        for backup in backups:
            when = (
                backup.taken_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
                if backup.taken_at
                else ""
            )
            name = Path(backup.path).name
            # Content, not a str: an OptionList parses a str prompt as markup.
            prompt = f"{printable(name)}  {format_bytes(backup.size_bytes)}  {when}"
            options.add_option(Option(Content(prompt), id=backup.path))

    @on(OptionList.OptionHighlighted, "#restore-files")
    @on(OptionList.OptionSelected, "#restore-files")
    def _chosen(self, event: OptionList.OptionHighlighted | OptionList.OptionSelected) -> None:
        if self.phase != "choose" or event.option.id is None:
            return
        self.chosen = None
        self._update_button()
        self._say("Verifying with pg_restore --list …")
        self.verify(event.option.id)

    def _show_verified(self, info: BackupInfo, warnings: tuple[str, ...] = ()) -> None:
        option = self.query_one("#restore-files", OptionList).highlighted_option
        if option is None or option.id != info.path:
            return  # the operator moved on meanwhile
        if not info.verified:
            self.chosen = None
            self._say("[$text-error]Not a usable backup: $m[/]", m=info.message)
            self._update_button()
            return
        self.chosen = info
        told = Content.from_markup(
            "[b]$name[/b]: verified, $n entries, $size$created\n"
            "[b $text-warning]The current contents of the database are REPLACED[/] "
            "(pg_restore --clean --if-exists, one transaction). A verified backup of the "
            "current contents is taken first; the checks run after; a history entry is written.",
            name=Path(info.path).name,
            n=str(info.entries),
            size=format_bytes(info.size_bytes),
            created=f", {info.message}" if info.message else "",
        )
        # The schema it holds does not fit the running release: said before Restore.
        lines = [Content.from_markup("[b $text-error]warning:[/] $w", w=w) for w in warnings]
        self.query_one("#restore-plan", Static).update(Content("\n").join([told, *lines]))
        self._update_button()

    def _say(self, markup: str, **values: str) -> None:
        shown = {name: printable(value) for name, value in values.items()}
        self.query_one("#restore-plan", Static).update(Content.from_markup(markup, **shown))

    @on(Input.Changed)
    def _typed(self) -> None:
        self._update_button()

    def _ready(self) -> bool:
        name = self.query_one("#restore-name", Input).value
        reason = self.query_one("#restore-reason", Input).value.strip()
        return (
            self.phase == "choose"
            and self.chosen is not None
            and bool(reason)
            and (name == self.service.name)
        )

    def _update_button(self) -> None:
        self.query_one("#restore-go", Button).disabled = not self._ready()

    # ----------------------------------------------------------------- running

    @on(Input.Submitted, "#restore-name")
    @on(Button.Pressed, "#restore-go")
    def _go(self) -> None:
        if not self._ready() or self.chosen is None:
            return
        self.phase = "running"
        self._update_button()
        for widget in ("#restore-files", "#restore-reason", "#restore-name"):
            self.query_one(widget).disabled = True
        log = self.query_one("#restore-log", Log)
        log.display = True
        log.border_title = "Output"
        reason = self.query_one("#restore-reason", Input).value.strip()
        self.run_restore(Path(self.chosen.path), reason)

    @work(thread=True, exclusive=True, exit_on_error=False, group="restore")
    def run_restore(self, path: Path, reason: str) -> RestoreResult:
        restore = DatabaseRestore(self.config, self.service, path, reason=reason)
        restore.make_plan()
        restore.confirm("confirmed in the console by typing the service name")

        def post(event: ProgressEvent) -> None:
            self.post_message(self.Progress(event))

        try:
            restore.execute(on_event=post)
        except LockHeld:
            raise  # refused before anything ran: nothing to record
        except ProviderError:
            return restore.record()  # a failed restore is recorded as failed
        return restore.record()

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        event = message.event
        stamp = event.at.astimezone().strftime("%H:%M:%S")
        self.query_one("#restore-log", Log).write_line(
            f"{stamp} {_PREFIX[event.status]} {printable(event.message)}"
        )

    def _finished(self, result: object, error: BaseException | None) -> None:
        self.phase = "done"
        out = self.query_one("#restore-result", Static)
        if isinstance(result, RestoreResult):
            self.result = result
            ok = result.outcome is Outcome.RESTORED
            out.update(
                Content.from_markup(
                    f"[b {'$text-success' if ok else '$text-error'}]"
                    "Outcome: $o[/] ($m) · history entry in $h · Esc closes",
                    o=result.outcome.value,
                    m=printable(result.message),
                    h=str(result.history_file),
                )
            )
        else:
            out.update(
                Content.from_markup(
                    "[b $text-error]Restore not done: $e[/] · Esc closes",
                    e=printable(_line(error)),
                )
            )
        self.query_one("#restore-cancel", Button).label = "Close"
        self.query_one("#restore-cancel", Button).focus()

    # ----------------------------------------------------------------- closing

    @on(Button.Pressed, "#restore-cancel")
    def _cancel(self) -> None:
        self.action_close()

    def action_close(self) -> None:
        if self.phase == "running":
            self.notify("The restore is running (one transaction); wait for the result.")
            return
        self.dismiss(self.phase == "done")


def _line(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    return one_line(error)
