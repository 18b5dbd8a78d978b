"""kubectl's rollout rules (``providers.kubernetes.rollout``) on hand-written objects.

The comparisons with real kubectl live in ``test_kubernetes_kubectl.py``; these
pin the corner cases one at a time: revision parsing, duplicate and missing
revisions, template equality, the annotations an undo carries, each branch of
``rollout status``, and what ``kubectl get pods`` would print as STATUS.
"""

from __future__ import annotations

from typing import Any

import pytest

from providers.kubernetes import rollout as ro

UID = "d-uid"
WAITING = 'Waiting for deployment "web" rollout to finish: '


def rs(
    name: str,
    revision: str | None,
    image: str,
    *,
    created: str = "2026-01-16T00:00:00Z",
    owner: str = UID,
    annotations: dict[str, str] | None = None,
    replicas: int = 0,
) -> dict[str, Any]:
    notes = dict(annotations or {})
    if revision is not None:
        notes[ro.REVISION] = revision
    return {
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "creationTimestamp": created,
            "annotations": notes,
            "labels": {"app": "web", ro.HASH_LABEL: name[-5:]},
            "ownerReferences": [{"uid": owner, "controller": True, "kind": "Deployment"}],
        },
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"labels": {"app": "web", ro.HASH_LABEL: name[-5:]}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def deployment(
    image: str, annotations: dict[str, str] | None = None, **status: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "uid": UID, "generation": 3, "annotations": annotations or {}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
        "status": {"observedGeneration": 3, **status},
    }


def test_revisions_parse_like_kubectl() -> None:
    assert ro.revision_of(rs("a", "7", "x")) == 7
    assert ro.revision_of(rs("a", None, "x")) == 0
    assert ro.revision_of(rs("a", "seven", "x")) is None
    assert ro.revision_history_of(rs("a", "7", "x", annotations={ro.REVISION_HISTORY: "2,5"})) == (
        "2",
        "5",
    )


def test_only_controlled_replicasets_count() -> None:
    mine, theirs = rs("web-aaaaa", "1", "a"), rs("web-bbbbb", "2", "b", owner="other")
    theirs["metadata"]["ownerReferences"][0]["controller"] = True
    assert ro.owned_replicasets(deployment("a"), [mine, theirs]) == [mine]
    loose = rs("web-ccccc", "3", "c")
    loose["metadata"]["ownerReferences"][0]["controller"] = False
    assert ro.owned_replicasets(deployment("a"), [loose]) == []


def test_the_new_replicaset_is_the_oldest_with_the_template() -> None:
    older = rs("web-older", "1", "img:1", created="2026-01-01T00:00:00Z")
    newer = rs("web-newer", "4", "img:1", created="2026-01-02T00:00:00Z")
    other = rs("web-other", "3", "img:2", created="2026-01-01T12:00:00Z")
    old, new = ro.split_replicasets(deployment("img:1"), [newer, other, older])
    assert new is older
    assert old == [other, newer]


def test_history_keeps_the_last_of_a_duplicate_revision() -> None:
    a = rs(
        "web-aaaaa",
        "2",
        "img:a",
        created="2026-01-01T00:00:00Z",
        annotations={ro.CHANGE_CAUSE: "a"},
    )
    b = rs(
        "web-bbbbb",
        "2",
        "img:b",
        created="2026-01-02T00:00:00Z",
        annotations={ro.CHANGE_CAUSE: "b"},
    )
    bad = rs("web-ccccc", "x", "img:c")
    legacy = rs("web-ddddd", None, "img:d")
    d = deployment("img:z")
    assert ro.history_table(d, [a, b, bad, legacy]) == [(0, "<none>"), (2, "b")]
    # The live ReplicaSet comes last, so it wins a tie even when it is older.
    assert ro.rollout_history(deployment("img:a"), [a, b])[2] is a


def test_undo_target_previous_and_exact() -> None:
    d = deployment("img:3")
    items = [rs("web-1", "1", "img:1"), rs("web-3", "3", "img:3"), rs("web-2", "2", "img:2")]
    assert ro.undo_target(d, items, 0)["metadata"]["name"] == "web-2"
    assert ro.undo_target(d, items, 1)["metadata"]["name"] == "web-1"
    with pytest.raises(ro.UndoError, match="unable to find specified revision 9 in history"):
        ro.undo_target(d, items, 9)
    with pytest.raises(ro.UndoError, match="unable to find specified revision -1 in history"):
        ro.undo_target(d, items, -1)
    with pytest.raises(ro.UndoError, match='no rollout history found for deployment "web"'):
        ro.undo_target(d, items[1:2], 0)


def test_previous_is_the_second_highest_revision_not_the_one_before_the_live() -> None:
    """After someone rolled forward past the live one, "previous" is still the second highest."""
    d = deployment("img:1")
    items = [rs("web-1", "5", "img:1"), rs("web-2", "7", "img:2"), rs("web-3", "6", "img:3")]
    assert ro.undo_target(d, items, 0)["metadata"]["name"] == "web-3"


def test_templates_compare_semantically() -> None:
    base = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "a", "image": "x"}]},
    }
    hashed = {
        "metadata": {"labels": {"app": "web", ro.HASH_LABEL: "abc"}, "creationTimestamp": None},
        "spec": {"containers": [{"name": "a", "image": "x", "resources": {}, "env": []}]},
    }
    assert ro.equal_ignore_hash(base, hashed)
    changed = {**base, "spec": {"containers": [{"name": "a", "image": "y"}]}}
    assert not ro.equal_ignore_hash(base, changed)
    with_volume = {**base, "spec": {**base["spec"], "volumes": [{"name": "v", "emptyDir": {}}]}}
    without_source = {**base, "spec": {**base["spec"], "volumes": [{"name": "v"}]}}
    assert not ro.equal_ignore_hash(with_volume, without_source)
    assert ro.without_hash(hashed)["metadata"]["labels"] == {"app": "web"}
    assert hashed["metadata"]["labels"][ro.HASH_LABEL] == "abc"  # the input is untouched


def test_undo_annotations_follow_kubectls_skip_list() -> None:
    d = deployment(
        "img:3",
        {
            ro.REVISION: "3",
            ro.LAST_APPLIED: "{}",
            ro.CHANGE_CAUSE: "deploy 3",
            "team": "new",
            "rollback-console.io/lock": "{...}",
        },
    )
    target = rs(
        "web-1",
        "1",
        "img:1",
        annotations={
            ro.CHANGE_CAUSE: "deploy 1",
            ro.REVISION_HISTORY: "0",
            ro.DESIRED_REPLICAS: "3",
            ro.MAX_REPLICAS: "4",
            "team": "old",
            "rollback-console.io/lock": "{stale}",
        },
    )
    assert ro.undo_annotations(d, target) == {
        ro.REVISION: "3",
        ro.LAST_APPLIED: "{}",
        ro.CHANGE_CAUSE: "deploy 1",
        "team": "old",
        "rollback-console.io/lock": "{stale}",
    }
    kept = ro.undo_annotations(d, target, keep=("rollback-console.io/lock",))
    assert kept["rollback-console.io/lock"] == "{...}"
    patch = ro.undo_patch(target, kept)
    assert [op["path"] for op in patch] == ["/spec/template", "/metadata/annotations"]
    assert ro.HASH_LABEL not in patch[0]["value"]["metadata"]["labels"]


@pytest.mark.parametrize(
    ("status", "generation", "expected"),
    [
        (
            {"observedGeneration": 2},
            3,
            (False, False, "Waiting for deployment spec update to be observed..."),
        ),
        (
            {"conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]},
            3,
            (False, True, 'deployment "web" exceeded its progress deadline'),
        ),
        (
            {"updatedReplicas": 1, "replicas": 4},
            3,
            (
                False,
                False,
                WAITING + "1 out of 3 new replicas have been updated...",
            ),
        ),
        (
            {"updatedReplicas": 3, "replicas": 4, "availableReplicas": 3},
            3,
            (
                False,
                False,
                WAITING + "1 old replicas are pending termination...",
            ),
        ),
        (
            {"updatedReplicas": 3, "replicas": 3, "availableReplicas": 2},
            3,
            (
                False,
                False,
                WAITING + "2 of 3 updated replicas are available...",
            ),
        ),
        (
            {"updatedReplicas": 3, "replicas": 3, "availableReplicas": 3},
            3,
            (True, False, 'deployment "web" successfully rolled out'),
        ),
    ],
)
def test_rollout_status_branches(
    status: dict[str, Any], generation: int, expected: tuple[bool, bool, str]
) -> None:
    d = deployment("img", **{"observedGeneration": 3, **status})
    d["metadata"]["generation"] = generation
    assert ro.rollout_status(d) == expected


def test_rollout_warning_names_the_first_sick_pod() -> None:
    healthy = {"status": {"containerStatuses": [{"state": {"running": {}}}]}}
    pulling = {
        "status": {
            "containerStatuses": [
                {"state": {"waiting": {"reason": "ImagePullBackOff", "message": "no such tag"}}}
            ]
        }
    }
    pending = {
        "status": {
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes are available",
                }
            ]
        }
    }
    assert ro.rollout_warning([healthy]) == ""
    assert ro.rollout_warning([healthy, pulling]) == "Warning: ImagePullBackOff - no such tag"
    assert ro.rollout_warning([pending, pulling]) == "Warning: 0/3 nodes are available"


def pod(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
        "status": status,
    }


def test_pod_state_like_kubectl_get_pods() -> None:
    running = pod(
        phase="Running",
        conditions=[{"type": "Ready", "status": "True"}],
        containerStatuses=[{"ready": True, "restartCount": 1, "state": {"running": {}}}] * 2,
    )
    assert ro.pod_state(running) == ("Running", 2, "2/2 containers ready")
    assert ro.pod_ready(running)
    crashing = pod(
        phase="Running",
        containerStatuses=[
            {"ready": True, "restartCount": 0, "state": {"running": {}}},
            {
                "ready": False,
                "restartCount": 7,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
            },
        ],
    )
    assert ro.pod_state(crashing) == ("CrashLoopBackOff", 7, "1/2 containers ready · back-off 5m0s")
    assert not ro.pod_ready(crashing)
    killed = pod(
        phase="Running", containerStatuses=[{"state": {"terminated": {"reason": "OOMKilled"}}}]
    )
    assert ro.pod_state(killed)[0] == "OOMKilled"
    signalled = pod(phase="Failed", containerStatuses=[{"state": {"terminated": {"signal": 9}}}])
    assert ro.pod_state(signalled)[0] == "Signal:9"
    init = pod(
        phase="Pending",
        initContainerStatuses=[
            {"state": {"terminated": {"exitCode": 0}}},
            {"state": {"waiting": {"reason": "PodInitializing"}}},
        ],
    )
    assert ro.pod_state(init)[0] == "Init:1/2"
    init_failed = pod(
        phase="Pending", initContainerStatuses=[{"state": {"terminated": {"exitCode": 3}}}]
    )
    assert ro.pod_state(init_failed)[0] == "Init:ExitCode:3"
    going = pod(phase="Running")
    going["metadata"]["deletionTimestamp"] = "2026-01-16T00:00:00Z"
    assert ro.pod_state(going)[0] == "Terminating"
    evicted = pod(phase="Failed", reason="Evicted")
    assert ro.pod_state(evicted)[0] == "Evicted"


def test_image_tags_and_selectors() -> None:
    assert ro.image_tag("registry:5000/shop/web:v1.2.9") == "v1.2.9"
    assert ro.image_tag("registry:5000/shop/web") == "latest"
    assert ro.image_tag("web@sha256:0123456789abcdef0123") == "sha256:0123456789ab"
    assert ro.image_tag("") == ""
    selector = {
        "matchLabels": {"tier": "front", "app": "web"},
        "matchExpressions": [
            {"key": "track", "operator": "In", "values": ["stable", "canary"]},
            {"key": "legacy", "operator": "DoesNotExist"},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "owner", "operator": "Exists"},
        ],
    }
    assert ro.selector_string(selector) == (
        "app=web,tier=front,track in (canary,stable),!legacy,env notin (dev),owner"
    )
    assert ro.selector_string(None) == ""
    template = {
        "spec": {"containers": [{"name": "proxy", "image": "e"}, {"name": "app", "image": "a"}]}
    }
    assert ro.main_container(template, "app") == {"name": "app", "image": "a"}
    assert ro.main_container(template, "missing") == {"name": "proxy", "image": "e"}
    assert ro.main_container({}, "") is None
    assert ro.parse_time("2026-01-16T02:00:00Z") is not None and ro.parse_time("soon") is None
