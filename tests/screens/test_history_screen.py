"""The history browser, driven by keys, and the same history from the command line.

The history file is real: entries appended by ``console.history.append_entry``
(fixed times, rendered in UTC) after a hand-written entry in the runbook's
Japanese table format, the way a team's file looks after switching to the
console.  The screen is driven with the pilot; one SVG snapshot at 80x24.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable, Markdown

from console.history import append_entry
from console.model import HistoryRecord, Outcome, Revision, Sample, Severity, TimelineEvent
from screens.history import HistoryEntryScreen, HistoryScreen
from tests.screens.fixed_dashboard import FixedWorld, fixed_config

#: Upper bound on pilot pauses while waiting for a worker; a bound, not a timing.
MAX_PAUSES = 600

HAND_WRITTEN = """# Rollback history

## 2026-01-05 ロールバック

| 項目 | 内容 |
|------|------|
| 日時 | 2026-01-05 14:20 |
| 実施者 | taro |
| 対象環境 | production |
| サービス | api |
| ロールバック元 | v2.0.1 |
| ロールバック先 | v2.0.0 |
| 理由 | ログイン不可 |
| 復旧時間 | 15分 |
"""


def record(
    number: int,
    service: str,
    frm: str,
    to: str,
    ttr_s: float | None,
    outcome: Outcome = Outcome.ROLLED_BACK,
) -> HistoryRecord:
    detected = datetime(2026, 1, 10, 2, 0, tzinfo=UTC) + timedelta(days=number)
    finished = detected + timedelta(seconds=(ttr_s or 300) + 20)
    return HistoryRecord(
        incident_id=f"{service}-{detected:%Y%m%dT%H%M%SZ}-{number:04x}",
        service=service,
        environment="production",
        provider="host",
        operator="alice",
        reason=f"5xx after {frm}",
        severity=Severity.HIGH,
        impact="checkout failing",
        outcome=outcome,
        detected_at=detected,
        finished_at=finished,
        recovered_at=detected + timedelta(seconds=ttr_s) if ttr_s is not None else None,
        from_revision=Revision(frm, frm),
        to_revision=Revision(to, to),
        timeline=(TimelineEvent(detected, "assessed", "severity high: roll back"),),
        before=Sample(detected, 0.42, 900.0, 300, "probe"),
        after=Sample(finished, 0.0, 40.0, 300, "probe") if ttr_s is not None else None,
        verification="healthy for 60 s" if ttr_s is not None else "not verified",
    )


def make_history(folder: Path) -> Path:
    """A hand-written entry, then four console entries (one failed), oldest first."""
    path = folder / "docs" / "rollback-history.md"
    path.parent.mkdir(parents=True)
    path.write_text(HAND_WRITTEN)
    for rec in (
        record(1, "web", "v1.3.0", "v1.2.9", 432),
        record(2, "web", "v1.4.0", "v1.3.1", None, Outcome.FAILED),
        record(3, "worker", "v0.9.2", "v0.9.1", 185),
        record(4, "web", "v1.4.1", "v1.4.0", 3723),
    ):
        append_entry(path, rec, tz=UTC)
    return path


class HistoryApp(App[None]):
    """The history screen on its own, the way the console pushes it."""

    def __init__(self, history_file: Path) -> None:
        super().__init__()
        self.history_file = history_file

    def on_mount(self) -> None:
        self.push_screen(HistoryScreen(self.history_file))


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    for _ in range(MAX_PAUSES):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"gave up waiting for {what}; screen is {pilot.app.screen!r}")


def loaded(app: App[Any]) -> bool:
    screen = app.screen
    return isinstance(screen, HistoryScreen) and screen.loaded


def rows(screen: HistoryScreen) -> list[list[str]]:
    table = screen.query_one("#history-table", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


# =========================================================================== the screen


async def test_entries_are_listed_newest_first_with_the_median(tmp_path: Path) -> None:
    app = HistoryApp(make_history(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: loaded(app), "the entries")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        listed = rows(screen)
        assert [row[0] for row in listed] == ["5", "4", "3", "2", "1"]
        assert listed[0] == [
            "5",
            "2026-01-14 03:02",
            "web",
            "v1.4.1 → v1.4.0",
            "verified",
            "1h 02m 03s",
        ]
        assert listed[2][3:6] == ["v1.4.0 → v1.3.1", "FAILED", "—"]
        # The runbook-format entry is listed with what could be read, and marked.
        assert listed[4][2:6] == ["api", "v2.0.1 → v2.0.0", "unknown *", "15m 00s"]
        summary = str(screen.query_one("#history-summary").render())
        # Median of 15m 00s, 7m 12s, 3m 05s, 1h 02m 03s.
        assert summary == "5 entries, production · median time to recover 11m 06s (4 recovered)"


def add_unverified_entry_with_a_time(path: Path) -> None:
    """An entry as an earlier console wrote a not-verified resume: outcome "rolled back,
    not verified", yet a time to recover of 1m 00s in its row (issue 11)."""
    from console.history import render_entry

    text = render_entry(record(5, "web", "v1.5.0", "v1.4.1", 60), tz=UTC)
    text = text.replace(
        "| Outcome | rolled back and verified |", "| Outcome | rolled back, not verified |"
    )
    assert "| Time to recover | 1m 00s" in text
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n" + text)


async def test_only_verified_recoveries_have_a_time_and_count_in_the_median(
    tmp_path: Path,
) -> None:
    path = make_history(tmp_path)
    add_unverified_entry_with_a_time(path)
    app = HistoryApp(path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: loaded(app), "the entries")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        assert rows(screen)[0][4:6] == ["not verified", "—"]
        summary = str(screen.query_one("#history-summary").render())
        # Still the median of 15m 00s, 7m 12s, 3m 05s, 1h 02m 03s: the 1m 00s does not count.
        assert summary == "6 entries, production · median time to recover 11m 06s (4 recovered)"


async def test_enter_opens_the_whole_entry_and_escape_comes_back(tmp_path: Path) -> None:
    app = HistoryApp(make_history(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: loaded(app), "the entries")
        listing = app.screen
        await pilot.press("down", "enter")  # #4: worker, v0.9.2 → v0.9.1
        await wait_until(pilot, lambda: isinstance(app.screen, HistoryEntryScreen), "the entry")
        entry = app.screen
        assert isinstance(entry, HistoryEntryScreen)
        assert entry.number == 4
        title = str(entry.query_one("#entry-title").render())
        assert "#4" in title and "worker (production)" in title and "v0.9.2 → v0.9.1" in title
        assert "| Time to recover | 3m 05s" in entry.markdown
        assert "### Timeline" in entry.markdown
        assert "<!-- rollback-console entry" not in entry.markdown
        assert entry.query_one("#entry-markdown", Markdown).source == entry.markdown
        await pilot.press("c")
        assert app.clipboard == entry.markdown
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is listing, "the list again")


async def test_no_history_file_yet_is_said_plainly(tmp_path: Path) -> None:
    app = HistoryApp(tmp_path / "nothing-here.md")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app), "the empty list")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        assert rows(screen) == []
        assert "No rollbacks recorded yet" in str(screen.query_one("#history-summary").render())


async def test_an_unreadable_file_is_one_error_line(tmp_path: Path) -> None:
    folder = tmp_path / "history-is-a-folder.md"
    folder.mkdir()
    app = HistoryApp(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app), "the error")
        error = str(app.screen.query_one("#history-error").render())
        assert error.startswith(f"Cannot read {folder}")


async def test_h_on_the_dashboard_opens_the_history_and_escape_goes_back(tmp_path: Path) -> None:
    config = fixed_config(tmp_path)
    make_history(tmp_path)
    config.console.history_file.parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "docs" / "rollback-history.md").replace(config.console.history_file)
    app = FixedWorld().app(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        dashboard = app.screen
        await pilot.press("h")
        await wait_until(pilot, lambda: loaded(app), "the history")
        assert not app.wizard_open, "browsing the history is not a rollback"
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        assert len(rows(screen)) == 5
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is dashboard, "the dashboard")


# =========================================================================== snapshot


def test_history_screen_snapshot_80x24(
    snap_compare: Callable[..., bool],
    tmp_path: Path,
    utc_zone: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_history(tmp_path)
    # The title shows the path: a relative one reads the same on every machine.
    monkeypatch.chdir(tmp_path)

    async def settle(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: loaded(pilot.app), "the entries")
        # Column widths follow the rows a frame or two later: wait until the screen shows
        # them (the full date of the newest entry), not for a time.
        await wait_until(
            pilot,
            lambda: "2026-01-14&#160;03:02" in pilot.app.export_screenshot(),
            "the columns at their full width",
        )

    app = HistoryApp(Path("docs/rollback-history.md"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


# =========================================================================== the command line


def history_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", "history", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def cli_config(tmp_path: Path) -> Path:
    history = make_history(tmp_path)
    (tmp_path / "releases" / "v1").mkdir(parents=True)
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[console]
history_file = "{history}"
state_dir = "{tmp_path / "state"}"

[[services]]
name = "web"
environment = "production"
provider = "host"

[services.host]
releases_dir = "{tmp_path / "releases"}"
current_link = "{tmp_path / "current"}"

[services.error_rate]
urls = ["http://127.0.0.1:9/health"]
"""
    )
    return path


def test_history_lists_time_to_recover_per_entry_and_the_median(cli_config: Path) -> None:
    result = history_cli(cli_config)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("rollback-history.md: 5 entries")
    assert "v1.3.0 -> v1.2.9  rolled back and verified  TTR 7m 12s  #2" in result.stdout
    assert "v1.4.0 -> v1.3.1  rollback failed  TTR -  #3" in result.stdout
    assert "TTR 1h 02m 03s  #5" in result.stdout
    assert "median time to recover: 11m 06s" in result.stdout
    last = history_cli(cli_config, "--last", "2").stdout
    assert "#4" in last and "#5" in last and "#3" not in last


def test_history_open_prints_one_entry_by_number_or_id(cli_config: Path) -> None:
    by_number = history_cli(cli_config, "--open", "4")
    assert by_number.returncode == 0, by_number.stderr
    assert by_number.stdout.startswith("<!-- rollback-console entry id=worker-")
    assert "| Time to recover | 3m 05s" in by_number.stdout
    assert "v1.3.0" not in by_number.stdout  # only that entry
    incident = by_number.stdout.split("id=", 1)[1].split(" ", 1)[0]
    assert history_cli(cli_config, "--open", incident).stdout == by_number.stdout


def test_history_json_for_scripts(cli_config: Path) -> None:
    data = json.loads(history_cli(cli_config, "--json").stdout)
    assert data["count"] == 5
    assert data["median_time_to_recover_s"] == 666.0
    assert [e["number"] for e in data["entries"]] == [1, 2, 3, 4, 5]
    assert data["entries"][1]["time_to_recover_s"] == 432.0
    assert data["entries"][2]["time_to_recover_s"] is None
    one = json.loads(history_cli(cli_config, "--open", "#2", "--json").stdout)
    assert one["number"] == 2 and one["markdown"].startswith("<!-- rollback-console entry")


def test_history_counts_only_verified_recoveries(cli_config: Path) -> None:
    history = cli_config.parent / "docs" / "rollback-history.md"
    add_unverified_entry_with_a_time(history)
    data = json.loads(history_cli(cli_config, "--json").stdout)
    assert data["count"] == 6
    assert data["entries"][5]["outcome"] == "rolled back, not verified"
    assert data["entries"][5]["time_to_recover_s"] is None
    assert data["median_time_to_recover_s"] == 666.0
    text = history_cli(cli_config).stdout
    assert "v1.5.0 -> v1.4.1  rolled back, not verified  TTR -  #6" in text
    assert "median time to recover: 11m 06s" in text


@pytest.mark.parametrize("wanted", ["9", "0", "nope"])
def test_history_open_of_a_missing_entry_is_one_line_exit_2(cli_config: Path, wanted: str) -> None:
    result = history_cli(cli_config, "--open", wanted)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "no entry" in result.stderr
