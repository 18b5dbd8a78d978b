"""The dashboard: the first thing an operator sees, and where a rollback starts.

One screen per service: a status bar (service, environment, provider, live
version, severity, recommendation, decision countdown) over five panels
(current version, error rate, health, revisions, units).

Live data without freezing (Toolong, Dolphie): each source (snapshot, health,
error rate) has one exclusive worker that reads it in a background thread and
posts a message with plain data; the panels only render.  The next poll of a source is armed
by a timer only when the previous one has finished, so polls never overlap; a
failing source backs off (2 s, 4 s, 8 s ... 30 s) while its panel keeps the
last good data and shows the error.  While the rollback wizard (or help) covers the
dashboard, timed polls pause and catch up as soon as it is back.  The
severity and countdown are recomputed every second from cached data, never
from I/O on the UI thread.

The first frame is the layout alone: the model, the severity rules and the
database and restore-point panels (when configured) are imported after it is
painted, with the first data (see ``tests/bench.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Header
from textual.worker import Worker, WorkerState

from console.clock import utcnow
from console.widgets.current_version import CurrentVersionPanel
from console.widgets.error_rate import ErrorRatePanel
from console.widgets.footer import KeyFooter
from console.widgets.health import HealthPanel
from console.widgets.messages import (
    ERROR_RATE,
    HEALTH,
    SNAPSHOT,
    SOURCES,
    ErrorRateRead,
    HealthRead,
    SnapshotRead,
    SourceFailed,
    SourceRead,
)
from console.widgets.panel import DataPanel
from console.widgets.poller import Poller
from console.widgets.revisions import RevisionHistoryPanel
from console.widgets.status_bar import ServiceStatusBar
from console.widgets.units import UnitsPanel

if TYPE_CHECKING:
    from console.app import RollbackConsoleApp
    from console.model import Assessment, HealthResult, Sample, Snapshot
    from console.runtime import ServiceRuntime
    from console.widgets.database import DatabasePanel
    from console.widgets.restore_points import RestorePointsPanel

#: Seconds between two polls of a healthy source.
INTERVALS: dict[str, float] = {SNAPSHOT: 2.0, HEALTH: 2.0, ERROR_RATE: 1.0}


class DashboardScreen(Screen[None]):
    """Status bar and panels for one service; ``r`` starts the rollback on the selected target."""

    # dashboard.tcss (beside this file) is loaded by the app: the first dashboard is its
    # default screen, and a default screen's own CSS_PATH is never read.
    AUTO_FOCUS = "#revisions-table"
    # Screen declares these as plain attributes, so no ClassVar here (mypy) nor noise (ruff).
    HORIZONTAL_BREAKPOINTS = [(0, "-tight"), (72, "-narrow"), (100, "-wide")]  # noqa: RUF012
    VERTICAL_BREAKPOINTS = [(0, "-tiny"), (22, "-short"), (34, "-tall")]  # noqa: RUF012

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "r",
            "rollback",
            "Roll back",
            id="rollback",
            tooltip="Roll back to the selected revision (default: previous)",
        ),
        Binding("R,f5", "refresh", "Refresh", id="refresh", tooltip="Re-read every panel now"),
        Binding(
            "e",
            "app.details",
            "Events",
            id="details",
            show=False,  # the footer is full at 80 columns; help (?) and the palette list it
            tooltip="Platform facts and recent events (conditions, deployments, warnings)",
        ),
        Binding(
            "a",
            "app.actions",
            "Actions",
            id="actions",
            tooltip="Restart, restore a manifest, image rollback... (what the platform offers)",
        ),
        Binding(
            "s",
            "switch_service",
            "Switch service",
            id="switch-service",
            tooltip="Show the next configured service",
        ),
        # With one service the key above is off (and out of the footer); this one says why.
        Binding("s", "only_one_service", "Switch service", show=False, id="switch-service"),
        Binding("tab", "app.focus_next", "Next panel", show=False, id="dashboard-focus-next"),
        Binding(
            "shift+tab",
            "app.focus_previous",
            "Previous panel",
            show=False,
            id="dashboard-focus-previous",
        ),
    ]
    #: Keys that are not bindings, for the help screen.
    HELP_KEYS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("↑ ↓", "move in a table; in Revisions it picks the rollback target"),
        ("Enter", "on a unit: its last 50 log lines (providers that have logs)"),
        ("tab", "next panel (shift+tab: previous)"),
    )

    def __init__(
        self,
        runtime: ServiceRuntime,
        *,
        clock: Callable[[], datetime] = utcnow,
        can_switch: bool = False,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.clock = clock
        self.can_switch = can_switch
        self._preset_breakpoints()
        self.polls: dict[str, Poller[object]] = {name: self._poller(name) for name in SOURCES}
        self.assessment: Assessment | None = None

    @property
    def console_app(self) -> RollbackConsoleApp:
        return cast("RollbackConsoleApp", self.app)

    # ----------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        service = self.runtime.service
        # No icon: a glyph at the top left read as a key nobody could find (it only
        # opened the palette on a click); the title is what the header is for.
        yield Header(icon="")
        yield ServiceStatusBar(id="status")
        with Horizontal(id="top-row"):
            yield CurrentVersionPanel(id="current")
            yield ErrorRatePanel(service.thresholds, service.error_rate, id="error-rate")
            yield HealthPanel(service.health, id="health")
        with Container(id="bottom-row"):
            yield RevisionHistoryPanel(id="revisions")
            yield UnitsPanel(restarts_high=service.thresholds.restarts_high, id="units")
            if service.database is not None:
                yield self._database_panel()
            if service.ecs is not None and service.ecs.rds_instance:
                from console.widgets.restore_points import RestorePointsPanel

                yield RestorePointsPanel(id="restore-points")
        yield KeyFooter()

    def _database_panel(self) -> DatabasePanel:
        """The database panel (its own poll loop; see ``console.widgets.database``)."""
        from console import db_flow
        from console.widgets.database import DatabasePanel

        service = self.runtime.service
        state_dir = self.console_app.config.console.state_dir
        return DatabasePanel(
            lambda release: db_flow.read_status(service, state_dir, release=release),
            lambda on_line: db_flow.take_backup(service, state_dir, on_line),
            clock=self.clock,
            id="database",
        )

    def on_database_panel_restore_requested(self, message: DatabasePanel.RestoreRequested) -> None:
        """``o`` on the database panel: the restore dialog (a handler by name, so the panel's
        module is only imported for a service with a database)."""
        from console.widgets.database import DatabasePanel
        from screens.db_restore import DatabaseRestoreScreen

        message.stop()
        screen = DatabaseRestoreScreen(self.console_app.config, self.runtime.service)
        self.app.push_screen(screen, lambda _ran: self.query_one(DatabasePanel).poll())

    def _preset_breakpoints(self) -> None:
        """The breakpoint classes for the terminal's size, before the first styling.

        Textual sets them at the first resize, which restyles every widget once
        more before the first frame; with the right ones already there, that
        resize changes nothing (and a wrong guess is simply corrected by it).
        """
        try:
            width, height = self.app.size
        except Exception:  # no app yet (a screen built outside one): let the resize do it
            return
        for dimension, breakpoints in (
            (width, self.HORIZONTAL_BREAKPOINTS),
            (height, self.VERTICAL_BREAKPOINTS),
        ):
            self.add_class(*self._get_breakpoint_classes(dimension, breakpoints))

    def on_mount(self) -> None:
        service = self.runtime.service
        self.query_one(ServiceStatusBar).show_service(
            name=service.name,
            environment=service.environment,
            provider=service.provider,
            version=None,
        )
        self._render_cached()
        self.set_interval(1.0, self._tick)
        # First frame first: the provider and the sources load in the first polls.
        self.call_after_refresh(self._start_polls)

    def _start_polls(self) -> None:
        """The first read of each source, unless something (a refresh) already started one."""
        for name in SOURCES:
            if self.polls[name].started == 0:
                self._start_poll(name, forced=True)

    def on_unmount(self) -> None:
        for poll in self.polls.values():
            poll.stop()

    def on_screen_resume(self) -> None:
        """Back from the wizard: poll at once what was paused meanwhile."""
        for poll in self.polls.values():
            poll.resume()
        if self.runtime.service.database is not None:
            from console.widgets.database import DatabasePanel

            for panel in self.query(DatabasePanel):
                panel.poller.resume()

    # ----------------------------------------------------------------- polling

    def _covered(self) -> bool:
        """True while a screen that hides the dashboard lies above it: a full screen (the
        wizard), or a modal on an opaque background (help); see-through modals do not count."""
        stack = self.app.screen_stack
        if self not in stack:
            return True
        above = stack[stack.index(self) + 1 :]
        return any(
            not isinstance(screen, ModalScreen) or screen.styles.background.a == 1
            for screen in above
        )

    def _poller(self, name: str) -> Poller[object]:
        """The poll loop of one source: its read, and the messages its result becomes."""
        runtime = self.runtime

        def data(value: object) -> SourceRead:
            at = self.clock()
            if name == SNAPSHOT:
                return SnapshotRead(runtime.name, cast("Snapshot", value), at)
            if name == HEALTH:
                return HealthRead(runtime.name, cast("tuple[HealthResult, ...]", value), at)
            sample, history = cast("tuple[Sample, tuple[Sample, ...]]", value)
            return ErrorRateRead(runtime.name, sample, history, at)

        def failed(line: str) -> SourceFailed:
            error = self.console_app.config.redactor(line)
            return SourceFailed(runtime.name, name, error, self.clock())

        def has_data(value: object) -> bool:
            """An error-rate window with no request in it yet (the probe just started) is
            read again soon; the other sources always show what they read."""
            if name != ERROR_RATE:
                return True
            sample = cast("tuple[Sample, tuple[Sample, ...]]", value)[0]
            return sample.error_rate is not None or bool(sample.requests)

        read: Callable[[], object] = {
            SNAPSHOT: runtime.read_snapshot,
            HEALTH: runtime.read_health,
            ERROR_RATE: runtime.read_error_rate,
        }[name]
        return Poller(
            host=self,
            name=name,
            read=read,
            on_data=data,
            on_error=failed,
            interval=INTERVALS[name],
            describe=f"read {name.replace('_', ' ')} of {runtime.name}",
            covered=self._covered,
            has_data=has_data,
        )

    def _start_poll(self, name: str, *, forced: bool = False) -> None:
        """Start one read of ``name`` in its worker, unless one is in flight."""
        self.polls[name].start(forced=forced)

    @on(Worker.StateChanged)
    def _poll_finished(self, event: Worker.StateChanged) -> None:
        """A poll ended (its data message is already handled): re-arm its timer, wake waiters."""
        for poll in self.polls.values():
            if poll.finished(event):
                event.stop()
                if event.state is WorkerState.ERROR:
                    self.console_app.report_worker_failure(event.worker)
                return

    async def refresh_all(self) -> None:
        """Read every source now, concurrently; return once every panel has rendered the result.

        A poll already in flight is not doubled: the refresh waits for the
        poll that starts right after it.  Safe to await from a worker or a
        test (not from this screen's own message handlers, which render).
        """
        await asyncio.gather(*(poll.refresh() for poll in self.polls.values()))

    # ----------------------------------------------------------------- rendering

    @on(UnitsPanel.LogsWanted)
    def _logs_wanted(self, message: UnitsPanel.LogsWanted) -> None:
        message.stop()
        self.console_app.action_logs(message.unit)

    @on(SnapshotRead)
    def _snapshot_read(self, message: SnapshotRead) -> None:
        message.stop()
        runtime = self.runtime
        runtime.snapshot, runtime.snapshot_at = message.snapshot, message.at
        runtime.errors.pop(SNAPSHOT, None)
        self._render_snapshot()

    @on(HealthRead)
    def _health_read(self, message: HealthRead) -> None:
        message.stop()
        runtime = self.runtime
        runtime.health, runtime.health_at = message.results, message.at
        runtime.errors.pop(HEALTH, None)
        self._render_health()

    @on(ErrorRateRead)
    def _error_rate_read(self, message: ErrorRateRead) -> None:
        message.stop()
        runtime = self.runtime
        runtime.sample, runtime.rate_history = message.sample, message.history
        runtime.sample_at = message.at
        runtime.errors.pop(ERROR_RATE, None)
        self._render_error_rate()

    @on(SourceFailed)
    def _source_failed(self, message: SourceFailed) -> None:
        message.stop()
        self.runtime.errors[message.source] = message.error
        for panel in self._panels_of(message.source):
            panel.mark_failed(message.error, message.at)
        self._tick()

    def _panels_of(self, source: str) -> list[DataPanel]:
        if source == SNAPSHOT:
            return [
                self.query_one(CurrentVersionPanel),
                self.query_one(RevisionHistoryPanel),
                self.query_one(UnitsPanel),
                *self._restore_points(),
            ]
        if source == HEALTH:
            return [self.query_one(HealthPanel)]
        return [self.query_one(ErrorRatePanel)]

    def _restore_points(self) -> list[RestorePointsPanel]:
        """The RDS snapshots panel, when the service has one (ECS with ``rds_instance``)."""
        ecs = self.runtime.service.ecs
        if ecs is None or not ecs.rds_instance:
            return []
        from console.widgets.restore_points import RestorePointsPanel

        return list(self.query(RestorePointsPanel))

    def _render_cached(self) -> None:
        """Show what the app already holds for this service (after a service switch)."""
        runtime = self.runtime
        if runtime.snapshot is not None:
            self._render_snapshot()
        if runtime.health_at is not None:
            self._render_health()
        if runtime.sample is not None:
            self._render_error_rate()
        # The verdict line comes right after the first frame (the severity rules and the
        # model are not needed to paint the layout; see the module docstring).
        self.call_after_refresh(self._tick)

    def _render_snapshot(self) -> None:
        runtime = self.runtime
        snapshot, at = runtime.snapshot, runtime.snapshot_at
        assert snapshot is not None and at is not None
        now = self.clock()
        self.query_one(CurrentVersionPanel).show_snapshot(snapshot, now)
        self.query_one(RevisionHistoryPanel).show_snapshot(snapshot, now)
        self.query_one(UnitsPanel).show_snapshot(snapshot, now)
        for points in self._restore_points():
            points.show_snapshot(snapshot, now)
        service = runtime.service
        self.query_one(ServiceStatusBar).show_service(
            name=service.name,
            environment=service.environment,
            provider=snapshot.provider or service.provider,
            version=snapshot.current.version if snapshot.current else "(unknown)",
        )
        for panel in self._panels_of(SNAPSHOT):
            panel.mark_updated(at)
        self._tick()

    def _render_health(self) -> None:
        runtime = self.runtime
        assert runtime.health_at is not None
        panel = self.query_one(HealthPanel)
        panel.show_results(runtime.health)
        panel.mark_updated(runtime.health_at)
        self._tick()

    def _render_error_rate(self) -> None:
        runtime = self.runtime
        assert runtime.sample is not None and runtime.sample_at is not None
        panel = self.query_one(ErrorRatePanel)
        panel.show_rate(runtime.sample, runtime.rate_history)
        panel.mark_updated(runtime.sample_at)
        self._tick()

    def _tick(self) -> None:
        """Every second: ages of the panels, severity, countdown; all from cached data."""
        if not self.is_attached or self._covered():
            return
        if self._live():
            self.console_app.warm_up()
        from console.severity import format_remaining

        now = self.clock()
        for panel in self.query(DataPanel):
            panel.tick(now)
        self.assessment = self._assess(now)
        bar = self.query_one(ServiceStatusBar)
        snapshot = self.runtime.snapshot
        if snapshot is not None:
            # What ``r`` does about the alert holds for the default target only.
            action = "" if self.chosen_target else snapshot.alert_action
            bar.show_alert(snapshot.alert, action)
        deadline = self.assessment.deadline if self.assessment else None
        if deadline is None:
            bar.show_assessment(self.assessment, None, None)
        else:
            bar.show_assessment(
                self.assessment,
                format_remaining(deadline, now),
                deadline.astimezone().strftime("%H:%M"),
            )

    def _live(self) -> bool:
        """Whether the first data is on screen: the platform read, and an error rate (or
        the error why there is none)."""
        runtime = self.runtime
        sample = runtime.sample
        rate = ERROR_RATE in runtime.errors or (
            sample is not None and (sample.error_rate is not None or bool(sample.requests))
        )
        return rate and (runtime.snapshot is not None or SNAPSHOT in runtime.errors)

    def _assess(self, now: datetime) -> Assessment:
        """Severity from the latest data; the decision clock starts when it first turns bad.

        Until the error-rate source has its minimum sample and the health checks
        have answered, the assessment is "assessing (n of N samples)", never a
        verdict on the first few requests.  A source that failed is not waited
        for (its panel shows why; the verdict rests on the rest).
        """
        from console.model import Sample, Severity
        from console.severity import UNHEALTHY, assess

        runtime = self.runtime
        service = runtime.service
        sample = runtime.sample
        if sample is None and ERROR_RATE not in runtime.errors:
            sample = Sample(now, None, None, 0, service.error_rate.source)  # nothing read yet
        health_pending = (
            bool(service.health) and runtime.health_at is None and HEALTH not in runtime.errors
        )
        units = runtime.snapshot.units if runtime.snapshot else ()
        result = assess(
            service.thresholds,
            sample,
            runtime.health,
            units,
            detected_at=runtime.detected_at or now,
            now=now,
            health_pending=health_pending,
        )
        if result.severity in UNHEALTHY and runtime.detected_at is None:
            runtime.detected_at = now
        elif result.severity is Severity.LOW:
            runtime.detected_at = None
        return result

    # ----------------------------------------------------------------- actions

    @property
    def selected_target(self) -> str | None:
        """The revision id selected in the history (None: the default, previous)."""
        return self.query_one(RevisionHistoryPanel).target

    @property
    def chosen_target(self) -> str | None:
        """The revision the operator moved the cursor to; None for the default (previous)."""
        panel = self.query_one(RevisionHistoryPanel)
        return panel.target if panel.chosen else None

    def action_rollback(self) -> None:
        """Open the rollback wizard on the chosen revision (or the previous one)."""
        self.console_app.action_rollback(self.chosen_target)

    def action_refresh(self) -> None:
        """Re-read every source now (in a worker: the UI keeps rendering meanwhile)."""
        self.run_worker(
            self.refresh_all(), group="refresh-now", exclusive=True, exit_on_error=False
        )

    def action_switch_service(self) -> None:
        self.console_app.action_switch_service()

    def action_only_one_service(self) -> None:
        """``s`` with one service: say so, and where more would be configured."""
        self.console_app.action_switch_service()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "switch_service":
            return self.can_switch
        if action == "only_one_service":
            return not self.can_switch
        return True

    def focus_table(self, which: str) -> None:
        """Focus ``"revisions"`` or ``"units"`` (used by the command palette)."""
        self.query_one(f"#{which}-table", DataTable).focus()

    def panel_errors(self) -> dict[str, str]:
        """The current error line of each panel that has one (for tests and the palette)."""
        return {
            panel.id or type(panel).__name__: panel.error
            for panel in self.query(DataPanel)
            if panel.error
        }
