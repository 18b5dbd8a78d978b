"""An outcome in the words that say what was done: the entry, the team message, the screens.

``Outcome``'s values are what scripts read (history ``--json``); a provider
action ("restart", "rollback-image") is not "rolled back", so its outcome is
worded after what it did ("restarted and verified", "restart, not verified").
"""

from __future__ import annotations

from console.model import Outcome

#: What a provider action did, when it did it and the service was verified (or not):
#: "restarted and verified".  An action not listed reads "<action> done".
ACTION_DONE: dict[str, str] = {
    "restart": "restarted",
    "restore-manifest": "manifest restored",
    "rollback-image": "image rolled back",
    "force-new-deployment": "new deployment forced",
    "restore-rds-snapshot": "RDS snapshot restored",
    "gradual": "traffic moved gradually",
    "pitr": "database restored to a point in time",
    "to-latest": "traffic sent to LATEST",
    "resume-gitops": "GitOps auto-sync resumed",
}


def outcome_text(outcome: Outcome, action: str = "") -> str:
    """The outcome in words that say what was done.

    ``action`` is a plan's action id, or a history record's action ("restart",
    "rollback-image v1.2.9": only the id counts).  A rollback ("" or
    "rollback") reads as the enum's value; an action says what it did:
    "restarted and verified", "restart, not verified", "restart failed".
    """
    name = action.split()[0] if action.strip() else ""
    if name in ("", "rollback"):
        return outcome.value
    done = ACTION_DONE.get(name, f"{name} done")
    texts = {
        Outcome.ROLLED_BACK: f"{done} and verified",
        Outcome.NOT_VERIFIED: f"{name}, not verified",
        Outcome.FAILED: f"{name} failed",
        Outcome.ABORTED: f"{name} aborted",
        Outcome.DRY_RUN: f"{name}: dry run",
        Outcome.UNDONE: f"{name} not in effect: undone",
    }
    return texts.get(outcome, outcome.value)


def outcome_from_text(text: str, action: str = "") -> Outcome | None:
    """The ``Outcome`` an entry's Outcome cell stands for (``outcome_text`` read back)."""
    for outcome in Outcome:
        if text in (outcome.value, outcome_text(outcome, action)):
            return outcome
    return None
