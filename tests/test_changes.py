"""The "What changes" and "Who will undo it" lists (issue 14) through the core: the flow,
the journal, the history entry and its parser, the team message.  The screens:
``tests/screens/test_what_changes.py``; the host's comparisons:
``tests/providers/test_host_diff.py``.

The flow runs on the demo sandbox's real release folders (v1.3.0 live, v1.2.9
before it: their ``VERSION`` and ``release.json`` differ, ``app.py`` does not).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from console.config import load_config
from console.demo import DemoSandbox
from console.flow import RollbackFlow
from console.history import parse_entries, render_entry
from console.journal import encode_event
from console.model import Difference, Plan
from console.notify import render_message
from console.redact import Redactor
from console.resume import plan_for_journal, plan_from, read_state
from console.signals import make_error_rate_source
from providers import load_provider
from tests.test_history import make_record
from tests.test_notify import JST
from tests.test_notify import make_record as message_record

ARGO = (
    "Argo CD Application argocd/web auto-syncs: the plan suspends it first; "
    "re-enable with `rollback-console action web resume-gitops`"
)


def demo_flow(box: DemoSandbox) -> RollbackFlow:
    config = load_config(box.config_path)
    service = config.service("web")
    provider = load_provider(service)
    return RollbackFlow(config, service, provider, make_error_rate_source(service), reason="t")


def journaled(plan: Plan) -> Plan:
    """``plan`` through the journal: encoded as a line, read back."""
    return plan_from(json.loads(encode_event({"plan": plan_for_journal(plan)}))["plan"])


# =========================================================================== the flow


def test_a_rollback_plan_carries_what_changes_between_the_release_folders(
    sandbox: DemoSandbox,
) -> None:
    plan = demo_flow(sandbox).plan(None, dry_run=True)
    assert plan.to_revision.version == "v1.2.9"
    assert [d.line() for d in plan.changes] == [
        "files: 3 changed (1 the same)",
        "config release.json (changed)",
    ]
    assert plan.undone_by == ()


def test_an_action_plan_has_no_changes(sandbox: DemoSandbox) -> None:
    plan = demo_flow(sandbox).plan_action("restart", None, dry_run=True)
    assert plan.changes == () and plan.undone_by == ()


def test_changes_are_redacted_when_the_plan_is_made(sandbox: DemoSandbox) -> None:
    """A secret that ends up in a line (here a file named after a token) never leaves it."""
    (sandbox.root / "releases" / "v1.2.9" / "T0KEN-s3cret.env.json").write_text("{}\n")
    flow = demo_flow(sandbox)
    flow.redact = Redactor(["T0KEN-s3cret"])
    plan = flow.plan("v1.2.9", dry_run=True)
    assert "config ***.env.json (only in v1.2.9)" in [d.line() for d in plan.changes]
    assert "T0KEN" not in json.dumps(plan_for_journal(plan), default=str)


# =========================================================================== the journal


def test_changes_and_undone_by_survive_the_journal(sandbox: DemoSandbox) -> None:
    plan = demo_flow(sandbox).plan(None, dry_run=True)
    plan = dataclasses.replace(
        plan,
        changes=(*plan.changes, Difference("env LOG_LEVEL", "debug", "", "only in v1.3.0")),
        undone_by=(ARGO,),
    )
    back = journaled(plan)
    assert back.changes == plan.changes and back.undone_by == (ARGO,)
    assert back.steps == plan.steps and back.to_revision == plan.to_revision


def test_a_plan_journaled_before_issue_14_reads_with_none(sandbox: DemoSandbox) -> None:
    plan = demo_flow(sandbox).plan(None, dry_run=True)
    raw = json.loads(encode_event({"plan": plan_for_journal(plan)}))["plan"]
    assert raw["changes"] and "undone_by" in raw
    del raw["changes"], raw["undone_by"]
    old = plan_from(raw)
    assert old.changes == () and old.undone_by == ()
    assert old.steps == plan.steps


def test_a_journaled_plan_with_changes_of_the_wrong_type_is_skipped_with_a_warning(
    sandbox: DemoSandbox, tmp_path: Path
) -> None:
    plan = demo_flow(sandbox).plan(None, dry_run=True)
    raw = json.loads(encode_event({"plan": plan_for_journal(plan)}))["plan"]
    path = tmp_path / "web-x.jsonl"
    lines = [
        {"event": "opened", "service": "web", "environment": "demo"},
        {"event": "plan", "plan": {**raw, "undone_by": "not a list"}},
        {"event": "plan", "plan": {**raw, "changes": [5]}},
        {"event": "execute"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    state = read_state(path)
    assert state.plan is None and state.executing
    assert [w.split(": ", 1)[0] for w in state.warnings] == [f"{path}:2", f"{path}:3"]
    assert "undone_by must be a list" in state.warnings[0]


# =========================================================================== the entry


def test_the_entry_has_what_changes_and_who_will_undo_it_and_reads_back() -> None:
    record = make_record(
        changes=(
            Difference("image web", "app:1.3.0", "app:1.2.9"),
            Difference("env DB_URL", "postgres://u:hunter2@db/x", "", "only in v1.3.0"),
            Difference("config a|b <br> c.toml", note="changed\nreally"),
        ),
        undone_by=(ARGO,),
    )
    text = render_entry(record, Redactor(["hunter2"]))
    assert (
        "### What changes\n\n"
        "- image web: app:1.3.0 → app:1.2.9\n"
        "- env DB_URL: postgres://u:***@db/x → (none) (only in v1.3.0)\n"
        "- config a|b &lt;br> c.toml (changed<br>really)\n"
        "\n### Who will undo it\n\n"
        f"- {ARGO}\n"
        "\n### Timeline\n"
    ) in text
    assert "hunter2" not in text

    (entry,) = parse_entries("# Rollback history\n\n" + text)
    assert entry.note == "" and entry.outcome == "rolled back and verified"
    assert entry.from_revision == "v1.3.0" and entry.to_revision == "v1.2.9"
    assert entry.changes == (
        "image web: app:1.3.0 → app:1.2.9",
        "env DB_URL: postgres://u:***@db/x → (none) (only in v1.3.0)",
        "config a|b <br> c.toml (changed\nreally)",
    )
    assert entry.undone_by == (ARGO,)


def test_an_entry_without_the_sections_reads_as_before() -> None:
    text = render_entry(make_record())
    assert "### What changes" not in text and "### Who will undo it" not in text
    (entry,) = parse_entries(text)
    assert entry.changes == () and entry.undone_by == () and entry.note == ""


# =========================================================================== the message


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_completion_message_says_who_will_undo_it_only_when_someone_will(
    language: str,
) -> None:
    record = dataclasses.replace(message_record(), undone_by=(ARGO, "the next helm upgrade"))
    text = render_message("completion", record, language, tz=JST)
    label = "Who will undo it: " if language == "en" else "ロールバックを打ち消しうるもの: "
    operator = "Operator: alice\n" if language == "en" else "実施者: alice\n"
    assert f"{operator}{label}{ARGO}; the next helm upgrade\n\n" in text

    plain = render_message("completion", message_record(), language, tz=JST)
    assert label not in plain and "${" not in plain
    assert f"{operator}\n" in plain and "\n\n\n" not in plain
