"""The ops of a Kubernetes plan's steps, and what each step's params hold.

Params are journaled as they are (``console.resume``): JSON values, never a
secret.  A pod template can hold environment values, so params carry its
digest (``rollout.template_digest``), never the template itself.

``k8s.backup_manifest``  ``path``: where the live manifest is saved.
``k8s.undo``             ``revision``, ``replicaset``, ``replicaset_uid``,
                         ``deployment_uid``, ``version`` (the target's label),
                         ``from_template_hash`` (the template the plan moves
                         from), ``template_hash`` (the one it moves to).
``k8s.restart``          ``deployment_uid``, ``version``, ``restarted_at``: the
                         annotation value, decided when the plan is made.
``k8s.restore_manifest`` ``path``, ``deployment_uid``, ``version``,
                         ``template_hash`` (the saved manifest's template).
``k8s.create``           ``path``, ``version``, ``template_hash``: the
                         Deployment is gone and is created from the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.model import Plan, Step

BACKUP_MANIFEST = "k8s.backup_manifest"
UNDO = "k8s.undo"
RESTART = "k8s.restart"
RESTORE_MANIFEST = "k8s.restore_manifest"
CREATE = "k8s.create"

#: The actions besides rolling back (``SupportsActions``), as the CLI names them.
ACTION_RESTART = "restart"
ACTION_RESTORE = "restore-manifest"

#: The ops that change what the Deployment runs (the step resume asks about).
EFFECT_OPS = frozenset({UNDO, RESTART, RESTORE_MANIFEST, CREATE})


def effect_step(plan: Plan) -> Step | None:
    """The plan's typed step that changes what runs; None for a plan journaled untyped."""
    found = [step for step in plan.steps if step.op in EFFECT_OPS]
    return found[-1] if found else None


def text(params: Mapping[str, Any], key: str) -> str:
    """A string param ("" when absent)."""
    value = params.get(key)
    return "" if value is None else str(value)
