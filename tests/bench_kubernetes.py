"""Benchmark: a Kubernetes snapshot of 5,000 pods and 100 ReplicaSets, and rendering it.

``python -m tests.bench_kubernetes`` (``make bench`` runs it after the other
benchmarks).  Prints, side by side, never asserted:

1. ``KubernetesProvider.snapshot()``: raw JSON (``_preload_content=False`` +
   ``json.loads``), reduced to ``console.model`` rows: time and peak memory.
2. The same reads through the SDK's model objects (the client's default
   deserializer), reduced to the same rows: time and peak memory.
3. The dashboard refreshing on that Deployment (snapshot read + panels
   rendered), and rendering an already-read snapshot.

The API server is the fake one from the tests, filled directly (no
controllers), serving real HTTP on localhost from a separate process (so its
own work does not count).  Times are medians of a few runs; memory is the
peak of Python allocations (tracemalloc) during one more run.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import multiprocessing
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.config import ErrorRateConfig, KubernetesConfig, ServiceConfig
from console.model import Snapshot, Unit
from providers.kubernetes import KubernetesProvider
from tests.k8s_server import FakeKubeServer, deployment_manifest

PODS = 5000
REPLICASETS = 100
EVENTS = 1000
RUNS = 3
NAMESPACE = "shop"


def build(server: FakeKubeServer) -> None:
    """web: 100 revisions; the live one has 4,950 pods, the previous one 50 (mid-rollout)."""
    c = server.cluster
    server.ensure_namespace(NAMESPACE)
    d = c.create(
        "deployments",
        NAMESPACE,
        deployment_manifest("web", "registry.example.com/shop/web:v100", replicas=PODS),
    )
    template = d["spec"]["template"]
    sets = []
    with c.lock:
        for i in range(1, REPLICASETS + 1):
            t = copy.deepcopy(template)
            t["spec"]["containers"][0]["image"] = f"registry.example.com/shop/web:v{i}"
            pod_hash = f"h{i:08d}"
            t["metadata"]["labels"]["pod-template-hash"] = pod_hash
            replicas = PODS - 50 if i == REPLICASETS else 50 if i == REPLICASETS - 1 else 0
            rs = c.create(
                "replicasets",
                NAMESPACE,
                {
                    "metadata": {
                        "name": f"web-{pod_hash}",
                        "labels": dict(t["metadata"]["labels"]),
                        "annotations": {
                            "deployment.kubernetes.io/revision": str(i),
                            "kubernetes.io/change-cause": f"deploy v{i}",
                        },
                        "ownerReferences": [
                            {
                                "apiVersion": "apps/v1",
                                "kind": "Deployment",
                                "name": "web",
                                "uid": d["metadata"]["uid"],
                                "controller": True,
                            }
                        ],
                    },
                    "spec": {
                        "replicas": replicas,
                        "selector": d["spec"]["selector"],
                        "template": t,
                    },
                    "status": {"replicas": replicas, "readyReplicas": replicas},
                },
            )
            sets.append((rs, replicas))
        n = 0
        for rs, replicas in sets:
            for _ in range(replicas):
                n += 1
                name = f"{rs['metadata']['name']}-{n:05d}"
                c.put_internal("pods", _pod(rs, name, n))
        for i in range(EVENTS):
            pod_name = f"{sets[-1][0]['metadata']['name']}-{i + 1:05d}"
            c.record_event(
                {"metadata": {"name": pod_name, "namespace": NAMESPACE, "uid": f"u{i}"}},
                "Pod",
                "Started",
                f"Started container web ({i})",
                component="kubelet",
            )


def _pod(rs: dict[str, Any], name: str, n: int) -> dict[str, Any]:
    template = rs["spec"]["template"]
    stamp = "2026-01-16T01:00:00Z"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": f"pod-{n}",
            "resourceVersion": "1",
            "creationTimestamp": stamp,
            "labels": dict(template["metadata"]["labels"]),
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": rs["metadata"]["name"],
                    "uid": rs["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": {**copy.deepcopy(template["spec"]), "nodeName": f"node-{n % 40}"},
        "status": {
            "phase": "Running",
            "startTime": stamp,
            "hostIP": "10.0.0.1",
            "podIP": f"10.244.{n // 250}.{n % 250}",
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": stamp, "lastProbeTime": None}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "containerStatuses": [
                {
                    "name": "web",
                    "image": template["spec"]["containers"][0]["image"],
                    "imageID": "docker.io/x@sha256:" + "0" * 64,
                    "containerID": f"containerd://{n:064d}",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": stamp}},
                    "lastState": {},
                }
            ],
            "qosClass": "BestEffort",
        },
    }


def sdk_snapshot(provider: KubernetesProvider) -> Snapshot:
    """The same reads through the client's model objects (its default), for comparison."""
    clients = provider._clients_or_connect()
    ns = provider.k8s.namespace
    deployment = clients.apps.read_namespaced_deployment("web", ns)
    selector = ",".join(f"{k}={v}" for k, v in deployment.spec.selector.match_labels.items())
    sets = clients.apps.list_namespaced_replica_set(ns, label_selector=selector).items
    pods = clients.core.list_namespaced_pod(ns, label_selector=selector).items
    clients.core.list_namespaced_event(ns)
    revision = {
        rs.metadata.labels.get("pod-template-hash"): rs.metadata.annotations.get(
            "deployment.kubernetes.io/revision", ""
        )
        for rs in sets
    }
    units = tuple(
        Unit(
            name=p.metadata.name,
            state=p.status.phase,
            ready=any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []),
            revision=revision.get((p.metadata.labels or {}).get("pod-template-hash"), ""),
            restarts=sum(cs.restart_count for cs in p.status.container_statuses or []),
            started=p.status.start_time,
            node=p.spec.node_name or "",
        )
        for p in pods
    )
    return Snapshot("web", "production", "kubernetes", time.time(), None, units=units)  # type: ignore[arg-type]


def measure(fn: Callable[[], Any]) -> tuple[float, float]:
    """(median seconds over RUNS, peak MiB of Python allocations in one more run)."""
    times = []
    for _ in range(RUNS):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), peak / 2**20


async def render(provider: KubernetesProvider, service: ServiceConfig) -> tuple[float, float]:
    """(dashboard refresh reading the cluster, dashboard refresh of an already-read snapshot)."""
    from console.app import make_app
    from console.config import Config, ConsoleConfig
    from console.runtime import Backends
    from tests.screens.fixed_dashboard import FixedHealth, FixedSource

    ready = provider.snapshot()

    class Ready:
        name = "kubernetes"

        def snapshot(self) -> Snapshot:
            return ready

    timings = []
    root = Path(tempfile.mkdtemp(prefix="bench-k8s-"))
    config = Config(
        root / "c.toml", ConsoleConfig("bench", root / "h.md", root / "state"), (service,)
    )
    for backend in (provider, Ready()):
        backends = Backends(
            load_provider=lambda svc, b=backend: b,  # type: ignore[misc]
            make_source=lambda svc: FixedSource(),
            check_health=FixedHealth(),
        )
        app = make_app(config, backends=backends)
        async with app.run_test(size=(120, 40)) as pilot:
            await app.refresh_all()  # warm: provider built, tables sized
            await pilot.pause()
            t0 = time.perf_counter()
            await app.refresh_all()
            await pilot.pause()
            timings.append(time.perf_counter() - t0)
    return timings[0], timings[1]


def serve(urls: Any, stop: Any) -> None:
    """Child process: build the cluster, serve it, hand back the URL, wait for ``stop``."""
    with FakeKubeServer() as server:
        build(server)
        urls.put(server.url)
        stop.wait()


def main() -> None:
    ctx = multiprocessing.get_context("spawn")
    urls, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=serve, args=(urls, stop), daemon=True)
    child.start()
    try:
        url = urls.get(timeout=300)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "kubeconfig"
            path.write_text(
                "apiVersion: v1\nkind: Config\ncurrent-context: bench\n"
                f"clusters:\n- name: bench\n  cluster:\n    server: {url}\n"
                "contexts:\n- name: bench\n  context:\n    cluster: bench\n    user: bench\n"
                "users:\n- name: bench\n  user:\n    token: bench\n"
            )
            service = ServiceConfig(
                "web",
                "production",
                "kubernetes",
                kubernetes=KubernetesConfig("web", namespace=NAMESPACE, kubeconfig=path),
                error_rate=ErrorRateConfig(
                    source="prometheus", url="http://127.0.0.1:9", query="up"
                ),
            )
            provider = KubernetesProvider(service, state_dir=Path(folder))
            snap = provider.snapshot()  # warm up: client import, connection
            assert len(snap.units) == PODS and len(snap.revisions) == REPLICASETS
            raw_s, raw_mib = measure(provider.snapshot)
            sdk_s, sdk_mib = measure(lambda: sdk_snapshot(provider))
            live_s, ready_s = asyncio.run(render(provider, service))
    finally:
        stop.set()
        child.join(10)
    print(f"Kubernetes snapshot: {PODS} pods, {REPLICASETS} ReplicaSets, {EVENTS} events")
    print(f"  raw JSON, plain dicts (the provider) {raw_s:6.2f} s   peak {raw_mib:6.1f} MiB")
    print(f"  SDK model objects (client default)   {sdk_s:6.2f} s   peak {sdk_mib:6.1f} MiB")
    ratio = f"{sdk_s / raw_s:6.1f}x  memory {sdk_mib / raw_mib:.1f}x"
    print(f"  SDK / raw                            {ratio}")
    print(f"  dashboard refresh, reading the API   {live_s:6.2f} s")
    print(f"  dashboard refresh, snapshot in hand  {ready_s:6.2f} s")


if __name__ == "__main__":
    main()
