"""What changes on Kubernetes: the live template against the target's, and the config it reads.

The provider reads the fake API server through the official client, as in
``test_kubernetes.py``; the ConfigMaps and Secrets carry ``managedFields`` as
the real API server writes them (``tests.k8s_server.managed``).  Real kubectl
is the oracle twice: what ``kubectl rollout undo`` leaves is exactly the
"target" side of every line, and a ConfigMap ``kubectl patch`` modifies is
flagged as modified after the target revision.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from console.model import Difference, Revision
from providers.base import NotFound, SupportsDiff
from providers.kubernetes import KubernetesProvider, config_refs
from providers.kubernetes import diff as kd
from providers.kubernetes import rollout as ro
from tests.k8s_server import FakeKubeServer, deployment_manifest
from tests.k8s_server.fixtures import (  # noqa: F401 - fixtures
    DEPLOYMENT,
    IMAGE,
    NAMESPACE,
    Kubectl,
    kube_server,
    kubeconfig_file,
    kubectl_cli,
    service,
)

SECRET_VALUE = "s3cr3t-Hunter2-do-not-show"
PLAIN_TOKEN = "plain-token-4711"
NEW_TOKEN = "plain-token-0815"


@pytest.fixture
def provider(kubeconfig: Path, tmp_path: Path) -> KubernetesProvider:
    return KubernetesProvider(service(kubeconfig), state_dir=tmp_path / "state")


def web(version: str, **changes: Any) -> dict[str, Any]:
    """The ``web`` container at ``version``: the target's shape, changed by ``changes``."""
    container: dict[str, Any] = {
        "name": "web",
        "image": f"{IMAGE}:{version}",
        "ports": [{"containerPort": 8080}],
        "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {
                "name": "DB_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "password"}},
            },
            {"name": "API_TOKEN", "value": PLAIN_TOKEN},
            {
                "name": "FEATURES",
                "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "FEATURES"}},
            },
        ],
        "envFrom": [{"configMapRef": {"name": "app-config"}}],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "256Mi"},
        },
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": 8080},
            "periodSeconds": 10,
        },
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
    }
    container.update(changes)
    return container


def config_volume(name: str = "app-config") -> list[dict[str, Any]]:
    return [{"name": "config", "configMap": {"name": name}}]


def put_config(kube: FakeKubeServer, kind: str, name: str, data: dict[str, str]) -> None:
    resource = "configmaps" if kind == "ConfigMap" else "secrets"
    body: dict[str, Any] = {"metadata": {"name": name}}
    if kind == "Secret":
        body["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    else:
        body["data"] = dict(data)
    kube.cluster.create(resource, NAMESPACE, body, manager="kubectl-client-side-apply")


def roll_out(kube: FakeKubeServer, containers: list[dict[str, Any]], volumes: Any) -> None:
    """Replace the Deployment's pod spec (a CD pipeline's ``kubectl apply``) and settle."""
    d = kube.cluster.get("deployments", NAMESPACE, DEPLOYMENT)
    d["spec"]["template"]["spec"]["containers"] = containers
    d["spec"]["template"]["spec"]["volumes"] = volumes
    kube.cluster.replace("deployments", NAMESPACE, DEPLOYMENT, d)
    kube.controllers.settle()


def world(kube: FakeKubeServer) -> None:
    """Revision 1 (v1.2.9, the target) and revision 2 (v1.3.0, live), ten minutes apart;
    ``app-config`` changed ten minutes after that, ``db-credentials`` never."""
    put_config(kube, "ConfigMap", "app-config", {"FEATURES": "a,b", "LOG_FORMAT": "json"})
    put_config(kube, "Secret", "db-credentials", {"password": SECRET_VALUE})
    kube.cluster.advance(60)
    manifest = deployment_manifest(DEPLOYMENT, f"{IMAGE}:v1.2.9", containers=[web("v1.2.9")])
    manifest["spec"]["template"]["spec"]["volumes"] = config_volume()
    kube.cluster.create("deployments", NAMESPACE, manifest)
    kube.controllers.settle()
    kube.cluster.advance(600)
    put_config(kube, "ConfigMap", "app-config-v2", {"FEATURES": "a,b,c"})
    put_config(kube, "Secret", "db-credentials-v2", {"password": SECRET_VALUE + "-2"})
    env = web("v1.3.0")["env"]
    env[0] = {"name": "LOG_LEVEL", "value": "debug"}
    env[1]["valueFrom"]["secretKeyRef"]["name"] = "db-credentials-v2"
    env[2] = {"name": "API_TOKEN", "value": NEW_TOKEN}
    live = web(
        "v1.3.0",
        env=env,
        envFrom=[{"configMapRef": {"name": "app-config-v2"}}],
        resources={"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        readinessProbe={"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5},
        ports=[{"containerPort": 8080}, {"containerPort": 9090}],
    )
    metrics = {"name": "metrics", "image": "registry.example.com/exporter:0.9"}
    roll_out(kube, [live, metrics], config_volume("app-config-v2"))
    kube.cluster.advance(600)
    kube.cluster.patch(
        "configmaps",
        NAMESPACE,
        "app-config",
        "application/strategic-merge-patch+json",
        {"data": {"LOG_FORMAT": "text"}},
        # The pipeline that created it applies it again: its own entry's time moves.
        manager="kubectl-client-side-apply",
    )


def planned(provider: KubernetesProvider, to: str | None = None) -> tuple[Difference, ...]:
    """What the flow asks: the plan's live revision against its target."""
    plan = provider.plan(to)
    return provider.differences(plan.from_revision, plan.to_revision)


def by_what(found: tuple[Difference, ...]) -> dict[str, Difference]:
    return {d.what: d for d in found}


# --------------------------------------------------------------------------- the template


def test_every_kind_of_template_change_is_one_readable_line(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    world(kube)
    assert isinstance(provider, SupportsDiff)
    found = by_what(planned(provider))
    assert found["image web"] == Difference("image web", f"{IMAGE}:v1.3.0", f"{IMAGE}:v1.2.9")
    assert found["env web LOG_LEVEL"] == Difference("env web LOG_LEVEL", '"debug"', '"info"')
    assert found["env web DB_PASSWORD"] == Difference(
        "env web DB_PASSWORD", "secret db-credentials-v2/password", "secret db-credentials/password"
    )
    token = found["env web API_TOKEN"]
    assert (token.live, token.target) == ("***", "***") and "not shown" in token.note
    assert found["envFrom web"] == Difference(
        "envFrom web", "configmap app-config-v2", "configmap app-config"
    )
    assert found["resources web limits.memory"] == Difference(
        "resources web limits.memory", "512Mi", "256Mi"
    )
    assert found["probe web readiness"] == Difference(
        "probe web readiness", "http GET :8080/ready, every 5s", "http GET :8080/healthz, every 10s"
    )
    assert found["volume config"] == Difference(
        "volume config", "configmap app-config-v2", "configmap app-config"
    )
    metrics = found["container metrics"]
    assert metrics.live == "registry.example.com/exporter:0.9" and metrics.target == ""
    assert metrics.note == "container removed by the rollback"
    assert found["other fields"].note == "also differ: web ports"
    # What did not change is not listed.
    assert not [w for w in found if w.startswith(("resources web requests", "env web FEATURES"))]
    assert found["image web"].line() == f"image web: {IMAGE}:v1.3.0 → {IMAGE}:v1.2.9"


def test_config_the_target_reads_is_flagged_as_not_rolled_back(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    world(kube)
    found = planned(provider)
    refs = [d for d in found if d.what.startswith(("ConfigMap ", "Secret "))]
    # Only what the target refers to, in the order the template names it.
    assert [d.what for d in refs] == ["Secret db-credentials", "ConfigMap app-config"]
    rs = next(
        r
        for r in kube.cluster.list("replicasets", NAMESPACE)[0]
        if r["metadata"]["annotations"][ro.REVISION] == "1"
    )
    created = ro.parse_time(rs["metadata"]["creationTimestamp"])
    config = kube.cluster.get("configmaps", NAMESPACE, "app-config")
    patched = max(e["time"] for e in config["metadata"]["managedFields"])
    assert created is not None and ro.parse_time(patched) > created  # type: ignore[operator]
    cm = refs[1]
    assert cm.note.startswith("not rolled back with the Deployment; modified ")
    assert "after revision 1 (v1.2.9) was created" in cm.note
    assert created.strftime("%Y-%m-%d %H:%M UTC") in cm.note
    secret = refs[0]
    assert secret.note.startswith("not rolled back with the Deployment; unchanged since revision 1")
    assert "modified" not in secret.note.replace("last modified", "")


def test_no_secret_value_ever_appears(kube: FakeKubeServer, provider: KubernetesProvider) -> None:
    world(kube)
    found = planned(provider)
    text = repr(found) + "\n".join(d.line() for d in found)
    for value in (SECRET_VALUE, SECRET_VALUE + "-2", PLAIN_TOKEN, NEW_TOKEN):
        assert value not in text
        assert base64.b64encode(value.encode()).decode() not in text
    # The secret was read (its times are known), its name shown.
    assert "Secret db-credentials" in text and "secret db-credentials/password" in text


def test_without_managed_fields_the_modification_time_is_unknown(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    world(kube)
    # The API's own reset: a write carrying one empty entry strips them (isResetManagedFields).
    kube.cluster.patch(
        "configmaps",
        NAMESPACE,
        "app-config",
        "application/merge-patch+json",
        {"metadata": {"managedFields": [{}]}},
        manager="kubectl-patch",
    )
    assert (
        "managedFields" not in kube.cluster.get("configmaps", NAMESPACE, "app-config")["metadata"]
    )
    cm = by_what(planned(provider))["ConfigMap app-config"]
    assert cm.note == "not rolled back with the Deployment; modification time unknown"


def test_missing_config_and_keys_are_said_before_the_pods_fail(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    world(kube)
    kube.cluster.delete("secrets", NAMESPACE, "db-credentials")
    kube.cluster.replace(
        "configmaps",
        NAMESPACE,
        "app-config",
        {"metadata": {"name": "app-config"}, "data": {"LOG_FORMAT": "json"}},
        manager="kubectl-replace",
    )
    found = by_what(planned(provider))
    secret = found["Secret db-credentials"]
    assert secret.note == (
        "missing: the target refers to it but it does not exist; "
        "the target's pods cannot start without it"
    )
    cm = found["ConfigMap app-config"]
    assert cm.note.endswith("; no key FEATURES: the target's pods cannot start")


def test_a_secret_it_may_not_read_is_named_with_an_unknown_time(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    world(kube)
    kube.forbid("get", "secrets", namespace=NAMESPACE)
    found = by_what(planned(provider))
    assert found["Secret db-credentials"].note == (
        "not rolled back with the Deployment; modification time unknown (not allowed to read it)"
    )
    assert "modified" in found["ConfigMap app-config"].note


def test_a_revision_gone_from_the_history_is_not_found(
    kube: FakeKubeServer, provider: KubernetesProvider
) -> None:
    world(kube)
    plan = provider.plan(None)
    gone = Revision(id="7", version="v0.1.0")
    with pytest.raises(NotFound, match=r"revision 7 \(v0\.1\.0\) is no longer in the history"):
        provider.differences(plan.from_revision, gone)


# --------------------------------------------------------------------------- pure rules


def test_facets_name_values_by_where_they_come_from() -> None:
    container = {
        "name": "app",
        "image": "app:1",
        "command": ["/bin/app", "--config", "/etc/app/my config.toml"],
        "env": [
            {"name": "EMPTY", "value": ""},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {
                "name": "MEM",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}},
            },
            {
                "name": "OPT",
                "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}},
            },
            {"name": "DB_PASSWORD", "value": "hunter2"},
        ],
        "envFrom": [
            {"secretRef": {"name": "env"}, "prefix": "X_"},
            {"configMapRef": {"name": "c"}},
        ],
        "livenessProbe": {"tcpSocket": {"port": 5432}, "failureThreshold": 3},
        "startupProbe": {"exec": {"command": ["cat", "/tmp/ready"]}},
        "readinessProbe": {"grpc": {"port": 9090, "service": "health"}},
    }
    got = kd.container_facets(container)
    assert got["command app"] == "/bin/app --config '/etc/app/my config.toml'"
    assert got["env app EMPTY"] == '""'
    assert got["env app POD"] == "field metadata.name"
    assert got["env app MEM"] == "resource limits.memory"
    assert got["env app OPT"] == "secret s/k (optional)"
    assert isinstance(got["env app DB_PASSWORD"], kd.Hidden)
    assert kd.shown(got["env app DB_PASSWORD"]) == "***"
    assert got["envFrom app"] == "secret env prefix X_, configmap c"
    assert got["probe app liveness"] == "tcp :5432, failures 3"
    assert got["probe app startup"] == "exec cat /tmp/ready"
    assert got["probe app readiness"] == "grpc :9090 health"


def test_references_cover_env_envfrom_volumes_and_pull_secrets() -> None:
    template = {
        "spec": {
            "containers": [
                {
                    "name": "a",
                    "image": "a:1",
                    "env": [
                        {
                            "name": "X",
                            "valueFrom": {
                                "configMapKeyRef": {"name": "cm", "key": "x", "optional": True}
                            },
                        }
                    ],
                    "envFrom": [{"secretRef": {"name": "env-secret"}}],
                }
            ],
            "initContainers": [
                {"name": "migrate", "image": "m:1", "envFrom": [{"configMapRef": {"name": "cm"}}]}
            ],
            "volumes": [
                {"name": "tls", "secret": {"secretName": "tls", "items": [{"key": "crt"}]}},
                {
                    "name": "all",
                    "projected": {
                        "sources": [{"configMap": {"name": "extra"}}, {"secret": {"name": "tls"}}]
                    },
                },
            ],
            "imagePullSecrets": [{"name": "registry"}],
        }
    }
    refs = config_refs.references(template)
    assert [r.label for r in refs] == [
        "ConfigMap cm",
        "Secret env-secret",
        "Secret tls",
        "ConfigMap extra",
        "Secret registry",
    ]
    cm = refs[0]
    # Required by the init container's envFrom, its key x optional.
    assert not cm.optional and cm.keys == {"x": False}
    assert refs[2].keys == {"crt": True}


def test_an_added_init_container_and_a_restart_annotation_are_listed() -> None:
    live = {
        "metadata": {
            "labels": {"app": "web", "pod-template-hash": "abc"},
            "annotations": {ro.RESTARTED_AT: "2026-12-05T22:00:00Z"},
        },
        "spec": {"containers": [{"name": "web", "image": "w:2"}]},
    }
    target = {
        "metadata": {"labels": {"app": "web", "pod-template-hash": "def"}},
        "spec": {
            "initContainers": [{"name": "migrate", "image": "m:1"}],
            "containers": [{"name": "web", "image": "w:1"}],
            "serviceAccountName": "old",
        },
    }
    found = kd.template_differences(live, target)
    assert [d.line() for d in found] == [
        "container migrate: (none) → m:1 (init container added by the rollback)",
        "image web: w:2 → w:1",
        f"template annotation {ro.RESTARTED_AT}: 2026-12-05T22:00:00Z → (none)",
        "other fields (also differ: pod serviceAccountName)",
    ]
    assert kd.template_differences(live, live) == ()


# --------------------------------------------------------------------------- kubectl as oracle


def test_kubectl_rollout_undo_leaves_the_target_side_of_every_line(
    kube: FakeKubeServer, provider: KubernetesProvider, kubectl: Kubectl
) -> None:
    world(kube)
    plan = provider.plan("1")
    found = provider.differences(plan.from_revision, plan.to_revision)
    before = kd.facets(kube.cluster.get("deployments", NAMESPACE, DEPLOYMENT)["spec"]["template"])
    kubectl.run(
        "rollout",
        "undo",
        f"deployment/{DEPLOYMENT}",
        "--to-revision=1",
        "-n",
        NAMESPACE,
        check=True,
    )
    after = kd.facets(kube.cluster.get("deployments", NAMESPACE, DEPLOYMENT)["spec"]["template"])
    facet_lines = {
        d.what: d
        for d in found
        if not d.what.startswith(("container ", "other fields", "ConfigMap ", "Secret "))
    }
    changed = {w for w in set(before) | set(after) if before.get(w) != after.get(w)} - {
        w for w in set(before) | set(after) if w.split(" ")[1:2] == ["metrics"]
    }
    assert set(facet_lines) == changed
    for what, d in facet_lines.items():
        assert d.target == kd.shown(after.get(what, "")), what
        assert d.live == kd.shown(before.get(what, "")), what
    assert not [w for w in after if " metrics" in w]  # the container the line said goes away


def test_a_configmap_kubectl_patches_after_the_target_is_flagged(
    kube: FakeKubeServer, provider: KubernetesProvider, kubectl: Kubectl, tmp_path: Path
) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app-config"},
        "data": {"FEATURES": "a", "LOG_FORMAT": "json"},
    }
    path = tmp_path / "cm.json"
    path.write_text(json.dumps(manifest))
    kubectl.run("create", "-f", str(path), "-n", NAMESPACE, check=True)
    put_config(kube, "Secret", "db-credentials", {"password": SECRET_VALUE})
    kube.cluster.advance(60)
    manifest_d = deployment_manifest(DEPLOYMENT, f"{IMAGE}:v1.2.9", containers=[web("v1.2.9")])
    manifest_d["spec"]["template"]["spec"]["volumes"] = config_volume()
    kube.cluster.create("deployments", NAMESPACE, manifest_d)
    kube.controllers.settle()
    kube.cluster.advance(600)
    roll_out(kube, [web("v1.3.0")], config_volume())
    unchanged = by_what(planned(provider))["ConfigMap app-config"]
    assert "unchanged since revision 1 (v1.2.9) was created" in unchanged.note
    kube.cluster.advance(600)
    kubectl.run(
        "patch",
        "configmap",
        "app-config",
        "-n",
        NAMESPACE,
        "-p",
        '{"data":{"FEATURES":"b"}}',
        check=True,
    )
    shown = json.loads(
        kubectl.run(
            "get",
            "configmap",
            "app-config",
            "-n",
            NAMESPACE,
            "-o",
            "json",
            "--show-managed-fields",
            check=True,
        ).stdout
    )
    managers = {e["manager"]: e for e in shown["metadata"]["managedFields"]}
    assert set(managers) == {"kubectl-create", "kubectl-patch"}
    assert managers["kubectl-patch"]["fieldsV1"] == {"f:data": {"f:FEATURES": {}}}
    flagged = by_what(planned(provider))["ConfigMap app-config"]
    assert "; modified " in flagged.note and "after revision 1 (v1.2.9) was created" in flagged.note
