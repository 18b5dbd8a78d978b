"""Talking to the cluster: one connection, every call bounded, every failure one line.

The official ``kubernetes`` client, imported on first use (never at start-up,
never when the provider is built).  Credentials: ``kubeconfig`` and
``context`` from the config (default: ``$KUBECONFIG`` or ``~/.kube/config``
and its current context), or the pod's service account when there is no
kubeconfig and ``KUBERNETES_SERVICE_HOST`` is set.  Lists are asked for with
``_preload_content=False`` and decoded with ``json.loads`` into plain dicts
(5,000 pods: ~0.25 s, where the client's model objects take ~2.6 s).  Every
call has a time limit (30 s, or the service's ``ready_timeout_s`` when that is
shorter: no single request may outlast the whole wait); every failure becomes
one ``ProviderError`` line (404 ``NotFound``, 401/403 ``Forbidden``, 409
``Conflict``, 429/5xx and network errors ``Unavailable``, no answer in time
``TimedOut``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.config import KubernetesConfig
from console.textsafe import one_line
from providers.base import (
    Conflict,
    Forbidden,
    NotFound,
    ProviderError,
    TimedOut,
    Unavailable,
)
from providers.kubernetes import rollout as ro

#: (connect, read) seconds for one API request (see ``Cluster.request_timeout_s``).
REQUEST_TIMEOUT_S = (5.0, 30.0)

JSON = dict[str, Any]


def short(text: object, limit: int = 400) -> str:
    """One line of at most ``limit`` characters, for messages quoting the API."""
    return one_line(str(text), limit)


def _network_reason(reason: object) -> str:
    """urllib3's reason, readable: ``Connection aborted: Connection reset by peer`` instead
    of the tuple ``('Connection aborted.', ConnectionResetError(104, '...'))``."""
    args = getattr(reason, "args", ())
    cause = next((a for a in args if isinstance(a, OSError)), None)
    if cause is not None and cause.strerror and args and isinstance(args[0], str):
        return short(f"{args[0].rstrip('.')}: {cause.strerror}", 200)
    return short(str(reason), 200)


def _seconds(value: float) -> str:
    """``3``, ``2.5``: a time limit as a message shows it."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


@dataclass
class Clients:
    """The client objects of one connection (built lazily, shared by every call)."""

    apps: Any
    core: Any
    #: Custom resources (Argo CD Applications, Flux Kustomizations and HelmReleases).
    custom: Any
    host: str
    where: str


class Cluster:
    """One Deployment's cluster: the connection, the reads and writes every part shares.

    Built without I/O; connects on the first call.
    """

    def __init__(self, k8s: KubernetesConfig, *, request_timeout_s: float) -> None:
        self.k8s = k8s
        #: The time limit of one API request (read), in seconds.
        self.request_timeout_s = request_timeout_s
        self._clients: Clients | None = None
        self._connect_lock = threading.Lock()

    # ------------------------------------------------------------------ naming

    @property
    def name(self) -> str:
        return self.k8s.deployment

    @property
    def target(self) -> str:
        """``deployment/web in namespace shop`` for messages."""
        return f"deployment/{self.k8s.deployment} in namespace {self.k8s.namespace}"

    @property
    def where(self) -> str:
        """Which credentials are in use (``context east``); "" before the first call."""
        return self._clients.where if self._clients is not None else ""

    def kubectl(self, *args: str, namespace: str = "") -> str:
        """The kubectl command an operator would type for the same thing.

        ``namespace``: another namespace than the Deployment's (an Argo CD Application's).
        """
        return self.tool("kubectl", *args, namespace=namespace)

    def tool(self, binary: str, *args: str, namespace: str = "") -> str:
        """``binary`` (kubectl, flux: tools taking kubectl's flags) with this connection's
        kubeconfig and context, ``args``, then ``-n`` the namespace."""
        argv = [binary]
        if self.k8s.kubeconfig is not None:
            argv += ["--kubeconfig", str(self.k8s.kubeconfig)]
        if self.k8s.context:
            argv += ["--context", self.k8s.context]
        return shlex.join([*argv, *args, "-n", namespace or self.k8s.namespace])

    def version(self, template: Mapping[str, Any]) -> tuple[str, str]:
        """(version label, image) of the main container of ``template``."""
        container = ro.main_container(template, self.k8s.container)
        image = str(container.get("image", "")) if container else ""
        return ro.image_tag(image), image

    # ------------------------------------------------------------------ connection

    def clients(self) -> Clients:
        with self._connect_lock:
            if self._clients is None:
                self._clients = self._connect()
            return self._clients

    def _connect(self) -> Clients:
        try:
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException
        except ImportError as exc:  # pragma: no cover - the package is a dependency
            raise Unavailable(f"the 'kubernetes' package is not installed: {exc}") from None
        configuration = client.Configuration()
        kubeconfig = self.k8s.kubeconfig
        try:
            if kubeconfig is None and not self.k8s.context and _in_cluster():
                config.load_incluster_config(client_configuration=configuration)
                where = "in-cluster service account"
            else:
                path = str(kubeconfig) if kubeconfig is not None else None
                shown = path or os.environ.get("KUBECONFIG") or "~/.kube/config"
                try:
                    contexts, active = config.list_kube_config_contexts(config_file=path)
                except ConfigException as exc:
                    raise NotFound(f"no usable kubeconfig at {shown}: {short(exc)}") from None
                names = [str(c.get("name")) for c in contexts or []]
                context = self.k8s.context or str((active or {}).get("name", ""))
                if self.k8s.context and self.k8s.context not in names:
                    known = ", ".join(names) or "none"
                    raise NotFound(
                        f"context {self.k8s.context!r} is not in kubeconfig {shown} "
                        f"(known: {known})"
                    )
                config.load_kube_config(
                    config_file=path,
                    context=context or None,
                    client_configuration=configuration,
                    persist_config=False,
                )
                where = f"context {context}" if context else f"kubeconfig {shown}"
        except ConfigException as exc:
            raise NotFound(f"cannot load Kubernetes credentials: {short(exc)}") from None
        # One quick retry on a refused connection, none on read timeouts: the caller
        # decides what to do about an API server that does not answer.
        import urllib3

        configuration.retries = urllib3.Retry(
            total=1, connect=1, read=0, status=0, redirect=0, backoff_factor=0.1
        )
        api = client.ApiClient(configuration)
        return Clients(
            apps=client.AppsV1Api(api),
            core=client.CoreV1Api(api),
            custom=client.CustomObjectsApi(api),
            host=str(configuration.host),
            where=where,
        )

    def call(
        self,
        what: str,
        method: Callable[..., Any],
        *args: Any,
        limit_s: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run one API call with a time limit; every failure becomes one ProviderError.

        ``limit_s`` shortens the limit for this call (never lengthens it).
        """
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        clients = self.clients()
        read_s = self.request_timeout_s if limit_s is None else min(self.request_timeout_s, limit_s)
        timeout = (min(REQUEST_TIMEOUT_S[0], read_s), read_s)
        try:
            return method(*args, _request_timeout=timeout, **kwargs)
        except ApiException as exc:
            raise self._api_error(exc, what) from None
        except Urllib3Error as exc:
            reason = getattr(exc, "reason", None) or exc
            if "timed out" in str(reason).lower():
                raise TimedOut(
                    f"the Kubernetes API at {clients.host} did not answer within "
                    f"{_seconds(read_s)} s while trying to {what}"
                ) from None
            raise Unavailable(
                f"cannot reach the Kubernetes API at {clients.host} ({clients.where}) to "
                f"{what}: {_network_reason(reason)}"
            ) from None
        except OSError as exc:
            raise Unavailable(
                f"cannot reach the Kubernetes API at {clients.host} to {what}: {exc}"
            ) from None

    def _api_error(self, exc: Any, what: str) -> ProviderError:
        status = int(getattr(exc, "status", 0) or 0)
        body = getattr(exc, "body", None)
        message = ""
        if body:
            try:
                message = str(json.loads(body).get("message", ""))
            except (ValueError, AttributeError, TypeError):
                message = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        message = short(message or str(getattr(exc, "reason", "") or "no message"))
        where = self.where or "the cluster"
        if status == 401:
            return Forbidden(
                f"the Kubernetes API rejected the credentials of {where} (401 Unauthorized) "
                f"while trying to {what}"
            )
        if status == 403:
            return Forbidden(f"not allowed to {what} ({where}): {message}")
        if status == 404:
            return NotFound(f"cannot {what}: {message}")
        if status == 409:
            return Conflict(f"cannot {what}: {message}")
        if status == 429 or status >= 500:
            return Unavailable(
                f"the Kubernetes API answered {status} {getattr(exc, 'reason', '')} while trying "
                f"to {what}: {message}"
            )
        return ProviderError(f"the Kubernetes API refused to {what} ({status}): {message}")

    @staticmethod
    def decode(response: Any) -> JSON:
        """Decode a raw (``_preload_content=False``) response into plain dicts."""
        try:
            data = response.data
            decoded = json.loads(data)
        except (ValueError, AttributeError) as exc:
            raise Unavailable(
                f"the Kubernetes API answered something that is not JSON: {exc}"
            ) from None
        finally:
            with contextlib.suppress(Exception):
                response.release_conn()
        if not isinstance(decoded, dict):
            raise Unavailable("the Kubernetes API answered JSON that is not an object")
        return decoded

    # ------------------------------------------------------------------ reads

    def get_deployment(self, limit_s: float | None = None) -> JSON:
        """The Deployment; ``NotFound`` saying whether the namespace is missing too."""
        try:
            response = self.call(
                f"read {self.target}",
                self.clients().apps.read_namespaced_deployment,
                self.k8s.deployment,
                self.k8s.namespace,
                limit_s=limit_s,
                _preload_content=False,
            )
        except NotFound:
            raise NotFound(self._missing_deployment()) from None
        return self.decode(response)

    def namespace_exists(self) -> bool:
        try:
            self.decode(
                self.call(
                    f"read namespace {self.k8s.namespace}",
                    self.clients().core.read_namespace,
                    self.k8s.namespace,
                    _preload_content=False,
                )
            )
        except ProviderError:
            return False
        return True

    def _missing_deployment(self) -> str:
        """Why the Deployment is not there: the namespace is missing, or only the Deployment."""
        where = self.clients().where
        if self.namespace_exists():
            return (
                f"deployment {self.k8s.deployment!r} not found in namespace "
                f"{self.k8s.namespace!r} ({where})"
            )
        return (
            f"deployment {self.k8s.deployment!r} not found: namespace {self.k8s.namespace!r} "
            f"does not exist or cannot be read ({where})"
        )

    def list_items(
        self, what: str, method: Callable[..., Any], limit_s: float | None = None, **kwargs: Any
    ) -> list[JSON]:
        """The items of one namespaced list call, as plain dicts."""
        response = self.call(
            what, method, self.k8s.namespace, limit_s=limit_s, _preload_content=False, **kwargs
        )
        items = self.decode(response).get("items") or []
        return [item for item in items if isinstance(item, dict)]

    def replicasets(
        self, deployment: Mapping[str, Any], limit_s: float | None = None
    ) -> list[JSON]:
        """The ReplicaSets ``deployment`` owns (listed by its selector, kept by ownerReference)."""
        return ro.owned_replicasets(
            deployment,
            self.list_items(
                f"list the ReplicaSets of {self.target}",
                self.clients().apps.list_namespaced_replica_set,
                limit_s=limit_s,
                label_selector=ro.selector_string((deployment.get("spec") or {}).get("selector")),
            ),
        )

    def pods(self, deployment: Mapping[str, Any], limit_s: float | None = None) -> list[JSON]:
        """The pods ``deployment``'s selector matches."""
        return self.list_items(
            f"list the pods of {self.target}",
            self.clients().core.list_namespaced_pod,
            limit_s=limit_s,
            label_selector=ro.selector_string((deployment.get("spec") or {}).get("selector")),
        )

    def get_custom(self, api_version: str, plural: str, namespace: str, name: str) -> JSON:
        """One custom resource (``argoproj.io/v1alpha1``, ``applications``, ...) as plain JSON."""
        group, _, version = api_version.partition("/")
        return self.decode(
            self.call(
                f"read {plural}.{group} {namespace}/{name}",
                self.clients().custom.get_namespaced_custom_object,
                group,
                version,
                namespace,
                plural,
                name,
                _preload_content=False,
            )
        )

    def patch_custom(
        self,
        api_version: str,
        plural: str,
        namespace: str,
        name: str,
        body: Any,
        content_type: str,
        *,
        what: str,
        dry_run: bool = False,
    ) -> JSON:
        """PATCH a custom resource (JSON or merge patch: CRDs take no strategic merge).

        A 409 is ``Conflict`` saying nothing was written; ``dry_run`` sends
        ``dryRun=All``: validated and authorised by the API server, nothing changed.
        """
        group, _, version = api_version.partition("/")
        extra: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
        try:
            response = self.call(
                what,
                self.clients().custom.patch_namespaced_custom_object,
                group,
                version,
                namespace,
                plural,
                name,
                body,
                _content_type=content_type,
                _preload_content=False,
                **extra,
            )
        except Conflict:
            raise Conflict(
                f"{plural}.{group} {namespace}/{name} changed while trying to {what} "
                "(409 Conflict: someone else wrote it first): nothing was written; look again "
                "before retrying"
            ) from None
        return self.decode(response)

    # ------------------------------------------------------------------ writes

    def patch(self, what: str, body: Any, content_type: str, *, describe: bool = False) -> JSON:
        """PATCH the Deployment; a 409 is ``Conflict`` saying nothing was written.

        ``describe``: on a 409, read the Deployment again to say what it runs now
        (whose change won), for the writes an operator asked for.
        """
        try:
            response = self.call(
                what,
                self.clients().apps.patch_namespaced_deployment,
                self.k8s.deployment,
                self.k8s.namespace,
                body,
                _content_type=content_type,
                _preload_content=False,
            )
        except Conflict:
            now = ""
            if describe:
                with contextlib.suppress(ProviderError):
                    live = self.get_deployment()
                    version = self.version(ro.template_of(live))[0]
                    revision = ro.annotations_of(live).get(ro.REVISION, "?")
                    now = f"; it now runs {version}, revision {revision}"
            raise Conflict(
                f"deployment/{self.k8s.deployment} changed while trying to {what} (409 Conflict: "
                f"someone else wrote it first{now}): nothing was written; look again before "
                "retrying"
            ) from None
        return self.decode(response)


def _in_cluster() -> bool:
    if not os.environ.get("KUBERNETES_SERVICE_HOST"):
        return False
    if os.environ.get("KUBECONFIG"):
        return False
    return not Path("~/.kube/config").expanduser().exists()
