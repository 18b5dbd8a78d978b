"""``k8s.restore_manifest`` and ``k8s.create``: runbook 001's method 3, from a saved manifest.

``k8s.restore_manifest`` is ``kubectl replace -f FILE``: a PUT of the saved
manifest over the live Deployment, guarded by the resourceVersion just read
(the console's lock annotation is carried over).  ``k8s.create`` is
``kubectl create`` from the file, for a Deployment that was deleted: a POST.  Which
of the two a plan holds is decided when it is made (does the Deployment
exist?), never while it runs.  Either took effect when the live Deployment
has the manifest's template (``template_hash`` in the params).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

from console.model import Plan, Step, StepKind
from providers.base import Conflict, NotFound, ProviderError, TimedOut, Unavailable
from providers.kubernetes import ops
from providers.kubernetes import rollout as ro
from providers.kubernetes.client import JSON, Cluster
from providers.kubernetes.lock import LOCK_ANNOTATION
from providers.kubernetes.manifests import Manifests, clean_manifest
from providers.kubernetes.writes import fresh, unanswered, unanswered_create


class RestorePart:
    """Puts a saved manifest back: over the live Deployment, or as a new one."""

    ops = frozenset({ops.RESTORE_MANIFEST, ops.CREATE})

    def __init__(self, cluster: Cluster, manifests: Manifests) -> None:
        self.cluster = cluster
        self.manifests = manifests

    def command(self, op: str, params: Mapping[str, Any]) -> str:
        verb = "create" if op == ops.CREATE else "replace"
        return self.cluster.kubectl(verb, "-f", ops.text(params, "path"))

    def step(self, op: str, environment: str, params: Mapping[str, Any]) -> Step:
        name, path = self.cluster.name, Path(ops.text(params, "path"))
        if op == ops.CREATE:
            title = (
                f"Create deployment/{name} ({environment}) again, from the manifest "
                f"saved in {path.name} ({params['version']}): it does not exist"
            )
        else:
            title = (
                f"Replace deployment/{name} ({environment}) with the "
                f"manifest saved in {path.name} ({params['version']})"
            )
        return Step(
            title=title,
            command=self.command(op, params),
            kind=StepKind.SWITCH,
            op=op,
            params=dict(params),
        )

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        path = Path(ops.text(step.params, "path"))
        manifest = clean_manifest(self.manifests.load(path))
        if step.op == ops.CREATE:
            return (yield from self._create(path, manifest))
        return (yield from self._replace(path, manifest, ops.text(step.params, "deployment_uid")))

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        """Whether the Deployment exists with the saved manifest's template."""
        try:
            live = self.cluster.get_deployment()
        except NotFound:
            return False
        return ro.template_digest(ro.template_of(live)) == ops.text(step.params, "template_hash")

    def _replace(self, path: Path, manifest: JSON, uid: str) -> Generator[str, None, str]:
        """``kubectl replace -f FILE``: PUT the saved manifest over the live Deployment."""
        cluster = self.cluster
        d = fresh(cluster, uid)
        name = cluster.name
        meta = manifest.setdefault("metadata", {})
        meta["namespace"] = cluster.k8s.namespace
        meta["resourceVersion"] = d["metadata"]["resourceVersion"]
        lock = ro.annotations_of(d).get(LOCK_ANNOTATION)
        if lock:
            meta.setdefault("annotations", {})[LOCK_ANNOTATION] = lock
        yield (
            f"PUT deployment/{name} from {path} "
            f"if resourceVersion is still {meta['resourceVersion']}"
        )
        try:
            response = cluster.call(
                f"replace {cluster.target}",
                cluster.clients().apps.replace_namespaced_deployment,
                name,
                cluster.k8s.namespace,
                manifest,
                _preload_content=False,
            )
        except Conflict:
            raise Conflict(
                f"deployment/{name} changed while it was being replaced (409): nothing was "
                "written; look again before retrying"
            ) from None
        except (Unavailable, TimedOut) as err:
            result = unanswered(
                cluster,
                err,
                "the saved manifest",
                d,
                lambda live: ro.equal_ignore_hash(ro.template_of(live), ro.template_of(manifest)),
            )
            yield (
                f"no answer to the PUT ({err}), but deployment/{name} has the saved template "
                "when read again: the manifest was applied"
            )
        else:
            result = cluster.decode(response)
        if not ro.equal_ignore_hash(ro.template_of(result), ro.template_of(manifest)):
            raise ProviderError(f"deployment/{name} does not carry the restored template")
        yield f"deployment.apps/{name} replaced"
        return f"deployment/{name} has the template saved in {path.name}"

    def _create(self, path: Path, manifest: JSON) -> Generator[str, None, str]:
        """``kubectl create`` from the file: the Deployment was deleted; POST the saved manifest."""
        cluster = self.cluster
        manifest.setdefault("metadata", {})["namespace"] = cluster.k8s.namespace
        name = cluster.name
        yield f"POST deployment/{name} from {path}"
        try:
            response = cluster.call(
                f"create {cluster.target}",
                cluster.clients().apps.create_namespaced_deployment,
                cluster.k8s.namespace,
                manifest,
                _preload_content=False,
            )
        except Conflict:
            raise Conflict(
                f"deployment/{name} was created by someone else meanwhile (409 AlreadyExists): "
                "nothing was written; look again before retrying"
            ) from None
        except (Unavailable, TimedOut) as err:
            result = unanswered_create(cluster, err, manifest)
            yield (
                f"no answer to the POST ({err}), but deployment/{name} exists with the saved "
                "template when read again: the manifest was applied"
            )
        else:
            result = cluster.decode(response)
        if not ro.equal_ignore_hash(ro.template_of(result), ro.template_of(manifest)):
            raise ProviderError(f"deployment/{name} was created with a different template")
        yield f"deployment.apps/{name} created"
        return f"deployment/{name} created from {path.name}"
