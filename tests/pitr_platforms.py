"""The database platforms a point-in-time recovery test restores on: Cloud SQL or Neon.

Each is a small faithful REST server of our own (``tests/cloudsql_server``,
``tests/neon_server``), with what a test of any switch (Cloud Run's revision,
Kubernetes' Secret) needs of it: the restores made, the new instance's host, a
way to slow them down (to kill the console mid-restore).  Shared by
``tests/providers/test_cloudrun_pitr.py`` and ``test_kubernetes_pitr.py``,
which import the fixture ``platform`` (``platform_fixture``: each test runs on both).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pytest

from tests.cloudrun_server.fixtures import PROJECT, REGION
from tests.cloudsql_server import CloudSqlServer
from tests.neon_server import NeonServer

PASSWORD = "s3cret-pw-9c1"
NEON_PROJECT = "shiny-wind-028834"
NEON_KEY = "napi_test_key_6b2"

T = TypeVar("T")


@dataclass
class Platform:
    """One database platform's fake, as the test needs it."""

    engine: str
    live_dsn: str
    toml: str
    made: Callable[[], list[dict[str, object]]]
    slow_down: Callable[[], None]
    new_host: Callable[[str], str]
    close: Callable[[], None]
    point_clones_at: Callable[[str], None] = lambda host: None
    #: The next restore's platform operation fails with this error (Neon).
    fail_next: Callable[[str], None] = lambda error: None


def cloudsql(project: str = PROJECT, region: str = REGION) -> Platform:
    server = CloudSqlServer()
    server.store.add_instance(project, "k-db", region=region)
    server.store.clone_delay_s = 0.3

    def new_host(name: str) -> str:
        return f"/cloudsql/{server.store.instances[f'{project}/{name}']['connectionName']}"

    def slow_down() -> None:
        server.store.clone_delay_s = 3.0

    def point_clones_at(host: str) -> None:
        server.store.clone_ip = host

    return Platform(
        engine="cloudsql",
        live_dsn=f"postgresql://app:{PASSWORD}@/appdb?host=/cloudsql/{project}:{region}:k-db",
        toml=f"""
[services.database.pitr.cloudsql]
project = "{project}"
instance = "k-db"
api_endpoint = "{server.url}"
timeout_s = 30
""",
        made=lambda: [dict(c) for _, c in server.store.clones],
        slow_down=slow_down,
        new_host=new_host,
        close=server.close,
        point_clones_at=point_clones_at,
    )


def neon() -> Platform:
    server = NeonServer(api_key=NEON_KEY)
    server.store.add_project(NEON_PROJECT, history_retention_seconds=86400, main="production")
    server.store.operation_delay_s = 0.2

    def new_host(name: str) -> str:
        branch = next(b for b in server.store.branches.values() if b["name"] == name)
        return next(
            str(e["host"])
            for e in server.store.endpoints.values()
            if e["branch_id"] == branch["id"]
        )

    def slow_down() -> None:
        server.store.operation_delay_s = 2.0

    return Platform(
        engine="neon",
        live_dsn=f"postgresql://app:{PASSWORD}@ep-live-123456.us-east-2.aws.neon.tech/appdb"
        "?sslmode=require",
        toml=f"""
[services.database.pitr.neon]
project_id = "{NEON_PROJECT}"
api_key_env = "NEON_API_KEY"
api_endpoint = "{server.api_url}"
timeout_s = 30
""",
        made=lambda: [dict(b) for b in server.store.created],
        slow_down=slow_down,
        new_host=new_host,
        close=server.close,
        fail_next=server.store.failing_branches.append,
    )


@pytest.fixture(params=["cloudsql", "neon"], name="platform")
def platform_fixture(request: pytest.FixtureRequest) -> Iterator[Platform]:
    """Each database platform's fake in turn, closed after the test."""
    made = cloudsql() if request.param == "cloudsql" else neon()
    yield made
    made.close()


def made_at(platform: Platform, name: str, when: datetime) -> None:
    """The one restore made is ``name`` at ``when`` (a clone's pointInTime, a branch's
    parent_timestamp)."""
    (made,) = platform.made()
    if platform.engine == "cloudsql":
        assert made["destinationInstanceName"] == name
        assert str(made["pointInTime"]).startswith(stamp(when).rstrip("Z"))
    else:
        branch = made["branch"]
        assert isinstance(branch, dict) and branch["parent_timestamp"] == stamp(when)
        assert branch.get("name") == name


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def everything_written(root: Path) -> str:
    """Every file the console wrote under ``root`` (but the config), to look for secrets."""
    return "".join(
        p.read_text(errors="replace")
        for p in root.rglob("*")
        if p.is_file() and p.suffix != ".toml"
    )


def drain(gen: Generator[str, None, T]) -> tuple[list[str], T]:
    """The lines a platform client's generator yields (a restore, a wait) and its value."""
    lines: list[str] = []
    while True:
        try:
            lines.append(next(gen))
        except StopIteration as stop:
            return lines, stop.value
