"""A small Kubernetes API server over HTTP, for the Python client and real kubectl.

It serves what ``kubectl rollout undo|history|status|restart``, ``kubectl
get``, ``kubectl replace`` and the official Python client use: discovery
(``/version``, ``/api``, ``/apis``, ``/api/v1``, ``/apis/apps/v1``),
namespaces, Deployments, ReplicaSets, Pods (with ``/log``), Events, ConfigMaps
and Secrets (with ``metadata.managedFields``, see ``managed``); GET,
LIST (label and field selectors, ``limit`` / ``continue``), WATCH (chunked
JSON events), POST, PUT, PATCH (JSON, merge and strategic merge) and DELETE;
``dryRun=All``; ``Status`` error bodies.  The GitOps controllers' custom
resources are served as their CRDs make a real server serve them (Argo CD's
``applications.argoproj.io/v1alpha1``, Flux's
``kustomizations.kustomize.toolkit.fluxcd.io/v1`` and
``helmreleases.helm.toolkit.fluxcd.io/v2``, under ``/apis/GROUP/VERSION``,
with discovery): JSON and merge patches, never strategic merge (415).
State lives in a ``Cluster`` and the controllers (``Controllers``) move it
like kube-controller-manager.

Faults can be injected per request (``fail``): a 403 with the real
Forbidden wording, a 5xx, for the next N matching requests.  Every request is
recorded in ``requests`` so tests can check what a client sent.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.k8s_server.controller import Controllers
from tests.k8s_server.managed import manager_of
from tests.k8s_server.selectors import SelectorError, field_selector, label_selector
from tests.k8s_server.store import CUSTOM_GROUPS, KINDS, ApiError, Cluster, Kind


@dataclass
class Fault:
    """Answer matching requests with ``status`` instead of serving them."""

    method: str | None
    path: re.Pattern[str]
    status: int
    message: str
    reason: str
    times: int | None = 1


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str
    body: bytes
    accept: str = ""
    user_agent: str = ""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def manager(self) -> str:
        """The field manager the API server records this write under (see ``managed``)."""
        return manager_of((self.query.get("fieldManager") or [""])[-1], self.user_agent)


def _resource_list(group_version: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def _res(
    name: str, kind: str, verbs: list[str], *, namespaced: bool = True, short: tuple[str, ...] = ()
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "singularName": "" if "/" in name else kind.lower(),
        "namespaced": namespaced,
        "kind": kind,
        "verbs": verbs,
    }
    if short:
        entry["shortNames"] = list(short)
    return entry


_ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
CORE_V1 = _resource_list(
    "v1",
    [
        _res(
            "namespaces",
            "Namespace",
            ["create", "delete", "get", "list", "patch", "update", "watch"],
            namespaced=False,
            short=("ns",),
        ),
        _res("pods", "Pod", _ALL, short=("po",)),
        _res("pods/log", "Pod", ["get"]),
        _res("pods/status", "Pod", ["get", "patch", "update"]),
        _res("events", "Event", _ALL, short=("ev",)),
        _res("configmaps", "ConfigMap", _ALL, short=("cm",)),
        _res("secrets", "Secret", _ALL),
    ],
)
APPS_V1 = _resource_list(
    "apps/v1",
    [
        _res("deployments", "Deployment", _ALL, short=("deploy",)),
        _res("deployments/status", "Deployment", ["get", "patch", "update"]),
        _res("deployments/scale", "Scale", ["get", "patch", "update"]),
        _res("replicasets", "ReplicaSet", _ALL, short=("rs",)),
        _res("replicasets/status", "ReplicaSet", ["get", "patch", "update"]),
    ],
)
for entry in APPS_V1["resources"]:
    if entry["name"] == "deployments":
        entry["categories"] = ["all"]
        entry["group"] = "apps"
        entry["version"] = "v1"
        entry["singularName"] = "deployment"


def _custom_resources(group: str) -> dict[str, Any]:
    """The resource list of a custom resource group, as the CRDs' discovery gives it."""
    version = CUSTOM_GROUPS[group]
    resources = []
    for kind in KINDS.values():
        if kind.group != group:
            continue
        entry = _res(kind.resource, kind.kind, _ALL, short=kind.short)
        entry["categories"] = ["all"] if group == "argoproj.io" else []
        resources.append(entry)
        if kind.status_subresource:
            resources.append(_res(f"{kind.resource}/status", kind.kind, ["get", "patch", "update"]))
    return _resource_list(f"{group}/{version}", resources)


CUSTOM_V = {group: _custom_resources(group) for group in CUSTOM_GROUPS}

VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-fake",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23.4",
    "compiler": "gc",
    "platform": "linux/amd64",
}
API_VERSIONS = {
    "kind": "APIVersions",
    "versions": ["v1"],
    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
}
API_GROUPS = {
    "kind": "APIGroupList",
    "apiVersion": "v1",
    "groups": [
        {
            "name": "apps",
            "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"},
        },
        *(
            {
                "name": group,
                "versions": [{"groupVersion": f"{group}/{version}", "version": version}],
                "preferredVersion": {"groupVersion": f"{group}/{version}", "version": version},
            }
            for group, version in CUSTOM_GROUPS.items()
        ),
    ],
}


def _openapi_v3(group_version: str) -> dict[str, Any]:
    """Just enough OpenAPI v3 for kubectl to see that the server validates fields itself.

    kubectl (``--validate=strict``, the default) looks for the ``fieldValidation``
    parameter on the PATCH operation of the kind it sends; finding it, it asks the
    server to validate (``fieldValidation=Strict``) instead of validating locally.
    """
    group, _, version = group_version.rpartition("/")
    prefix = "/api/v1" if not group else f"/apis/{group_version}"
    paths: dict[str, Any] = {}
    for kind in KINDS.values():
        if kind.group != group or not kind.namespaced:
            continue
        gvk = {"group": group, "version": version, "kind": kind.kind}
        params = [
            {"name": n, "in": "query", "schema": {"type": "string"}}
            for n in ("dryRun", "fieldManager", "fieldValidation")
        ]
        paths[f"{prefix}/namespaces/{{namespace}}/{kind.resource}/{{name}}"] = {
            op: {
                "x-kubernetes-group-version-kind": gvk,
                "x-kubernetes-action": op,
                "parameters": params,
                "responses": {"200": {"description": "OK"}},
            }
            for op in ("get", "put", "patch", "delete")
        }
        paths[f"{prefix}/namespaces/{{namespace}}/{kind.resource}"] = {
            "post": {
                "x-kubernetes-group-version-kind": gvk,
                "x-kubernetes-action": "post",
                "parameters": params,
                "responses": {"201": {"description": "Created"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0-fake"},
        "paths": paths,
        "components": {"schemas": {}},
    }


OPENAPI_V3_ROOT = {
    "paths": {
        "api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=FAKE1"},
        "apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=FAKE2"},
        **{
            f"apis/{group}/{version}": {
                "serverRelativeURL": f"/openapi/v3/apis/{group}/{version}?hash=FAKE{i}"
            }
            for i, (group, version) in enumerate(CUSTOM_GROUPS.items(), start=3)
        },
    }
}

#: ``/api/v1`` or ``/apis/GROUP/VERSION``: where a kind's resources are served.
_PREFIX = r"^/(?:api/v1|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
_NAMESPACED = re.compile(
    _PREFIX + r"/namespaces/(?P<ns>[^/]+)/(?P<res>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$"
)
_CLUSTER = re.compile(_PREFIX + r"/(?P<res>[^/]+)(?:/(?P<name>[^/]+))?$")


class FakeKubeServer:
    """The server, its cluster and controllers; ``with FakeKubeServer() as kube:``."""

    def __init__(self, *, cluster: Cluster | None = None, seed: int = 1) -> None:
        self.cluster = cluster or Cluster(seed=seed)
        self.controllers = Controllers(self.cluster)
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        #: Called with every request before it is served (to stage races in tests).
        self.on_request: Callable[[Request], None] | None = None
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.ensure_namespace("default")

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeKubeServer:
        handler = type("Handler", (_Handler,), {"server_ref": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="fake-kube-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.controllers.stop()
        with self.cluster.lock:
            self.cluster.closed = True
            self.cluster.changed.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeKubeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------------ helpers for tests

    def ensure_namespace(self, name: str) -> None:
        if ("", name) not in self.cluster.objects["namespaces"]:
            self.cluster.create(
                "namespaces",
                "",
                {
                    "metadata": {"name": name},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                },
            )

    def fail(
        self,
        path: str,
        status: int,
        *,
        method: str | None = None,
        times: int | None = 1,
        message: str = "",
    ) -> Fault:
        """Answer the next ``times`` requests matching ``path`` (a regex) with ``status``."""
        reason = {
            401: "Unauthorized",
            403: "Forbidden",
            404: "NotFound",
            409: "Conflict",
            429: "TooManyRequests",
            500: "InternalError",
            503: "ServiceUnavailable",
        }.get(status, "Unknown")
        fault = Fault(
            method.upper() if method else None, re.compile(path), status, message, reason, times
        )
        with self._lock:
            self.faults.append(fault)
        return fault

    def forbid(
        self,
        verb: str,
        resource: str,
        *,
        namespace: str = "default",
        name: str = "",
        user: str = "system:serviceaccount:ops:rollback-console",
        times: int | None = None,
    ) -> Fault:
        """RBAC says no: the real API server's Forbidden message for ``verb`` on ``resource``."""
        kind = KINDS[resource]
        method = {
            "get": "GET",
            "list": "GET",
            "watch": "GET",
            "patch": "PATCH",
            "update": "PUT",
            "create": "POST",
            "delete": "DELETE",
        }[verb]
        group = kind.group
        what = f'{kind.qualified} "{name}"' if name else kind.qualified
        message = (
            f'{what} is forbidden: User "{user}" cannot {verb} resource "{kind.resource}" '
            f'in API group "{group}" in the namespace "{namespace}"'
        )
        prefix = f"/apis/{group}/{kind.version}" if group else "/api/v1"
        path = (
            rf"^{prefix}/namespaces/{re.escape(namespace)}/{kind.resource}"
            + (rf"/{re.escape(name)}" if name else "")
            + r"(/|$|\?)"
        )
        return self.fail(path, 403, method=method, times=times, message=message)

    def requests_matching(self, method: str, path_regex: str) -> list[Request]:
        with self._lock:
            return [
                r for r in self.requests if r.method == method and re.search(path_regex, r.path)
            ]

    def write_kubeconfig(
        self,
        path: Path,
        *,
        context: str = "fake",
        namespace: str = "default",
        extra: dict[str, str] | None = None,
    ) -> Path:
        """A kubeconfig whose current ``context`` talks to this server; ``extra``: name -> URL."""
        contexts = {context: self.url, **(extra or {})}
        lines = ["apiVersion: v1", "kind: Config", f"current-context: {context}", "clusters:"]
        for name, url in contexts.items():
            lines += [f"- name: {name}-cluster", "  cluster:", f"    server: {url}"]
        lines.append("contexts:")
        for name in contexts:
            lines += [
                f"- name: {name}",
                "  context:",
                f"    cluster: {name}-cluster",
                f"    user: {name}-user",
                f"    namespace: {namespace}",
            ]
        lines.append("users:")
        for name in contexts:
            lines += [f"- name: {name}-user", "  user:", "    token: fake-token"]
        path.write_text("\n".join(lines) + "\n")
        return path

    # ------------------------------------------------------------------ request handling

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if (fault.method is None or fault.method == method) and fault.path.search(path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None


def _list_kind(kind: Kind) -> str:
    return f"{kind.kind}List"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle's algorithm and
    # delayed ACKs stall every answer for tens of milliseconds.
    disable_nagle_algorithm = True
    server_ref: FakeKubeServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    # --------------------------------------------------------------- plumbing

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, err: ApiError) -> None:
        self._send(err.code, err.status())

    def _read(self) -> Request:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            self.command,
            parts.path,
            parse_qs(parts.query),
            self.headers.get("Content-Type") or "",
            body,
            self.headers.get("Accept") or "",
            self.headers.get("User-Agent") or "",
        )
        with self.server_ref._lock:
            self.server_ref.requests.append(request)
        return request

    def _dispatch(self) -> None:
        request = self._read()
        hook = self.server_ref.on_request
        if hook is not None:
            hook(request)
        fault = self.server_ref.take_fault(request.method, request.path)
        if fault is not None:
            message = fault.message or {
                500: "Internal error occurred: etcdserver: request timed out",
                503: "the server is currently unable to handle the request",
            }.get(fault.status, "injected fault")
            self._error(ApiError(fault.status, fault.reason, message))
            return
        try:
            self._route(request)
        except ApiError as err:
            self._error(err)
        except SelectorError as err:
            self._error(ApiError(400, "BadRequest", str(err)))
        except (ValueError, KeyError, TypeError) as err:
            self._error(ApiError(400, "BadRequest", f"{type(err).__name__}: {err}"))
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    # --------------------------------------------------------------- routes

    def _route(self, req: Request) -> None:
        path = req.path.rstrip("/") or "/"
        static = {
            "/version": VERSION,
            "/api": API_VERSIONS,
            "/apis": API_GROUPS,
            "/api/v1": CORE_V1,
            "/apis/apps/v1": APPS_V1,
            "/apis/apps": API_GROUPS["groups"][0] | {"kind": "APIGroup", "apiVersion": "v1"},
        }
        for group, version in CUSTOM_GROUPS.items():
            static[f"/apis/{group}/{version}"] = CUSTOM_V[group]
            static[f"/apis/{group}"] = next(
                g for g in API_GROUPS["groups"] if g["name"] == group
            ) | {"kind": "APIGroup", "apiVersion": "v1"}
        if req.method == "GET" and path in static:
            self._send(200, static[path])
            return
        if req.method == "GET" and path == "/openapi/v3":
            self._send(200, OPENAPI_V3_ROOT)
            return
        openapi = {
            "/openapi/v3/api/v1",
            "/openapi/v3/apis/apps/v1",
            *(f"/openapi/v3/apis/{g}/{v}" for g, v in CUSTOM_GROUPS.items()),
        }
        if req.method == "GET" and path in openapi:
            self._send(
                200,
                _openapi_v3(
                    path.removeprefix("/openapi/v3/").removeprefix("api/").removeprefix("apis/")
                ),
            )
            return
        cluster = self.server_ref.cluster
        m = _NAMESPACED.match(path)
        if m and m.group("res") in KINDS:
            ns, res, name, sub = m.group("ns"), m.group("res"), m.group("name"), m.group("sub")
            self._check_group(m, res)
            self._resource(req, KINDS[res], ns, name, sub)
            return
        if path.startswith("/api/v1/namespaces/") and path.count("/") == 4:
            name = path.rsplit("/", 1)[1]
            if req.method == "GET":
                self._send(200, cluster.get("namespaces", "", name))
                return
        m = _CLUSTER.match(path)
        if m and m.group("res") in KINDS:
            res, name = m.group("res"), m.group("name")
            self._check_group(m, res)
            kind = KINDS[res]
            if name is None and req.method == "GET":
                self._list(req, kind, None)
                return
            if kind.resource == "namespaces" and req.method == "POST":
                self._send(201, cluster.create("namespaces", "", req.json()))
                return
            if kind.resource == "namespaces" and name and req.method == "GET":
                self._send(200, cluster.get("namespaces", "", name))
                return
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    @staticmethod
    def _check_group(m: re.Match[str], res: str) -> None:
        """The resource is served under its own group and version only (``/apis/G/V``)."""
        kind = KINDS[res]
        if (m.group("group") or "", m.group("version") or "v1") != (kind.group, kind.version):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _resource(
        self, req: Request, kind: Kind, ns: str, name: str | None, sub: str | None
    ) -> None:
        cluster = self.server_ref.cluster
        dry_run = "All" in req.query.get("dryRun", [])
        if name is None:
            if req.method == "GET":
                self._list(req, kind, ns)
            elif req.method == "POST":
                self._send(
                    201,
                    cluster.create(
                        kind.resource, ns, req.json(), dry_run=dry_run, manager=req.manager
                    ),
                )
            else:
                raise ApiError(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                )
            return
        if sub == "log" and kind.resource == "pods":
            self._log(req, ns, name)
            return
        if sub not in (None, "status"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if req.method == "GET":
            self._send(200, cluster.get(kind.resource, ns, name))
        elif req.method == "PUT":
            self._send(
                200,
                cluster.replace(
                    kind.resource, ns, name, req.json(), dry_run=dry_run, manager=req.manager
                ),
            )
        elif req.method == "PATCH":
            self._send(
                200,
                cluster.patch(
                    kind.resource,
                    ns,
                    name,
                    req.content_type,
                    req.json(),
                    dry_run=dry_run,
                    manager=req.manager,
                ),
            )
        elif req.method == "DELETE":
            obj = cluster.delete(kind.resource, ns, name)
            self._send(200, obj)
        else:
            raise ApiError(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )

    def _list(self, req: Request, kind: Kind, ns: str | None) -> None:
        q = {k: v[-1] for k, v in req.query.items()}
        if q.get("watch") in ("true", "1"):
            self._watch(req, kind, ns, q)
            return
        items, rv = self.server_ref.cluster.list(
            kind.resource,
            ns,
            labels=q.get("labelSelector"),
            fields=q.get("fieldSelector"),
            copies=False,
        )
        start = int(q.get("continue") or 0)
        limit = int(q.get("limit") or 0)
        meta: dict[str, Any] = {"resourceVersion": rv}
        if limit and start + limit < len(items):
            meta["continue"] = str(start + limit)
            meta["remainingItemCount"] = len(items) - start - limit
        chosen = items[start : start + limit] if limit else items[start:]
        # List items carry no kind / apiVersion of their own, as from the real server.
        chosen = [
            {k: v for k, v in item.items() if k not in ("apiVersion", "kind")} for item in chosen
        ]
        self._send(
            200,
            {
                "kind": _list_kind(kind),
                "apiVersion": kind.api_version,
                "metadata": meta,
                "items": chosen,
            },
        )

    def _watch(self, req: Request, kind: Kind, ns: str | None, q: dict[str, str]) -> None:
        cluster = self.server_ref.cluster
        match_labels = label_selector(q.get("labelSelector"))
        match_fields = field_selector(q.get("fieldSelector"))
        timeout = float(q.get("timeoutSeconds") or 300)
        deadline = time.monotonic() + timeout

        def matches(obj: dict[str, Any]) -> bool:
            return (
                (ns is None or obj["metadata"].get("namespace") == ns)
                and match_labels(obj["metadata"].get("labels") or {})
                and match_fields(obj)
            )

        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        since = q.get("resourceVersion") or "0"
        with cluster.lock:
            if since == "0":
                initial = [obj for obj in cluster.objects[kind.resource].values() if matches(obj)]
                last = cluster.rv
            else:
                initial = []
                last = int(since)
        try:
            for obj in initial:
                chunk(json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n")
            while time.monotonic() < deadline:
                with cluster.lock:
                    events = cluster.events_since(last, [kind.resource])
                    if not events and not cluster.closed:
                        cluster.changed.wait(min(0.5, max(0.0, deadline - time.monotonic())))
                        events = cluster.events_since(last, [kind.resource])
                    closed = cluster.closed
                for rv, kind_of_event, _, obj in events:
                    last = max(last, rv)
                    if matches(obj):
                        chunk(json.dumps({"type": kind_of_event, "object": obj}).encode() + b"\n")
                if closed:
                    break
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _log(self, req: Request, ns: str, name: str) -> None:
        cluster = self.server_ref.cluster
        pod = cluster.get("pods", ns, name)
        q = {k: v[-1] for k, v in req.query.items()}
        names = [c["name"] for c in pod["spec"].get("containers") or []]
        container = q.get("container")
        if container is None:
            if len(names) > 1:
                raise ApiError(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod {name}, "
                    f"choose one of: [{' '.join(names)}]",
                )
        elif container not in names:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        lines = list(cluster.logs.get(name, []))
        if "tailLines" in q:
            tail = int(q["tailLines"])
            lines = lines[-tail:] if tail > 0 else []
        body = "".join(line + "\n" for line in lines).encode()
        self._send(200, body, "text/plain")


# --------------------------------------------------------------------------- building state


def deployment_manifest(
    name: str,
    image: str,
    *,
    replicas: int = 3,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    containers: list[dict[str, Any]] | None = None,
    strategy: dict[str, Any] | None = None,
    progress_deadline_s: int | None = None,
    revision_history_limit: int | None = None,
) -> dict[str, Any]:
    """A Deployment manifest as an operator would apply it."""
    labels = labels or {"app": name}
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": dict(labels)},
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "containers": containers
                or [{"name": name, "image": image, "ports": [{"containerPort": 8080}]}]
            },
        },
    }
    if strategy is not None:
        spec["strategy"] = strategy
    if progress_deadline_s is not None:
        spec["progressDeadlineSeconds"] = progress_deadline_s
    if revision_history_limit is not None:
        spec["revisionHistoryLimit"] = revision_history_limit
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def set_image(
    server: FakeKubeServer,
    namespace: str,
    name: str,
    image: str,
    *,
    container: str | None = None,
    change_cause: str | None = None,
) -> dict[str, Any]:
    """``kubectl set image`` (optionally with a change-cause annotation) through the store."""
    cluster = server.cluster
    current = cluster.get("deployments", namespace, name)
    containers = current["spec"]["template"]["spec"]["containers"]
    target = container or containers[0]["name"]
    patch: dict[str, Any] = {
        "spec": {"template": {"spec": {"containers": [{"name": target, "image": image}]}}}
    }
    if change_cause is not None:
        patch["metadata"] = {"annotations": {"kubernetes.io/change-cause": change_cause}}
    return cluster.patch(
        "deployments", namespace, name, "application/strategic-merge-patch+json", patch
    )


@contextmanager
def running(server: FakeKubeServer) -> Iterator[FakeKubeServer]:
    """Run the controllers in the background for the block."""
    server.controllers.start()
    try:
        yield server
    finally:
        server.controllers.stop()


def copy_state(source: FakeKubeServer, target: FakeKubeServer) -> None:
    """Make ``target`` hold exactly the objects of ``source`` (for side-by-side comparisons)."""
    with source.cluster.lock, target.cluster.lock:
        target.cluster.objects = copy.deepcopy(source.cluster.objects)
        target.cluster.rv = source.cluster.rv
        target.cluster.rng.setstate(source.cluster.rng.getstate())
        target.cluster.offset = source.cluster.offset
        target.cluster.failing_images = set(source.cluster.failing_images)
        target.cluster.logs = copy.deepcopy(source.cluster.logs)


__all__ = [
    "ApiError",
    "Cluster",
    "FakeKubeServer",
    "copy_state",
    "deployment_manifest",
    "running",
    "set_image",
]
