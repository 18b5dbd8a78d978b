"""The team's own runbook steps (``[[services.steps]]``) in a rollback's plan, on real parts.

A host service (real release folders, a real ``current`` link, a restart
that is a real process) rolled back by ``RollbackFlow`` in this process, with
steps that are real argv commands (scripts that log which release was live
when they ran, one that fails) and real HTTP requests to a flag service
standing in for flagd / Unleash (``tests/fakes/flags.py``).  What is checked
is what happened: the log the scripts wrote, the link, the flag service's
state and requests, the checklist, the notes, the events.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from console.config import Config, load_config
from console.custom_steps import HTTP_OP, RUN_OP, CustomSteps
from console.errors import CommandFailed
from console.flow import RollbackFlow
from console.model import ItemState, Plan, ProgressEvent, ProgressStatus, Revision, Step, StepKind
from console.resume import JournalState
from console.runner import Skipped
from console.signals import make_error_rate_source
from providers import load_provider
from tests.fakes.flags import FlagService
from tests.providers.test_host import make_site
from tests.signals import FlipServer

TOKEN = "tok-Xq81-very-secret"
TOKEN_ENV = "CUSTOM_STEPS_TEST_FLAG_TOKEN"

#: ``record.py NAME [EXIT]``: appends "NAME current=<release>" to order.log, leaves
#: NAME.done, exits EXIT.
RECORD = """
import os, pathlib, sys
name = sys.argv[1]
live = os.path.basename(os.readlink("current"))
with open("order.log", "a") as log:
    log.write(f"{name} current={live}\\n")
pathlib.Path(f"{name}.done").write_text(live)
print(f"{name}: ran while {live} was live")
code = int(sys.argv[2]) if len(sys.argv) > 2 else 0
if code:
    print(f"{name}: giving up with {code}")
sys.exit(code)
"""


@pytest.fixture
def flags() -> Iterator[FlagService]:
    service = FlagService(TOKEN)
    os.environ[TOKEN_ENV] = f"Bearer {TOKEN}"
    try:
        yield service
    finally:
        os.environ.pop(TOKEN_ENV, None)
        service.close()


@pytest.fixture
def health() -> Iterator[FlipServer]:
    server = FlipServer()
    try:
        yield server
    finally:
        server.close()


def record(name: str, code: int = 0) -> list[str]:
    return [sys.executable, "record.py", name, *([str(code)] if code else [])]


def flag_call(flags: FlagService, enabled: bool) -> dict[str, Any]:
    return {
        "method": "PUT",
        "url": flags.url("new-checkout"),
        "headers_env": {"Authorization": TOKEN_ENV},
        "body": {"enabled": enabled},
        "expect_status": [200, 204],
    }


def flag_check(flags: FlagService, enabled: bool) -> dict[str, Any]:
    return {
        "url": flags.url("new-checkout"),
        "headers_env": {"Authorization": TOKEN_ENV},
        "expect_body": f'"enabled":{str(enabled).lower()}',
    }


def site_config(root: Path, health: FlipServer, steps: list[dict[str, Any]]) -> Config:
    make_site(root)
    (root / "record.py").write_text(RECORD)
    document = {
        "console": {"history_file": "history.md", "state_dir": "state"},
        "services": [
            {
                "name": "web",
                "environment": "production",
                "provider": "host",
                "ready_timeout_s": 5,
                "host": {
                    "strategy": "symlink",
                    "releases_dir": "releases",
                    "current_link": "current",
                    "restart": record("restart"),
                    "command_timeout_s": 20,
                },
                "health": [{"url": health.url}],
                "steps": steps,
            }
        ],
    }
    path = root / "config.toml"
    path.write_text(tomli_w.dumps(document))
    return load_config(path)


def flow_for(config: Config) -> RollbackFlow:
    service = config.service("web")
    return RollbackFlow(
        config, service, load_provider(service), make_error_rate_source(service), reason="5xx"
    )


def order(root: Path) -> list[str]:
    path = root / "order.log"
    return path.read_text().splitlines() if path.exists() else []


def execute(flow: RollbackFlow, plan: Plan) -> tuple[list[ProgressEvent], Exception | None]:
    events: list[ProgressEvent] = []
    try:
        flow.execute(plan, on_event=events.append)
    except CommandFailed as err:
        return events, err
    return events, None


# --------------------------------------------------------------------------- planning


def test_the_plan_shows_each_step_with_its_command_before_and_after_the_switch(
    tmp_path: Path, health: FlipServer, flags: FlagService
) -> None:
    config = site_config(
        tmp_path,
        health,
        [
            {
                "id": "maint-on",
                "title": "Maintenance mode on",
                "when": "before",
                "run": ["touch", "maintenance.flag"],
                "check": ["test", "-e", "maintenance.flag"],
                "undo": ["rm", "-f", "maintenance.flag"],
            },
            {
                "id": "maint-off",
                "title": "Maintenance mode off",
                "when": "after",
                "run": ["rm", "-f", "maintenance.flag"],
            },
            {
                "id": "kill-switch",
                "title": "new-checkout off",
                "when": "before",
                "http": flag_call(flags, False),
                "check": flag_check(flags, False),
            },
        ],
    )
    plan = flow_for(config).plan("v1.2.9", dry_run=True)
    titles = [step.title for step in plan.steps]
    assert titles == [
        "Maintenance mode on",
        "new-checkout off",
        "Point current at releases/v1.2.9",
        "Restart web (production) so it runs v1.2.9",
        "Maintenance mode off",
    ]
    assert [s.op for s in plan.steps] == [RUN_OP, HTTP_OP, "host.symlink", "host.run", RUN_OP]
    assert plan.steps[0].command == (
        "touch maintenance.flag && test -e maintenance.flag"
        "  # undo if a later step fails: rm -f maintenance.flag"
    )
    flag = plan.steps[1].command
    assert flag.startswith("curl -sS -X PUT -H 'Content-Type: application/json'")
    assert f'-H "Authorization: ${TOKEN_ENV}"' in flag
    assert "--data-raw '{\"enabled\":false}'" in flag
    assert "grep -qF -- '\"enabled\":false'" in flag
    assert TOKEN not in repr(plan)  # the token is named, never held
    assert flags.requests == []  # planning sends nothing


def test_before_steps_go_after_what_must_stay_first_and_after_steps_last(
    tmp_path: Path, health: FlipServer
) -> None:
    config = site_config(
        tmp_path,
        health,
        [
            {"id": "a", "title": "A", "when": "after", "run": ["true"]},
            {"id": "b", "title": "B", "when": "before", "run": ["true"]},
        ],
    )
    flow = flow_for(config)
    assert flow.custom is not None

    def step(op: str, kind: StepKind = StepKind.COMMAND) -> Step:
        return Step(title=op, command=op, kind=kind, op=op)

    plan = Plan(
        "web",
        "production",
        "kubernetes",
        Revision("3", "v3"),
        Revision("2", "v2"),
        steps=(
            step("gitops.suspend"),
            step("db.backup", StepKind.BACKUP),
            step("db.checks"),
            step("db.schema", StepKind.MIGRATION),
            step("k8s.undo", StepKind.SWITCH),
            step("db.checks"),
        ),
    )
    extended = flow.custom.extend(plan)
    assert [s.title for s in extended.steps] == [
        "gitops.suspend",
        "db.backup",
        "db.checks",
        "B",  # maintenance mode wraps the schema step too
        "db.schema",
        "k8s.undo",
        "db.checks",
        "A",
    ]


def test_a_header_variable_not_set_is_refused_at_plan_time(
    tmp_path: Path, health: FlipServer, flags: FlagService
) -> None:
    config = site_config(
        tmp_path,
        health,
        [{"id": "off", "title": "flag off", "when": "before", "http": flag_call(flags, False)}],
    )
    del os.environ[TOKEN_ENV]
    with pytest.raises(Exception) as info:
        flow_for(config).plan("v1.2.9", dry_run=True)
    assert info.value.exit_code == 2  # type: ignore[attr-defined]
    assert str(info.value) == (
        f"environment variable {TOKEN_ENV} is not set: step 'off' sends it as its "
        "Authorization header ([[services.steps]] headers_env)"
    )


# --------------------------------------------------------------------------- running


def test_steps_run_in_order_around_the_switch_and_are_ticked(
    tmp_path: Path, health: FlipServer, flags: FlagService
) -> None:
    config = site_config(
        tmp_path,
        health,
        [
            {"id": "first", "title": "First", "when": "before", "run": record("first")},
            {
                "id": "kill-switch",
                "title": "new-checkout off",
                "when": "before",
                "http": flag_call(flags, False),
                "check": flag_check(flags, False),
            },
            {"id": "last", "title": "Last", "when": "after", "run": record("last")},
        ],
    )
    flow = flow_for(config)
    events, error = execute(flow, flow.plan("v1.2.9"))
    assert error is None
    assert order(tmp_path) == [
        "first current=v1.3.0",
        "restart current=v1.2.9",
        "last current=v1.2.9",
    ]
    assert flags.flags["new-checkout"] is False
    assert [(r.method, r.authorization) for r in flags.requests] == [
        ("PUT", f"Bearer {TOKEN}"),
        ("GET", f"Bearer {TOKEN}"),
    ]
    marks = flow.incident.marks
    assert marks["step-first"].state is ItemState.DONE
    assert marks["step-kill-switch"].state is ItemState.DONE
    assert marks["step-kill-switch"].note == "HTTP 200 OK; check passed"
    assert marks["step-last"].state is ItemState.DONE
    texts = [item.text for item in flow.incident.checklist if item.id.startswith("step-")]
    assert texts == [
        "First (before the switch)",
        "new-checkout off (before the switch)",
        "Last (after the switch)",
    ]
    lines = [e.message for e in events if e.step == 1 and e.status is ProgressStatus.OUTPUT]
    assert lines[0] == f"PUT {flags.url('new-checkout')} -> HTTP 200 OK"
    assert any('"by":"***"' in line for line in lines), lines  # echoed back, redacted
    assert TOKEN not in flow.incident.journal_file.read_text()


def test_a_failing_check_stops_the_plan_before_the_switch_and_undoes_the_steps_before(
    tmp_path: Path, health: FlipServer
) -> None:
    config = site_config(
        tmp_path,
        health,
        [
            {
                "id": "maint-on",
                "title": "Maintenance mode on",
                "when": "before",
                "run": ["touch", "maintenance.flag"],
                "undo": ["rm", "-f", "maintenance.flag"],
            },
            {
                "id": "drain",
                "title": "Drain the queue",
                "when": "before",
                "run": record("drain"),
                "check": ["test", "-e", "queue-empty"],
            },
            {"id": "after", "title": "After", "when": "after", "run": record("after")},
        ],
    )
    flow = flow_for(config)
    events, error = execute(flow, flow.plan("v1.2.9"))
    assert error is not None
    assert str(error) == (
        "the check of step 'drain' did not pass: `test -e queue-empty` exited 1 with no "
        "output; the plan stops here"
    )
    # Nothing switched, nothing after it ran; the maintenance flag was taken back.
    assert os.readlink(tmp_path / "current").endswith("v1.3.0")
    assert order(tmp_path) == ["drain current=v1.3.0"]
    assert not (tmp_path / "maintenance.flag").exists()
    failed = [e for e in events if e.status is ProgressStatus.FAILED]
    assert [e.step for e in failed] == [1]
    after_failure = [e.message for e in events[events.index(failed[0]) + 1 :]]
    assert after_failure == [
        "undo of 'Maintenance mode on' (a later step failed): $ rm -f maintenance.flag",
        "undo of 'Maintenance mode on': exited 0",
    ]
    marks = flow.incident.marks
    assert marks["step-drain"].state is ItemState.FAILED
    assert marks["step-maint-on"].note == "done, then undone after a later step failed (exited 0)"
    assert marks["run"].state is ItemState.FAILED
    assert "Step 'Maintenance mode on' undone after a later step failed: exited 0" in (
        flow.incident.notes
    )
    kinds = [(e.kind, e.message) for e in flow.incident.timeline]
    undone = next(i for i, (_k, m) in enumerate(kinds) if "undo of 'Maintenance" in m)
    reported = next(i for i, (_k, m) in enumerate(kinds) if m.startswith("rollback failed"))
    assert undone < reported  # undone before the failure is reported


def test_a_failing_step_after_the_switch_undoes_the_steps_before_it_latest_first(
    tmp_path: Path, health: FlipServer, flags: FlagService
) -> None:
    config = site_config(
        tmp_path,
        health,
        [
            {
                "id": "one",
                "title": "One",
                "when": "before",
                "run": record("one"),
                "undo": record("undo-one"),
            },
            {
                "id": "kill-switch",
                "title": "new-checkout off",
                "when": "before",
                "http": flag_call(flags, False),
                "undo": flag_call(flags, True),
            },
            {"id": "no-undo", "title": "No undo", "when": "before", "run": ["true"]},
            {"id": "broken", "title": "Broken", "when": "after", "run": record("broken", 3)},
            {"id": "never", "title": "Never", "when": "after", "run": record("never")},
        ],
    )
    flow = flow_for(config)
    _events, error = execute(flow, flow.plan("v1.2.9"))
    assert str(error) == "step 'broken': `" + " ".join(record("broken", 3)) + (
        "` exited 3: broken: giving up with 3"
    )
    assert order(tmp_path) == [
        "one current=v1.3.0",
        "restart current=v1.2.9",
        "broken current=v1.2.9",
        "undo-one current=v1.2.9",  # after the flag's undo: latest first
    ]
    assert flags.flags["new-checkout"] is True
    assert [r.body for r in flags.changes()] == ['{"enabled":false}', '{"enabled":true}']
    # The switch itself is not undone: the failure is reported as it is.
    assert os.readlink(tmp_path / "current").endswith("v1.2.9")
    assert flow.incident.notes == [
        "A later step failed; step 'No undo' has no undo: left in effect.",
        "Step 'new-checkout off' undone after a later step failed: HTTP 200 OK",
        "Step 'One' undone after a later step failed: exited 0",
    ]
    assert flow.incident.marks["step-broken"].state is ItemState.FAILED
    assert "step-never" not in flow.incident.marks


def test_a_failing_undo_is_recorded_and_the_other_undos_still_run(
    tmp_path: Path, health: FlipServer
) -> None:
    config = site_config(
        tmp_path,
        health,
        [
            {"id": "a", "title": "A", "when": "before", "run": ["true"], "undo": record("un-a")},
            {"id": "b", "title": "B", "when": "before", "run": ["true"], "undo": ["false"]},
            {"id": "c", "title": "C", "when": "before", "run": ["false"]},
        ],
    )
    flow = flow_for(config)
    _events, error = execute(flow, flow.plan("v1.2.9"))
    assert str(error) == "step 'c': `false` exited 1 with no output"
    assert order(tmp_path) == ["un-a current=v1.3.0"]
    assert flow.incident.marks["step-b"].state is ItemState.FAILED
    assert flow.incident.marks["step-b"].note == (
        "done, but its undo failed: `false` exited 1 with no output"
    )
    assert flow.incident.marks["step-a"].state is ItemState.DONE


def test_a_step_not_required_fails_and_the_plan_goes_on(
    tmp_path: Path, health: FlipServer, flags: FlagService
) -> None:
    flags.refuse_with = 503
    config = site_config(
        tmp_path,
        health,
        [
            {
                "id": "kill-switch",
                "title": "new-checkout off",
                "when": "before",
                "http": flag_call(flags, False),
                "required": False,
            },
        ],
    )
    flow = flow_for(config)
    events, error = execute(flow, flow.plan("v1.2.9"))
    assert error is None
    assert os.readlink(tmp_path / "current").endswith("v1.2.9")
    ended = [e for e in events if e.step == 0 and e.status is not ProgressStatus.OUTPUT]
    assert [e.status for e in ended] == [ProgressStatus.STARTED, ProgressStatus.SKIPPED]
    mark = flow.incident.marks["step-kill-switch"]
    assert mark.state is ItemState.FAILED
    assert mark.note.startswith(
        f"step 'kill-switch': PUT {flags.url('new-checkout')} answered HTTP 503 Service "
        'Unavailable, expected 200 or 204: {"error":"flag store unavailable"}'
    )


def test_a_lost_answer_is_judged_by_the_check_and_without_one_is_not_called_done(
    tmp_path: Path, health: FlipServer, flags: FlagService
) -> None:
    flags.lose_answers = True
    step = {
        "id": "kill-switch",
        "title": "new-checkout off",
        "when": "before",
        "http": flag_call(flags, False),
        "check": flag_check(flags, False),
    }
    flow = flow_for(site_config(tmp_path / "checked", health, [step]))
    events, error = execute(flow, flow.plan("v1.2.9"))
    assert error is None
    assert flow.incident.marks["step-kill-switch"].note == (
        "no answer, but the check says it took effect; check passed"
    )
    assert any("the check decides whether it took effect" in e.message for e in events)

    flags.flags["new-checkout"] = True
    del step["check"]
    flow = flow_for(site_config(tmp_path / "unchecked", health, [step]))
    _events, error = execute(flow, flow.plan("v1.2.9"))
    assert error is not None
    assert "the answer was lost" in str(error) and "not known" in str(error)
    assert flags.flags["new-checkout"] is False  # it did take effect: not called done
    assert os.readlink(tmp_path / "unchecked" / "current").endswith("v1.3.0")


# --------------------------------------------------------------------------- resume


def interrupted(flow: RollbackFlow, plan: Plan, started: int, done: set[int]) -> JournalState:
    """What a journal says of ``plan`` when the console stopped during step ``started``."""
    state = JournalState("x", flow.incident.journal_file, plan=plan)
    state.step_started, state.steps_done = started, done
    return state


def test_resume_settles_a_started_step_by_its_check_and_never_runs_it_blindly(
    tmp_path: Path, health: FlipServer
) -> None:
    steps = [
        {
            "id": "checked",
            "title": "Checked",
            "when": "before",
            "run": record("checked"),
            "check": ["test", "-e", "checked.done"],
        },
        {"id": "unchecked", "title": "Unchecked", "when": "before", "run": record("unchecked")},
    ]
    config = site_config(tmp_path, health, steps)
    flow = flow_for(config)
    plan = flow.plan("v1.2.9")
    custom = flow.custom
    assert isinstance(custom, CustomSteps)

    # Its check passes: in effect, not run again.
    (tmp_path / "checked.done").write_text("")
    custom.resume_from(interrupted(flow, plan, 0, set()))
    assert custom.took_effect(plan.steps[0], plan) is True
    lines = list(custom.run(plan.steps[0], plan))
    assert order(tmp_path) == []
    assert flow.incident.marks["step-checked"].state is ItemState.DONE
    assert "checked" in custom.in_effect

    # Its check fails: it did not take effect, so it runs (and its check then passes).
    (tmp_path / "checked.done").unlink()
    custom.resume_from(interrupted(flow, plan, 0, set()))
    assert custom.took_effect(plan.steps[0], plan) is False
    lines = list(custom.run(plan.steps[0], plan))
    assert lines[1].startswith("the check did not pass")
    assert order(tmp_path) == ["checked current=v1.3.0"]

    # No check, started: never run again, and said so.
    custom.resume_from(interrupted(flow, plan, 1, {0}))
    assert custom.took_effect(plan.steps[1], plan) is None
    run = custom.run(plan.steps[1], plan)
    lines = []
    try:
        while True:
            lines.append(next(run))
    except StopIteration as stop:
        result = stop.value
    assert isinstance(result, Skipped)
    assert "has no check to tell whether it took effect: not run again" in result
    assert order(tmp_path) == ["checked current=v1.3.0"]
    assert flow.incident.marks["step-unchecked"].state is ItemState.SKIPPED
