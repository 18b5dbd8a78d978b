"""An action (restart, restore-manifest, image rollback...) says what it did, never "rolled back".

The history entry's headline and Outcome cell, the team messages and the
postmortem title say "restarted and verified", "restart, not verified",
"restart failed"; reading the file back still gives scripts the ``Outcome``
value they know (``history --json``'s ``outcome``), with the words beside it.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from console.history import parse_entries, render_entry
from console.model import Outcome
from console.notify import render_message
from console.outcomes import outcome_from_text, outcome_text
from console.postmortem import render_draft
from tests.test_history import JST, make_record

CASES = [
    (Outcome.ROLLED_BACK, "restarted and verified"),
    (Outcome.NOT_VERIFIED, "restart, not verified"),
    (Outcome.FAILED, "restart failed"),
    (Outcome.ABORTED, "restart aborted"),
]


def field(entry: str, name: str) -> str:
    match = re.search(rf"^\| {re.escape(name)} \| (.*) \|$", entry, re.MULTILINE)
    assert match, entry
    return match.group(1)


@pytest.mark.parametrize(("outcome", "words"), CASES, ids=[c[1] for c in CASES])
def test_an_action_entry_says_what_was_done_and_reads_back_as_the_outcome(
    outcome: Outcome, words: str
) -> None:
    record = make_record(outcome=outcome, action="restart")
    entry = render_entry(record, tz=JST)
    [headline] = [line for line in entry.splitlines() if line.startswith("## ")]
    assert headline.endswith(f"web (production) {words} (v1.3.0 → v1.2.9)"), headline
    assert field(entry, "Outcome") == words
    assert "rolled back" not in headline and "rollback" not in field(entry, "Outcome")
    [summary] = parse_entries(entry)
    assert summary.outcome == outcome.value  # what `history --json` consumers parse
    assert summary.result == words


def test_a_rollback_entry_and_an_older_action_entry_read_as_before() -> None:
    rollback = render_entry(make_record(outcome=Outcome.NOT_VERIFIED), tz=JST)
    assert field(rollback, "Outcome") == "rolled back, not verified"
    [summary] = parse_entries(rollback)
    assert summary.outcome == summary.result == "rolled back, not verified"
    # An action entry written before actions had their own words.
    older = render_entry(make_record(action="restart"), tz=JST).replace(
        "| Outcome | restarted and verified |", "| Outcome | rolled back and verified |"
    )
    [summary] = parse_entries(older)
    assert summary.outcome == "rolled back and verified"


def test_every_outcome_of_every_action_reads_back() -> None:
    for action in ("restart", "restore-manifest old.yaml", "rollback-image v1.2.9", "gradual r1"):
        for outcome in Outcome:
            assert outcome_from_text(outcome_text(outcome, action), action) is outcome


def test_the_team_messages_and_the_postmortem_say_what_the_action_did() -> None:
    record = dataclasses.replace(
        make_record(outcome=Outcome.NOT_VERIFIED, recovered_at=None), action="restart"
    )
    done = render_message("completion", record, "en", tz=JST)
    assert done.startswith("[Restart, not verified] web (production)\n"), done
    assert "Result: restart, not verified\n" in done
    assert "rolled back" not in done and "recovery not verified" not in done
    ja = render_message("completion", record, "ja", tz=JST)
    assert ja.startswith("【restart 実施済み、正常性は未確認】")
    assert "ロールバック" not in ja
    draft = render_draft(record, "en", tz=JST)
    assert draft.startswith("# Postmortem draft: web (production) restart (v1.3.0 → v1.2.9)\n")
    assert "| Outcome | restart, not verified |" in draft
