"""The Secret Manager v1 client against the fake (``tests/secretmanager_server``).

What the Cloud Run switch of a restore relies on: versions listed newest first
across pages, a payload found again by its bytes (a disabled version is
passed over), ``latest`` resolved to a number, ``addVersion`` read back,
errors as one line, and ``split_ref`` for both ways a revision names a secret.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers.base import InvalidTarget, NotFound
from providers.cloudrun.pitr_secret import add_version
from providers.cloudrun.secretmanager import SecretManagerClient, split_ref
from tests.secretmanager_server import SecretManagerServer

PROJECT = "keikakun-prod"


@pytest.fixture
def server() -> Iterator[SecretManagerServer]:
    with SecretManagerServer() as srv:
        srv.store.add_secret(PROJECT, "db-url", "one", "two", "three", number="204718833")
        yield srv


def client(server: SecretManagerServer, secret: str = "db-url") -> SecretManagerClient:
    return SecretManagerClient(PROJECT, secret, api_endpoint=server.url, retry_s=1.0)


def test_versions_are_newest_first_across_pages(server: SecretManagerServer) -> None:
    names = [v["name"] for v in client(server).versions(limit=150)]
    assert names == [f"projects/204718833/secrets/db-url/versions/{n}" for n in (3, 2, 1)]
    for n in range(4, 130):
        client(server).add(f"v{n}".encode())
    listed = client(server).versions(limit=150)
    assert len(listed) == 129 and listed[0]["name"].endswith("/versions/129")
    assert len(server.received("GET", "/versions")) >= 3  # pages of at most 100


def test_find_passes_over_a_disabled_version_and_latest_is_a_number(
    server: SecretManagerServer,
) -> None:
    c = client(server)
    assert c.find(b"two") == "2"
    server.store.set_state(PROJECT, "db-url", "2", "DISABLED")
    assert c.find(b"two") is None
    assert c.version("latest") == "3"
    server.store.set_state(PROJECT, "db-url", "3", "DISABLED")
    assert c.version("latest") == "1"
    with pytest.raises(InvalidTarget, match="is in DISABLED state"):
        c.access("3")


def test_add_reads_back_and_is_not_repeated(server: SecretManagerServer) -> None:
    c = client(server)
    assert add_version(c, b"postgresql://new", pinned=True) == ("4", True)
    assert add_version(c, b"postgresql://new", pinned=True) == ("4", False)
    assert c.access("4") == ("4", b"postgresql://new")
    # latest: only the latest version counts; an older one holding it is not what is read.
    c.add(b"someone else's")
    assert add_version(c, b"postgresql://new", pinned=False) == ("6", True)
    assert len(server.store.added) == 6


def test_a_missing_secret_is_named(server: SecretManagerServer) -> None:
    with pytest.raises(NotFound, match=r"secret nope \(project keikakun-prod\).*not found"):
        client(server, "nope").version("latest")


def test_a_secret_is_named_short_or_in_full() -> None:
    assert split_ref("db-url", "p1") == ("p1", "db-url")
    assert split_ref("projects/other/secrets/db-url", "p1") == ("other", "db-url")
