"""The postmortem draft: what it holds, where it goes, and that it never overwrites one."""

from __future__ import annotations

import os
from datetime import timedelta, timezone
from pathlib import Path

from console.model import Outcome, TimelineEvent
from console.postmortem import draft_path, render_draft, write_draft
from console.redact import Redactor
from tests.test_history import DETECTED, make_record

JST = timezone(timedelta(hours=9), "JST")


def section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section."""
    start = text.index(f"## {heading}\n")
    rest = text[start + len(heading) + 4 :]
    end = rest.find("\n## ")
    return rest if end < 0 else rest[:end]


def test_english_draft_has_the_runbook_sections_filled_from_the_incident() -> None:
    text = render_draft(make_record(), "en", tz=JST)
    assert text.startswith("# Postmortem draft: web (production) rolled back v1.3.0 → v1.2.9\n")
    for heading in (
        "Summary",
        "Impact",
        "Timeline",
        "Metrics before and after",
        "Root cause",
        "Lessons learned",
        "Action items (prevent recurrence)",
    ):
        assert f"\n## {heading}\n" in text
    summary = section(text, "Summary")
    assert "| Incident ID | web-20261124T170701Z-3f9a |" in summary
    assert "| Severity | High |" in summary
    assert "| Duration (time to recover) | 7m 12s |" in summary
    assert "| Detected | 2026-11-25 02:07 JST |" in summary
    assert "| Operator | alice |" in summary
    assert "12.5% of requests failing" in section(text, "Impact")
    timeline = section(text, "Timeline")
    assert "- 02:07:01 assessed: severity high: roll back" in timeline
    metrics = section(text, "Metrics before and after")
    assert "| Error rate | 12.5% (320 requests) | 0.2% (400 requests) |" in metrics
    assert "| p95 latency | 1840 ms | 120 ms |" in metrics
    # What only people can write is left as placeholders.
    assert "TODO" in section(text, "Root cause") and "v1.3.0" in section(text, "Root cause")
    assert section(text, "Lessons learned").count("TODO") == 3
    assert "- [!] Main API functions checked by hand (failed: GET /api/users answered 500)" in text


def test_japanese_draft_uses_the_runbook_headings() -> None:
    text = render_draft(make_record(), "ja", tz=JST)
    assert text.startswith("# ポストモーテム（下書き）: web (production)")
    for heading in (
        "概要",
        "影響",
        "タイムライン",
        "メトリクス（ロールバック前後）",
        "根本原因（RCA）",
        "教訓（Lessons Learned）",
        "再発防止策",
    ):
        assert f"\n## {heading}\n" in text
    assert "| 復旧時間 | 7分12秒 |" in text
    assert "| p95 レイテンシ | 1840 ms | 120 ms |" in text


def test_a_rollback_that_did_not_recover_says_so() -> None:
    record = make_record(outcome=Outcome.FAILED, recovered_at=None, after=None)
    text = render_draft(record, "en", tz=JST)
    assert "| Duration (time to recover) | not recovered |" in text
    assert "| Recovered | not recovered |" in text
    assert "| p95 latency | 1840 ms | not measured |" in text


def test_text_from_outside_is_redacted_and_cannot_break_the_markdown() -> None:
    record = make_record(
        reason="db at postgres://app:hunter2@db/prod | see\n## Fake heading <!-- x",
        timeline=(TimelineEvent(DETECTED, "output", "token=abc123 line\nnext"),),
    )
    text = render_draft(record, "en", redact=Redactor(), tz=JST)
    assert "hunter2" not in text and "abc123" not in text
    assert "| Reason | db at postgres://app:***@db/prod \\| see ## Fake heading &lt;!-- x |" in text
    assert "\n## Fake heading" not in text
    assert "- 02:07:01 output: token=*** line next" in text


def test_draft_goes_beside_the_history_file_named_by_date_and_incident(tmp_path: Path) -> None:
    history = tmp_path / "docs" / "operations" / "rollback-history.md"
    record = make_record()
    path = draft_path(record, history, tz=JST)
    assert path == history.parent / "postmortems" / "2026-11-25-web-20261124T170701Z-3f9a.md"
    other = draft_path(make_record("INC 7/../x"), history, tz=JST)
    assert other.parent == history.parent / "postmortems"
    assert other.name == "2026-11-25-web-INC-7-..-x.md"


def test_write_creates_the_folder_and_never_overwrites(tmp_path: Path) -> None:
    history = tmp_path / "docs" / "rollback-history.md"
    record = make_record()
    first = write_draft(record, history, "en", tz=JST)
    assert first.created
    assert first.path.read_text() == render_draft(record, "en", tz=JST)
    # Someone starts editing the draft; a second write (a retried save) keeps their text.
    first.path.write_text("# our notes\n")
    again = write_draft(make_record(reason="changed"), history, "ja", tz=JST)
    assert again.path == first.path and not again.created
    assert first.path.read_text() == "# our notes\n"
    # Nothing else is left behind in the folder (no temporary files).
    assert sorted(os.listdir(first.path.parent)) == [first.path.name]


def test_a_folder_that_cannot_be_written_raises_oserror(tmp_path: Path) -> None:
    history = tmp_path / "rollback-history.md"
    (tmp_path / "postmortems").write_text("a file where the folder should be")
    try:
        write_draft(make_record(), history, "en")
    except OSError:
        pass
    else:
        raise AssertionError("expected OSError")
