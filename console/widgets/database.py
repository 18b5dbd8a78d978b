"""The database panel: connection, schema revision, what a rollback would cross, checks, backup.

Shown on the dashboard of a service with ``[services.database]``.  Unlike
the three core sources, which the dashboard polls, the panel brings its own
poll loop, so a service without a database pays nothing for it: one
poll loop (``console.widgets.poller``, as the dashboard's) reads ``read``
(``console.db_flow.read_status``, which never raises), the panel only renders
its result, and the next read is armed when this one ends (every
``INTERVAL_S``, backing off while the database is down, paused while a
screen covers the dashboard).

The rollback target is the revision under the cursor of the revisions panel
on the same screen (or the previous revision); when the target release's
folder holds its own migration scripts, the panel says which schema it
expects and which migrations a schema rollback would cross, naming the
columns and tables their downgrades drop.

Keys (while the panel has the focus): ``b`` takes a verified backup now,
``o`` asks the screen to open the restore dialog (``RestoreRequested``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from console.model import (
    BackupInfo,
    CheckResult,
    DatabaseStatus,
    Revision,
    format_bytes,
    utcnow,
)
from console.textsafe import printable
from console.widgets.formatting import ago
from console.widgets.panel import DataPanel
from console.widgets.poller import Poller

#: Seconds between two reads of a reachable database.
INTERVAL_S = 10.0
#: Longest wait between reads of a database that is down.
MAX_BACKOFF_S = 60.0
#: History lines shown (newest first).
HISTORY_LINES = 6

#: Reads the status for a rollback target (None: no target known yet); blocking.
StatusReader = Callable[[Revision | None], DatabaseStatus]
#: Takes a verified backup, reporting output lines; blocking; returns the backup.
BackupTaker = Callable[[Callable[[str], None]], BackupInfo]


class DatabasePanel(DataPanel):
    """Renders ``DatabaseStatus``; polls ``read`` itself (see the module docstring)."""

    TITLE = "Database"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "b",
            "backup",
            "Back up DB",
            tooltip="Take a verified pg_dump backup now",
            id="database-backup",
        ),
        Binding(
            "o",
            "restore",
            "Restore DB…",
            tooltip="Restore the database from a backup",
            id="database-restore",
        ),
    ]

    DEFAULT_CSS = """
    DatabasePanel #db-lines {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    DatabasePanel #db-lines > Static {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    DatabasePanel #db-lines > #db-history {
        height: auto;
    }
    """

    class RestoreRequested(Message):
        """The operator pressed ``o``: the screen opens the restore dialog."""

    class Read(Message):
        """A read finished (posted from the worker)."""

        def __init__(self, status: DatabaseStatus) -> None:
            super().__init__()
            self.status = status

    class Failed(Message):
        """A read raised (``read_status`` never should); its one line."""

        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(
        self,
        read: StatusReader,
        backup: BackupTaker | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        autostart: bool = True,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.read = read
        self.take_backup = backup
        self.clock = clock
        self.autostart = autostart
        self.status: DatabaseStatus | None = None
        #: The first answer of each check this session, so a change shows "(was N)".
        self.first_checks: dict[str, str] = {}
        self.backing_up = False
        #: The rollback target the read in flight is for (captured on the UI thread).
        self._read_for: Revision | None = None
        self.poller: Poller[DatabaseStatus] = Poller(
            host=self,
            name="database",
            read=lambda: self.read(self._read_for),
            on_data=self.Read,
            on_error=self.Failed,
            interval=INTERVAL_S,
            describe="read the database status",
            max_backoff_s=MAX_BACKOFF_S,
            covered=lambda: not self.screen.is_current,
            ok=lambda status: status.connected,
            before_read=self._read_target,
        )

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="db-lines"):
            for name in ("conn", "schema", "crossing", "checks", "backup"):
                yield Static(Content.styled("…", "$text-muted"), id=f"db-{name}")
            yield Static("", id="db-history")

    def on_mount(self) -> None:
        if self.autostart:
            self.call_after_refresh(self.poll)

    def on_unmount(self) -> None:
        self.poller.stop()

    # ----------------------------------------------------------------- polling

    def _target(self) -> Revision | None:
        """The revision a rollback goes to, from the revisions panel on this screen."""
        from console.widgets.revisions import RevisionHistoryPanel

        try:
            panel = self.screen.query_one(RevisionHistoryPanel)
        except Exception:
            return None
        snapshot = panel.snapshot
        if snapshot is None:
            return None
        target = panel.target
        return snapshot.find(target) if target else snapshot.previous()

    def poll(self) -> None:
        """Read now (unless a read is in flight)."""
        self.poller.start(forced=True)

    def tick(self, now: datetime) -> None:
        """Every second (the dashboard's clock): age the data; re-read when the target moved."""
        super().tick(now)
        if self.status is None or self.poller.running or not self.is_attached:
            return
        target = self._target()
        if target is not None and target.version != self.status.release:
            self.poll()

    def _read_target(self) -> None:
        self._read_for = self._target()

    @on(Read)
    def _on_read(self, message: Read) -> None:
        message.stop()
        self.show_status(message.status)

    @on(Failed)
    def _on_failed(self, message: Failed) -> None:
        message.stop()
        self.mark_failed(message.error, self.clock())

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if self.poller.finished(event):
            event.stop()
            return
        if event.worker.group != "database-backup":
            return
        event.stop()
        if event.state is not WorkerState.ERROR:
            return
        error = str(event.worker.error) or type(event.worker.error).__name__
        self.backing_up = False
        self.notify(f"Backup failed: {printable(error)}", severity="error", timeout=15)
        self._render_backup()

    # ----------------------------------------------------------------- rendering

    def show_status(self, status: DatabaseStatus) -> None:
        """Render one read (also used by tests with a status of their own)."""
        self.status = status
        for check in status.checks:
            if check.ok:
                self.first_checks.setdefault(check.name, check.value)
        state = "ok" if status.connected else "down"
        self.border_title = f"{self.TITLE} ({state})"
        self._line("conn", self._conn_line(status))
        self._line("schema", self._schema_line(status))
        self._line("crossing", self._crossing_line(status))
        self._line("checks", self._checks_line(status.checks))
        self._render_backup()
        self.query_one("#db-history", Static).update(self._history(status))
        if status.connected:
            self.mark_updated(status.checked_at)
        else:
            self.mark_failed(status.error or "not connected", status.checked_at)

    def _line(self, name: str, content: Content) -> None:
        self.query_one(f"#db-{name}", Static).update(content)

    @staticmethod
    def _conn_line(status: DatabaseStatus) -> Content:
        if status.connected:
            return Content.assemble(
                ("● ", "$text-success"),
                f"PostgreSQL {status.server_version} · {status.target}",
            )
        return Content.assemble(("✗ ", "$text-error"), f"not connected · {status.target}")

    @staticmethod
    def _schema_line(status: DatabaseStatus) -> Content:
        if status.migrations == "none":
            return Content.styled("migrations: none configured", "$text-muted")
        if not status.connected:
            current = "unknown"
        else:
            current = printable(", ".join(status.current)) or "no revision recorded"
        head = ""
        if status.current and status.heads:
            head = " (head)" if set(status.current) <= set(status.heads) else " (below head)"
        return Content.assemble(
            ("schema ", "$text-muted"), f"{current}{head} · {status.migrations}"
        )

    @staticmethod
    def _crossing_line(status: DatabaseStatus) -> Content:
        if not status.release:
            return Content.styled("rollback target: not chosen yet", "$text-muted")
        release = printable(status.release)
        if not status.release_heads:
            return Content.styled(
                f"→ {release}: which schema it expects is not known", "$text-muted"
            )
        expects = ", ".join(status.release_heads)
        if not status.crossing:
            return Content.assemble(
                ("→ ", "$text-muted"), f"{release} expects {expects}: no migration to cross"
            )
        revs = ", ".join(r.id for r in status.crossing)
        # What is lost comes first: a narrow panel cuts the end of the line.
        parts: list[str | tuple[str, str]] = [("→ ", "$text-warning"), f"{release} needs {expects}"]
        if status.losses:
            drops = ", ".join(loss.label for loss in status.losses)
            parts.append((f" · drops {drops}", "bold $text-error"))
        parts.append(f" · crosses {revs}")
        return Content.assemble(*parts)

    def _checks_line(self, checks: tuple[CheckResult, ...]) -> Content:
        if not checks:
            return Content.styled("checks: none configured", "$text-muted")
        parts: list[str | tuple[str, str]] = [("checks ", "$text-muted")]
        for number, check in enumerate(checks):
            if number:
                parts.append((" · ", "$text-muted"))
            if not check.ok:
                parts.append((f"{check.name} ERROR", "$text-error"))
                continue
            was = self.first_checks.get(check.name)
            parts.append(f"{check.name} {printable(str(check.value))}")
            if was is not None and was != check.value:
                parts.append((f" (was {printable(str(was))})", "$text-warning"))
        return Content.assemble(*parts)

    def _render_backup(self) -> None:
        if self.backing_up:
            self._line("backup", Content.styled("backup: pg_dump running…", "$text-warning"))
            return
        backup = self.status.last_backup if self.status else None
        if backup is None:
            self._line("backup", Content.styled("backup: none yet (b takes one)", "$text-muted"))
            return
        name = backup.path.rsplit("/", 1)[-1]
        when = ago(backup.taken_at, self.clock()) if backup.taken_at else ""
        self._line(
            "backup",
            Content.assemble(
                ("backup ", "$text-muted"), f"{name} · {format_bytes(backup.size_bytes)} · {when}"
            ),
        )

    @staticmethod
    def _history(status: DatabaseStatus) -> Content:
        if not status.history:
            return Content("")
        current = set(status.current)
        crossing = {r.id for r in status.crossing}
        lines: list[Content] = []
        for rev in status.history[:HISTORY_LINES]:
            if rev.id in current:
                mark = ("● ", "$text-success")
            elif rev.id in crossing:
                mark = ("↓ ", "$text-warning")
            else:
                mark = ("  ", "")
            lines.append(
                Content.assemble(
                    mark, f"{printable(rev.id)}  ", (printable(rev.message), "$text-muted")
                )
            )
        more = len(status.history) - HISTORY_LINES
        if more > 0:
            lines.append(Content.styled(f"  … {more} older", "$text-muted"))
        return Content("\n").join(lines)

    # ----------------------------------------------------------------- actions

    def _refused(self, action: str) -> bool:
        """Read-only mode (the app's ``refused_read_only``): said, and nothing done."""
        refused = getattr(self.app, "refused_read_only", None)
        return bool(refused and refused(action))

    def action_backup(self) -> None:
        """Take a verified backup now (in a worker); the result is a notification."""
        if self._refused("backup"):
            return
        if self.take_backup is None:
            self.notify("Backups are not available here.", severity="warning")
            return
        if self.backing_up:
            self.notify("A backup is already running.")
            return
        self.backing_up = True
        self._render_backup()
        self._backup()

    @work(thread=True, exclusive=True, group="database-backup", exit_on_error=False)
    def _backup(self) -> None:
        assert self.take_backup is not None
        info = self.take_backup(lambda _line: None)
        self.app.call_from_thread(self._backed_up, info)

    def _backed_up(self, info: BackupInfo) -> None:
        self.backing_up = False
        self.notify(info.summary, title="Database backup verified", timeout=15)
        self.poll()

    def action_restore(self) -> None:
        if self._refused("restore"):
            return
        self.post_message(self.RestoreRequested())
