"""The RDS part of a plan: restore a snapshot to a new instance, wait until it is available.

The runbook's last resort for a data problem (runbook 003): the console
restores beside the live instance and waits; switching the database secret
and forcing a new deployment stay manual steps, listed in the plan's
warnings and, with the new endpoint, when the wait ends.  The restore is
idempotent: an instance of that name that exists already is not restored
again (the step ends SKIPPED), so a resumed incident never makes a second copy.
"""

from __future__ import annotations

from collections.abc import Generator

from console.model import Plan, Step
from console.runner import Skipped
from providers.ecs.client import EcsApi
from providers.ecs.errors import aws_errors
from providers.ecs.lock import TagLock
from providers.ecs.rds import instance_if_exists
from providers.ecs.rollout import Rollouts
from providers.ecs.steps import RESTORE, WAIT_RDS, update_command


def manual_steps(api: EcsApi, new_id: str, endpoint: str) -> list[str]:
    """What the operator still does after a restore: switch the secret, redeploy."""
    cfg = api.cfg
    force = update_command(api, {"cluster": cfg.cluster, "service": cfg.service, "force": True})
    return [
        (
            f"manual step 1 (the console does not change secrets): point the application's "
            f"database secret at {new_id} ({endpoint}), e.g. aws secretsmanager "
            "update-secret --secret-id <the service's database secret> --secret-string "
            f'\'{{"host":"{endpoint.rsplit(":", 1)[0]}",...}}\''
        ),
        (
            f"manual step 2: force a new deployment of {api.label} so its tasks read the "
            f"new secret (action force-new-deployment, or {force})"
        ),
    ]


class RdsPart:
    """Owns ``ecs.restore_rds_snapshot`` and ``ecs.wait_rds_available``."""

    ops = frozenset({RESTORE, WAIT_RDS})

    def __init__(self, api: EcsApi, lock: TagLock, rollouts: Rollouts) -> None:
        self.api = api
        self.lock = lock
        self.rollouts = rollouts

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        if step.op == RESTORE:
            return self._restore(step)
        message = yield from self.rollouts.run_wait(step)
        if isinstance(message, Skipped):
            return message
        new_id = str(step.params["instance"])
        endpoint = message.rsplit(" at ", 1)[-1]
        yield from manual_steps(self.api, new_id, endpoint)
        return message

    def _restore(self, step: Step) -> str:
        self.lock.before_change()
        params = dict(step.params)
        new_id = str(params["DBInstanceIdentifier"])
        snapshot = str(params["DBSnapshotIdentifier"])
        existing = instance_if_exists(self.api, new_id)
        if existing is not None:
            status = existing.get("DBInstanceStatus")
            return Skipped(f"{new_id} already exists ({status}): not restored again")
        with aws_errors("rds:RestoreDBInstanceFromDBSnapshot", f"restoring {snapshot} to {new_id}"):
            found = self.api.client("rds").restore_db_instance_from_db_snapshot(**params)
        status = found.get("DBInstance", {}).get("DBInstanceStatus", "?")
        return f"RDS is restoring {snapshot} into the new instance {new_id} ({status})"

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        if step.op == RESTORE:
            return (
                instance_if_exists(self.api, str(step.params["DBInstanceIdentifier"])) is not None
            )
        return self.rollouts.state_of(step)[0] == "ready"
