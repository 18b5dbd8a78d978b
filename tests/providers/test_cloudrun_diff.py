"""Cloud Run "What changes": ``CloudRunProvider.differences`` with the real client on the fake.

Two revisions of ``k-back`` deployed with full templates (the fake fills in
the API's defaults, as Cloud Run does): the good one the rollback goes back
to and the bad one serving now, differing in every field the diff reads.
Their secret references name Secret Manager versions the fake really holds
(``versions/N:access`` answers them), whose values must never reach a
``Difference``, and the console must never ask for them.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from console.model import Difference, Revision
from providers.base import NotFound, SupportsDiff
from providers.cloudrun import CloudRunProvider
from tests.cloudrun_server import CloudRunServer
from tests.cloudrun_server.fixtures import IMAGE, PROJECT, REGION, SERVICE, service_config

GOOD = "k-back-00051-gud"
BAD = "k-back-00052-bad"
DB_PASSWORD_V3 = "db-password-three-0003"
DB_PASSWORD_V4 = "db-password-four-0004"
TLS_KEY = "-----BEGIN PRIVATE KEY----- tls-key-value"
PLAIN_TOKEN = "plain-session-secret-9999"
SECRET_VALUES = (DB_PASSWORD_V3, DB_PASSWORD_V4, TLS_KEY, PLAIN_TOKEN)


@pytest.fixture
def server() -> Iterator[CloudRunServer]:
    with CloudRunServer() as srv:
        yield srv


def secret_env(name: str, secret: str, version: str) -> dict[str, Any]:
    return {"name": name, "valueSource": {"secretKeyRef": {"secret": secret, "version": version}}}


def access(server: CloudRunServer, secret: str, version: str) -> str:
    """What Cloud Run reads at instance start: Secret Manager's ``versions/V:access``."""
    url = f"{server.url}/v1/projects/{PROJECT}/secrets/{secret}/versions/{version}:access"
    request = urllib.request.Request(url, headers={"X-Asked-By": "test"})
    with urllib.request.urlopen(request) as answer:
        return base64.b64decode(json.load(answer)["payload"]["data"]).decode()


def deploy_two(server: CloudRunServer) -> str:
    """The good revision (3 h old) and the bad one (serving now); the service's name."""
    store = server.store
    for value in ("db-password-one", "db-password-two", DB_PASSWORD_V3, DB_PASSWORD_V4):
        store.add_secret_version(PROJECT, "db-password", value)
    store.add_secret_version(PROJECT, "tls-key", TLS_KEY)
    # The fake really holds what the references resolve to.
    assert access(server, "db-password", "3") == DB_PASSWORD_V3
    assert access(server, "db-password", "latest") == DB_PASSWORD_V4
    now = datetime.now(UTC)
    name = store.add_service(PROJECT, REGION, SERVICE)
    store.deploy(
        name,
        f"{IMAGE}:v1.2.9",
        revision=GOOD,
        created=now - timedelta(hours=3),
        template={
            "containers": [
                {
                    "name": "app",
                    "env": [
                        {"name": "LOG_LEVEL", "value": "info"},
                        {"name": "SESSION_SECRET", "value": PLAIN_TOKEN},
                        secret_env("DB_PASSWORD", "db-password", "3"),
                    ],
                    "resources": {"limits": {"cpu": "2000m", "memory": "512Mi"}},
                }
            ],
            "volumes": [{"name": "tls", "secret": {"secret": "tls-key"}}],
        },
    )
    store.deploy(
        name,
        f"{IMAGE}:v1.3.0",
        revision=BAD,
        created=now - timedelta(minutes=20),
        template={
            "containers": [
                {
                    "name": "app",
                    "command": ["/app/server"],
                    "args": ["--workers", "8"],
                    "env": [
                        {"name": "LOG_LEVEL", "value": "debug"},
                        {"name": "SESSION_SECRET", "value": PLAIN_TOKEN},
                        {"name": "NEW_CHECKOUT", "value": "on"},
                        secret_env("DB_PASSWORD", "db-password", "latest"),
                        secret_env("PARTNER_TOKEN", "projects/partner/secrets/token", "2"),
                    ],
                    "resources": {"limits": {"cpu": "2", "memory": "1Gi"}},
                }
            ],
            "scaling": {"minInstanceCount": 2, "maxInstanceCount": 20},
            "maxInstanceRequestConcurrency": 40,
            "timeout": "60s",
            "serviceAccount": "k-back@keikakun-prod.iam.gserviceaccount.com",
            "volumes": [
                {
                    "name": "tls",
                    "secret": {"secret": "tls-key", "items": [{"path": "key.pem", "version": "1"}]},
                }
            ],
        },
    )
    return name


def provider(server: CloudRunServer) -> CloudRunProvider:
    return CloudRunProvider(service_config(server.url), poll_interval_s=0.02, retry_s=0.3)


def triples(found: tuple[Difference, ...]) -> list[tuple[str, str, str]]:
    return [(d.what, d.live, d.target) for d in found]


def assert_nothing_secret(server: CloudRunServer, found: tuple[Difference, ...]) -> None:
    text = repr(found) + "\n".join(d.line() for d in found)
    for value in SECRET_VALUES:
        assert value not in text
    for d in found:
        assert "{" not in d.line() and '"' not in d.line() and "\n" not in d.line()
    asked = [r for r in server.requests if r.path.endswith(":access")]
    assert all(r.headers.get("X-Asked-By") == "test" for r in asked)


def test_differences_between_the_serving_revision_and_the_target(server: CloudRunServer) -> None:
    deploy_two(server)
    p = provider(server)
    assert isinstance(p, SupportsDiff)
    snap = p.snapshot()
    assert snap.current is not None and snap.current.id == BAD
    target = next(r for r in snap.revisions if r.id == GOOD)

    found = p.differences(snap.current, target)

    assert triples(found) == [
        ("image app", "k-back:v1.3.0", "k-back:v1.2.9"),
        ("command app", "/app/server", ""),
        ("args app", "--workers 8", ""),
        (
            "secret app DB_PASSWORD",
            "secret db-password version latest",
            "secret db-password version 3",
        ),
        ("env app LOG_LEVEL", "debug", "info"),
        ("env app NEW_CHECKOUT", "on", ""),
        ("secret app PARTNER_TOKEN", "secret token (project partner) version 2", ""),
        ("memory app", "1Gi", "512Mi"),
        ("concurrency", "40", "80"),
        ("scaling min", "2", "0"),
        ("scaling max", "20", "100"),
        ("timeout", "60s", "300s"),
        (
            "service account",
            "k-back@keikakun-prod.iam.gserviceaccount.com",
            "123456789-compute@developer.gserviceaccount.com",
        ),
        ("secret volume tls", "secret tls-key version 1", "secret tls-key version latest"),
    ]
    # cpu "2" and "2000m" are the same amount; an unchanged plain value is not listed.
    assert "cpu app" not in {d.what for d in found}
    assert_nothing_secret(server, found)
    assert found[0].line() == "image app: k-back:v1.3.0 → k-back:v1.2.9"
    assert found[5].line() == "env app NEW_CHECKOUT: on → (none)"


def test_a_plain_credential_is_masked_and_still_said_to_change(server: CloudRunServer) -> None:
    name = server.store.add_service(PROJECT, REGION, SERVICE)
    for rev, token in (("k-back-00001-one", PLAIN_TOKEN), ("k-back-00002-two", "other-9876")):
        server.store.deploy(
            name,
            f"{IMAGE}:v1",
            revision=rev,
            template={"containers": [{"env": [{"name": "SESSION_SECRET", "value": token}]}]},
        )
    found = provider(server).differences(
        Revision(id="k-back-00002-two", version=""), Revision(id="k-back-00001-one", version="")
    )
    # One unnamed container: no container name in the line.
    assert triples(found) == [("env SESSION_SECRET", "***", "***")]
    assert "credential" in found[0].note
    assert_nothing_secret(server, found)


def test_identical_revisions_give_nothing(server: CloudRunServer) -> None:
    name = server.store.add_service(PROJECT, REGION, SERVICE)
    template = {
        "containers": [{"env": [secret_env("DB_PASSWORD", "db-password", "3")]}],
        "scaling": {"maxInstanceCount": 10},
    }
    for rev in ("k-back-00001-one", "k-back-00002-two"):
        server.store.deploy(name, f"{IMAGE}:v1", revision=rev, template=template)
    p = provider(server)
    one = Revision(id="k-back-00001-one", version="v1")
    assert p.differences(one, one) == ()
    assert p.differences(Revision(id="k-back-00002-two", version="v1"), one) == ()


def test_each_revision_is_read_once_and_an_unknown_one_is_not_found(
    server: CloudRunServer,
) -> None:
    deploy_two(server)
    p = provider(server)
    live, target = Revision(id=BAD, version=""), Revision(id=GOOD, version="")
    first = p.differences(live, target)
    assert p.differences(live, target) == first
    reads = [r for r in server.received("GET", "/revisions/") if not r.path.endswith("/revisions")]
    assert sorted(r.path.rsplit("/", 1)[-1] for r in reads) == sorted([GOOD, BAD])
    with pytest.raises(NotFound) as err:
        p.differences(live, Revision(id="k-back-00099-nope", version=""))
    assert "k-back-00099-nope" in str(err.value) and "\n" not in str(err.value)


def test_containers_added_and_removed_by_the_rollback(server: CloudRunServer) -> None:
    name = server.store.add_service(PROJECT, REGION, SERVICE)
    server.store.deploy(
        name,
        f"{IMAGE}:v1",
        revision="k-back-00001-one",
        template={"containers": [{"name": "app"}, {"name": "proxy", "image": "envoy:1.29"}]},
    )
    server.store.deploy(
        name,
        f"{IMAGE}:v2",
        revision="k-back-00002-two",
        template={"containers": [{"name": "app"}, {"name": "otel", "image": "otel/collector:1"}]},
    )
    found = provider(server).differences(
        Revision(id="k-back-00002-two", version=""), Revision(id="k-back-00001-one", version="")
    )
    assert triples(found) == [
        ("image app", "k-back:v2", "k-back:v1"),
        ("container proxy", "", "envoy:1.29"),
        ("container otel", "otel/collector:1", ""),
    ]
    assert [d.note for d in found[1:]] == ["added by the rollback", "removed by the rollback"]
