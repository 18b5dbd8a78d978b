"""The rollback wizard's order, in one place: no step screen imports the next one.

assess -> prepare (checklist) -> target -> confirm -> execute -> verify -> record.

A step that is done calls the function here that opens the next step
(``to_checklist``, ``to_target``, ``confirm_then_execute``, ``to_verify``,
``to_record``), so changing the order, or adding a step, is an edit here only.
The one confirm -> execute path (a rollback's target, a provider action, a
new plan after resume found a switch undone) and the one "leave without
writing the entry?" question live here too.  Screen modules are imported
inside the functions: each of them imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from console.flow import RollbackFlow
from console.model import Plan

if TYPE_CHECKING:
    from textual.app import App


def to_checklist(app: App[object], flow: RollbackFlow, target: str | None) -> None:
    """Assess is done: the runbook checklist (prepare)."""
    from screens.checklist import ChecklistScreen

    app.push_screen(ChecklistScreen(flow, target=target))


def to_target(app: App[object], flow: RollbackFlow, target: str | None) -> None:
    """The checklist is done: choose the revision and read the plan."""
    from screens.target import TargetScreen

    app.push_screen(TargetScreen(flow, target))


def confirm_then_execute(
    app: App[object],
    flow: RollbackFlow,
    plan: Plan,
    *,
    replace: bool = False,
    cancelled: Callable[[], None] | None = None,
) -> None:
    """The typed confirmation, then the execution of ``plan``; the one way a plan runs.

    ``replace``: the execute screen takes the place of the screen asking (a new
    plan after an undone switch) instead of going on top of it.  ``cancelled``
    runs when the operator does not confirm (nothing was changed).
    """
    from screens.confirm import ConfirmScreen
    from screens.execute import ExecuteScreen

    def confirmed(ok: bool | None) -> None:
        if not ok:
            if cancelled is not None:
                cancelled()
            return
        screen = ExecuteScreen(flow, plan)
        if replace:
            app.switch_screen(screen)
        else:
            app.push_screen(screen)

    app.push_screen(ConfirmScreen(plan), confirmed)


def to_verify(app: App[object], flow: RollbackFlow) -> None:
    """The platform reported ready: watch the service for the verify window."""
    from screens.verify import VerifyScreen

    app.switch_screen(VerifyScreen(flow))


def to_record(app: App[object], flow: RollbackFlow) -> None:
    """Whatever the outcome: preview and save the history entry."""
    from screens.record import RecordScreen

    app.switch_screen(RecordScreen(flow))


def ask_leave_unrecorded(app: App[object], leave: Callable[[], None]) -> None:
    """Something ran: leaving now writes no history entry, so ask once (the safe answer first)."""
    from screens.flow_common import AskYesNo

    def answered(yes: bool | None) -> None:
        if yes:
            leave()

    app.push_screen(
        AskYesNo(
            "The rollback has already run. Leave without writing the history entry? Its "
            "outcome would be missing from the history (the incident journal keeps the events).",
            yes_label="Leave unrecorded",
            no_label="Stay",
        ),
        answered,
    )
