"""The Kubernetes provider: one Deployment, rolled back exactly like ``kubectl rollout undo``.

Runbooks 001 and 002 done from the console: ``rollout history``, ``rollout
undo [--to-revision]``, ``rollout status``, ``rollout restart``, ``logs
--tail=50``, events, and runbook 001's method 3 (restore a saved manifest).

One concern a module:

``rollout``         kubectl's rules on plain JSON (history, undo, status); no I/O
``client``          the connection: bounded calls, one error line each
``read``            snapshot: revisions, pods, events, facts; logs
``plans``           the rollback plan (suspend GitOps, backup, undo), validated; dry run
``diff``            what changes: the live pod template against the target's
``config_refs``     the ConfigMaps and Secrets the target reads, left as they are
``actions``         restart, restore-manifest, resume-gitops and pitr plans
``pitr``            point-in-time recovery: the engine's steps, the Secret switch, restart
``secrets``         the DSN Secret: found, copied, patched (never shown)
``controllers``     who would undo a rollback: Argo CD, Flux, Helm (reads only)
``gitops``          ``gitops.suspend`` and ``gitops.resume``
``ops``             the op names and what each step's params hold
``manifests``       saved manifests; ``k8s.backup_manifest``
``undo``            ``k8s.undo``
``restart``         ``k8s.restart``
``restore``         ``k8s.restore_manifest`` and ``k8s.create``
``writes``          what every write shares: fresh read, guard, no blind retry
``rollout_status``  ``wait_ready``
``lock``            the lock annotation
``legacy``          resuming a plan journaled before steps were typed
``provider``        ``KubernetesProvider``, wiring the above to one connection
"""

from __future__ import annotations

from providers.kubernetes.gitops import ACTION_RESUME as RESUME_GITOPS
from providers.kubernetes.lock import LOCK_ANNOTATION, LockInfo
from providers.kubernetes.ops import ACTION_RESTART as RESTART
from providers.kubernetes.ops import ACTION_RESTORE as RESTORE_MANIFEST
from providers.kubernetes.provider import KubernetesProvider

__all__ = [
    "LOCK_ANNOTATION",
    "RESTART",
    "RESTORE_MANIFEST",
    "RESUME_GITOPS",
    "KubernetesProvider",
    "LockInfo",
]
