"""``KubernetesProvider``: one Deployment, the console's contract on top of the parts.

What each method does lives in the module named for it (``read``, ``plans``,
``actions``, ``rollout_status``, ``lock``); the steps of a plan are run by
the parts that own their ops (``gitops.GitOpsPart``, ``manifests.BackupPart``,
``undo.UndoPart``, ``restart.RestartPart``, ``restore.RestorePart``), through the flow's one
step runner.  This class wires them to one connection and adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from console.config import KubernetesConfig, ServiceConfig, default_state_dir
from console.model import (
    Action,
    Difference,
    Plan,
    ReadyResult,
    Revision,
    Snapshot,
)
from console.runner import owner_of
from providers.base import Part, ProviderError
from providers.kubernetes import diff, legacy, lock, ops, pitr
from providers.kubernetes import read as rd
from providers.kubernetes import rollout as ro
from providers.kubernetes import rollout_status as status
from providers.kubernetes.actions import ActionPlanner
from providers.kubernetes.client import JSON, REQUEST_TIMEOUT_S, Clients, Cluster
from providers.kubernetes.gitops import GitOpsPart
from providers.kubernetes.lock import LockInfo
from providers.kubernetes.manifests import BackupPart, Manifests, clean_manifest
from providers.kubernetes.plans import plan_rollback
from providers.kubernetes.restart import RestartPart
from providers.kubernetes.restore import RestorePart
from providers.kubernetes.undo import UndoPart
from providers.planned import RunsParts


class KubernetesProvider(RunsParts):
    """One Deployment of a cluster, rolled back exactly like ``kubectl rollout undo``.

    Built without any I/O.  ``state_dir`` is the console's state folder (the
    manifests saved before each rollback go under it); without it the
    default state folder is used.
    """

    name: str = "kubernetes"

    def __init__(self, service: ServiceConfig, *, state_dir: Path | None = None) -> None:
        if service.kubernetes is None:
            raise ProviderError(
                f"{service.label}: provider 'kubernetes' needs a [services.kubernetes] table"
            )
        self.service = service
        self.k8s: KubernetesConfig = service.kubernetes
        root = state_dir or service.state_dir or default_state_dir()
        self.manifest_dir = root / "manifests" / service.name
        #: Seconds between polls in ``wait_ready`` (tests shorten it).
        self.poll_interval_s = status.POLL_INTERVAL_S
        #: The time limit of one API request: 30 s, or ``ready_timeout_s`` when shorter.
        ready_s = float(service.ready_timeout_s or 0)
        self.request_timeout_s = (
            min(REQUEST_TIMEOUT_S[1], ready_s) if ready_s > 0 else REQUEST_TIMEOUT_S[1]
        )
        self.cluster = Cluster(self.k8s, request_timeout_s=self.request_timeout_s)
        self.manifests = Manifests(self.k8s, self.manifest_dir)
        self._backup = BackupPart(self.cluster, self.manifests, service.name, service.label)
        self._undo = UndoPart(self.cluster)
        self._restart = RestartPart(self.cluster)
        self._restore = RestorePart(self.cluster, self.manifests)
        self._gitops = GitOpsPart(self.cluster, service.name)
        #: Point-in-time recovery of the database (``pitr``): the engine's part, the switch.
        self._pitr = pitr.parts(service, self.cluster) if pitr.offered(service) else ()
        self._actions = ActionPlanner(
            self.cluster,
            service,
            self.manifests,
            self._backup,
            self._restart,
            self._restore,
            self._gitops,
            provider=self.name,
        )

    @property
    def target(self) -> str:
        """``deployment/web in namespace shop`` for messages."""
        return self.cluster.target

    def _clients_or_connect(self) -> Clients:
        """The client objects (connecting on first use); the benchmark reads through them."""
        return self.cluster.clients()

    # ------------------------------------------------------------------ parts

    def parts(self) -> tuple[Part, ...]:
        """The parts owning this provider's ops (built with the provider; no I/O)."""
        own = (self._gitops, self._backup, self._undo, self._restart, self._restore)
        return (*own, *self._pitr)

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> Snapshot:
        """Deployment, revisions as ``kubectl rollout history`` lists them, pods, events."""
        return rd.snapshot(self.cluster, self.service, self.name, self._gitops.notes)

    def rollout_history(self) -> list[tuple[int, str]]:
        """The rows ``kubectl rollout history`` prints: (revision, change cause), ascending."""
        state = rd.read_state(self.cluster)
        return ro.history_table(state.deployment, state.owned)

    def rollout_status(self) -> tuple[bool, bool, str]:
        """One ``kubectl rollout status`` poll: (done, failed, message)."""
        return ro.rollout_status(self.cluster.get_deployment())

    def logs(self, unit: str, lines: int = 50) -> tuple[str, ...]:
        """The last ``lines`` lines of pod ``unit`` (``kubectl logs --tail``)."""
        return rd.logs(self.cluster, unit, lines)

    # ------------------------------------------------------------------ planning

    def plan(self, target: str | None, *, dry_run: bool = False) -> Plan:
        """kubectl's undo, validated (see ``providers.kubernetes.plans``)."""
        return plan_rollback(
            self.cluster,
            self.service,
            self.manifests,
            self._backup,
            self._undo,
            self._gitops,
            target,
            provider=self.name,
            dry_run=dry_run,
        )

    def differences(self, live: Revision, target: Revision) -> tuple[Difference, ...]:
        """What changes (``providers.kubernetes.diff``): the pod template, and every
        ConfigMap and Secret the target refers to, which the rollback leaves as it is."""
        return diff.differences(self.cluster, live, target)

    def actions(self) -> tuple[Action, ...]:
        """Restart, restore a saved manifest, and resume what the console suspended."""
        return self._actions.actions()

    def plan_action(
        self,
        action: str,
        argument: str | None,
        *,
        dry_run: bool = False,
        resume_from: Plan | None = None,
    ) -> Plan:
        """Plan ``restart``, ``restore-manifest`` (a saved file name or path) or
        ``resume-gitops``."""
        return self._actions.plan(action, argument, dry_run=dry_run)

    def saved_manifests(self) -> list[Path]:
        """The manifests saved for this service, newest first."""
        return self.manifests.saved()

    def load_manifest(self, path: Path) -> JSON:
        """A saved manifest, checked to be this Deployment (``InvalidTarget`` otherwise)."""
        return self.manifests.load(path)

    clean_manifest = staticmethod(clean_manifest)

    # ------------------------------------------------------------------ running

    def wait_ready(
        self,
        plan: Plan,
        timeout_s: float,
        *,
        on_progress: Callable[[str], None] | None = None,
    ) -> ReadyResult:
        """Poll like ``kubectl rollout status`` (see ``providers.kubernetes.rollout_status``)."""
        return status.wait_ready(
            self.cluster,
            plan,
            timeout_s,
            interval_s=self.poll_interval_s,
            on_progress=on_progress,
        )

    def switch_took_effect(self, plan: Plan) -> bool | None:
        """Whether the Deployment is what ``plan``'s switch leads to, asked of its owner.

        The flow asks a typed step's owner itself; this answers for a plan
        journaled before steps were typed (``providers.kubernetes.legacy``).
        """
        step = ops.effect_step(plan)
        if step is not None:
            return owner_of(step, self.parts()).took_effect(step, plan)
        return legacy.took_effect(self.cluster, plan, self.manifests.load)

    # ------------------------------------------------------------------ lock

    def acquire_lock(self, operator: str, host: str, ttl_s: float) -> str:
        """Write the lock annotation (``providers.kubernetes.lock``); ``LockHeld`` if held."""
        return lock.acquire(self.cluster, self.service.environment, operator, host, ttl_s)

    def release_lock(self, operator: str, host: str) -> None:
        """Remove the lock annotation if this operator on this host still holds it."""
        lock.release(self.cluster, operator, host)

    def lock_holder(self) -> LockInfo | None:
        """Who holds the lock annotation now (expired or not), or None."""
        return lock.lock_of(self.cluster.get_deployment())
