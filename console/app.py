"""The Textual app: config -> providers and signal sources -> the dashboard and the wizard.

``make_app`` is the one way to build it, used by the CLI and the tests alike
(Posting's ``make_posting``), so tests run the app operators run.

Start-up paints before any I/O: no provider, cloud SDK or signal client is
imported here.  The dashboard's first polls (thread workers, started after
the first frame) load the provider through ``providers.load_provider`` and
start the error-rate source; from then on the app holds, per service, a
``ServiceRuntime`` with the provider, the running source and the latest data,
and stops every source when it exits.

Once the dashboard shows live data, the wizard's screens are prepared while
the operator reads it (``warm_up``, ``screens.preload``), so the first ``r``
costs what later ones do.

Every worker failure arrives in one handler (``_worker_failed``) and becomes
one notification line; an unexpected crash writes its traceback to a crash
file and prints one line, never a traceback over the operator's terminal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import SystemModalScreen
from textual.worker import Worker, WorkerState, get_current_worker

from console.app_resume import ResumeOffers
from console.clock import utcnow
from console.config import Config, ServiceConfig
from console.runtime import Backends, ServiceRuntime
from console.textsafe import printable, printable_lines
from screens.dashboard import DashboardScreen
from screens.help import HelpScreen
from screens.typeahead import TypeAhead

if TYPE_CHECKING:
    from textual.command import Provider as CommandProvider
    from textual.notifications import SeverityLevel

    from console.flow import RollbackFlow

#: ``--log-file`` (``console.oplog``): the notifications the operator saw.
_log = logging.getLogger("rollback_console.tui")

#: How long quitting waits, in all, for the error-rate sources to stop.
STOP_GRACE_S = 0.1


# --------------------------------------------------------------------------- the app


def rollback_commands() -> type[CommandProvider]:
    """The palette's provider, imported when the palette first opens (as Textual's own is)."""
    from screens.commands import RollbackCommands

    return RollbackCommands


class RollbackConsoleApp(ResumeOffers):
    """The console: a dashboard per service, the rollback wizard on top of it, help, palette."""

    TITLE = "rollback-console"
    CSS_PATH: ClassVar[list[str | Any]] = ["app.tcss", "../screens/dashboard.tcss"]
    COMMANDS: ClassVar[set[Any]] = App.COMMANDS | {rollback_commands}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "question_mark,f1",
            "help",
            "Help",
            id="help",
            priority=True,  # also while typing a reason: a reason never needs a '?'
            tooltip="This help: the keys of this screen, the steps, the files",
        ),
        Binding("h", "history", "History", id="history", tooltip="Past rollbacks, time to recover"),
        Binding("q", "request_quit", "Quit", id="quit", tooltip="Quit (from the dashboard)"),
    ]

    def __init__(
        self,
        config: Config,
        service: ServiceConfig,
        *,
        backends: Backends | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__()
        self.config = config
        self.clock = clock
        backends = backends or Backends()
        self.runtimes: dict[str, ServiceRuntime] = {
            svc.name: ServiceRuntime(svc, backends) for svc in config.services
        }
        self.service_name = service.name
        self.sub_title = service.label
        #: ``--read-only`` / ``[console] read_only``: nothing that changes a platform is
        #: offered (``console.readonly``); the header says so on every screen.
        self.read_only = config.console.read_only
        if self.read_only:
            self.title = f"{self.TITLE} · READ-ONLY"
        self.theme = config.console.theme
        #: ``[keys]``: binding id -> key(s), Textual's keymap (help shows these keys).
        self.keymap: dict[str, str] = dict(config.keys)
        if self.keymap:
            self.set_keymap(self.keymap)
        #: The keys that open help from anywhere, a text field too (``deliver_key``).
        self.help_keys = set(self._keymap.get("help", "question_mark").split(","))
        self._crash: BaseException | None = None
        self._warmed = False
        self.typeahead = TypeAhead(self)

    # ----------------------------------------------------------------- keys

    def offers(self, action: str) -> bool:
        """Whether ``action``'s key is offered (footer, help, palette): in read-only mode,
        nothing that changes a platform is."""
        from console import readonly

        return not (self.read_only and readonly.changes(action))

    def refused_read_only(self, action: str) -> bool:
        """In read-only mode, say why ``action`` does nothing and return True."""
        if self.offers(action):
            return False
        from console import readonly

        self.notify(readonly.tui_refusal(action), severity="warning", timeout=6)
        return True

    async def on_event(self, event: events.Event) -> None:
        """Every key the terminal sends goes through the type-ahead (``screens.typeahead``):
        a burst over a slow link does what the same keys typed slowly do."""
        if isinstance(event, events.Key) and not event.is_forwarded:
            if not self.typeahead.take(event):
                await self.deliver_key(event)
            return
        await super().on_event(event)

    async def deliver_key(self, event: events.Key) -> None:
        """Hand ``event`` to Textual (bindings, then the focused widget); the next key waits
        until this one has been handled."""
        target = self.focused or self.screen
        if event.key in self.help_keys and not isinstance(self.screen, HelpScreen):
            # Help from anywhere, a text field too (Textual leaves printable keys to the
            # field): no reason or service name needs a '?'.
            self.action_help()
        else:
            await super().on_event(event)
        self.typeahead.delivered(target)

    # ----------------------------------------------------------------- state

    @property
    def runtime(self) -> ServiceRuntime:
        """The service on screen."""
        return self.runtimes[self.service_name]

    @property
    def dashboard(self) -> DashboardScreen | None:
        """The dashboard of the service on screen (None while it is being replaced)."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, DashboardScreen):
                return screen
        return None

    def get_default_screen(self) -> DashboardScreen:
        """The dashboard is the default screen, painted first (its CSS is the app's: a
        default screen's own ``CSS_PATH`` is not loaded), not pushed over an empty one."""
        return self._new_dashboard()

    def on_mount(self) -> None:
        self.call_after_refresh(self._look_for_interrupted)

    # ----------------------------------------------------------------- warm-up

    def warm_up(self) -> None:
        """Prepare the wizard's screens in the background (once; see the module docstring).

        The dashboard calls this when its first data is on screen: not before, so it
        competes with neither the first frame nor the first data.
        """
        if not self._warmed:
            self._warmed = True
            self._import_screens()

    @work(thread=True, group="warm-up", exit_on_error=False, description="prepare the wizard")
    def _import_screens(self) -> None:
        from screens import preload

        try:
            classes = preload.import_screens()
        except Exception:  # only a head start: the key that opens the screen reports it
            return
        self.call_from_thread(self._load_screen_styles, classes)

    def _load_screen_styles(self, classes: list[type[Any]]) -> None:
        from screens import preload

        if preload.load_styles(self.stylesheet, classes):
            self.stylesheet.update(self)

    def _new_dashboard(self) -> DashboardScreen:
        return DashboardScreen(self.runtime, clock=self.clock, can_switch=len(self.runtimes) > 1)

    async def refresh_all(self) -> None:
        """Refresh every panel of the dashboard now; returns when all of them have rendered.

        The sources are read concurrently (one thread worker each), so this
        takes about as long as the slowest source.
        """
        dashboard = self.dashboard
        if dashboard is not None:
            await dashboard.refresh_all()

    # ----------------------------------------------------------------- actions

    def action_help(self) -> None:
        """Open the help screen (this screen's keys, the flow, where config and history
        live); on the help screen, close it."""
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(self.config, self.runtime.service, origin=self.screen))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``q`` quits from the dashboard only: inside the wizard it is not offered (Esc
        leaves a step, ctrl+q quits anyway)."""
        return not (action == "request_quit" and self.wizard_open)

    def action_refresh(self) -> None:
        """Re-read every source of the dashboard now."""
        dashboard = self.dashboard
        if dashboard is not None:
            dashboard.action_refresh()

    def action_request_quit(self) -> None:
        """Quit from the dashboard; inside the rollback wizard, say how to leave it first."""
        if self.wizard_open:
            self.notify(
                "A rollback is open: leave it first (Esc, or finish it). ctrl+q quits anyway.",
                severity="warning",
            )
            return
        self.exit(0)

    @property
    def wizard_open(self) -> bool:
        """True while a rollback-wizard screen is on the stack (above the dashboard).

        Everything above the dashboard except help and Textual's own modals (the
        palette) belongs to the wizard.
        """
        stack = self.screen_stack
        dashboard = self.dashboard
        above = stack[stack.index(dashboard) + 1 :] if dashboard is not None else []
        return any(
            not (isinstance(screen, (HelpScreen, SystemModalScreen)) or _is_viewer(screen))
            for screen in above
        )

    def action_switch_service(self, name: str | None = None) -> None:
        """Show another service's dashboard (the next one when ``name`` is None)."""
        names = list(self.runtimes)
        if name is None and len(names) == 1:
            self.notify(
                f"{self.runtime.service.label} is the only service configured: "
                f"add more as [[services]] in {self.config.path}",
                timeout=8,
            )
            return
        if name is None:
            name = names[(names.index(self.service_name) + 1) % len(names)]
        if name not in self.runtimes:
            self.notify(f"Unknown service {name!r}", severity="error")
            return
        if name == self.service_name and self.dashboard is not None:
            return
        if self.wizard_open:
            self.notify(
                "Finish or leave the rollback before switching service.", severity="warning"
            )
            return
        self.service_name = name
        self.sub_title = self.runtime.service.label
        dashboard = self.dashboard
        if dashboard is not None and self.screen is not dashboard:
            dashboard.pop_until_active()
        if len(self.screen_stack) == 1:
            # The first dashboard is the app's default screen, which cannot be switched
            # away: the new one goes on top of it (the one below pauses its polls).
            self.push_screen(self._new_dashboard())
        else:
            self.switch_screen(self._new_dashboard())

    def action_history(self) -> None:
        """Open the history browser: past rollbacks, time to recover per entry, the median."""
        # Imported here: the browser (and its markdown renderer) is not needed for the
        # first frame, which is what an operator paged at 02:00 waits for.
        from screens.history import HistoryScreen

        if not isinstance(self.screen, HistoryScreen):
            self.push_screen(HistoryScreen(self.config.console.history_file))

    def action_show_history_path(self) -> None:
        """Say where the rollback-history file is (and copy the path to the clipboard)."""
        path = self.config.console.history_file
        exists = "" if path.exists() else " (no entries yet)"
        self.copy_to_clipboard(str(path))
        self.notify(f"{path}{exists}", title="History file (path copied)", timeout=10)

    def action_show_config_path(self) -> None:
        """Say which config file this console runs on (and copy the path)."""
        self.copy_to_clipboard(str(self.config.path))
        self.notify(str(self.config.path), title="Config file (path copied)", timeout=10)

    def action_details(self) -> None:
        """Facts and recent platform events of the service on screen.

        Opens at once on the last snapshot; facts a provider reads only on demand
        (``SupportsDetails``: the host's processes, ports, unit and disk) are read
        by the screen in a worker and shown when they arrive.
        """
        from screens.events import EventsScreen

        runtime = self.runtime
        self.push_screen(
            EventsScreen(
                runtime.snapshot,
                runtime.service.label,
                read_details=lambda: _provider_details(runtime),
                redact=self.config.redactor,
            )
        )

    def action_logs(self, unit: str) -> None:
        """The last 50 log lines of ``unit`` (read in a worker, then shown)."""
        self._read_logs(self.runtime, unit)

    @work(
        thread=True,
        exclusive=True,
        group="logs",
        exit_on_error=False,
        description="read the unit's logs",
    )
    def _read_logs(self, runtime: ServiceRuntime, unit: str) -> None:
        from providers.base import SupportsLogs, SupportsLogSource
        from screens.logs import LogsScreen

        provider = runtime.ensure_provider()
        if not isinstance(provider, SupportsLogs):
            self.call_from_thread(
                self.notify, f"The {provider.name} provider shows no logs; look on the host."
            )
            return
        lines = provider.logs(unit, 50)
        source = provider.log_source(unit) if isinstance(provider, SupportsLogSource) else ""
        lines = tuple(self.config.redactor(line) for line in lines)
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self.push_screen, LogsScreen(unit, lines, source=source))

    def action_actions(self) -> None:
        """Open the provider's actions (restart, restore a manifest, image rollback...)."""
        if self.refused_read_only("actions"):
            return
        if self.wizard_open:
            self.notify("A rollback is already open.", severity="warning")
            return
        self.typeahead.busy("opening the rollback")
        self._prepare_actions(self.runtime)

    @work(
        thread=True,
        exclusive=True,
        group="prepare-rollback",
        exit_on_error=False,
        description="read the provider's actions",
    )
    def _prepare_actions(self, runtime: ServiceRuntime) -> None:
        from console.flow import RollbackFlow
        from screens.actions import ActionsScreen, provider_actions

        if self._resume_first(runtime):
            return
        provider = runtime.ensure_provider()
        actions = provider_actions(provider)
        if not actions:
            self.call_from_thread(
                self.notify, f"{runtime.service.label} has no actions besides rollback."
            )
            return
        source = runtime.ensure_source()
        flow = RollbackFlow(
            self.config, runtime.service, provider, source, detected_at=runtime.detected_at
        )
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self.push_screen, ActionsScreen(flow, actions))

    def action_rollback(self, target: str | None = None) -> None:
        """Start the rollback wizard for the service on screen (``target`` None: previous)."""
        if self.refused_read_only("rollback"):
            return
        if self.wizard_open:
            self.notify("A rollback is already open.", severity="warning")
            return
        if target is None and self.dashboard is not None:
            target = self.dashboard.chosen_target
        self.typeahead.busy("opening the rollback")
        self._prepare_rollback(self.runtime, target)

    @work(
        thread=True,
        exclusive=True,
        group="prepare-rollback",
        exit_on_error=False,
        description="start the rollback",
    )
    def _prepare_rollback(self, runtime: ServiceRuntime, target: str | None) -> None:
        """Blocking: load the provider and source if needed, open the incident, push Assess."""
        try:
            from screens.assess import AssessScreen
        except ImportError as exc:
            raise RuntimeError(f"the rollback screens are not available ({exc})") from None
        from console.flow import RollbackFlow

        if self._resume_first(runtime):
            return
        provider = runtime.ensure_provider()
        source = runtime.ensure_source()
        flow = RollbackFlow(
            self.config, runtime.service, provider, source, detected_at=runtime.detected_at
        )
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self._push_flow, AssessScreen, flow, target)

    def _push_flow(
        self, screen_class: Callable[..., Any], flow: RollbackFlow, target: str | None
    ) -> None:
        self.push_screen(screen_class(flow, target=target))

    # ----------------------------------------------------------------- errors

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """Every app worker's failure becomes one notification line."""
        if event.state is WorkerState.ERROR:
            self.report_worker_failure(event.worker)
        if event.worker.group == "prepare-rollback" and event.state in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            if event.state is not WorkerState.SUCCESS or not self.wizard_open:
                self.typeahead.drop()  # the wizard did not open: keys meant for it go nowhere
            self.typeahead.idle("opening the rollback")

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """A notification, as plain text: redacted and with control characters escaped.

        Messages quote names and errors from outside (a release, a provider's
        error with a URL in it), so none is ever parsed as markup (``markup``
        is accepted for Textual's signature and ignored).
        """
        redact = self.config.redactor
        if _log.isEnabledFor(logging.INFO):  # --log-file: what the operator was told, when
            _log.info("%s: %s%s", severity, f"{title}: " if title else "", redact(message))
        super().notify(
            printable_lines(redact(message)),
            title=printable(redact(title)),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def report_worker_failure(self, worker: Worker[Any]) -> None:
        """One error line for a failed worker (also used by the screens' workers)."""
        what = worker.description or worker.name or "background task"
        error = worker.error
        reason = (str(error) or type(error).__name__) if error is not None else "unknown error"
        self.notify(f"Could not {what}: {reason}", severity="error", timeout=10)

    def _handle_exception(self, error: Exception) -> None:
        self._crash = error
        super()._handle_exception(error)

    def _fatal_error(self) -> None:
        """An unhandled exception: write the traceback to a crash file, show one line."""
        error = self._crash
        redact = self.config.redactor
        crash = _write_crash_file(self.config.console.state_dir, error, redact)
        summary = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
        summary = printable(redact(summary))
        self._exit_renderables.append(
            f"rollback-console stopped on an unexpected error: {summary}\ndetails: {crash}"
        )
        self._close_messages_no_wait()

    # ----------------------------------------------------------------- lifecycle

    def on_unmount(self) -> None:
        """Tell every error-rate source to stop, without making the operator wait for it.

        ``stop()`` signals its threads at once and then waits for requests in
        flight; that wait runs in daemon threads given ``STOP_GRACE_S`` in all,
        so quitting stays instant and nothing is left probing.
        """
        sources = [runtime.close() for runtime in self.runtimes.values()]
        threads = [
            threading.Thread(target=source.stop, name="stop-error-rate-source", daemon=True)
            for source in sources
            if source is not None
        ]
        # A rollback left open on screen: its locks go too (the platform's would expire).
        flows = {id(flow): flow for s in self.screen_stack if (flow := getattr(s, "flow", None))}
        threads += [
            threading.Thread(target=flow.close, name="release-rollback-locks", daemon=True)
            for flow in flows.values()
            if hasattr(flow, "close")
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + STOP_GRACE_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _provider_details(runtime: ServiceRuntime) -> tuple[tuple[str, str], ...] | None:
    """Blocking: the facts the provider reads on demand; None when it has none to read."""
    from providers.base import SupportsDetails

    provider = runtime.ensure_provider()
    return provider.details() if isinstance(provider, SupportsDetails) else None


def _write_crash_file(
    state_dir: Path, error: BaseException | None, redact: Callable[[str], str] = str
) -> str:
    """``error``'s traceback in a crash report (``console.crash``, redacted); where it is,
    or why not."""
    from console.crash import crash_text, write_crash_report

    path, reason = write_crash_report(state_dir, redact(crash_text(error)))
    return str(path) if path else f"no crash report could be written ({reason})"


def make_app(
    config: Config,
    *,
    service: str | None = None,
    backends: Backends | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> RollbackConsoleApp:
    """The console on ``config``, showing ``service`` (default: the first configured one).

    Raises ``ConfigError`` (exit 2) for an unknown service name.  ``backends``
    and ``clock`` exist for tests and benchmarks; operators never pass them.
    """
    chosen = config.service(service) if service else config.services[0]
    return RollbackConsoleApp(config, chosen, backends=backends, clock=clock)


def _is_viewer(screen: object) -> bool:
    """A read-only screen (history browser, an entry) that is not part of the wizard."""
    return bool(getattr(screen, "READ_ONLY_VIEWER", False))
