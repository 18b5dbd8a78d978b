"""The Neon PITR client against the fake Neon API v2 (``tests/neon_server``).

The window is the project's history retention; a restore is one branch
created from the parent at ``parent_timestamp`` with a read-write endpoint,
its operations followed until finished; a restore started again finds the
branch by its name and never creates a second one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from providers.base import CommandFailed, Forbidden, InvalidTarget, NotFound, TimedOut
from providers.database.neon import NeonClient, api_key_from
from tests.neon_server import NeonServer
from tests.pitr_platforms import drain

PROJECT = "shiny-wind-028834"
KEY = "napi_k3y_never_shown"


@pytest.fixture
def server() -> Iterator[NeonServer]:
    with NeonServer(api_key=KEY) as srv:
        srv.store.add_project(PROJECT, history_retention_seconds=86400)
        srv.store.operation_delay_s = 0.1
        yield srv


def client(server: NeonServer, key: str = KEY, **kw: object) -> NeonClient:
    return NeonClient(
        PROJECT,
        key,
        api_endpoint=server.api_url,
        poll_s=0.02,
        retry_s=3.0,
        **kw,  # type: ignore[arg-type]
    )


def created(server: NeonServer) -> list[dict[str, object]]:
    return [b for b in server.store.branches.values() if not b.get("default")]


def test_a_wrong_key_is_refused_and_never_shown(server: NeonServer) -> None:
    with pytest.raises(Forbidden, match="authentication required") as err:
        client(server, key="napi_wrong_key").project()
    assert "napi_wrong_key" not in str(err.value)
    assert server.received("GET")[-1].headers["Authorization"] == "Bearer napi_wrong_key"


def test_the_key_comes_from_the_named_variable() -> None:
    assert api_key_from("NEON_API_KEY", {"NEON_API_KEY": " k "}) == "k"
    with pytest.raises(InvalidTarget, match=r"NEON_API_KEY is not set.*api_key_env"):
        api_key_from("NEON_API_KEY", {})


def test_window_is_the_history_retention(server: NeonServer) -> None:
    now = datetime.now(UTC)
    win = client(server).window(now)
    assert win.latest == now and now - win.earliest == timedelta(seconds=86400)


def test_restore_branches_the_parent_at_the_time(server: NeonServer) -> None:
    when = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    lines, branch = drain(client(server).restore("k-back-pitr-1", when, timeout_s=10))
    (body,) = server.store.created
    main = next(b for b in server.store.branches.values() if b.get("default"))
    assert body["branch"] == {
        "parent_id": main["id"],
        "parent_timestamp": when.isoformat().replace("+00:00", "Z"),
        "name": "k-back-pitr-1",
    }
    assert body["endpoints"] == [{"type": "read_write"}]
    assert branch.ready and branch.parent_id == main["id"]
    assert branch.host.startswith("ep-") and branch.host.endswith(".aws.neon.tech")
    assert branch.parent_timestamp == when.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert any("operation(s) running" in line for line in lines)
    assert not any("npg_" in line for line in lines)  # the connection URIs' passwords


def test_restore_after_a_kill_never_creates_a_second_branch(server: NeonServer) -> None:
    when = datetime.now(UTC) - timedelta(hours=1)
    c = client(server)
    c.create("k-back-pitr-2", when, str(c.parent()["id"]))  # killed right after this call
    lines, branch = drain(client(server).restore("k-back-pitr-2", when, timeout_s=10))
    assert len(server.store.created) == 1 and len(created(server)) == 1
    assert "not created twice" in lines[0] and branch.ready


def test_parent_timestamp_outside_the_retention_is_refused(server: NeonServer) -> None:
    when = datetime.now(UTC) - timedelta(days=3)
    with pytest.raises(InvalidTarget, match=r"precedes your project's history retention.*HTTP 400"):
        drain(client(server).restore("k-back-pitr-old", when, timeout_s=5))
    assert created(server) == []


def test_a_busy_project_is_waited_for(server: NeonServer) -> None:
    """423 while another branch's operations run: the API did nothing, the call is retried."""
    server.store.operation_delay_s = 0.5
    when = datetime.now(UTC) - timedelta(hours=1)
    c = client(server)
    c.create("someone-elses", when, str(c.parent()["id"]))
    _, branch = drain(c.restore("k-back-pitr-3", when, timeout_s=10))
    refused = server.received("POST", "/branches")
    assert len(refused) >= 3 and branch.ready
    assert len(created(server)) == 2


def test_a_failed_operation_is_a_failure(server: NeonServer) -> None:
    server.store.failing_branches.append("could not reach the pageserver")
    when = datetime.now(UTC) - timedelta(hours=1)
    with pytest.raises(CommandFailed, match=r"create_branch .* failed: could not reach"):
        drain(client(server).restore("k-back-pitr-4", when, timeout_s=10))


def test_the_wait_is_bounded(server: NeonServer) -> None:
    server.store.operation_delay_s = float("inf")
    when = datetime.now(UTC) - timedelta(hours=1)
    with pytest.raises(TimedOut, match="did not finish within"):
        drain(client(server).restore("k-back-pitr-5", when, timeout_s=0.3))


def test_the_parent_is_found_by_name(server: NeonServer) -> None:
    when = datetime.now(UTC) - timedelta(hours=1)
    c = client(server)
    drain(c.restore("staging", when, timeout_s=10))
    later = datetime.now(UTC) - timedelta(minutes=1)
    _, branch = drain(client(server, parent_branch="staging").restore("from-staging", later, 10))
    staging = next(b for b in server.store.branches.values() if b["name"] == "staging")
    assert branch.parent_id == staging["id"]
    with pytest.raises(NotFound, match="no branch 'nope'"):
        client(server, parent_branch="nope").parent()


def test_a_lost_answer_to_the_create_is_looked_up_not_sent_again(server: NeonServer) -> None:
    server.lose_answers("POST", r"/branches$")
    when = datetime.now(UTC) - timedelta(hours=1)
    lines, branch = drain(client(server).restore("k-back-pitr-6", when, timeout_s=10))
    assert len(server.store.created) == 1 and branch.ready
    assert any("the create call went through" in line for line in lines)


def test_the_wait_alone_reports_a_failed_operation_of_the_branch(server: NeonServer) -> None:
    """Killed after the create, the operations' ids are lost: the wait (a new console) finds
    the branch's failed operation in ``GET /operations`` and fails with it, at once."""
    server.store.failing_branches.append("could not reach the pageserver")
    when = datetime.now(UTC) - timedelta(hours=1)
    c = client(server)
    c.create("k-back-pitr-7", when, str(c.parent()["id"]))  # the console killed here
    with pytest.raises(CommandFailed) as err:  # a timeout would be TimedOut
        drain(client(server).wait_ready("k-back-pitr-7", timeout_s=20))
    message = str(err.value)
    failed = next(
        op.doc for op in server.store.operations.values() if op.doc["action"] == "create_branch"
    )
    assert message == (
        f"Neon operation create_branch {failed['id']} failed: could not reach the pageserver "
        "(branch k-back-pitr-7 is not ready)"
    )
    assert "\n" not in message
    listed = [r for r in server.received("GET", "/operations") if r.path.endswith("/operations")]
    assert listed  # found by listing the project's operations, not by an id


def test_operations_are_listed_newest_first_a_page_at_a_time(server: NeonServer) -> None:
    when = datetime.now(UTC) - timedelta(hours=1)
    c = client(server)
    branch_id, ops = c.create("k-back-pitr-8", when, str(c.parent()["id"]))
    seen: list[str] = []
    cursor = ""
    while True:
        page = server.store.list_operations(PROJECT, "1", cursor or None)
        if not page["operations"]:
            break
        seen += [o["id"] for o in page["operations"]]
        cursor = page["pagination"]["cursor"]
    assert seen == list(reversed(ops))
    assert [o["id"] for o in c.branch_operations(branch_id)] == list(reversed(ops))
    assert c.branch_operations("br-someone-else") == []


def test_the_shown_command_names_the_real_parent_branch(server: NeonServer) -> None:
    server.store.add_project("other-project-1", main="production")
    when = datetime(2026, 1, 5, 22, 41, 7, tzinfo=UTC)
    other = NeonClient("other-project-1", KEY, api_endpoint=server.api_url)
    assert "--parent production@2026-01-05T22:41:07Z" in other.cli("k-back-pitr-9", when)
    named = NeonClient("other-project-1", KEY, api_endpoint=server.api_url, parent_branch="dev")
    assert "--parent dev@2026-01-05T22:41:07Z" in named.cli("k-back-pitr-9", when)
