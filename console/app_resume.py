"""The app's side of resuming: find a half-done rollback and offer to finish it.

After the first frame (and after a rollback whose outcome is not known) the
console reads the incident journals; an interrupted rollback of a configured
service is offered with what it did so far, and resumed on the Execute screen
(the platform is read first, nothing that took effect is done again).  A new
rollback of a service with one open is refused in favour of resuming it.
Kept apart from ``console.app`` so the app module stays about the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import App
from textual.worker import get_current_worker

from console.runtime import ServiceRuntime

if TYPE_CHECKING:
    from console.config import Config
    from console.resume import JournalState


class ResumeOffers(App[int]):
    """The base of ``RollbackConsoleApp``, which sets the attributes declared here."""

    config: Config
    runtimes: dict[str, ServiceRuntime]
    service_name: str
    read_only: bool

    def refused_read_only(self, action: str) -> bool:
        raise NotImplementedError  # the app's: in read-only mode, say why and return True

    def action_switch_service(self, name: str | None = None) -> None:
        raise NotImplementedError  # the app's: show that service's dashboard

    def offer_resume(self) -> None:
        """Look for open incidents now (after a rollback whose outcome is not known)."""
        self._look_for_interrupted()

    @work(thread=True, group="resume", exit_on_error=False, description="read the journals")
    def _look_for_interrupted(self) -> None:
        """After the first frame: is a rollback of ours half-done (console killed, SSH lost)?"""
        self._push_pending_history()
        pending = [state for state in self._resumable() if state.interrupted]
        if pending and self.read_only:
            from console.readonly import HOW_TO_LEAVE

            names = ", ".join(sorted({state.service for state in pending}))
            self.call_from_thread(
                self.notify,
                f"read-only: an interrupted rollback of {names} is open; it is not offered "
                f"here ({HOW_TO_LEAVE}): `rollback-console resume` elsewhere finishes it.",
                severity="warning",
                timeout=15,
            )
        elif pending:
            self.call_from_thread(self._offer_resume, pending[0])

    def _push_pending_history(self) -> None:
        """Blocking: history commits a failed push left (``history_push``) go now; a
        read-only console pushes nothing.  Said either way."""
        console = self.config.console
        if not console.history_push or self.read_only:
            return
        from console.history.git import push_pending

        result = push_pending(console)
        if result is not None:
            self.call_from_thread(
                self.notify,
                result.line,
                severity="information" if result.ok else "warning",
                timeout=10,
            )

    def _resumable(self, service: str | None = None) -> list[JournalState]:
        """Blocking: open incidents (of ``service``) this console can resume, oldest first."""
        from console.resume import open_incidents

        return [
            state
            for state in open_incidents(self.config.console.state_dir, service)
            if state.service in self.runtimes and state.plan is not None
        ]

    def _offer_resume(self, state: JournalState) -> None:
        from screens.flow_common import AskYesNo

        if self.refused_read_only("resume"):
            return
        lines = "\n".join(f"  {line}" for line in state.describe())
        question = (
            f"An interrupted rollback of {state.service} was found "
            f"(incident {state.incident_id}, by {state.operator or '?'}):\n{lines}\n\n"
            "Resume it now?  The platform is re-read first; nothing that already took "
            "effect is done again."
        )

        def answered(resume: bool | None) -> None:
            if not resume:
                self.notify(
                    f"Not resumed. Later: `rollback-console resume {state.service}`.",
                    severity="warning",
                )
                return
            if state.service != self.service_name:
                self.action_switch_service(state.service)
            self._prepare_resume(self.runtimes[state.service], state)

        self.push_screen(
            AskYesNo(question, yes_label="Resume", no_label="Later"), callback=answered
        )

    @work(
        thread=True,
        exclusive=True,
        group="prepare-rollback",
        exit_on_error=False,
        description="resume the rollback",
    )
    def _prepare_resume(self, runtime: ServiceRuntime, state: JournalState) -> None:
        from console.flow import RollbackFlow
        from screens.execute import ExecuteScreen

        provider = runtime.ensure_provider()
        source = runtime.ensure_source()
        flow = RollbackFlow(self.config, runtime.service, provider, source, resume_state=state)
        plan = flow.incident.plan
        if plan is not None and not get_current_worker().is_cancelled:
            self.call_from_thread(self.push_screen, ExecuteScreen(flow, plan, resume=True))

    def _resume_first(self, runtime: ServiceRuntime) -> bool:
        """Blocking: is a rollback of this service left open?  Then offer that, not a new one.

        A new rollback over a half-done one could undo what it did: after a switch
        that landed, "the previous release" is the broken one again.  The CLI
        refuses the same way (``rollback`` exits 2 and names ``resume``).
        """
        found = self._resumable(runtime.service.name)
        running = next((state for state in found if state.live), None)
        if running is not None and running.live is not None:
            self.call_from_thread(
                self.notify,
                f"{runtime.service.label} is being rolled back by {running.live.describe()} "
                f"(incident {running.incident_id}): wait for it to finish, or coordinate.",
                severity="error",
            )
            return True
        pending = [state for state in found if state.interrupted]
        if not pending:
            return False
        self.call_from_thread(
            self.notify,
            f"An interrupted rollback of {runtime.service.name} is open: finish it first.",
            severity="warning",
        )
        self.call_from_thread(self._offer_resume, pending[-1])
        return True
