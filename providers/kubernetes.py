"""The Kubernetes provider: one Deployment, rolled back exactly like ``kubectl rollout undo``.

Runbooks 001 and 002 done from the console: ``rollout history``, ``rollout
undo [--to-revision]``, ``rollout status``, ``rollout restart``, ``logs
--tail=50``, events, and runbook 001's method 3 (restore a saved manifest).
The rules kubectl follows live in ``providers.k8s_rollout``; this module moves
JSON between them and the API server.

Talking to the cluster
    The official ``kubernetes`` client, imported on first use (never at
    start-up, never in ``__init__``).  Credentials: ``kubeconfig`` and
    ``context`` from the config (default: ``$KUBECONFIG`` or
    ``~/.kube/config`` and its current context), or the pod's service account
    when there is no kubeconfig and ``KUBERNETES_SERVICE_HOST`` is set.  Lists
    are asked for with ``_preload_content=False`` and decoded with
    ``json.loads`` into plain dicts (5,000 pods: ~0.25 s, where the client's
    model objects take ~2.6 s).  Every call has a time limit (30 s, or the
    service's ``ready_timeout_s`` when that is shorter: no single request may
    outlast the whole wait); every failure becomes one ``ProviderError`` line
    (404 ``NotFound``, 401/403 ``Forbidden``, 409 ``Conflict``, 429/5xx and
    network errors ``Unavailable``, no answer in time ``TimedOut``).

Rolling back
    ``plan`` follows kubectl: the target is the given revision or the second
    highest one; a paused Deployment is refused; a target whose template is
    already the Deployment's is refused as "skipped rollback".  ``execute``
    first saves the live manifest as YAML under
    ``<state_dir>/manifests/<service>/``, then re-reads the Deployment and
    sends kubectl's JSON patch, with one addition: the patch also sets
    ``metadata.resourceVersion`` to the version just read, so a change made by
    someone else in between is a 409 (``Conflict``) instead of being silently
    overwritten.  The console's own lock annotation is kept on the Deployment
    and never copied back from a ReplicaSet.  The result read back must carry
    the target's template, or the step fails.

    A write that got no answer (a timeout, a reset connection, a 5xx) may or
    may not have been applied: the Deployment is read again and the step says
    which.  It carries on when the target's template is there (the write, or
    an identical one, went through) and fails with "not applied" when it is
    not; it is never sent a second time.  A 409 names what the Deployment now
    runs, so the operator sees whose change won.

Waiting
    ``wait_ready`` polls the Deployment and decides exactly as ``kubectl
    rollout status`` does, and checks the template is still the one the plan
    put there (someone else's rollout is not ours).  A Progressing condition
    with ``ProgressDeadlineExceeded`` ends the wait at once, not ready.  Each
    read is given at most what is left of the wait (at least a second), so an
    API server that stops answering ends the wait at its timeout, not a
    request time limit later.

Revision numbers move
    The deployment controller gives a ReplicaSet that is rolled back to the
    next revision number (and records the old one in
    ``deployment.kubernetes.io/revision-history``): after a rollback to
    revision 2 of 4, the live revision is 5.  ``Revision.detail`` says "was
    revision 2" so an operator can follow it.

Lock
    ``acquire_lock`` writes the ``rollback-console.io/lock`` annotation
    (operator, host, expiry) with a merge patch guarded by the
    resourceVersion it read; when the write loses (409) and the Deployment now
    carries someone else's lock, that is ``LockHeld``; a 409 caused by
    anything else (a status update) is retried.  An expired lock is taken over
    with a warning.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import shlex
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console.config import KubernetesConfig, ServiceConfig, default_state_dir
from console.durable import create_fresh, os_reason
from console.model import (
    Action,
    Plan,
    PlatformEvent,
    ProgressEvent,
    ReadyResult,
    Revision,
    Snapshot,
    Step,
    StepKind,
    Unit,
    utcnow,
)
from console.textsafe import one_line
from providers import k8s_rollout as ro
from providers.base import (
    Conflict,
    Forbidden,
    InvalidTarget,
    LockHeld,
    NotFound,
    OutcomeUnknown,
    ProviderError,
    TimedOut,
    Unavailable,
)
from providers.steps import perform

#: The annotation other consoles read to see who is rolling this Deployment back.
LOCK_ANNOTATION = "rollback-console.io/lock"
#: (connect, read) seconds for one API request (see ``KubernetesProvider.request_timeout_s``).
REQUEST_TIMEOUT_S = (5.0, 30.0)
#: The least time a read inside ``wait_ready`` is given, however little of the wait is left.
MIN_WAIT_READ_S = 1.0
#: How often ``wait_ready`` reads the Deployment again.
POLL_INTERVAL_S = 0.5
#: At most one pod listing for rollout warnings per this many seconds while waiting.
WARNING_EVERY_S = 5.0
#: Events shown in a snapshot (newest first).
MAX_EVENTS = 50
#: How often taking or releasing the lock retries after a 409 caused by something else.
LOCK_ATTEMPTS = 5
#: The actions besides rolling back (``SupportsActions``).
RESTART = "restart"
RESTORE_MANIFEST = "restore-manifest"

JSON = dict[str, Any]


def _one_line(text: str, limit: int = 400) -> str:
    return one_line(str(text), limit)


@contextlib.contextmanager
def _bulk_decoding() -> Iterator[None]:
    """Pause the cyclic garbage collector while thousands of JSON dicts are built.

    ``json.loads`` makes no reference cycles, but allocating millions of
    objects triggers repeated full collections that scan them all: with 5,000
    pods that is a third of the snapshot's time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _network_reason(reason: object) -> str:
    """urllib3's reason, readable: ``Connection aborted: Connection reset by peer`` instead
    of the tuple ``('Connection aborted.', ConnectionResetError(104, '...'))``."""
    args = getattr(reason, "args", ())
    cause = next((a for a in args if isinstance(a, OSError)), None)
    if cause is not None and cause.strerror and args and isinstance(args[0], str):
        return _one_line(f"{args[0].rstrip('.')}: {cause.strerror}", 200)
    return _one_line(str(reason), 200)


def _seconds(value: float) -> str:
    """``3``, ``2.5``: a time limit as a message shows it."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Clients:
    """The client objects of one connection (built lazily, shared by every call)."""

    apps: Any
    core: Any
    host: str
    where: str


@dataclass
class _State:
    """One consistent read of the Deployment and what it owns, as plain dicts."""

    deployment: JSON
    owned: list[JSON]
    old: list[JSON]
    new: JSON | None
    history: dict[int, JSON]
    pods: list[JSON] = field(default_factory=list)
    events: list[JSON] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.deployment["metadata"]["name"])


@dataclass(frozen=True)
class LockInfo:
    """The lock annotation, decoded."""

    operator: str
    host: str
    acquired: datetime | None
    expires: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expires is None or self.expires <= now

    def describe(self) -> str:
        until = f" until {self.expires:%Y-%m-%d %H:%M:%S} UTC" if self.expires else ""
        return f"{self.operator} on {self.host}{until}"

    @staticmethod
    def parse(raw: str | None) -> LockInfo | None:
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return LockInfo(
                operator=str(data.get("operator", "?")),
                host=str(data.get("host", "?")),
                acquired=ro.parse_time(data.get("acquired")),
                expires=ro.parse_time(data.get("expires")),
            )
        except (ValueError, AttributeError):
            return LockInfo("(unreadable lock annotation)", "?", None, None)


class KubernetesProvider:
    """One Deployment of a cluster; see the module docstring for the contract.

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
        self.poll_interval_s = POLL_INTERVAL_S
        #: The time limit of one API request: 30 s, or ``ready_timeout_s`` when shorter.
        ready_s = float(service.ready_timeout_s or 0)
        self.request_timeout_s = (
            min(REQUEST_TIMEOUT_S[1], ready_s) if ready_s > 0 else REQUEST_TIMEOUT_S[1]
        )
        self._clients: _Clients | None = None
        self._connect_lock = threading.Lock()

    # ------------------------------------------------------------------ connection

    @property
    def target(self) -> str:
        """``deployment/web in namespace shop`` for messages."""
        return f"deployment/{self.k8s.deployment} in namespace {self.k8s.namespace}"

    def _kubectl(self, *args: str) -> str:
        """The kubectl command an operator would type for the same thing."""
        argv = ["kubectl"]
        if self.k8s.kubeconfig is not None:
            argv += ["--kubeconfig", str(self.k8s.kubeconfig)]
        if self.k8s.context:
            argv += ["--context", self.k8s.context]
        return shlex.join([*argv, *args, "-n", self.k8s.namespace])

    def _clients_or_connect(self) -> _Clients:
        with self._connect_lock:
            if self._clients is None:
                self._clients = self._connect()
            return self._clients

    def _connect(self) -> _Clients:
        try:
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException
        except ImportError as exc:  # pragma: no cover - the package is a dependency
            raise Unavailable(f"the 'kubernetes' package is not installed: {exc}") from None
        configuration = client.Configuration()
        kubeconfig = self.k8s.kubeconfig
        try:
            if kubeconfig is None and not self.k8s.context and self._in_cluster():
                config.load_incluster_config(client_configuration=configuration)
                where = "in-cluster service account"
            else:
                path = str(kubeconfig) if kubeconfig is not None else None
                shown = path or os.environ.get("KUBECONFIG") or "~/.kube/config"
                try:
                    contexts, active = config.list_kube_config_contexts(config_file=path)
                except ConfigException as exc:
                    raise NotFound(
                        f"no usable kubeconfig at {shown}: {_one_line(str(exc))}"
                    ) from None
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
            raise NotFound(f"cannot load Kubernetes credentials: {_one_line(str(exc))}") from None
        # One quick retry on a refused connection, none on read timeouts: the caller
        # decides what to do about an API server that does not answer.
        import urllib3

        configuration.retries = urllib3.Retry(
            total=1, connect=1, read=0, status=0, redirect=0, backoff_factor=0.1
        )
        api = client.ApiClient(configuration)
        return _Clients(
            apps=client.AppsV1Api(api),
            core=client.CoreV1Api(api),
            host=str(configuration.host),
            where=where,
        )

    @staticmethod
    def _in_cluster() -> bool:
        if not os.environ.get("KUBERNETES_SERVICE_HOST"):
            return False
        if os.environ.get("KUBECONFIG"):
            return False
        return not Path("~/.kube/config").expanduser().exists()

    def _call(
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

        clients = self._clients_or_connect()
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
        message = _one_line(message or str(getattr(exc, "reason", "") or "no message"))
        where = self._clients.where if self._clients else "the cluster"
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
    def _json(response: Any) -> JSON:
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

    def _get_deployment(self, limit_s: float | None = None) -> JSON:
        clients = self._clients_or_connect()
        try:
            response = self._call(
                f"read {self.target}",
                clients.apps.read_namespaced_deployment,
                self.k8s.deployment,
                self.k8s.namespace,
                limit_s=limit_s,
                _preload_content=False,
            )
        except NotFound:
            raise NotFound(self._missing_deployment()) from None
        return self._json(response)

    def _namespace_exists(self) -> bool:
        clients = self._clients_or_connect()
        try:
            self._json(
                self._call(
                    f"read namespace {self.k8s.namespace}",
                    clients.core.read_namespace,
                    self.k8s.namespace,
                    _preload_content=False,
                )
            )
        except ProviderError:
            return False
        return True

    def _missing_deployment(self) -> str:
        """Why the Deployment is not there: the namespace is missing, or only the Deployment."""
        clients = self._clients_or_connect()
        if self._namespace_exists():
            return (
                f"deployment {self.k8s.deployment!r} not found in namespace "
                f"{self.k8s.namespace!r} ({clients.where})"
            )
        return (
            f"deployment {self.k8s.deployment!r} not found: namespace {self.k8s.namespace!r} "
            f"does not exist or cannot be read ({clients.where})"
        )

    def _list(
        self, what: str, method: Callable[..., Any], limit_s: float | None = None, **kwargs: Any
    ) -> list[JSON]:
        response = self._call(
            what, method, self.k8s.namespace, limit_s=limit_s, _preload_content=False, **kwargs
        )
        items = self._json(response).get("items") or []
        return [item for item in items if isinstance(item, dict)]

    def _read_state(self, *, pods: bool = False, events: bool = False) -> _State:
        clients = self._clients_or_connect()
        deployment = self._get_deployment()
        selector = ro.selector_string(deployment.get("spec", {}).get("selector"))
        items = self._list(
            f"list the ReplicaSets of {self.target}",
            clients.apps.list_namespaced_replica_set,
            label_selector=selector,
        )
        owned = ro.owned_replicasets(deployment, items)
        old, new = ro.split_replicasets(deployment, owned)
        state = _State(deployment, owned, old, new, ro.rollout_history(deployment, owned))
        if pods:
            state.pods = self._list(
                f"list the pods of {self.target}",
                clients.core.list_namespaced_pod,
                label_selector=selector,
            )
        if events:
            try:
                state.events = self._list(
                    f"list the events of namespace {self.k8s.namespace}",
                    clients.core.list_namespaced_event,
                )
            except (Forbidden, NotFound):
                state.events = []
        return state

    # ------------------------------------------------------------------ translation

    def _version(self, template: Mapping[str, Any]) -> tuple[str, str]:
        """(version label, image) of the main container of ``template``."""
        container = ro.main_container(template, self.k8s.container)
        image = str(container.get("image", "")) if container else ""
        return ro.image_tag(image), image

    def _revision(self, state: _State, number: int, rs: JSON) -> Revision:
        template = ro.template_of(rs)
        version, image = self._version(template)
        status = rs.get("status") or {}
        replicas = int(rs.get("spec", {}).get("replicas") or 0)
        parts = [
            f"ReplicaSet {rs['metadata']['name']}",
            f"{int(status.get('readyReplicas') or 0)}/{replicas} ready",
        ]
        others = [
            f"{c.get('name')}={c.get('image')}"
            for c in ro.containers_of(template)
            if c.get("image") != image
        ]
        if others:
            parts.append("also " + ", ".join(others))
        was = ro.revision_history_of(rs)
        if was:
            parts.append(f"was revision {', '.join(was)}")
        return Revision(
            id=str(number),
            version=version,
            created=ro.parse_time(rs["metadata"].get("creationTimestamp")),
            change_cause=ro.annotations_of(rs).get(ro.CHANGE_CAUSE, ""),
            image=image,
            current=rs is state.new,
            detail=" · ".join(parts),
        )

    def _revisions(self, state: _State) -> tuple[Revision, ...]:
        return tuple(
            self._revision(state, number, state.history[number])
            for number in sorted(state.history, reverse=True)
        )

    def _current(self, state: _State, revisions: Sequence[Revision]) -> Revision:
        found = next((r for r in revisions if r.current), None)
        if found is not None:
            return found
        template = ro.template_of(state.deployment)
        version, image = self._version(template)
        return Revision(
            id=ro.annotations_of(state.deployment).get(ro.REVISION, ""),
            version=version,
            created=None,
            change_cause=ro.annotations_of(state.deployment).get(ro.CHANGE_CAUSE, ""),
            image=image,
            current=True,
            detail="the Deployment's template matches no ReplicaSet yet",
        )

    def _units(self, state: _State) -> tuple[Unit, ...]:
        revision_by_hash: dict[str, str] = {}
        for rs in state.owned:
            labels = (rs.get("metadata", {}).get("labels")) or {}
            pod_hash = labels.get(ro.HASH_LABEL) or (
                ro.template_of(rs).get("metadata", {}).get("labels") or {}
            ).get(ro.HASH_LABEL)
            number = ro.revision_of(rs)
            if pod_hash and number is not None:
                revision_by_hash[str(pod_hash)] = str(number)
        units = []
        for pod in state.pods:
            meta = pod.get("metadata") or {}
            labels = meta.get("labels") or {}
            reason, restarts, detail = ro.pod_state(pod)
            status = pod.get("status") or {}
            units.append(
                Unit(
                    name=str(meta.get("name", "")),
                    state=reason,
                    ready=ro.pod_ready(pod),
                    revision=revision_by_hash.get(str(labels.get(ro.HASH_LABEL, "")), ""),
                    restarts=restarts,
                    started=ro.parse_time(status.get("startTime")),
                    node=str((pod.get("spec") or {}).get("nodeName", "")),
                    detail=detail,
                )
            )
        return tuple(units)

    def _events(self, state: _State) -> tuple[PlatformEvent, ...]:
        involved = {("Deployment", state.name)}
        involved |= {("ReplicaSet", str(rs["metadata"]["name"])) for rs in state.owned}
        involved |= {("Pod", str((p.get("metadata") or {}).get("name", ""))) for p in state.pods}
        chosen = []
        for event in state.events:
            obj = event.get("involvedObject") or event.get("regarding") or {}
            if (obj.get("kind"), obj.get("name")) not in involved:
                continue
            at = (
                ro.parse_time(event.get("lastTimestamp"))
                or ro.parse_time(event.get("eventTime"))
                or ro.parse_time((event.get("series") or {}).get("lastObservedTime"))
                or ro.parse_time((event.get("metadata") or {}).get("creationTimestamp"))
            )
            chosen.append(
                PlatformEvent(
                    at=at,
                    kind=str(event.get("type", "")),
                    reason=str(event.get("reason", "")),
                    object=f"{obj.get('kind')}/{obj.get('name')}",
                    message=_one_line(str(event.get("message") or event.get("note") or "")),
                    count=int(event.get("count") or (event.get("series") or {}).get("count") or 1),
                )
            )
        oldest = datetime.min.replace(tzinfo=UTC)
        chosen.sort(key=lambda e: e.at or oldest, reverse=True)
        return tuple(chosen[:MAX_EVENTS])

    def _facts(self, state: _State) -> tuple[tuple[str, str], ...]:
        d = state.deployment
        spec, status = d.get("spec") or {}, d.get("status") or {}
        generation = int(d["metadata"].get("generation") or 0)
        observed = int(status.get("observedGeneration") or 0)
        clients = self._clients
        facts = [
            ("deployment", f"{self.k8s.namespace}/{state.name}"),
            ("cluster", clients.where if clients else ""),
            ("selector", ro.selector_string(spec.get("selector"))),
            (
                "generation",
                f"{generation} (observed {observed})"
                + ("" if observed >= generation else ": not yet seen by the controller"),
            ),
            (
                "replicas",
                f"{int(spec.get('replicas') or 0)} desired · "
                f"{int(status.get('updatedReplicas') or 0)} updated · "
                f"{int(status.get('readyReplicas') or 0)} ready · "
                f"{int(status.get('availableReplicas') or 0)} available"
                + (
                    f" · {int(status['unavailableReplicas'])} unavailable"
                    if status.get("unavailableReplicas")
                    else ""
                ),
            ),
        ]
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("rollingUpdate") or {}
        kind = str(strategy.get("type", "RollingUpdate"))
        if kind == "RollingUpdate":
            kind += (
                f" (maxSurge {rolling.get('maxSurge', '25%')}, "
                f"maxUnavailable {rolling.get('maxUnavailable', '25%')})"
            )
        facts.append(("strategy", kind))
        if spec.get("progressDeadlineSeconds") is not None:
            facts.append(("progress deadline", f"{spec['progressDeadlineSeconds']} s"))
        facts.append(("paused", "yes" if spec.get("paused") else "no"))
        for cond in status.get("conditions") or []:
            text = f"{cond.get('status')} ({cond.get('reason', '')})"
            if cond.get("message"):
                text += f": {_one_line(str(cond['message']), 160)}"
            facts.append((str(cond.get("type", "")), text))
        _, _, message = ro.rollout_status(d)
        facts.append(("rollout", message))
        images = ", ".join(
            f"{c.get('name')}={c.get('image')}" for c in ro.containers_of(ro.template_of(d))
        )
        facts.append(("images", images))
        lock = LockInfo.parse(ro.annotations_of(d).get(LOCK_ANNOTATION))
        if lock is not None:
            facts.append(("lock", lock.describe()))
        return tuple(facts)

    def _notes(self, state: _State, units: Sequence[Unit]) -> tuple[str, ...]:
        d = state.deployment
        notes = []
        if (d.get("spec") or {}).get("paused"):
            notes.append(
                f"deployment/{state.name} is paused: kubectl rollout undo refuses it until "
                f"`{self._kubectl('rollout', 'resume', f'deployment/{state.name}')}`"
            )
        _, failed, message = ro.rollout_status(d)
        if failed:
            notes.append(f"{message}: the rollout is stuck")
        if state.new is None:
            notes.append(
                f"the template of deployment/{state.name} matches no ReplicaSet yet "
                "(paused, or the controller has not acted)"
            )
        lock = LockInfo.parse(ro.annotations_of(d).get(LOCK_ANNOTATION))
        if lock is not None:
            state_word = "expired" if lock.expired(utcnow()) else "held"
            notes.append(f"rollback lock {state_word}: {lock.describe()}")
        not_ready = sum(1 for u in units if not u.ready)
        if not_ready:
            notes.append(f"{not_ready} of {len(units)} pods not ready")
        return tuple(notes)

    # ------------------------------------------------------------------ snapshot

    def snapshot(self) -> Snapshot:
        """Deployment, revisions as ``kubectl rollout history`` lists them, pods, events."""
        with _bulk_decoding():
            state = self._read_state(pods=True, events=True)
            revisions = self._revisions(state)
            units = self._units(state)
            events = self._events(state)
        return Snapshot(
            service=self.service.name,
            environment=self.service.environment,
            provider=self.name,
            taken_at=utcnow(),
            current=self._current(state, revisions),
            revisions=revisions,
            units=units,
            paused=bool((state.deployment.get("spec") or {}).get("paused")),
            notes=self._notes(state, units),
            events=events,
            facts=self._facts(state),
        )

    def rollout_history(self) -> list[tuple[int, str]]:
        """The rows ``kubectl rollout history`` prints: (revision, change cause), ascending."""
        state = self._read_state()
        return ro.history_table(state.deployment, state.owned)

    # ------------------------------------------------------------------ plan

    def plan(self, target: str | None, *, dry_run: bool = False) -> Plan:
        """kubectl's undo, validated.

        Raises ``NotFound`` for an unknown revision and ``InvalidTarget`` for a paused
        Deployment or a target whose template is already live.
        """
        state = self._read_state()
        rs, number = self._resolve(state, target)
        d = state.deployment
        revisions = self._revisions(state)
        current = self._current(state, revisions)
        to = self._revision(state, number, rs)
        if (d.get("spec") or {}).get("paused"):
            raise InvalidTarget(
                f"you cannot rollback a paused deployment; resume it first with "
                f"`{self._kubectl('rollout', 'resume', f'deployment/{state.name}')}` and try again"
            )
        if ro.equal_ignore_hash(ro.template_of(rs), ro.template_of(d)):
            raise InvalidTarget(
                f"skipped rollback (current template already matches revision {number}): "
                f"deployment/{state.name} already runs {to.version}"
            )
        annotations = ro.undo_annotations(d, rs, keep=(LOCK_ANNOTATION,))
        patch = ro.undo_patch(rs, annotations)
        warnings = self._warnings(state, current, to, number)
        backup = self._backup_path(current)
        steps = (
            self._backup_step(backup),
            Step(
                title=(
                    f"Roll deployment/{state.name} ({self.service.environment}) back to revision "
                    f"{number} ({to.version}): the pod template of ReplicaSet "
                    f"{rs['metadata']['name']}"
                ),
                command=self._kubectl(
                    "rollout", "undo", f"deployment/{state.name}", f"--to-revision={number}"
                ),
                kind=StepKind.SWITCH,
            ),
        )
        data = {
            "patch": patch,
            "revision": number,
            "replicaset_uid": rs["metadata"]["uid"],
            "replicaset": rs["metadata"]["name"],
            "deployment_uid": d["metadata"]["uid"],
            "from_template": ro.template_of(d),
            "template": ro.without_hash(ro.template_of(rs)),
            "backup": str(backup),
        }
        if dry_run:
            self._server_dry_run(d, patch)
            warnings.append(
                "Dry run: the API server accepted this patch with dryRun=All; nothing was "
                f"changed. The patch: {json.dumps(patch, separators=(',', ':'))}"
            )
        return Plan(
            service=self.service.name,
            environment=self.service.environment,
            provider=self.name,
            from_revision=current,
            to_revision=to,
            steps=steps,
            warnings=tuple(warnings),
            dry_run=dry_run,
            data=data,
        )

    def _resolve(self, state: _State, target: str | None) -> tuple[JSON, int]:
        """The target ReplicaSet and its revision: a number, a version label, or None."""
        if target is None:
            return self._undo_target(state, 0)
        text = target.strip()
        if text.lower().startswith("revision"):
            text = text[len("revision") :].strip()
        if re.fullmatch(r"\d+", text):
            return self._undo_target(state, int(text))
        matches = [
            n for n, rs in state.history.items() if self._version(ro.template_of(rs))[0] == text
        ]
        if len(matches) > 1:
            listed = ", ".join(str(n) for n in sorted(matches))
            raise NotFound(
                f"version {text!r} is in several revisions of deployment/{state.name} "
                f"({listed}): give the revision number"
            )
        if matches:
            return self._undo_target(state, matches[0])
        raise NotFound(
            f"unable to find specified revision {target!r} in the history of "
            f"deployment/{state.name} (revisions: {self._known(state)})"
        )

    def _undo_target(self, state: _State, number: int) -> tuple[JSON, int]:
        try:
            rs = ro.undo_target(state.deployment, state.owned, number)
        except ro.UndoError as err:
            if number == 0:
                raise InvalidTarget(f"{err}: nothing to roll back to") from None
            raise NotFound(
                f"{err} of deployment/{state.name} (revisions: {self._known(state)})"
            ) from None
        found = ro.revision_of(rs)
        return rs, found if found is not None else number

    def _known(self, state: _State) -> str:
        labels = []
        for number in sorted(state.history):
            version = self._version(ro.template_of(state.history[number]))[0]
            labels.append(f"{number} ({version})")
        return ", ".join(labels) or "none"

    def _warnings(self, state: _State, current: Revision, to: Revision, number: int) -> list[str]:
        warnings = []
        lock = LockInfo.parse(ro.annotations_of(state.deployment).get(LOCK_ANNOTATION))
        if lock is not None and not lock.expired(utcnow()):
            warnings.append(
                f"deployment/{state.name} carries a rollback lock of {lock.describe()}: "
                "executing is refused unless it is yours or it expires."
            )
        numbers = sorted(state.history, reverse=True)
        current_number = int(current.id) if current.id.isdigit() else None
        if current_number is not None and current_number in numbers and number in numbers:
            between = numbers.index(number) - numbers.index(current_number) - 1
            if number > current_number:
                warnings.append(
                    f"revision {number} is newer than the live revision {current_number}: "
                    "this rolls forward, not back."
                )
            elif between > 0:
                warnings.append(
                    f"revision {number} ({to.version}) is not the one right before the live "
                    f"{current_number} ({current.version}); {between} revision(s) in between "
                    "are skipped."
                )
        target_rs = state.history[number]
        if int(target_rs.get("spec", {}).get("replicas") or 0) > 0:
            warnings.append(
                f"ReplicaSet {target_rs['metadata']['name']} of revision {number} still has pods: "
                "the previous rollout did not finish; rolling back to it is what undoes it."
            )
        warnings.append(
            f"After the rollback the deployment controller renumbers revision {number} as "
            f"revision {max(numbers, default=number) + 1} (kubectl does the same)."
        )
        return warnings

    def _server_dry_run(self, deployment: JSON, patch: list[JSON]) -> None:
        clients = self._clients_or_connect()
        guarded = [*patch, self._rv_guard(deployment)]
        response = self._call(
            f"dry-run the rollback of {self.target}",
            clients.apps.patch_namespaced_deployment,
            self.k8s.deployment,
            self.k8s.namespace,
            guarded,
            dry_run="All",
            _content_type="application/json-patch+json",
            _preload_content=False,
        )
        self._json(response)

    @staticmethod
    def _rv_guard(deployment: Mapping[str, Any]) -> JSON:
        """A JSON patch op that makes the write conditional on what was read (409 if stale)."""
        return {
            "op": "replace",
            "path": "/metadata/resourceVersion",
            "value": str(deployment["metadata"]["resourceVersion"]),
        }

    # ------------------------------------------------------------------ actions

    def actions(self) -> tuple[Action, ...]:
        """Restart, and restore one of the manifests saved before earlier rollbacks."""
        saved = tuple(p.name for p in self.saved_manifests())
        name = self.k8s.deployment
        return (
            Action(
                id=RESTART,
                title="Restart all pods",
                description=(
                    f"Replace every pod of deployment/{name} with a fresh one on the same "
                    f"template (`{self._kubectl('rollout', 'restart', f'deployment/{name}')}`)"
                ),
            ),
            Action(
                id=RESTORE_MANIFEST,
                title="Restore a saved manifest",
                description=(
                    f"Replace deployment/{name} with a manifest the console saved before an "
                    "earlier rollback (kubectl replace -f FILE)"
                ),
                argument="file",
                choices=saved,
                dangerous=True,
            ),
        )

    def saved_manifests(self) -> list[Path]:
        """The manifests saved for this service, newest first."""
        try:
            files = [p for p in self.manifest_dir.glob("*.yaml") if p.is_file()]
        except OSError:
            return []
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)

    def plan_action(self, action: str, argument: str | None, *, dry_run: bool = False) -> Plan:
        """Plan ``restart`` (no argument) or ``restore-manifest`` (a saved file name or path)."""
        if action == RESTART:
            return self._plan_restart(dry_run)
        if action == RESTORE_MANIFEST:
            if not argument:
                known = ", ".join(p.name for p in self.saved_manifests()[:5]) or "none saved yet"
                raise InvalidTarget(f"restore-manifest needs a saved manifest (newest: {known})")
            return self._plan_restore(argument, dry_run)
        raise NotFound(
            f"unknown action {action!r} for {self.service.label} "
            f"(known: {RESTART}, {RESTORE_MANIFEST})"
        )

    def _plan_restart(self, dry_run: bool) -> Plan:
        state = self._read_state()
        d = state.deployment
        if (d.get("spec") or {}).get("paused"):
            raise InvalidTarget(
                f"can't restart paused deployment/{state.name} (run "
                f"`{self._kubectl('rollout', 'resume', f'deployment/{state.name}')}` first)"
            )
        current = self._current(state, self._revisions(state))
        backup = self._backup_path(current)
        steps = (
            self._backup_step(backup),
            Step(
                title=(
                    f"Restart every pod of deployment/{state.name} ({self.service.environment}) "
                    f"on {current.version} (a new {ro.RESTARTED_AT} on the template)"
                ),
                command=self._kubectl("rollout", "restart", f"deployment/{state.name}"),
                kind=StepKind.RESTART,
            ),
        )
        return Plan(
            service=self.service.name,
            environment=self.service.environment,
            provider=self.name,
            from_revision=current,
            to_revision=current,
            steps=steps,
            warnings=(
                "A restart is a new rollout: the controller gives the restarted template the "
                "next revision number.",
            ),
            dry_run=dry_run,
            action=RESTART,
            data={
                "deployment_uid": d["metadata"]["uid"],
                "backup": str(backup),
                "resume": {"restarted_at": self._restarted_at(d)},
            },
        )

    @staticmethod
    def _restarted_at(deployment: Mapping[str, Any]) -> str:
        template = ro.template_of(deployment)
        return str(
            ((template.get("metadata") or {}).get("annotations") or {}).get(ro.RESTARTED_AT, "")
        )

    # ------------------------------------------------------------------ resume

    def switch_took_effect(self, plan: Plan) -> bool | None:
        """Whether the Deployment's template is already what ``plan`` set.

        A rollback renumbers the target ReplicaSet (revision 2 comes back as
        the next number, with "2" in its revision-history annotation), so the
        target is found by its old number too and its template compared with
        the Deployment's, which is what ``kubectl rollout undo`` changes.
        """
        if plan.action == RESTART:
            before = (plan.data.get("resume") or {}).get("restarted_at")
            if before is None:
                return None
            return bool(self._restarted_at(self._get_deployment()) != before)
        if plan.action == RESTORE_MANIFEST:
            path = Path(plan.argument)
            if not path.is_file():
                return None
            manifest = self.load_manifest(path)
            try:
                live = self._get_deployment()
            except NotFound:
                return False
            return ro.equal_ignore_hash(ro.template_of(manifest), ro.template_of(live))
        if plan.action != "rollback":
            return None
        state = self._read_state()
        wanted = plan.to_revision.id
        for rs in state.owned:
            if str(ro.revision_of(rs)) == wanted or wanted in ro.revision_history_of(rs):
                return ro.equal_ignore_hash(ro.template_of(rs), ro.template_of(state.deployment))
        return False

    def _manifest_file(self, argument: str) -> Path:
        candidate = Path(argument).expanduser()
        if not candidate.is_absolute():
            candidate = self.manifest_dir / argument
        if not candidate.is_file():
            known = ", ".join(p.name for p in self.saved_manifests()[:5]) or "none saved yet"
            raise NotFound(
                f"manifest {argument!r} not found in {self.manifest_dir} (newest: {known})"
            )
        return candidate

    def load_manifest(self, path: Path) -> JSON:
        """A saved manifest, checked to be this Deployment (``InvalidTarget`` otherwise)."""
        import yaml

        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidTarget(
                f"cannot read manifest {path}: {_one_line(str(exc), 200)}"
            ) from None
        if not isinstance(loaded, dict) or loaded.get("kind") != "Deployment":
            raise InvalidTarget(f"{path} is not a Deployment manifest")
        meta = loaded.get("metadata") or {}
        if meta.get("name") != self.k8s.deployment:
            raise InvalidTarget(
                f"{path} is the manifest of deployment/{meta.get('name')}, "
                f"not deployment/{self.k8s.deployment}"
            )
        if meta.get("namespace", self.k8s.namespace) != self.k8s.namespace:
            raise InvalidTarget(
                f"{path} is from namespace {meta.get('namespace')}, not {self.k8s.namespace}"
            )
        if not ro.containers_of(ro.template_of(loaded)):
            raise InvalidTarget(f"{path} has no pod template with containers")
        return loaded

    def _plan_restore(self, argument: str, dry_run: bool) -> Plan:
        path = self._manifest_file(argument)
        manifest = self.load_manifest(path)
        try:
            state = self._read_state()
        except NotFound:
            if not self._namespace_exists():
                raise
            return self._plan_recreate(path, manifest, dry_run)
        d = state.deployment
        revisions = self._revisions(state)
        current = self._current(state, revisions)
        template = ro.template_of(manifest)
        if ro.equal_ignore_hash(template, ro.template_of(d)) and (manifest.get("spec") or {}).get(
            "replicas"
        ) == (d.get("spec") or {}).get("replicas"):
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
        version, image = self._version(template)
        if match is not None:
            to = self._revision(state, match, state.history[match])
        else:
            to = Revision(
                id=f"manifest:{path.name}",
                version=version,
                image=image,
                change_cause=ro.annotations_of(manifest).get(ro.CHANGE_CAUSE, ""),
                detail=f"saved manifest {path}",
            )
        warnings = []
        spec, live = manifest.get("spec") or {}, d.get("spec") or {}
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
        backup = self._backup_path(current)
        steps = (
            self._backup_step(backup),
            Step(
                title=(
                    f"Replace deployment/{state.name} ({self.service.environment}) with the "
                    f"manifest saved in {path.name} ({version})"
                ),
                command=self._kubectl("replace", "-f", str(path)),
                kind=StepKind.SWITCH,
            ),
        )
        return Plan(
            service=self.service.name,
            environment=self.service.environment,
            provider=self.name,
            from_revision=current,
            to_revision=to,
            steps=steps,
            warnings=tuple(warnings),
            dry_run=dry_run,
            action=RESTORE_MANIFEST,
            argument=str(path),
            data={
                "deployment_uid": d["metadata"]["uid"],
                "manifest": str(path),
                "template": ro.without_hash(template),
                "backup": str(backup),
            },
        )

    def _plan_recreate(self, path: Path, manifest: JSON, dry_run: bool) -> Plan:
        """The Deployment is gone (deleted): create it again from the saved manifest."""
        name = self.k8s.deployment
        template = ro.template_of(manifest)
        version, image = self._version(template)
        to = Revision(
            id=f"manifest:{path.name}",
            version=version,
            image=image,
            change_cause=ro.annotations_of(manifest).get(ro.CHANGE_CAUSE, ""),
            detail=f"saved manifest {path}",
        )
        step = Step(
            title=(
                f"Create deployment/{name} ({self.service.environment}) again, from the manifest "
                f"saved in {path.name} ({version}): it does not exist"
            ),
            command=self._kubectl("create", "-f", str(path)),
            kind=StepKind.SWITCH,
        )
        return Plan(
            service=self.service.name,
            environment=self.service.environment,
            provider=self.name,
            from_revision=None,
            to_revision=to,
            steps=(step,),
            warnings=(
                f"deployment/{name} does not exist in namespace {self.k8s.namespace}: it is "
                "created from the manifest, with new ReplicaSets and pods.",
            ),
            dry_run=dry_run,
            action=RESTORE_MANIFEST,
            argument=str(path),
            data={"manifest": str(path), "template": ro.without_hash(template), "create": True},
        )

    # ------------------------------------------------------------------ manifests

    def _backup_path(self, current: Revision) -> Path:
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        revision = f"-rev{current.id}" if current.id.isdigit() else ""
        return self.manifest_dir / f"{self.k8s.deployment}-{stamp}{revision}.yaml"

    def _backup_step(self, path: Path) -> Step:
        name = self.k8s.deployment
        get = self._kubectl("get", f"deployment/{name}", "-o", "yaml")
        return Step(
            title=(
                f"Save the live manifest of deployment/{name} ({self.service.environment}) "
                f"to {path}"
            ),
            command=f"{get} > {shlex.quote(str(path))}",
            kind=StepKind.BACKUP,
        )

    @staticmethod
    def clean_manifest(deployment: Mapping[str, Any]) -> JSON:
        """The Deployment as a manifest to re-apply: no status, no server-set metadata, no lock."""
        manifest: JSON = json.loads(json.dumps(deployment))
        manifest.pop("status", None)
        meta = manifest.setdefault("metadata", {})
        for key in (
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
            "selfLink",
        ):
            meta.pop(key, None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(LOCK_ANNOTATION, None)
        manifest.setdefault("apiVersion", "apps/v1")
        manifest.setdefault("kind", "Deployment")
        return manifest

    def _save_backup(self, plan: Plan) -> Generator[str, None, str]:
        import yaml

        d = self._get_deployment()
        path = Path(
            plan.data.get("backup") or self._backup_path(plan.from_revision or plan.to_revision)
        )
        manifest = self.clean_manifest(d)
        # Key order as kubectl prints it: apiVersion, kind, metadata, spec.
        ordered = {
            k: manifest[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in manifest
        }
        header = (
            f"# deployment/{self.k8s.deployment} in namespace {self.k8s.namespace} "
            f"({self.service.label}), resourceVersion {d['metadata'].get('resourceVersion')},\n"
            f"# saved by rollback-console at {_stamp(utcnow())} before: {plan.summary}\n"
            f"# restore: rollback-console action {self.service.name} {RESTORE_MANIFEST} "
            f"{path.name}  (or: {self._kubectl('replace', '-f', str(path))})\n"
        )
        text = header + yaml.safe_dump(ordered, sort_keys=False, default_flow_style=False)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            temp = path.with_name(f".{path.name}.tmp")
            # Created anew, never through a link; the rename then replaces the name itself.
            with open(create_fresh(temp, 0o600), "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, path)
        except OSError as exc:
            raise ProviderError(
                f"cannot save the manifest backup to {path}: {os_reason(exc)}"
            ) from None
        if self.load_manifest(path).get("spec") != manifest.get("spec"):
            raise ProviderError(f"the manifest saved to {path} does not read back the same")
        yield f"resourceVersion {d['metadata'].get('resourceVersion')}, {len(text)} bytes"
        return f"saved {path}"

    # ------------------------------------------------------------------ execute

    def execute(self, plan: Plan) -> Iterator[ProgressEvent]:
        """Run the plan's steps in order; a failed step yields FAILED, raises, and stops."""
        if plan.dry_run:
            raise InvalidTarget("a dry-run plan is never executed")
        for index, step in enumerate(plan.steps):
            if step.kind is StepKind.BACKUP:
                body = self._save_backup(plan)
            elif step.kind is StepKind.RESTART:
                body = self._restart(plan)
            elif step.kind is StepKind.SWITCH and plan.action == RESTORE_MANIFEST:
                if plan.data.get("create") or " create -f " in step.command:
                    body = self._recreate(plan)
                else:
                    body = self._restore(plan)
            elif step.kind is StepKind.SWITCH:
                body = self._undo(plan)
            else:
                raise ProviderError(
                    f"step {step.title!r}: the kubernetes provider has no such step"
                )
            yield from perform(index, step, body)

    def _fresh(self, plan: Plan) -> JSON:
        """The Deployment re-read for a write, checked to be the one the plan was made for."""
        d = self._get_deployment()
        uid = plan.data.get("deployment_uid")
        if uid and d["metadata"].get("uid") != uid:
            raise Conflict(
                f"deployment/{self.k8s.deployment} was deleted and re-created since the plan "
                "was made; look again before retrying"
            )
        return d

    def _patch(self, what: str, body: Any, content_type: str, *, describe: bool = False) -> JSON:
        """PATCH the Deployment; a 409 is ``Conflict`` saying nothing was written.

        ``describe``: on a 409, read the Deployment again to say what it runs now
        (whose change won), for the writes an operator asked for.
        """
        clients = self._clients_or_connect()
        try:
            response = self._call(
                what,
                clients.apps.patch_namespaced_deployment,
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
                    live = self._get_deployment()
                    version = self._version(ro.template_of(live))[0]
                    revision = ro.annotations_of(live).get(ro.REVISION, "?")
                    now = f"; it now runs {version}, revision {revision}"
            raise Conflict(
                f"deployment/{self.k8s.deployment} changed while trying to {what} (409 Conflict: "
                f"someone else wrote it first{now}): nothing was written; look again before "
                "retrying"
            ) from None
        return self._json(response)

    def _unanswered(
        self, err: ProviderError, what: str, before: JSON, applied: Callable[[JSON], bool]
    ) -> JSON:
        """A write got no answer (timeout, reset, 5xx): was it applied?  Read it again.

        Returns the Deployment when ``applied`` says so; otherwise raises ``err``'s
        kind, saying what the Deployment runs now, or ``OutcomeUnknown``.
        """
        name = self.k8s.deployment
        live = self._read_again(err, what)
        if applied(live):
            return live
        version = self._version(ro.template_of(live))[0]
        if ro.equal_ignore_hash(ro.template_of(live), ro.template_of(before)):
            found = f"deployment/{name} still runs {version} when read again"
        else:
            found = f"deployment/{name} now runs {version} (someone else changed it)"
        raise type(err)(f"{err}; {found}: {what} was not applied") from None

    def _unanswered_create(self, err: ProviderError, manifest: JSON) -> JSON:
        """A create got no answer: does the Deployment exist now, and with the saved template?

        Retrying blindly is no answer either way: a create that was applied would
        meet 409 AlreadyExists and look like someone else's doing.
        """
        name = self.k8s.deployment
        try:
            live = self._read_again(err, "the saved manifest", missing_ok=True)
        except NotFound:
            raise type(err)(
                f"{err}; deployment/{name} still does not exist when read again: "
                "the saved manifest was not applied"
            ) from None
        if ro.equal_ignore_hash(ro.template_of(live), ro.template_of(manifest)):
            return live
        version = self._version(ro.template_of(live))[0]
        raise Conflict(
            f"{err}; deployment/{name} exists now but runs {version} (someone else created it): "
            "the saved manifest was not applied"
        ) from None

    def _read_again(self, err: ProviderError, what: str, *, missing_ok: bool = False) -> JSON:
        """The Deployment, read after a write of ``what`` got no answer.

        ``NotFound`` when it does not exist and ``missing_ok``; ``OutcomeUnknown``
        when it cannot be read: the write may or may not have landed, and ``resume`` is
        the way to find out once the API answers.
        """
        name = self.k8s.deployment
        try:
            return self._get_deployment()
        except ProviderError as error:
            if missing_ok and isinstance(error, NotFound):
                raise
            again = error
        get = self._kubectl("get", f"deployment/{name}", "-o", "yaml")
        raise OutcomeUnknown(
            f"{err}; whether {what} was applied is not known: deployment/{name} could not "
            f"be read again ({again}); check it with `{get}` before retrying"
        ) from None

    def _undo(self, plan: Plan) -> Generator[str, None, str]:
        """kubectl's undo patch from a fresh read, guarded by its resourceVersion."""
        d = self._fresh(plan)
        name = self.k8s.deployment
        if (d.get("spec") or {}).get("paused"):
            raise InvalidTarget(
                f"deployment/{name} was paused since the plan: "
                "you cannot rollback a paused deployment"
            )
        owned = ro.owned_replicasets(
            d,
            self._list(
                f"list the ReplicaSets of {self.target}",
                self._clients_or_connect().apps.list_namespaced_replica_set,
                label_selector=ro.selector_string(d.get("spec", {}).get("selector")),
            ),
        )
        rs_uid = plan.data.get("replicaset_uid")
        number = plan.data.get("revision", plan.to_revision.id)
        if rs_uid:
            rs = next((r for r in owned if r["metadata"].get("uid") == rs_uid), None)
        else:
            rs = ro.rollout_history(d, owned).get(int(number)) if str(number).isdigit() else None
        if rs is None:
            raise Conflict(
                f"the ReplicaSet of revision {number} of deployment/{name} is gone since the plan "
                "was made; look again before retrying"
            )
        planned_from = plan.data.get("from_template")
        if ro.equal_ignore_hash(ro.template_of(rs), ro.template_of(d)):
            yield f"skipped rollback (current template already matches revision {number})"
            return f"deployment/{name} already had the template of revision {number}"
        if planned_from is not None and not ro.equal_ignore_hash(planned_from, ro.template_of(d)):
            now = self._version(ro.template_of(d))[0]
            raise Conflict(
                f"deployment/{name} changed since the plan was made (it now runs {now}); "
                "look again before retrying"
            )
        annotations = ro.undo_annotations(d, rs, keep=(LOCK_ANNOTATION,))
        patch = [*ro.undo_patch(rs, annotations), self._rv_guard(d)]
        yield (
            f"PATCH deployment/{name} (application/json-patch+json): replace /spec/template with "
            f"ReplicaSet {rs['metadata']['name']}'s, replace /metadata/annotations, "
            f"if resourceVersion is still {d['metadata'].get('resourceVersion')}"
        )
        try:
            result = self._patch(
                f"roll back {self.target}", patch, "application/json-patch+json", describe=True
            )
        except (Unavailable, TimedOut) as err:
            result = self._unanswered(
                err,
                "the rollback",
                d,
                lambda live: ro.equal_ignore_hash(ro.template_of(live), ro.template_of(rs)),
            )
            yield (
                f"no answer to the PATCH ({err}), but deployment/{name} has the template of "
                f"revision {number} when read again: the rollback was applied"
            )
        if not ro.equal_ignore_hash(ro.template_of(result), ro.template_of(rs)):
            raise ProviderError(
                f"the API server answered the rollback of deployment/{name} with a different "
                f"template than revision {number}'s; check it with kubectl before retrying"
            )
        yield f"deployment.apps/{name} rolled back"
        return (
            f"deployment/{name} has the template of revision {number} "
            f"({plan.to_revision.version}); generation {result['metadata'].get('generation')}"
        )

    def _restart(self, plan: Plan) -> Generator[str, None, str]:
        """``kubectl rollout restart``: a new restartedAt annotation on the pod template."""
        d = self._fresh(plan)
        name = self.k8s.deployment
        if (d.get("spec") or {}).get("paused"):
            raise InvalidTarget(
                f"can't restart paused deployment/{name} (run rollout resume first)"
            )
        now = _stamp(utcnow())
        patch = {
            "metadata": {"resourceVersion": d["metadata"]["resourceVersion"]},
            "spec": {"template": {"metadata": {"annotations": {ro.RESTARTED_AT: now}}}},
        }
        yield f"PATCH deployment/{name} (strategic merge): {ro.RESTARTED_AT}={now}"
        try:
            result = self._patch(
                f"restart {self.target}",
                patch,
                "application/strategic-merge-patch+json",
                describe=True,
            )
        except (Unavailable, TimedOut) as err:
            result = self._unanswered(
                err, "the restart", d, lambda live: self._restarted_at(live) == now
            )
            yield (
                f"no answer to the PATCH ({err}), but deployment/{name} carries "
                f"{ro.RESTARTED_AT}={now} when read again: the restart was applied"
            )
        seen = (ro.template_of(result).get("metadata") or {}).get("annotations") or {}
        if seen.get(ro.RESTARTED_AT) != now:
            raise ProviderError(f"deployment/{name} does not carry the new {ro.RESTARTED_AT}")
        plan.data["restarted_at"] = now
        plan.data["template"] = ro.template_of(result)
        yield f"deployment.apps/{name} restarted"
        return f"deployment/{name} restarted at {now}"

    def _restore(self, plan: Plan) -> Generator[str, None, str]:
        """``kubectl replace -f FILE``: PUT the saved manifest over the live Deployment."""
        path = Path(plan.data.get("manifest") or plan.argument)
        manifest = self.clean_manifest(self.load_manifest(path))
        d = self._fresh(plan)
        name = self.k8s.deployment
        meta = manifest.setdefault("metadata", {})
        meta["namespace"] = self.k8s.namespace
        meta["resourceVersion"] = d["metadata"]["resourceVersion"]
        lock = ro.annotations_of(d).get(LOCK_ANNOTATION)
        if lock:
            meta.setdefault("annotations", {})[LOCK_ANNOTATION] = lock
        clients = self._clients_or_connect()
        yield (
            f"PUT deployment/{name} from {path} "
            f"if resourceVersion is still {meta['resourceVersion']}"
        )
        try:
            response = self._call(
                f"replace {self.target}",
                clients.apps.replace_namespaced_deployment,
                name,
                self.k8s.namespace,
                manifest,
                _preload_content=False,
            )
        except Conflict:
            raise Conflict(
                f"deployment/{name} changed while it was being replaced (409): nothing was "
                "written; look again before retrying"
            ) from None
        except (Unavailable, TimedOut) as err:
            result = self._unanswered(
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
            result = self._json(response)
        if not ro.equal_ignore_hash(ro.template_of(result), ro.template_of(manifest)):
            raise ProviderError(f"deployment/{name} does not carry the restored template")
        yield f"deployment.apps/{name} replaced"
        return f"deployment/{name} has the template saved in {path.name}"

    def _recreate(self, plan: Plan) -> Generator[str, None, str]:
        """``kubectl create -f FILE``: the Deployment was deleted; POST the saved manifest."""
        path = Path(plan.data.get("manifest") or plan.argument)
        manifest = self.clean_manifest(self.load_manifest(path))
        manifest.setdefault("metadata", {})["namespace"] = self.k8s.namespace
        name = self.k8s.deployment
        clients = self._clients_or_connect()
        yield f"POST deployment/{name} from {path}"
        try:
            response = self._call(
                f"create {self.target}",
                clients.apps.create_namespaced_deployment,
                self.k8s.namespace,
                manifest,
                _preload_content=False,
            )
        except Conflict:
            raise Conflict(
                f"deployment/{name} was created by someone else meanwhile (409 AlreadyExists): "
                "nothing was written; look again before retrying"
            ) from None
        except (Unavailable, TimedOut) as err:
            result = self._unanswered_create(err, manifest)
            yield (
                f"no answer to the POST ({err}), but deployment/{name} exists with the saved "
                "template when read again: the manifest was applied"
            )
        else:
            result = self._json(response)
        if not ro.equal_ignore_hash(ro.template_of(result), ro.template_of(manifest)):
            raise ProviderError(f"deployment/{name} was created with a different template")
        yield f"deployment.apps/{name} created"
        return f"deployment/{name} created from {path.name}"

    # ------------------------------------------------------------------ wait_ready

    def rollout_status(self) -> tuple[bool, bool, str]:
        """One ``kubectl rollout status`` poll: (done, failed, message)."""
        return ro.rollout_status(self._get_deployment())

    def wait_ready(
        self,
        plan: Plan,
        timeout_s: float,
        *,
        on_progress: Callable[[str], None] | None = None,
    ) -> ReadyResult:
        """Poll like ``kubectl rollout status`` until done, failed, or ``timeout_s``.

        ``on_progress`` (optional) receives each new status line as it changes.
        Besides kubectl's rules the Deployment must still carry the template the
        plan put there; a progress deadline exceeded ends the wait, not ready.
        """
        start = time.monotonic()
        deadline = start + max(0.0, timeout_s)
        last = ""
        warning, warned_at = "", -WARNING_EVERY_S

        def left() -> float:
            """What one read may take: the rest of the wait, at least MIN_WAIT_READ_S."""
            return max(MIN_WAIT_READ_S, deadline - time.monotonic())

        while True:
            try:
                d = self._get_deployment(limit_s=left())
            except ProviderError as err:
                done, failed, message = False, False, f"cannot read the Deployment: {err}"
            else:
                done, failed, message = ro.rollout_status(d)
                mismatch = self._not_ours(plan, d, limit_s=left())
                if mismatch:
                    return ReadyResult(False, mismatch, time.monotonic() - start)
                if done or failed:
                    warning = ""
                elif time.monotonic() - warned_at >= WARNING_EVERY_S:
                    warned_at = time.monotonic()
                    warning = self._rollout_warning(d, limit_s=left())
                if warning:
                    message = f"{message} ({warning})"
            # After the reads: a read that hung until the deadline ends the wait now.
            now = time.monotonic()
            if message != last:
                last = message
                if on_progress is not None:
                    on_progress(message)
            if failed:
                return ReadyResult(False, message, now - start)
            if done:
                return ReadyResult(True, self._ready_message(message, d), now - start)
            if now >= deadline:
                return ReadyResult(
                    False, f"not ready after {now - start:.0f} s: {message}", now - start
                )
            time.sleep(max(0.0, min(self.poll_interval_s, deadline - now)))

    def _rollout_warning(self, d: JSON, limit_s: float | None = None) -> str:
        try:
            pods = self._list(
                f"list the pods of {self.target}",
                self._clients_or_connect().core.list_namespaced_pod,
                limit_s=limit_s,
                label_selector=ro.selector_string(d.get("spec", {}).get("selector")),
            )
        except ProviderError:
            return ""
        return ro.rollout_warning(pods)

    def _not_ours(self, plan: Plan, d: JSON, limit_s: float | None = None) -> str:
        """Why the Deployment no longer carries what the plan put there ("" when it does)."""
        expected = plan.data.get("template")
        if expected is None and plan.action == "rollback":
            expected = self._target_template(plan, d, limit_s)
        if expected is None:
            return ""
        if plan.action == RESTART:
            live = (ro.template_of(d).get("metadata") or {}).get("annotations") or {}
            want = plan.data.get("restarted_at")
            if want and live.get(ro.RESTARTED_AT) != want:
                return (
                    f"deployment/{self.k8s.deployment} was changed again after the restart: "
                    "someone else is rolling it out"
                )
            return ""
        if not ro.equal_ignore_hash(expected, ro.template_of(d)):
            now = self._version(ro.template_of(d))[0]
            return (
                f"deployment/{self.k8s.deployment} was changed again after the rollback (it now "
                f"has {now}, not {plan.to_revision.version}): someone else is rolling it out"
            )
        return ""

    def _target_template(self, plan: Plan, d: JSON, limit_s: float | None = None) -> JSON | None:
        """The target's template for a plan that lost its data (a resumed incident)."""
        try:
            owned = ro.owned_replicasets(
                d,
                self._list(
                    f"list the ReplicaSets of {self.target}",
                    self._clients_or_connect().apps.list_namespaced_replica_set,
                    limit_s=limit_s,
                    label_selector=ro.selector_string(d.get("spec", {}).get("selector")),
                ),
            )
        except ProviderError:
            return None
        wanted = plan.to_revision.id
        for rs in owned:
            if str(ro.revision_of(rs)) == wanted or wanted in ro.revision_history_of(rs):
                return ro.without_hash(ro.template_of(rs))
        return None

    def _ready_message(self, message: str, d: JSON) -> str:
        revision = ro.annotations_of(d).get(ro.REVISION, "?")
        version = self._version(ro.template_of(d))[0]
        return f"{message}: revision {revision} ({version})"

    # ------------------------------------------------------------------ lock

    def _lock_value(self, operator: str, host: str, ttl_s: float) -> str:
        now = utcnow()
        return json.dumps(
            {
                "operator": operator,
                "host": host,
                "acquired": _stamp(now),
                "expires": _stamp(now + timedelta(seconds=ttl_s)),
            },
            separators=(",", ":"),
        )

    def acquire_lock(self, operator: str, host: str, ttl_s: float) -> str:
        """Write the lock annotation (see the module docstring); ``LockHeld`` if someone has it."""
        name = self.k8s.deployment
        for _ in range(LOCK_ATTEMPTS):
            try:
                d = self._get_deployment()
            except NotFound:
                if not self._namespace_exists():
                    raise
                return (
                    f"deployment/{name} does not exist, so no lock annotation could be written "
                    "(it is being created again)"
                )
            held = LockInfo.parse(ro.annotations_of(d).get(LOCK_ANNOTATION))
            warning = ""
            if held is not None:
                mine = held.operator == operator and held.host == host
                if not held.expired(utcnow()) and not mine:
                    raise LockHeld(
                        f"deployment/{name} ({self.service.environment}) is being rolled back by "
                        f"{held.describe()} (annotation {LOCK_ANNOTATION}); coordinate with them "
                        "or wait for the lock to expire"
                    )
                if held.expired(utcnow()) and not mine:
                    warning = f"took over an expired rollback lock of {held.describe()}"
            patch = {
                "metadata": {
                    "resourceVersion": d["metadata"]["resourceVersion"],
                    "annotations": {LOCK_ANNOTATION: self._lock_value(operator, host, ttl_s)},
                }
            }
            try:
                self._patch(f"lock {self.target}", patch, "application/merge-patch+json")
            except Conflict:
                continue  # re-read: someone else's lock now, or only a status update
            return warning
        raise LockHeld(
            f"deployment/{name} kept changing while the rollback lock was being taken "
            f"({LOCK_ATTEMPTS} attempts); someone else is working on it"
        )

    def release_lock(self, operator: str, host: str) -> None:
        """Remove the lock annotation if this operator on this host still holds it."""
        for _ in range(LOCK_ATTEMPTS):
            try:
                d = self._get_deployment()
            except NotFound:
                return
            held = LockInfo.parse(ro.annotations_of(d).get(LOCK_ANNOTATION))
            if held is None or held.operator != operator or held.host != host:
                return
            patch = {
                "metadata": {
                    "resourceVersion": d["metadata"]["resourceVersion"],
                    "annotations": {LOCK_ANNOTATION: None},
                }
            }
            try:
                self._patch(f"unlock {self.target}", patch, "application/merge-patch+json")
            except Conflict:
                continue
            return
        raise Conflict(f"could not release the rollback lock on deployment/{self.k8s.deployment}")

    def lock_holder(self) -> LockInfo | None:
        """Who holds the lock annotation now (expired or not), or None."""
        return LockInfo.parse(ro.annotations_of(self._get_deployment()).get(LOCK_ANNOTATION))

    # ------------------------------------------------------------------ logs

    def logs(self, unit: str, lines: int = 50) -> tuple[str, ...]:
        """The last ``lines`` lines of pod ``unit`` (its main container); the previous run's
        when the current one has printed nothing yet after a crash."""
        clients = self._clients_or_connect()
        try:
            pod = self._json(
                self._call(
                    f"read pod {unit}",
                    clients.core.read_namespaced_pod,
                    unit,
                    self.k8s.namespace,
                    _preload_content=False,
                )
            )
        except NotFound:
            raise NotFound(
                f"pod {unit!r} not found in namespace {self.k8s.namespace!r} (it may have been "
                "replaced; refresh the pod list)"
            ) from None
        container = ro.main_container(pod, self.k8s.container)
        kwargs: dict[str, Any] = {"tail_lines": max(1, lines)}
        if container is not None:
            kwargs["container"] = container.get("name")
        text = self._log_text(unit, kwargs)
        restarts = ro.pod_state(pod)[1]
        if not text.strip() and restarts:
            with contextlib.suppress(ProviderError):
                text = self._log_text(unit, {**kwargs, "previous": True})
        return tuple(text.splitlines()[-lines:])

    def _log_text(self, unit: str, kwargs: dict[str, Any]) -> str:
        clients = self._clients_or_connect()
        response = self._call(
            f"read the log of pod {unit}",
            clients.core.read_namespaced_pod_log,
            unit,
            self.k8s.namespace,
            _preload_content=False,
            **kwargs,
        )
        try:
            data = response.data
        finally:
            with contextlib.suppress(Exception):
                response.release_conn()
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


__all__ = [
    "LOCK_ANNOTATION",
    "RESTART",
    "RESTORE_MANIFEST",
    "KubernetesProvider",
    "LockInfo",
]
