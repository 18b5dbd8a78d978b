"""The deployment controller, the ReplicaSet controller and a kubelet stand-in.

They follow the real controllers' rules (kube-controller-manager's deployment
and replicaset controllers) for everything a rollback touches:

* the "new" ReplicaSet is the oldest one whose pod template equals the
  Deployment's, ignoring ``pod-template-hash``; if none exists one is created,
  named ``<deployment>-<hash>``, with revision = (max revision of the others)
  + 1.  A reused ReplicaSet (a rollback) gets that new revision too and its old
  number is appended to ``deployment.kubernetes.io/revision-history``;
* the Deployment's annotations are copied onto the new ReplicaSet (added or
  overwritten, never removed) except the controller's own ones, and the
  Deployment's ``deployment.kubernetes.io/revision`` follows the new ReplicaSet;
* RollingUpdate scales by ``maxSurge`` / ``maxUnavailable`` (old unhealthy
  replicas first, then oldest ReplicaSets first), Recreate scales the old ones
  to zero before the new one; a paused Deployment gets no new ReplicaSet;
* status: observedGeneration, replicas, updated / ready / available /
  unavailable replicas, the Available and Progressing conditions, including
  ``ProgressDeadlineExceeded`` once no progress was seen for
  ``progressDeadlineSeconds`` (on the cluster's clock, which tests advance);
* ``revisionHistoryLimit`` old ReplicaSets with no replicas are kept, the rest
  deleted, lowest revision first.

Pods go Pending -> Running and Ready on the next tick, except containers
whose image is in ``Cluster.failing_images``: they sit in CrashLoopBackOff,
never ready, their restarts counting up with the clock.  Taking an image out
of ``failing_images`` (the cause of the crash went away: a dependency came
back) lets its pods start on the next tick, keeping their restart counts.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import defaultdict
from datetime import datetime
from typing import Any

from tests.k8s_server.store import ApiError, Cluster, parse_time

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
HASH_LABEL = "pod-template-hash"

#: Annotations the controller never copies from a Deployment onto its ReplicaSets.
SKIP_COPY = frozenset(
    {
        LAST_APPLIED,
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "deployment.kubernetes.io/error-selector-overlapping-with",
        "deployment.kubernetes.io/selector-updated-at",
    }
)

_SAFE = "bcdfghjklmnpqrstvwxz2456789"
NODES = ("node-a", "node-b", "node-c")


def template_hash(template: dict[str, Any], collisions: int = 0) -> str:
    """A stable name suffix for a pod template: FNV-1a of it, spelled in kube's safe alphabet."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collisions:
        data += str(collisions).encode()
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE[ord(ch) % len(_SAFE)] for ch in str(h))


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _strip(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in out.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def equal_ignore_hash(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Pod templates equal once ``pod-template-hash`` is dropped (semantic, nil == empty)."""

    def clean(t: dict[str, Any]) -> Any:
        t = copy.deepcopy(t)
        labels = (t.get("metadata") or {}).get("labels")
        if isinstance(labels, dict):
            labels.pop(HASH_LABEL, None)
        return _strip(t)

    return bool(clean(a) == clean(b))


def revision_of(obj: dict[str, Any]) -> int | None:
    """The revision annotation as a number: 0 when absent, None when unparsable."""
    value = (obj["metadata"].get("annotations") or {}).get(REVISION)
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        return None


def _scaled(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        exact = int(text[:-1]) * total / 100
        return int(-(-exact // 1)) if round_up else int(exact // 1)
    return int(text)


def fenceposts(deployment: dict[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against spec.replicas, as the controller does."""
    spec = deployment["spec"]
    if spec.get("strategy", {}).get("type") != "RollingUpdate":
        return 0, 0
    rolling = spec["strategy"].get("rollingUpdate") or {}
    desired = int(spec.get("replicas", 1))
    surge = _scaled(rolling.get("maxSurge", "25%"), desired, True)
    unavailable = _scaled(rolling.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _created(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["metadata"].get("creationTimestamp", ""), obj["metadata"]["name"]


def _omit_zero(status: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in status.items() if v not in (0, None, [], {})}


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


class Controllers:
    """Runs the controllers over a ``Cluster``: by ``tick``/``settle``, or in a thread."""

    def __init__(self, cluster: Cluster, *, interval_s: float = 0.02) -> None:
        self.cluster = cluster
        self.interval_s = interval_s
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._pods_by_owner: dict[str, list[dict[str, Any]]] = {}

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="k8s-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()

    def tick(self) -> bool:
        """One pass of every controller; True when anything was written."""
        c = self.cluster
        with c.lock:
            before = c.rv
            self._index_pods()
            for deployment in [copy.deepcopy(d) for d in c.objects["deployments"].values()]:
                self.sync_deployment(deployment)
            self._index_pods()
            for rs in [copy.deepcopy(r) for r in c.objects["replicasets"].values()]:
                self.sync_replicaset(rs)
            self.kubelet()
            self._index_pods()
            for rs in [copy.deepcopy(r) for r in c.objects["replicasets"].values()]:
                self._replicaset_status(rs)
            return c.rv != before

    def settle(self, max_ticks: int = 400) -> int:
        """Tick until nothing changes; returns the number of ticks taken."""
        for n in range(1, max_ticks + 1):
            if not self.tick():
                return n
        raise RuntimeError(f"the fake cluster did not settle in {max_ticks} ticks")

    def _index_pods(self) -> None:
        index: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for pod in self.cluster.objects["pods"].values():
            for ref in pod["metadata"].get("ownerReferences") or []:
                if ref.get("controller"):
                    index[ref["uid"]].append(pod)
        self._pods_by_owner = index

    # ------------------------------------------------------------------ deployment controller

    def sync_deployment(self, d: dict[str, Any]) -> None:
        c = self.cluster
        rss = [copy.deepcopy(r) for r in c.owned_by("replicasets", d)]
        rss.sort(key=_created)
        old_status = copy.deepcopy(d.get("status") or {})
        new_rs = next(
            (r for r in rss if equal_ignore_hash(r["spec"]["template"], d["spec"]["template"])),
            None,
        )
        old = [r for r in rss if r is not new_rs]
        spec = d["spec"]
        if spec.get("paused"):
            if new_rs is not None and not any(r["spec"].get("replicas", 0) for r in old):
                self._scale(d, new_rs, int(spec["replicas"]))
            self._cleanup(d, old)
            self._write_status(d, new_rs, rss, old_status)
            return
        new_rs = self._new_replicaset(d, old, new_rs)
        everything = [*old, new_rs]
        if spec.get("strategy", {}).get("type") == "Recreate":
            self._recreate(d, old, new_rs)
        elif not self._reconcile_new(d, everything, new_rs):
            self._reconcile_old(d, everything, old, new_rs)
        if self._complete(d, d.get("status") or {}):
            self._cleanup(d, old)
        self._write_status(d, new_rs, everything, old_status)

    def _new_replicaset(
        self, d: dict[str, Any], old: list[dict[str, Any]], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        c = self.cluster
        revisions = [r for r in (revision_of(rs) for rs in old) if r is not None]
        new_revision = max(revisions, default=0) + 1
        status = d.setdefault("status", {})
        if existing is not None:
            if self._set_new_rs_annotations(d, existing, new_revision, exists=True):
                existing.update(c.put_internal("replicasets", existing))
            d["metadata"].setdefault("annotations", {})[REVISION] = existing["metadata"][
                "annotations"
            ][REVISION]
            if _condition(status, "Progressing") is None and d["spec"].get(
                "progressDeadlineSeconds"
            ):
                self._set_condition(
                    d,
                    "Progressing",
                    "True",
                    "FoundNewReplicaSet",
                    f'Found new replica set "{existing["metadata"]["name"]}"',
                )
            return existing
        collisions = 0
        while True:
            template = copy.deepcopy(d["spec"]["template"])
            bare = copy.deepcopy(template)
            (bare.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
            pod_hash = template_hash(bare, collisions)
            template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
            selector = copy.deepcopy(d["spec"]["selector"])
            selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
            rs: dict[str, Any] = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{d['metadata']['name']}-{pod_hash}",
                    "namespace": d["metadata"]["namespace"],
                    "labels": dict(template["metadata"]["labels"]),
                    "annotations": {},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": d["metadata"]["name"],
                            "uid": d["metadata"]["uid"],
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": {
                    "replicas": 0,
                    "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                    "selector": selector,
                    "template": template,
                },
            }
            self._set_new_rs_annotations(d, rs, new_revision, exists=False)
            try:
                created = c.create("replicasets", d["metadata"]["namespace"], rs)
            except ApiError as err:
                if err.code != 409:
                    raise
                collisions += 1
                continue
            break
        name = created["metadata"]["name"]
        self._set_condition(
            d, "Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{name}"'
        )
        d["metadata"].setdefault("annotations", {})[REVISION] = str(new_revision)
        return created

    @staticmethod
    def _set_new_rs_annotations(
        d: dict[str, Any], rs: dict[str, Any], new_revision: int, *, exists: bool
    ) -> bool:
        annotations = rs["metadata"].setdefault("annotations", {})
        changed = False
        for key, value in (d["metadata"].get("annotations") or {}).items():
            if key in SKIP_COPY or annotations.get(key) == value:
                continue
            annotations[key] = value
            changed = True
        old = annotations.get(REVISION)
        try:
            old_number = int(old) if old else 0
        except ValueError:
            return changed
        if old_number < new_revision:
            annotations[REVISION] = str(new_revision)
            changed = True
            if old is not None:
                history = annotations.get(REVISION_HISTORY, "")
                annotations[REVISION_HISTORY] = f"{history},{old}" if history else old
        if not exists:
            surge, _ = fenceposts(d)
            desired = int(d["spec"]["replicas"])
            annotations[DESIRED_REPLICAS] = str(desired)
            annotations[MAX_REPLICAS] = str(desired + surge)
            changed = True
        return changed

    def _scale(self, d: dict[str, Any], rs: dict[str, Any], count: int) -> bool:
        current = int(rs["spec"].get("replicas", 0))
        surge, _ = fenceposts(d)
        desired = int(d["spec"]["replicas"])
        annotations = rs["metadata"].setdefault("annotations", {})
        wanted = {DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(desired + surge)}
        if current == count and all(annotations.get(k) == v for k, v in wanted.items()):
            return False
        rs["spec"]["replicas"] = count
        annotations.update(wanted)
        rs.update(self.cluster.put_internal("replicasets", rs))
        if current != count:
            verb = "up" if count > current else "down"
            self.cluster.record_event(
                d,
                "Deployment",
                "ScalingReplicaSet",
                f"Scaled {verb} replica set {rs['metadata']['name']} from {current} to {count}",
            )
        return current != count

    def _reconcile_new(
        self, d: dict[str, Any], everything: list[dict[str, Any]], new_rs: dict[str, Any]
    ) -> bool:
        desired = int(d["spec"]["replicas"])
        have = int(new_rs["spec"].get("replicas", 0))
        if have == desired:
            return False
        if have > desired:
            return self._scale(d, new_rs, desired)
        surge, _ = fenceposts(d)
        current = sum(int(r["spec"].get("replicas", 0)) for r in everything)
        if current >= desired + surge:
            return False
        up = min(desired + surge - current, desired - have)
        return self._scale(d, new_rs, have + up)

    def _reconcile_old(
        self,
        d: dict[str, Any],
        everything: list[dict[str, Any]],
        old: list[dict[str, Any]],
        new_rs: dict[str, Any],
    ) -> bool:
        if sum(int(r["spec"].get("replicas", 0)) for r in old) == 0:
            return False
        desired = int(d["spec"]["replicas"])
        _, max_unavailable = fenceposts(d)
        min_available = desired - max_unavailable
        all_pods = sum(int(r["spec"].get("replicas", 0)) for r in everything)
        new_unavailable = int(new_rs["spec"].get("replicas", 0)) - int(
            new_rs.get("status", {}).get("availableReplicas", 0)
        )
        max_down = all_pods - min_available - new_unavailable
        if max_down <= 0:
            return False
        scaled = False
        done = 0
        for rs in sorted(old, key=_created):
            if done >= max_down:
                break
            replicas = int(rs["spec"].get("replicas", 0))
            available = int(rs.get("status", {}).get("availableReplicas", 0))
            if replicas == 0 or replicas == available:
                continue
            down = min(max_down - done, replicas - available)
            scaled |= self._scale(d, rs, replicas - down)
            done += down
        available_all = sum(
            int(r.get("status", {}).get("availableReplicas", 0)) for r in everything
        )
        if available_all > min_available:
            left = available_all - min_available
            for rs in sorted(old, key=_created):
                if left <= 0:
                    break
                replicas = int(rs["spec"].get("replicas", 0))
                if replicas == 0:
                    continue
                down = min(replicas, left)
                scaled |= self._scale(d, rs, replicas - down)
                left -= down
        return scaled

    def _recreate(
        self, d: dict[str, Any], old: list[dict[str, Any]], new_rs: dict[str, Any]
    ) -> None:
        active = [r for r in old if int(r["spec"].get("replicas", 0)) > 0]
        for rs in active:
            self._scale(d, rs, 0)
        if active or any(self._pods_by_owner.get(r["metadata"]["uid"]) for r in old):
            return
        self._scale(d, new_rs, int(d["spec"]["replicas"]))

    def _cleanup(self, d: dict[str, Any], old: list[dict[str, Any]]) -> None:
        limit = d["spec"].get("revisionHistoryLimit")
        if limit is None:
            return
        cleanable = [
            r
            for r in old
            if int(r["spec"].get("replicas", 0)) == 0
            and int(r.get("status", {}).get("replicas", 0)) == 0
            and not self._pods_by_owner.get(r["metadata"]["uid"])
        ]
        extra = len(cleanable) - int(limit)
        if extra <= 0:
            return
        cleanable.sort(key=lambda r: (revision_of(r) or 0, _created(r)))
        for rs in cleanable[:extra]:
            self.cluster.delete("replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"])

    @staticmethod
    def _complete(d: dict[str, Any], status: dict[str, Any]) -> bool:
        desired = int(d["spec"]["replicas"])
        return (
            int(status.get("updatedReplicas", 0)) == desired
            and int(status.get("replicas", 0)) == desired
            and int(status.get("availableReplicas", 0)) == desired
            and int(status.get("observedGeneration", 0)) >= int(d["metadata"].get("generation", 1))
        )

    def _set_condition(
        self,
        d: dict[str, Any],
        kind: str,
        status: str,
        reason: str,
        message: str,
        *,
        touch: bool = False,
    ) -> None:
        conditions = d.setdefault("status", {}).setdefault("conditions", [])
        now = self.cluster.stamp()
        current = next((c for c in conditions if c.get("type") == kind), None)
        if current is not None and current["status"] == status and current["reason"] == reason:
            if touch:
                current["lastUpdateTime"] = now
                current["message"] = message
            return
        new = {
            "type": kind,
            "status": status,
            "lastUpdateTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }
        if current is not None and current["status"] == status:
            new["lastTransitionTime"] = current["lastTransitionTime"]
        conditions[:] = [c for c in conditions if c.get("type") != kind] + [new]

    def _write_status(
        self,
        d: dict[str, Any],
        new_rs: dict[str, Any] | None,
        everything: list[dict[str, Any]],
        old_status: dict[str, Any],
    ) -> None:
        c = self.cluster
        live = {r["metadata"]["uid"]: r for r in c.owned_by("replicasets", d)}
        rss = [live[r["metadata"]["uid"]] for r in everything if r["metadata"]["uid"] in live]
        desired = int(d["spec"]["replicas"])
        _, max_unavailable = fenceposts(d)

        def total(key: str) -> int:
            return sum(int(r.get("status", {}).get(key, 0)) for r in rss)

        new_live = live.get(new_rs["metadata"]["uid"]) if new_rs is not None else None
        available = total("availableReplicas")
        counts = {
            "observedGeneration": int(d["metadata"].get("generation", 1)),
            "replicas": total("replicas"),
            "updatedReplicas": int((new_live or {}).get("status", {}).get("replicas", 0)),
            "readyReplicas": total("readyReplicas"),
            "availableReplicas": available,
            "unavailableReplicas": max(desired - available, 0),
        }
        status = d.setdefault("status", {})
        status.update(counts)
        if available >= desired - max_unavailable:
            self._set_condition(
                d,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        else:
            self._set_condition(
                d,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        rs_name = new_rs["metadata"]["name"] if new_rs is not None else ""
        progressing = _condition(status, "Progressing")
        if d["spec"].get("paused"):
            if progressing is None or progressing["reason"] != "DeploymentPaused":
                self._set_condition(
                    d, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused"
                )
        elif progressing is not None and progressing["reason"] == "DeploymentPaused":
            self._set_condition(
                d, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed"
            )
        elif new_rs is not None and d["spec"].get("progressDeadlineSeconds") is not None:
            if self._complete(d, counts):
                self._set_condition(
                    d,
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{rs_name}" has successfully progressed.',
                )
            elif self._progressed(old_status, counts):
                self._set_condition(
                    d,
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{rs_name}" is progressing.',
                    touch=True,
                )
            elif self._timed_out(d, _condition(status, "Progressing")):
                self._set_condition(
                    d,
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs_name}" has timed out progressing.',
                )
        d["status"] = _omit_zero(status)
        c.put_status("deployments", d)

    @staticmethod
    def _progressed(old: dict[str, Any], new: dict[str, Any]) -> bool:
        def g(s: dict[str, Any], k: str) -> int:
            return int(s.get(k, 0))

        old_old = g(old, "replicas") - g(old, "updatedReplicas")
        new_old = g(new, "replicas") - g(new, "updatedReplicas")
        return (
            g(new, "updatedReplicas") > g(old, "updatedReplicas")
            or new_old < old_old
            or g(new, "readyReplicas") > g(old, "readyReplicas")
            or g(new, "availableReplicas") > g(old, "availableReplicas")
        )

    def _timed_out(self, d: dict[str, Any], condition: dict[str, Any] | None) -> bool:
        if condition is None or condition["reason"] == "NewReplicaSetAvailable":
            return False
        if condition["reason"] == "ProgressDeadlineExceeded":
            return True
        since = parse_time(condition.get("lastUpdateTime"))
        deadline = int(d["spec"].get("progressDeadlineSeconds", 600))
        return since is not None and (self.cluster.now() - since).total_seconds() > deadline

    # ------------------------------------------------------------------ replicaset controller

    def sync_replicaset(self, rs: dict[str, Any]) -> None:
        c = self.cluster
        pods = list(self._pods_by_owner.get(rs["metadata"]["uid"], []))
        want = int(rs["spec"].get("replicas", 0))
        if len(pods) < want:
            for _ in range(want - len(pods)):
                self._create_pod(rs)
        elif len(pods) > want:

            def order(pod: dict[str, Any]) -> tuple[bool, str, str]:
                ready = _pod_ready(pod)
                # not ready first, then the newest first
                created = pod["metadata"].get("creationTimestamp", "")
                return (ready, _neg(created), _neg(pod["metadata"]["name"]))

            for pod in sorted(pods, key=order)[: len(pods) - want]:
                c.delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
                c.record_event(
                    rs,
                    "ReplicaSet",
                    "SuccessfulDelete",
                    f"Deleted pod: {pod['metadata']['name']}",
                    component="replicaset-controller",
                )

    def _replicaset_status(self, rs: dict[str, Any]) -> None:
        pods = self._pods_by_owner.get(rs["metadata"]["uid"], [])
        ready = sum(1 for p in pods if _pod_ready(p))
        rs["status"] = _omit_zero(
            {
                "replicas": len(pods),
                "fullyLabeledReplicas": len(pods),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": int(rs["metadata"].get("generation", 1)),
            }
        )
        self.cluster.put_status("replicasets", rs)

    def _create_pod(self, rs: dict[str, Any]) -> None:
        c = self.cluster
        template = copy.deepcopy(rs["spec"]["template"])
        meta = template.get("metadata") or {}
        name = f"{rs['metadata']['name']}-{c.suffix()}"
        spec = template.get("spec") or {}
        spec["nodeName"] = c.rng.choice(NODES)
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "generateName": f"{rs['metadata']['name']}-",
                "labels": dict(meta.get("labels") or {}),
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": rs["metadata"]["name"],
                        "uid": rs["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
            "status": {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "True",
                        "lastProbeTime": None,
                        "lastTransitionTime": c.stamp(),
                    }
                ],
                "qosClass": "BestEffort",
            },
        }
        if meta.get("annotations"):
            pod["metadata"]["annotations"] = dict(meta["annotations"])
        created = c.create("pods", rs["metadata"]["namespace"], pod)
        c.record_event(
            rs,
            "ReplicaSet",
            "SuccessfulCreate",
            f"Created pod: {name}",
            component="replicaset-controller",
        )
        c.record_event(
            created,
            "Pod",
            "Scheduled",
            f"Successfully assigned {rs['metadata']['namespace']}/{name} to {spec['nodeName']}",
            component="default-scheduler",
        )

    # ------------------------------------------------------------------ kubelet

    def kubelet(self) -> None:
        c = self.cluster
        now = c.now()
        for stored in list(c.objects["pods"].values()):
            containers = stored["spec"].get("containers") or []
            failing = [ct for ct in containers if ct.get("image") in c.failing_images]
            if stored["status"].get("phase") == "Running" and not failing and _pod_ready(stored):
                continue  # a healthy running pod does not change by itself
            pod = copy.deepcopy(stored)
            status = pod["status"]
            containers = pod["spec"].get("containers") or []
            failing = [ct for ct in containers if ct.get("image") in c.failing_images]
            started = parse_time(status.get("startTime")) or now
            if status.get("phase") == "Pending":
                status["startTime"] = c.stamp()
                status["hostIP"] = "10.0.0.{}".format(
                    NODES.index(pod["spec"].get("nodeName", NODES[0])) + 10
                )
                status["podIP"] = f"10.244.{c.rng.randrange(1, 250)}.{c.rng.randrange(2, 250)}"
                status["podIPs"] = [{"ip": status["podIP"]}]
                name = pod["metadata"]["name"]
                c.logs.setdefault(name, _startup_log(pod, now, bool(failing)))
                for ct in containers:
                    c.record_event(
                        pod,
                        "Pod",
                        "Pulled",
                        f'Container image "{ct["image"]}" already present on machine',
                        component="kubelet",
                    )
                    if ct in failing:
                        c.record_event(
                            pod,
                            "Pod",
                            "BackOff",
                            f"Back-off restarting failed container {ct['name']} in pod "
                            f"{name}_{pod['metadata']['namespace']}({pod['metadata']['uid']})",
                            type_="Warning",
                            component="kubelet",
                        )
                    else:
                        c.record_event(
                            pod,
                            "Pod",
                            "Started",
                            f"Started container {ct['name']}",
                            component="kubelet",
                        )
            status["phase"] = "Running"
            pod_id = (
                f"{pod['metadata']['name']}_{pod['metadata']['namespace']}"
                f"({pod['metadata']['uid']})"
            )
            unready = f"containers with unready status: [{' '.join(ct['name'] for ct in failing)}]"
            restarts = _restarts_after((now - started).total_seconds())
            before = {st.get("name"): st for st in status.get("containerStatuses") or []}
            statuses = []
            for ct in containers:
                base = {
                    "name": ct["name"],
                    "image": ct["image"],
                    "imageID": f"docker.io/library/{ct['image']}@sha256:{'0' * 64}",
                    "containerID": f"containerd://{pod['metadata']['uid'].replace('-', '')}",
                }
                if ct in failing:
                    statuses.append(
                        {
                            **base,
                            "state": {
                                "waiting": {
                                    "reason": "CrashLoopBackOff",
                                    "message": (
                                        f"back-off 40s restarting failed container={ct['name']} "
                                        f"pod={pod_id}"
                                    ),
                                }
                            },
                            "lastState": {
                                "terminated": {
                                    "exitCode": 1,
                                    "reason": "Error",
                                    "startedAt": status["startTime"],
                                    "finishedAt": status["startTime"],
                                }
                            },
                            "ready": False,
                            "restartCount": restarts,
                            "started": False,
                        }
                    )
                else:
                    statuses.append(
                        {
                            **base,
                            "state": {"running": {"startedAt": status["startTime"]}},
                            "lastState": (before.get(ct["name"]) or {}).get("lastState") or {},
                            "ready": True,
                            # A container that crashed before it recovered keeps its count.
                            "restartCount": (before.get(ct["name"]) or {}).get("restartCount", 0),
                            "started": True,
                        }
                    )
            status["containerStatuses"] = statuses
            ready = "False" if failing else "True"
            transition = status.get("startTime")
            status["conditions"] = [
                {
                    "type": "PodReadyToStartContainers",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": transition,
                },
                {
                    "type": "Initialized",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": transition,
                },
                {
                    "type": "Ready",
                    "status": ready,
                    "lastProbeTime": None,
                    "lastTransitionTime": transition,
                    **(
                        {
                            "reason": "ContainersNotReady",
                            "message": unready,
                        }
                        if failing
                        else {}
                    ),
                },
                {
                    "type": "ContainersReady",
                    "status": ready,
                    "lastProbeTime": None,
                    "lastTransitionTime": transition,
                    **(
                        {
                            "reason": "ContainersNotReady",
                            "message": unready,
                        }
                        if failing
                        else {}
                    ),
                },
                {
                    "type": "PodScheduled",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": transition,
                },
            ]
            c.put_internal("pods", pod)


def _pod_ready(pod: dict[str, Any]) -> bool:
    return any(
        cond.get("type") == "Ready" and cond.get("status") == "True"
        for cond in pod.get("status", {}).get("conditions") or []
    )


def _restarts_after(seconds: float) -> int:
    """Restarts of a container that crashes at once (back-off 10 s, doubling up to 5 min)."""
    count, delay = 1, 10.0
    while seconds >= delay:
        seconds -= delay
        count += 1
        delay = min(delay * 2, 300.0)
    return count


def _neg(text: str) -> str:
    return "".join(chr(0x10FFFF - ord(ch)) for ch in text)


def _startup_log(pod: dict[str, Any], now: datetime, failing: bool) -> list[str]:
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    image = pod["spec"]["containers"][0]["image"]
    lines = [f"{stamp} INFO starting {image}", f"{stamp} INFO listening on :8080"]
    if failing:
        lines += [
            f"{stamp} ERROR cannot connect to the database: connection refused",
            "panic: database unavailable",
        ]
    else:
        lines += [f"{stamp} INFO GET /health 200 {i + 1}ms" for i in range(60)]
    return lines
