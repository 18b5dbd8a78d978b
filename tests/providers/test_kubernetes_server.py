"""The fake API server itself: patches, selectors, concurrency, watches, the controller.

The oracle tests lean on it, so the API rules it follows are pinned here.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

from tests.k8s_server import FakeKubeServer, deployment_manifest, gitops, set_image
from tests.k8s_server.controller import REVISION, REVISION_HISTORY, template_hash
from tests.k8s_server.fixtures import (
    NAMESPACE,
    Kubectl,
    deploy,
    kube_server,  # noqa: F401 - fixture
    kubeconfig_file,  # noqa: F401 - fixture
    kubectl_cli,  # noqa: F401 - fixture
)
from tests.k8s_server.patching import PatchError, json_patch, merge_patch, strategic_merge_patch
from tests.k8s_server.selectors import field_selector, label_selector


def test_json_patch_operations() -> None:
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    ops = [
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "replace", "path": "/c", "value": "y"},
        {"op": "copy", "from": "/c", "path": "/d"},
        {"op": "move", "from": "/d", "path": "/e~1f"},
        {"op": "remove", "path": "/a/b/0"},
        {"op": "test", "path": "/c", "value": "y"},
    ]
    assert json_patch(doc, ops) == {"a": {"b": [2, 3]}, "c": "y", "e/f": "y"}
    assert doc == {"a": {"b": [1, 2]}, "c": "x"}
    with pytest.raises(PatchError, match="missing"):
        json_patch(doc, [{"op": "replace", "path": "/nope", "value": 1}])
    with pytest.raises(PatchError, match="testing value"):
        json_patch(doc, [{"op": "test", "path": "/c", "value": "z"}])
    with pytest.raises(PatchError):
        json_patch(doc, {"op": "add"})


def test_merge_and_strategic_merge_patches() -> None:
    doc = {
        "metadata": {"annotations": {"a": "1", "b": "2"}},
        "spec": {
            "containers": [
                {"name": "web", "image": "v1", "env": [{"name": "X", "value": "1"}]},
                {"name": "proxy", "image": "p1"},
            ],
            "tolerations": [{"key": "a"}],
        },
    }
    assert merge_patch(doc, {"metadata": {"annotations": {"a": None, "c": "3"}}})["metadata"] == {
        "annotations": {"b": "2", "c": "3"}
    }
    merged = strategic_merge_patch(
        doc,
        {
            "spec": {
                "containers": [
                    {"name": "web", "image": "v2", "env": [{"name": "Y", "value": "2"}]}
                ],
                "tolerations": [{"key": "b"}],
            }
        },
    )
    web, proxy = merged["spec"]["containers"]
    assert web["image"] == "v2" and [e["name"] for e in web["env"]] == ["X", "Y"]
    assert proxy == {"name": "proxy", "image": "p1"}
    assert merged["spec"]["tolerations"] == [{"key": "b"}]  # no merge key: replaced
    deleted = strategic_merge_patch(
        doc, {"spec": {"containers": [{"name": "proxy", "$patch": "delete"}]}}
    )
    assert [c["name"] for c in deleted["spec"]["containers"]] == ["web"]
    replaced = strategic_merge_patch(
        doc, {"metadata": {"annotations": {"$patch": "replace", "z": "9"}}}
    )
    assert replaced["metadata"]["annotations"] == {"z": "9"}


def test_selectors() -> None:
    match = label_selector("app=web,tier in (front,edge),!legacy,track!=canary,owner")
    assert match({"app": "web", "tier": "edge", "owner": "me"})
    assert not match({"app": "web", "tier": "edge", "owner": "me", "legacy": "1"})
    assert not match({"app": "web", "tier": "back", "owner": "me"})
    assert not match({"app": "web", "tier": "front", "owner": "me", "track": "canary"})
    assert label_selector("")({"anything": "x"})
    assert field_selector("metadata.name=web,metadata.namespace!=kube-system")(
        {"metadata": {"name": "web", "namespace": "shop"}}
    )


def test_template_hash_is_stable_and_safe() -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a"}]}}
    first = template_hash(template)
    assert first == template_hash(json.loads(json.dumps(template)))
    assert first != template_hash(template, collisions=1)
    assert set(first) <= set("bcdfghjklmnpqrstvwxz2456789")


def api(kube: FakeKubeServer, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{kube.url}{path}", timeout=10, **kwargs)


DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"


def test_optimistic_concurrency_and_generation(kube: FakeKubeServer) -> None:
    created = api(kube, "POST", DEPLOYMENTS, json=deployment_manifest("web", "img:1"))
    assert created.status_code == 201
    rv = created.json()["metadata"]["resourceVersion"]
    assert created.json()["metadata"]["generation"] == 1
    # A metadata-only change keeps the generation; a spec change raises it.
    labelled = api(
        kube,
        "PATCH",
        f"{DEPLOYMENTS}/web",
        content=json.dumps({"metadata": {"labels": {"team": "a"}}}),
        headers={"Content-Type": "application/merge-patch+json"},
    ).json()
    assert labelled["metadata"]["generation"] == 1
    stale = api(
        kube,
        "PATCH",
        f"{DEPLOYMENTS}/web",
        content=json.dumps({"metadata": {"resourceVersion": rv}, "spec": {"replicas": 5}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
    scaled = api(
        kube,
        "PATCH",
        f"{DEPLOYMENTS}/web",
        content=json.dumps({"spec": {"replicas": 5}}),
        headers={"Content-Type": "application/merge-patch+json"},
    ).json()
    assert scaled["metadata"]["generation"] == 2
    put = dict(scaled, metadata={**scaled["metadata"], "resourceVersion": rv})
    assert api(kube, "PUT", f"{DEPLOYMENTS}/web", json=put).status_code == 409
    invalid = api(
        kube,
        "PATCH",
        f"{DEPLOYMENTS}/web",
        content=json.dumps({"spec": {"selector": {"matchLabels": {"app": "other"}}}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert invalid.status_code == 422
    missing = api(kube, "GET", f"{DEPLOYMENTS}/nope")
    assert (
        missing.status_code == 404
        and missing.json()["message"] == 'deployments.apps "nope" not found'
    )
    dry = api(
        kube,
        "PATCH",
        f"{DEPLOYMENTS}/web?dryRun=All",
        content=json.dumps({"spec": {"replicas": 9}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert dry.json()["spec"]["replicas"] == 9
    assert api(kube, "GET", f"{DEPLOYMENTS}/web").json()["spec"]["replicas"] == 5


def test_watch_streams_changes(kube: FakeKubeServer) -> None:
    kube.cluster.create("deployments", NAMESPACE, deployment_manifest("web", "img:1"))
    _, rv = kube.cluster.list("deployments", NAMESPACE)
    seen: list[dict[str, Any]] = []

    def watch() -> None:
        with httpx.stream(
            "GET",
            f"{kube.url}{DEPLOYMENTS}",
            params={
                "watch": "true",
                "resourceVersion": rv,
                "fieldSelector": "metadata.name=web",
                "timeoutSeconds": "5",
            },
            timeout=10,
        ) as response:
            for line in response.iter_lines():
                seen.append(json.loads(line))
                if len(seen) == 2:
                    return

    thread = threading.Thread(target=watch)
    thread.start()
    kube.cluster.create("deployments", NAMESPACE, deployment_manifest("other", "img:1"))
    set_image(kube, NAMESPACE, "web", "img:2")
    set_image(kube, NAMESPACE, "web", "img:3")
    thread.join(10)
    assert [e["type"] for e in seen] == ["MODIFIED", "MODIFIED"]
    assert all(e["object"]["metadata"]["name"] == "web" for e in seen)


def test_the_controller_reuses_and_renumbers_a_replicaset(kube: FakeKubeServer) -> None:
    deploy(kube, ["v1", "v2", "v3"])
    set_image(kube, NAMESPACE, "web", "registry.example.com/shop/web:v1")
    kube.controllers.settle()
    sets = {
        rs["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[1]: rs
        for rs in kube.cluster.list("replicasets", NAMESPACE)[0]
    }
    assert len(sets) == 3
    v1 = sets["v1"]["metadata"]["annotations"]
    assert v1[REVISION] == "4" and v1[REVISION_HISTORY] == "1"
    assert sets["v1"]["spec"]["replicas"] == 3 and sets["v3"]["spec"]["replicas"] == 0
    d = kube.cluster.get("deployments", NAMESPACE, "web")
    assert d["metadata"]["annotations"][REVISION] == "4"
    assert d["status"]["updatedReplicas"] == 3 and d["status"]["observedGeneration"] == 4
    pods = kube.cluster.list("pods", NAMESPACE)[0]
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in pods} == {
        sets["v1"]["metadata"]["labels"]["pod-template-hash"]
    }


def test_logs_need_a_container_name_when_there_are_several(kube: FakeKubeServer) -> None:
    deploy(kube, ["v1"], containers=[{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}])
    pod = kube.cluster.list("pods", NAMESPACE)[0][0]["metadata"]["name"]
    base = f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}/log"
    ambiguous = api(kube, "GET", base)
    assert ambiguous.status_code == 400 and "choose one of: [a b]" in ambiguous.json()["message"]
    kube.cluster.logs[pod] = ["1", "2", "3"]
    assert api(kube, "GET", f"{base}?container=b&tailLines=2").text == "2\n3\n"


CONFIGMAPS = f"/api/v1/namespaces/{NAMESPACE}/configmaps"


def _managers(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["manager"]: e for e in obj["metadata"].get("managedFields") or []}


def test_configmaps_carry_managed_fields_as_the_api_server_writes_them(
    kube: FakeKubeServer,
) -> None:
    body = {"metadata": {"name": "app"}, "data": {"A": "1", "B": "2"}}
    created = api(kube, "POST", f"{CONFIGMAPS}?fieldManager=deployer", json=body).json()
    assert created["kind"] == "ConfigMap" and created["metadata"]["creationTimestamp"]
    [entry] = created["metadata"]["managedFields"]
    assert entry == {
        "manager": "deployer",
        "operation": "Update",
        "apiVersion": "v1",
        "time": created["metadata"]["creationTimestamp"],
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {".": {}, "f:A": {}, "f:B": {}}},
    }
    kube.cluster.advance(300)
    merge = {"Content-Type": "application/merge-patch+json"}
    # Without fieldManager the manager is the User-Agent up to its first "/".
    patched = api(
        kube,
        "PATCH",
        f"{CONFIGMAPS}/app",
        content=json.dumps({"data": {"B": "3"}}),
        headers={**merge, "User-Agent": "argocd-controller/v2.13 (linux)"},
    ).json()
    by = _managers(patched)
    assert by["deployer"]["fieldsV1"] == {"f:data": {".": {}, "f:A": {}}}
    assert by["deployer"]["time"] == entry["time"]
    assert by["argocd-controller"]["fieldsV1"] == {"f:data": {"f:B": {}}}
    assert by["argocd-controller"]["time"] > entry["time"]
    assert [e["manager"] for e in patched["metadata"]["managedFields"]] == [
        "deployer",
        "argocd-controller",
    ]
    # The same manager writing again: its entry gains the field, its time moves.
    kube.cluster.advance(300)
    again = api(
        kube,
        "PATCH",
        f"{CONFIGMAPS}/app?fieldManager=deployer",
        content=json.dumps({"data": {"C": "4"}}),
        headers=merge,
    ).json()
    mine = _managers(again)["deployer"]
    assert mine["fieldsV1"] == {"f:data": {".": {}, "f:A": {}, "f:C": {}}}
    assert mine["time"] > by["argocd-controller"]["time"]
    patched = again
    # A write that changes nothing moves no time (and keeps the resourceVersion).
    kube.cluster.advance(300)
    same = api(
        kube,
        "PATCH",
        f"{CONFIGMAPS}/app?fieldManager=other",
        content=json.dumps({"data": {"B": "3"}}),
        headers=merge,
    ).json()
    assert same["metadata"]["managedFields"] == patched["metadata"]["managedFields"]
    assert same["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]
    # One empty entry resets them: a write that changes nothing else leaves none.
    reset = api(
        kube,
        "PATCH",
        f"{CONFIGMAPS}/app",
        content=json.dumps({"metadata": {"managedFields": [{}]}}),
        headers=merge,
    ).json()
    assert "managedFields" not in reset["metadata"]
    missing = api(kube, "GET", f"{CONFIGMAPS}/nope")
    assert missing.status_code == 404 and missing.json()["message"] == 'configmaps "nope" not found'


def test_the_official_client_reads_them_typed(kube: FakeKubeServer) -> None:
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = kube.url
    core = client.CoreV1Api(client.ApiClient(configuration))
    core.create_namespaced_secret(
        NAMESPACE, {"metadata": {"name": "db"}, "stringData": {"password": "hunter2"}}
    )
    secret = core.read_namespaced_secret("db", NAMESPACE)
    assert secret.type == "Opaque" and secret.data == {"password": "aHVudGVyMg=="}
    [entry] = secret.metadata.managed_fields
    assert entry.manager == "OpenAPI-Generator" and entry.operation == "Update"
    assert entry.time == secret.metadata.creation_timestamp and entry.time.tzinfo is not None
    assert entry.fields_v1 == {"f:data": {".": {}, "f:password": {}}, "f:type": {}}
    immutable = {"metadata": {"name": "frozen"}, "data": {"A": "1"}, "immutable": True}
    core.create_namespaced_config_map(NAMESPACE, immutable)
    refused = api(
        kube,
        "PATCH",
        f"{CONFIGMAPS}/frozen",
        content=json.dumps({"data": {"A": "2"}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert refused.status_code == 422 and "field is immutable" in refused.json()["message"]


APPLICATIONS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
KUSTOMIZATIONS = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations"


def test_custom_resources_are_served_like_their_crds(kube: FakeKubeServer) -> None:
    """Applications, Kustomizations and HelmReleases: GET, LIST, JSON and merge patches with
    resourceVersion preconditions, generation counting non-metadata changes, and no
    strategic merge (a custom resource has no patch strategy: 415, as from a real server)."""
    kube.ensure_namespace("argocd")
    kube.ensure_namespace("flux-system")
    app = gitops.application("web", automated={"prune": True}, sync_options=["A=b"])
    created = api(kube, "POST", APPLICATIONS, json=app)
    assert created.status_code == 201, created.text
    rv = created.json()["metadata"]["resourceVersion"]
    assert created.json()["metadata"]["generation"] == 1
    listed = api(kube, "GET", APPLICATIONS).json()
    assert listed["kind"] == "ApplicationList" and [
        i["metadata"]["name"] for i in listed["items"]
    ] == ["web"]
    removed = api(
        kube,
        "PATCH",
        f"{APPLICATIONS}/web",
        content=json.dumps([{"op": "remove", "path": "/spec/syncPolicy/automated"}]),
        headers={"Content-Type": "application/json-patch+json"},
    ).json()
    assert removed["spec"]["syncPolicy"] == {"syncOptions": ["A=b"]}
    assert removed["metadata"]["generation"] == 2
    stale = api(
        kube,
        "PATCH",
        f"{APPLICATIONS}/web",
        content=json.dumps(
            [
                {"op": "replace", "path": "/metadata/resourceVersion", "value": rv},
                {"op": "add", "path": "/spec/syncPolicy/automated", "value": {}},
            ]
        ),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
    annotated = api(
        kube,
        "PATCH",
        f"{APPLICATIONS}/web",
        content=json.dumps({"metadata": {"annotations": {"a": "1"}}}),
        headers={"Content-Type": "application/merge-patch+json"},
    ).json()
    assert annotated["metadata"]["generation"] == 2  # metadata only
    strategic = api(
        kube,
        "PATCH",
        f"{APPLICATIONS}/web",
        content=json.dumps({"spec": {"project": "x"}}),
        headers={"Content-Type": "application/strategic-merge-patch+json"},
    )
    assert strategic.status_code == 415
    assert (
        api(
            kube, "GET", "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/nope"
        ).status_code
        == 404
    )
    # Served under their own group and version only.
    assert api(kube, "GET", "/apis/apps/v1/namespaces/argocd/applications/web").status_code == 404
    # Flux's kinds have a status subresource: the main resource never changes status.
    gitops.create(kube, gitops.kustomization("apps"))
    kube.cluster.put_status(
        "kustomizations",
        {"metadata": {"namespace": "flux-system", "name": "apps"}, "status": {"ready": True}},
    )
    suspended = api(
        kube,
        "PATCH",
        f"{KUSTOMIZATIONS}/apps",
        content=json.dumps({"spec": {"suspend": True}, "status": {"ready": False}}),
        headers={"Content-Type": "application/merge-patch+json"},
    ).json()
    assert suspended["spec"]["suspend"] is True and suspended["status"] == {"ready": True}
    assert suspended["metadata"]["generation"] == 2
    groups = {g["name"] for g in api(kube, "GET", "/apis").json()["groups"]}
    assert {"argoproj.io", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io"} <= groups


def test_kubectl_reads_and_patches_custom_resources(kube: FakeKubeServer, kubectl: Kubectl) -> None:
    """Real kubectl finds the kinds by discovery (short names too) and patches them; a
    strategic merge patch is refused with the real server's words."""
    gitops.create(kube, gitops.application("web", automated={"prune": True, "selfHeal": True}))
    gitops.create(kube, gitops.helmrelease("web"))
    out = kubectl.run("get", "app", "web", "-n", "argocd", "-o", "jsonpath={.spec.syncPolicy}")
    assert json.loads(out.stdout) == {"automated": {"prune": True, "selfHeal": True}}, out.stderr
    kubectl.run(
        "patch",
        "applications.argoproj.io",
        "web",
        "-n",
        "argocd",
        "--type",
        "json",
        "-p",
        '[{"op":"remove","path":"/spec/syncPolicy/automated"}]',
        check=True,
    )
    assert (
        "automated" not in kube.cluster.get("applications", "argocd", "web")["spec"]["syncPolicy"]
    )
    kubectl.run(
        "patch",
        "hr",
        "web",
        "-n",
        "flux-system",
        "--type",
        "merge",
        "-p",
        '{"spec":{"suspend":true}}',
        check=True,
    )
    assert kube.cluster.get("helmreleases", "flux-system", "web")["spec"]["suspend"] is True
    refused = kubectl.run(
        "patch", "hr", "web", "-n", "flux-system", "-p", '{"spec":{"suspend":false}}'
    )
    assert refused.returncode != 0
    assert "application/strategic-merge-patch+json is not supported" in refused.stderr
