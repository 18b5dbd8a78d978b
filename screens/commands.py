"""The command palette (ctrl+p): every console action by name (Posting's commands.py).

Each command says what will happen to which service in which environment
("Roll back web (production)…"), and calls the same app action its key does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from console.notify import message_kind

if TYPE_CHECKING:
    from console.app import RollbackConsoleApp
    from console.flow import RollbackFlow

#: (title, help, callback)
Command = tuple[str, str, Callable[[], object]]


def open_flow(app: RollbackConsoleApp) -> RollbackFlow | None:
    """The rollback open in the wizard (its topmost screen's flow), if any."""
    for screen in reversed(app.screen_stack):
        flow = getattr(screen, "flow", None)
        if flow is not None:
            return cast("RollbackFlow", flow)
    return None


def show_notification(app: RollbackConsoleApp, flow: RollbackFlow, kind: str) -> None:
    """Show the team's ``kind`` message of ``flow`` and copy it (``screens.notify``)."""
    from screens.notify import NotificationScreen

    app.push_screen(NotificationScreen(flow, kind))


class RollbackCommands(Provider):
    """Switch service, refresh, roll back, help, history, team message, config paths, quit."""

    @property
    def console_app(self) -> RollbackConsoleApp:
        return cast("RollbackConsoleApp", self.app)

    def commands(self) -> Iterator[Command]:
        """The commands that make sense right now (switching lists the other services)."""
        app = self.console_app
        label = app.runtime.service.label
        if app.offers("rollback"):  # read-only mode offers nothing that changes a platform
            yield (
                f"Roll back {label}…",
                "Start the rollback wizard on the revision selected in Revisions "
                "(default: previous)",
                app.action_rollback,
            )
        if app.offers("actions"):
            yield (
                "Actions…",
                f"What the platform offers for {label} besides a rollback: restart, restore a "
                "manifest, roll to an image tag, move traffic in steps",
                app.action_actions,
            )
        yield (
            "Events and details",
            f"Platform facts and recent events of {label} (conditions, deployments, warnings)",
            app.action_details,
        )
        yield (
            "Refresh now",
            f"Re-read the snapshot, health and error rate of {label}",
            app.action_refresh,
        )
        for name, runtime in app.runtimes.items():
            if name != app.service_name:
                yield (
                    f"Switch to {runtime.service.label}",
                    f"Show the dashboard of {runtime.service.label} ({runtime.service.provider})",
                    partial(app.action_switch_service, name),
                )
        yield ("Help", "Keys, the rollback steps, and where the files are", app.action_help)
        yield (
            "History",
            "Past rollbacks: time to recover per entry and the median; Enter opens one",
            app.action_history,
        )
        flow = open_flow(app)
        if flow is not None:
            kind = message_kind(flow)
            yield (
                f"Copy notification ({kind} message)",
                f"Show the team's {kind} message for {flow.service.label} and copy it (OSC 52)",
                partial(show_notification, app, flow, kind),
            )
        yield (
            "Show history file path",
            f"Where rollbacks are recorded: {app.config.console.history_file}",
            app.action_show_history_path,
        )
        yield (
            "Show config file path",
            f"The config this console runs on: {app.config.path}",
            app.action_show_config_path,
        )
        yield ("Quit", "Leave the console (stops its probes)", app.action_request_quit)

    async def discover(self) -> Hits:
        for title, help_text, callback in self.commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self.commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
