"""The engine-neutral side of a point-in-time recovery (issue 16).

The moment (``console.pitr_time``: default = the bad release's deploy time minus
``margin_s``, clamped into the window; refusals; the loss line), the switch held
before a ``confirm_before`` step by the one runner, and the checks live | restored
carried from a part's output into the history entry and ``history --json``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.cli.history import _entry_json
from console.history import append_entry, read_entries
from console.journal import encode_event
from console.model import CheckPair, Outcome, Plan, ProgressStatus, Revision, Step
from console.outcomes import outcome_from_text, outcome_text
from console.pitr_time import (
    default_moment,
    loss_line,
    parse_moment,
    refusal,
)
from console.resume import plan_for_journal, plan_from
from console.runner import Compared, Held, run_plan
from tests.test_history import make_record

NOW = datetime(2026, 1, 5, 23, 53, 7, tzinfo=UTC)
EARLIEST = NOW - timedelta(days=2)
LATEST = NOW - timedelta(seconds=30)


def test_the_default_is_the_deploy_time_minus_the_margin_clamped_into_the_window() -> None:
    deployed = NOW - timedelta(hours=1, minutes=7)
    assert default_moment(deployed, 300, EARLIEST, LATEST, NOW) == deployed - timedelta(seconds=300)
    # Deployed before the oldest backup: the earliest restorable moment.
    assert default_moment(EARLIEST - timedelta(hours=1), 300, EARLIEST, LATEST, NOW) == EARLIEST
    # Deployed a minute ago with a margin of 0: not past the newest archived WAL.
    assert default_moment(NOW - timedelta(seconds=5), 0, EARLIEST, LATEST, NOW) == LATEST
    # No deploy time known: the latest restorable moment.
    assert default_moment(None, 300, EARLIEST, LATEST, NOW) == LATEST


def test_times_that_cannot_be_restored_are_refused_in_one_line() -> None:
    assert refusal(NOW - timedelta(hours=1), EARLIEST, LATEST, NOW) is None
    assert "in the future" in (refusal(NOW + timedelta(minutes=1), EARLIEST, LATEST, NOW) or "")
    assert "before the earliest" in (
        refusal(EARLIEST - timedelta(seconds=1), EARLIEST, LATEST, NOW) or ""
    )
    assert "after the latest" in (refusal(NOW - timedelta(seconds=5), EARLIEST, LATEST, NOW) or "")
    for bad, words in (("22:41", "not a time"), ("2026-01-05 22:41:07", "no time zone")):
        with pytest.raises(ValueError, match=words):
            parse_moment(bad)
    assert parse_moment("2026-01-06T07:41:07+09:00") == datetime(2026, 1, 5, 22, 41, 7, tzinfo=UTC)


def test_the_loss_line_says_from_when_and_about_how_long() -> None:
    line = loss_line(datetime(2026, 1, 5, 22, 41, 7, tzinfo=UTC), NOW)
    assert line == (
        "writes between 22:41:07 UTC and now, about 1 h 12 min, will not be in the "
        "restored database"
    )


# ----------------------------------------------------------------- the runner's gate


class Part:
    """A part whose steps say they ran; the checks step yields a compared check."""

    ops = frozenset({"t.restore", "t.checks", "t.switch"})

    def __init__(self) -> None:
        self.ran: list[str] = []

    def run(self, step: Step, plan: Plan) -> Generator[str, None, str]:
        self.ran.append(step.op)
        if step.op == "t.checks":
            yield Compared("orders", "9", "6")
        return "done"

    def took_effect(self, step: Step, plan: Plan) -> bool | None:
        return None


def plan_with_switch() -> Plan:
    rev = Revision("v1", "v1")
    steps = (
        Step("Restore", "restore", op="t.restore"),
        Step("Checks", "checks", op="t.checks"),
        Step("Switch", "switch", op="t.switch", confirm_before=True),
    )
    return Plan("web", "prod", "host", rev, rev, steps, action="pitr", argument="T")


def untyped(plan: Plan):  # type: ignore[no-untyped-def]
    raise AssertionError("every step has an op")


def test_a_confirm_before_step_is_asked_about_and_a_no_holds_the_plan_before_it() -> None:
    part, asked = Part(), []

    def no(index: int, step: Step) -> bool:
        asked.append((index, step.title, list(part.ran)))
        return False

    events = []
    with pytest.raises(Held) as held:
        for event in run_plan(plan_with_switch(), [part], untyped, no):
            events.append(event)
    # Asked once, right before the switch, after the checks ran; the switch never ran.
    assert asked == [(2, "Switch", ["t.restore", "t.checks"])]
    assert part.ran == ["t.restore", "t.checks"] and held.value.step == 2
    compared = [e.message for e in events if isinstance(e.message, Compared)]
    assert compared == ["check orders: live 9 | restored 6"]
    assert compared[0].pair == CheckPair("orders", "9", "6")
    assert not any(e.status is ProgressStatus.FAILED for e in events)

    yes_part = Part()
    list(run_plan(plan_with_switch(), [yes_part], untyped, lambda i, s: True))
    assert yes_part.ran == ["t.restore", "t.checks", "t.switch"]
    unasked = Part()  # no gate (--yes): it goes on
    list(run_plan(plan_with_switch(), [unasked], untyped, None))
    assert unasked.ran[-1] == "t.switch"


def test_confirm_before_survives_the_journal() -> None:
    encoded = json.loads(encode_event({"plan": plan_for_journal(plan_with_switch())}))["plan"]
    assert [s.confirm_before for s in plan_from(encoded).steps] == [False, False, True]


# ----------------------------------------------------------------- the entry


def test_the_checks_are_in_the_entry_and_in_history_json(tmp_path: Path) -> None:
    record = dataclasses.replace(
        make_record(),
        action="pitr 2026-01-05T22:41:07Z",
        outcome=Outcome.RESTORED,
        checks=(CheckPair("orders", "9", "6"), CheckPair("bad | pipe", "error x", "")),
    )
    history = tmp_path / "rollback-history.md"
    append_entry(history, record)
    text = history.read_text()
    assert "### Database checks" in text
    assert "| orders | 9 | 6 |" in text
    assert "database restored to a point in time, application not switched" in text
    entry = read_entries(history)[-1]
    assert entry.checks == (("orders", "9", "6"), ("bad | pipe", "error x", ""))
    assert entry.outcome == Outcome.RESTORED.value
    assert outcome_from_text(outcome_text(Outcome.RESTORED, "pitr"), "pitr") is Outcome.RESTORED

    shown = _entry_json(1, entry)  # what history --json prints for it
    assert shown["checks"] == [
        {"name": "orders", "live": "9", "restored": "6"},
        {"name": "bad | pipe", "live": "error x", "restored": ""},
    ]


def test_margin_s_is_read_bounded_and_named(tmp_path: Path) -> None:
    import tomllib

    import tomli_w

    from console.config import ConfigError, load_config
    from console.demo import build_sandbox
    from console.pitr_time import margin_of

    box = build_sandbox(tmp_path / "box")
    data = tomllib.loads(box.config_path.read_text())
    pitr: dict[str, object] = {
        "base_backup_dir": str(tmp_path),
        "wal_archive_dir": str(tmp_path),
        "restore_dir": str(tmp_path / "r"),
        "port": 5433,
    }
    data["services"][0]["database"] = {"dsn_env": "X", "migrations": "none", "pitr": pitr}
    box.config_path.write_text(tomli_w.dumps(data))
    assert margin_of(load_config(box.config_path).services[0]) == 300.0  # the default
    pitr["margin_s"] = 60
    box.config_path.write_text(tomli_w.dumps(data))
    assert margin_of(load_config(box.config_path).services[0]) == 60.0
    pitr["margin_s"] = -5
    box.config_path.write_text(tomli_w.dumps(data))
    with pytest.raises(ConfigError, match="margin_s"):
        load_config(box.config_path)
