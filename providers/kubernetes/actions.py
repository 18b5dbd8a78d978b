"""The actions besides rolling back: restart, restore a saved manifest, resume GitOps, and
(with ``[services.database.pitr.cloudsql]`` or ``.neon``) restore the database to a point
in time (``pitr``, ``providers.kubernetes.pitr``).

``restart`` is ``kubectl rollout restart`` (``k8s.restart``, its
``restartedAt`` decided now).  ``restore-manifest`` puts back a manifest the
console saved before an earlier change: ``kubectl replace -f``
(``k8s.restore_manifest``) while the Deployment exists, ``kubectl create``
from the file (``k8s.create``) when it was deleted.  Both save the live
manifest first when there is one; a restore first suspends the GitOps
controllers that would undo it, as a rollback does.  ``resume-gitops``
(``gitops.resume``) restores what the console suspended, and is offered only
while something is.
"""

from __future__ import annotations

from pathlib import Path

from console.config import ServiceConfig
from console.model import Action, Plan, Revision
from providers.base import InvalidTarget, NotFound, ProviderError
from providers.kubernetes import ops, pitr
from providers.kubernetes import read as rd
from providers.kubernetes import rollout as ro
from providers.kubernetes.client import JSON, Cluster
from providers.kubernetes.gitops import ACTION_RESUME, GitOpsPart
from providers.kubernetes.manifests import BackupPart, Manifests
from providers.kubernetes.restart import RestartPart, next_restart
from providers.kubernetes.restore import RestorePart


class ActionPlanner:
    """Lists and plans this Deployment's actions (built without I/O)."""

    def __init__(
        self,
        cluster: Cluster,
        service: ServiceConfig,
        manifests: Manifests,
        backup: BackupPart,
        restart: RestartPart,
        restore: RestorePart,
        gitops: GitOpsPart,
        *,
        provider: str,
    ) -> None:
        self.cluster = cluster
        self.service = service
        self.manifests = manifests
        self.backup = backup
        self.restart = restart
        self.restore = restore
        self.gitops = gitops
        self.provider = provider

    def actions(self) -> tuple[Action, ...]:
        """Restart, restore a saved manifest, and (while the console has suspended a GitOps
        controller of the Deployment) resume it."""
        saved = tuple(p.name for p in self.manifests.saved())
        name = self.cluster.name
        restart = self.cluster.kubectl("rollout", "restart", f"deployment/{name}")
        return (
            Action(
                id=ops.ACTION_RESTART,
                title="Restart all pods",
                description=(
                    f"Replace every pod of deployment/{name} with a fresh one on the same "
                    f"template (`{restart}`)"
                ),
            ),
            Action(
                id=ops.ACTION_RESTORE,
                title="Restore a saved manifest",
                description=(
                    f"Replace deployment/{name} with a manifest the console saved before an "
                    "earlier rollback (kubectl replace -f FILE)"
                ),
                argument="file",
                choices=saved,
                dangerous=True,
            ),
            *self._resume_gitops(),
            *((pitr.action(self.service),) if pitr.offered(self.service) else ()),
        )

    def _resume_gitops(self) -> tuple[Action, ...]:
        """``resume-gitops``, when something managing the Deployment is suspended by the
        console (read now; nothing offered when it cannot be read)."""
        if self.gitops.mode == "off":
            return ()
        try:
            suspended = self.gitops.suspended(self.cluster.get_deployment())
        except ProviderError:
            return ()
        if not suspended:
            return ()
        names = ", ".join(c.label for c in suspended)
        return (
            Action(
                id=ACTION_RESUME,
                title="Resume GitOps auto-sync",
                description=(
                    f"Restore the sync policy the console saved when it suspended {names}: it "
                    "then applies what git says again"
                ),
            ),
        )

    def plan(self, action: str, argument: str | None, *, dry_run: bool = False) -> Plan:
        """Plan ``restart`` (no argument) or ``restore-manifest`` (a saved file name or path)."""
        if action == ops.ACTION_RESTART:
            return self._plan_restart(dry_run)
        if action == ops.ACTION_RESTORE:
            if not argument:
                raise InvalidTarget(
                    f"restore-manifest needs a saved manifest (newest: {self.manifests.newest()})"
                )
            return self._plan_restore(argument, dry_run)
        if action == ACTION_RESUME:
            return self._plan_resume_gitops(dry_run)
        if action == pitr.ACTION and pitr.offered(self.service):
            return pitr.plan(self.service, self.cluster, self.restart, argument, dry_run=dry_run)
        extra = f", {pitr.ACTION}" if pitr.offered(self.service) else ""
        raise NotFound(
            f"unknown action {action!r} for {self.service.label} "
            f"(known: {ops.ACTION_RESTART}, {ops.ACTION_RESTORE}, {ACTION_RESUME}{extra})"
        )

    def _plan_resume_gitops(self, dry_run: bool) -> Plan:
        """Restore exactly what the console suspended (``gitops.resume``), nothing else."""
        cluster = self.cluster
        state = rd.read_state(cluster)
        current = rd.current(cluster, state, rd.revisions(cluster, state))
        steps = self.gitops.resume_plan_steps(state.deployment)
        warnings = [
            f"Once it syncs again, the controller applies what git names for "
            f"deployment/{state.name}: if that is not {current.version} (the release running "
            "now) but the one rolled back from, that is deployed again; put the rollback into "
            "git first."
        ]
        if dry_run:
            warnings.extend(self.gitops.dry_run(steps))
        return Plan(
            service=self.service.name,
            environment=self.service.environment,
            provider=self.provider,
            from_revision=current,
            to_revision=current,
            steps=steps,
            warnings=tuple(warnings),
            dry_run=dry_run,
            action=ACTION_RESUME,
        )

    def _plan_restart(self, dry_run: bool) -> Plan:
        cluster = self.cluster
        state = rd.read_state(cluster)
        d = state.deployment
        if (d.get("spec") or {}).get("paused"):
            raise InvalidTarget(
                f"can't restart paused deployment/{state.name} (run "
                f"`{rd.resume_first(cluster, state.name)}` first)"
            )
        current = rd.current(cluster, state, rd.revisions(cluster, state))
        params = {
            "deployment_uid": str(d["metadata"]["uid"]),
            "version": current.version,
            "restarted_at": next_restart(d),
        }
        environment = self.service.environment
        return Plan(
            service=self.service.name,
            environment=environment,
            provider=self.provider,
            from_revision=current,
            to_revision=current,
            steps=(
                self.backup.step(self.manifests.backup_path(current), environment),
                self.restart.step(environment, params),
            ),
            warnings=(
                "A restart is a new rollout: the controller gives the restarted template the "
                "next revision number.",
            ),
            dry_run=dry_run,
            action=ops.ACTION_RESTART,
        )

    def _plan_restore(self, argument: str, dry_run: bool) -> Plan:
        path = self.manifests.find(argument)
        manifest = self.manifests.load(path)
        cluster = self.cluster
        try:
            state = rd.read_state(cluster)
        except NotFound:
            if not cluster.namespace_exists():
                raise
            return self._plan_create(path, manifest, dry_run)
        d = state.deployment
        current = rd.current(cluster, state, rd.revisions(cluster, state))
        template = ro.template_of(manifest)
        spec, live = manifest.get("spec") or {}, d.get("spec") or {}
        if ro.equal_ignore_hash(template, ro.template_of(d)) and spec.get("replicas") == live.get(
            "replicas"
        ):
            raise InvalidTarget(
                f"deployment/{state.name} already runs the template saved in {path.name}"
            )
        match = next(
            (
                n
                for n, rs in state.history.items()
                if ro.equal_ignore_hash(ro.template_of(rs), template)
            ),
            None,
        )
        if match is not None:
            to = rd.revision(cluster, state, match, state.history[match])
        else:
            to = self._saved_revision(path, manifest)
        warnings = []
        if spec.get("replicas") != live.get("replicas"):
            warnings.append(
                f"The manifest sets {spec.get('replicas')} replicas; the Deployment has "
                f"{live.get('replicas')} now (an autoscaler may have changed it)."
            )
        if spec.get("paused"):
            warnings.append(
                "The manifest was saved while the Deployment was paused: it stays paused."
            )
        if match is None:
            warnings.append(
                "No ReplicaSet has this template any more: the controller creates a new one."
            )
        params = {
            "path": str(path),
            "deployment_uid": str(d["metadata"]["uid"]),
            "version": cluster.version(template)[0],
            "template_hash": ro.template_digest(template),
        }
        environment = self.service.environment
        guard = self.gitops.guard(d, what="the restore")
        if dry_run:
            warnings.extend(self.gitops.dry_run(guard.steps))
        return Plan(
            service=self.service.name,
            environment=environment,
            provider=self.provider,
            from_revision=current,
            to_revision=to,
            steps=(
                *guard.steps,
                self.backup.step(self.manifests.backup_path(current), environment),
                self.restore.step(ops.RESTORE_MANIFEST, environment, params),
            ),
            warnings=tuple(warnings),
            dry_run=dry_run,
            action=ops.ACTION_RESTORE,
            argument=str(path),
            undone_by=guard.undone_by,
        )

    def _plan_create(self, path: Path, manifest: JSON, dry_run: bool) -> Plan:
        """The Deployment is gone (deleted): create it again from the saved manifest."""
        template = ro.template_of(manifest)
        params = {
            "path": str(path),
            "version": self.cluster.version(template)[0],
            "template_hash": ro.template_digest(template),
        }
        environment = self.service.environment
        return Plan(
            service=self.service.name,
            environment=environment,
            provider=self.provider,
            from_revision=None,
            to_revision=self._saved_revision(path, manifest),
            steps=(self.restore.step(ops.CREATE, environment, params),),
            warnings=(
                f"deployment/{self.cluster.name} does not exist in namespace "
                f"{self.cluster.k8s.namespace}: it is created from the manifest, with new "
                "ReplicaSets and pods.",
            ),
            dry_run=dry_run,
            action=ops.ACTION_RESTORE,
            argument=str(path),
        )

    def _saved_revision(self, path: Path, manifest: JSON) -> Revision:
        """The revision a saved manifest is, when no ReplicaSet has its template."""
        version, image = self.cluster.version(ro.template_of(manifest))
        return Revision(
            id=f"manifest:{path.name}",
            version=version,
            image=image,
            change_cause=ro.annotations_of(manifest).get(ro.CHANGE_CAUSE, ""),
            detail=f"saved manifest {path}",
        )
