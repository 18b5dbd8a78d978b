"""The Cloud SQL PITR client against the fake Admin API v1 (``tests/cloudsql_server``).

The window comes from ``getLatestRecoveryTime``; a restore is one
``instances.clone`` with ``pointInTime``, its operation followed until DONE and
the clone until RUNNABLE; a restore started again (after a kill, a lost
answer) finds the clone by its name and never clones twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from providers.base import (
    CommandFailed,
    Conflict,
    Forbidden,
    InvalidTarget,
    NotFound,
    TimedOut,
)
from providers.database.cloudsql import CloudSqlClient, CloudSqlInstance
from providers.database.pg import read_dsn
from providers.database.restored import dsn_with_host, shown_dsn
from tests.cloudsql_server import CloudSqlServer
from tests.fakes.rest import RestError
from tests.pitr_platforms import drain

PROJECT = "keikakun-prod"
SOURCE = "k-db"


@pytest.fixture
def server() -> Iterator[CloudSqlServer]:
    with CloudSqlServer() as srv:
        srv.store.add_instance(PROJECT, SOURCE, ip="34.84.0.2", private_ip="10.20.0.3")
        yield srv


def client(server: CloudSqlServer, **kw: object) -> CloudSqlClient:
    return CloudSqlClient(
        PROJECT,
        SOURCE,
        api_endpoint=server.url,
        poll_s=0.02,
        retry_s=2.0,
        **kw,  # type: ignore[arg-type]
    )


def test_window_is_what_the_api_reports(server: CloudSqlServer) -> None:
    win = client(server).window()
    assert win.earliest == server.store.earliest[f"{PROJECT}/{SOURCE}"]
    assert win.earliest < win.latest <= datetime.now(UTC)
    assert server.received("POST", f"/instances/{SOURCE}/getLatestRecoveryTime")


def test_window_refused_without_point_in_time_recovery(server: CloudSqlServer) -> None:
    server.store.add_instance(PROJECT, "no-pitr", pitr=False)
    with pytest.raises(InvalidTarget, match=r"no-pitr .*pointInTimeRecoveryEnabled is false"):
        CloudSqlClient(PROJECT, "no-pitr", api_endpoint=server.url).window()


def test_unknown_instance_is_not_found(server: CloudSqlServer) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        CloudSqlClient(PROJECT, "nope", api_endpoint=server.url, retry_s=0.5).source()


def test_restore_clones_at_the_time_and_waits_until_runnable(server: CloudSqlServer) -> None:
    when = datetime.now(UTC) - timedelta(minutes=30)
    lines, made = drain(client(server).restore("k-db-pitr-1", when, timeout_s=10))
    assert made.state == "RUNNABLE" and made.address("PRIMARY")
    assert made.connection_name == f"{PROJECT}:asia-northeast1:k-db-pitr-1"
    ((source, context),) = server.store.clones
    assert source == SOURCE and context["destinationInstanceName"] == "k-db-pitr-1"
    sent = datetime.fromisoformat(context["pointInTime"].replace("Z", "+00:00"))
    assert sent == when
    assert any("started (operation" in line for line in lines)
    assert any("RUNNING" in line or "PENDING" in line for line in lines)


def test_restore_after_a_kill_finds_the_clone_and_never_clones_twice(
    server: CloudSqlServer,
) -> None:
    when = datetime.now(UTC) - timedelta(minutes=5)
    first = client(server)
    first.clone("k-db-pitr-2", when)  # the console was killed right after this call
    assert server.store.instances[f"{PROJECT}/k-db-pitr-2"]["state"] == "PENDING_CREATE"
    lines, made = drain(client(server).restore("k-db-pitr-2", when, timeout_s=10))
    assert len(server.store.clones) == 1
    assert made.state == "RUNNABLE"
    assert "not cloned twice" in lines[0]


def test_a_clone_created_meanwhile_is_taken_not_cloned_again(server: CloudSqlServer) -> None:
    """The name was free when looked up, then the API says 409: the clone exists."""
    when = datetime.now(UTC) - timedelta(minutes=5)
    client(server).clone("k-db-pitr-3", when)
    server.inject("GET", r"/instances/k-db-pitr-3$", RestError(404, "NOT_FOUND", "gone", "x"))
    lines, made = drain(client(server).restore("k-db-pitr-3", when, timeout_s=10))
    assert len(server.store.clones) == 1 and made.state == "RUNNABLE"
    assert any("exists already" in line for line in lines)
    with pytest.raises(Conflict, match="already exists"):
        client(server).clone("k-db-pitr-3", when)


def test_time_outside_the_window_is_refused_by_the_api(server: CloudSqlServer) -> None:
    when = datetime.now(UTC) - timedelta(days=30)
    with pytest.raises(InvalidTarget, match=r"outside the recoverable range .*\(HTTP 400\)"):
        drain(client(server).restore("k-db-pitr-old", when, timeout_s=5))
    assert f"{PROJECT}/k-db-pitr-old" not in server.store.instances


def test_a_failed_clone_is_a_failure_and_the_instance_is_kept(server: CloudSqlServer) -> None:
    server.store.failing_clones.append(("INTERNAL_ERROR", "An internal error has occurred."))
    when = datetime.now(UTC) - timedelta(minutes=5)
    with pytest.raises(CommandFailed, match="INTERNAL_ERROR: An internal error"):
        drain(client(server).restore("k-db-pitr-4", when, timeout_s=10))
    assert server.store.instances[f"{PROJECT}/k-db-pitr-4"]["state"] == "FAILED"
    with pytest.raises(CommandFailed, match="FAILED: it is kept"):
        drain(client(server).restore("k-db-pitr-4", when, timeout_s=10))
    assert len(server.store.clones) == 1


def test_the_wait_is_bounded(server: CloudSqlServer) -> None:
    server.store.clone_delay_s = float("inf")
    when = datetime.now(UTC) - timedelta(minutes=5)
    with pytest.raises(TimedOut, match=r"did not finish within .*by its name on resume"):
        drain(client(server).restore("k-db-pitr-5", when, timeout_s=0.3))


def test_busy_answers_are_retried(server: CloudSqlServer) -> None:
    server.inject("GET", rf"/instances/{SOURCE}$", RestError(503, "UNAVAILABLE", "busy"), times=2)
    assert client(server).source().state == "RUNNABLE"
    assert len(server.received("GET", f"/instances/{SOURCE}")) == 3


def test_the_new_host_follows_how_the_app_reaches_the_source(server: CloudSqlServer) -> None:
    when = datetime.now(UTC) - timedelta(minutes=5)
    c = client(server)
    _, made = drain(c.restore("k-db-pitr-6", when, timeout_s=10))
    source = c.source()
    conn = f"/cloudsql/{PROJECT}:asia-northeast1:{SOURCE}"
    assert made.host_for(conn, source) == f"/cloudsql/{made.connection_name}"
    assert made.host_for("34.84.0.2", source) == made.address("PRIMARY")
    private = CloudSqlInstance(**{**made.__dict__, "addresses": (("PRIVATE", "10.20.0.9"),)})
    assert private.host_for("10.20.0.3", source) == "10.20.0.9"


def test_the_new_dsn_keeps_everything_but_the_host() -> None:
    live = read_dsn("D", {"D": "postgresql://app:s%40cret@34.84.0.2:5432/appdb?sslmode=require"})
    tcp = read_dsn("N", {"N": dsn_with_host(live, "34.84.0.10")})
    assert tcp.params["host"] == "34.84.0.10"
    assert {k: v for k, v in tcp.params.items() if k != "host"} == {
        k: v for k, v in live.params.items() if k != "host"
    }
    sock = read_dsn("N", {"N": dsn_with_host(live, "/cloudsql/p:r:k-db-pitr")})
    assert sock.params["host"] == "/cloudsql/p:r:k-db-pitr"
    assert sock.params["password"] == "s@cret" and sock.params["dbname"] == "appdb"
    shown = shown_dsn("34.84.0.10", "appdb")
    assert shown == "<new DSN: host 34.84.0.10 db appdb>" and "s@cret" not in shown


def test_a_real_endpoint_needs_application_default_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only an https endpoint asks google-auth (imported then, not before): none is one line."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/adc.json")
    c = CloudSqlClient(PROJECT, SOURCE, api_endpoint="https://127.0.0.1:9", retry_s=0.2)
    with pytest.raises(Forbidden, match="no Application Default Credentials") as err:
        c.source()
    assert "\n" not in str(err.value)


def test_a_lost_answer_to_the_clone_is_looked_up_not_sent_again(server: CloudSqlServer) -> None:
    server.lose_answers("POST", r"/clone$")
    when = datetime.now(UTC) - timedelta(minutes=5)
    lines, made = drain(client(server).restore("k-db-pitr-7", when, timeout_s=10))
    assert len(server.store.clones) == 1 and made.state == "RUNNABLE"
    assert any("the clone call went through" in line for line in lines)
