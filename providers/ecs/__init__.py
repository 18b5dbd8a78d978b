"""The AWS ECS provider: task-definition and image rollbacks of one ECS service (runbook 003).

What an operator would otherwise type, done by the console and shown as the
same ``aws`` commands, each step typed (``Step.op`` and ``params``) and its
command rendered from them:

* roll back to a revision: ``ecs.update_service`` to ``FAMILY:REV``, then
  ``ecs.wait_stable``;
* roll back to an image tag (action ``rollback-image``):
  ``ecs.register_task_definition`` (a copy of the live task definition with
  only the chosen container's image changed; the copy stays in the plan's
  context, the journal keeps its family, image and hash), then the update
  and the wait;
* force a new deployment (action ``force-new-deployment``);
* restore an RDS snapshot to a new instance (action ``restore-rds-snapshot``):
  ``ecs.restore_rds_snapshot``, then ``ecs.wait_rds_available``, with the
  remaining manual steps listed;
* restore the RDS database to a point in time (action ``pitr``, with
  ``[services.database.pitr.rds]``): the RDS engine's steps
  (``providers.database.pitr_rds``), the Secrets Manager switch and a forced
  deployment (``pitr``).

One concern a module: ``client`` (config, clients, commands), ``errors``
(AWS failures as one line), ``refs`` (task-definition keys, image refs),
``read`` (the service and its task definitions), ``snapshot``, ``logs``,
``diff`` (what changes between two task definitions),
``ecr``, ``rds``, ``plans``, ``steps`` (ops, params, rendered commands),
``run`` (the service's part), ``restore`` (the RDS part), ``rollout`` (the
waits), ``lock`` (the lock tags), ``legacy`` (plans journaled before steps
were typed) and ``provider`` (``EcsProvider`` wiring them).

Blocking, like every provider: the app runs these methods in worker threads.
"""

from __future__ import annotations

from providers.ecs.lock import LOCK_EXPIRES, LOCK_HOLDER, LOCK_ID
from providers.ecs.provider import EcsProvider
from providers.ecs.refs import EcrImageTag, ImageRef, split_key, td_key

__all__ = [
    "LOCK_EXPIRES",
    "LOCK_HOLDER",
    "LOCK_ID",
    "EcrImageTag",
    "EcsProvider",
    "ImageRef",
    "split_key",
    "td_key",
]
