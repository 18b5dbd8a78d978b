"""What the operator can read at 80x24 and at 60x20: nothing cut without a sign, nothing
out of reach.

Each test drives the real app or screen on fixed data (``fixed_dashboard``,
``fixed_flow``) and asks the screen what is where: which widget is under a
cell (``Screen.get_widget_at``), what a row says, where a key label ends.
The pictures of the same screens are in ``test_layout_snapshots``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.content import Content
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Header, Input, Static
from textual.widgets._footer import FooterKey

from console.widgets.footer import KEPT_LAST, KeyFooter, keys_to_hide
from console.widgets.hanging import hang
from console.widgets.output_log import OutputLog
from console.widgets.revisions import RevisionHistoryPanel
from console.widgets.status_bar import ServiceStatusBar
from screens.checklist import ChecklistScreen
from screens.confirm import ConfirmScreen
from screens.execute import ExecuteScreen
from screens.plan_view import PlanView, plan_rows
from screens.record import RecordScreen
from screens.target import TargetScreen
from screens.verify import VerifyScreen
from tests.screens.fixed_dashboard import FixedWorld, fixed_app
from tests.screens.fixed_flow import (
    LINK,
    PLAN,
    RELEASES,
    RESTART_FAILURE,
    assessed_flow,
    finished_flow,
    prepared_flow,
)

MAX_PAUSES = 600


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utc_zone: None) -> None:
    monkeypatch.chdir(tmp_path)


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], what: str) -> None:
    for _ in range(MAX_PAUSES):
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.05)
    raise AssertionError(f"gave up waiting for {what}; screen is {pilot.app.screen!r}")


async def push(pilot: Pilot[Any], screen: Screen[Any], ready: Callable[[], bool]) -> None:
    await pilot.pause()
    pilot.app.push_screen(screen)
    await wait_until(pilot, lambda: pilot.app.screen is screen and ready(), repr(screen))


def on_screen(screen: Screen[Any], widget: Widget) -> bool:
    """Whether ``widget``'s first cell is really shown: the widget under it is this one
    (or inside it), not a widget over it, and not off the screen."""
    region = widget.region
    if not region or not screen.region.contains(region.x, region.y):
        return False
    found, _ = screen.get_widget_at(region.x, region.y)
    return found is widget or widget in found.ancestors


def row_text(table: DataTable[Any], key: str) -> str:
    return " ".join(str(cell) for cell in table.get_row(key))


# =========================================================================== footers


def test_keys_go_from_the_end_and_help_last() -> None:
    keys = [("rollback", 12), ("refresh", 10), ("help", 8), ("history", 11), ("quit", 7)]
    assert keys_to_hide(keys, 100) == set()
    assert keys_to_hide(keys, 40) == {"quit", "history"}
    assert keys_to_hide(keys, 20) == {"quit", "history", "refresh"}
    # Help goes only when nothing else is left.
    assert keys_to_hide(keys, 5) == {"quit", "history", "refresh", "rollback", "help"}
    assert "help" in KEPT_LAST


def footer_keys_are_whole(screen: Screen[Any]) -> list[str]:
    """The shown key labels, after checking each ends before the palette key starts."""
    footer = screen.query_one(KeyFooter)
    palette = [k for k in footer.query(FooterKey) if k.has_class("-command-palette")]
    right = palette[0].region.x if palette and palette[0].display else footer.region.right
    shown = []
    for key in footer.query(FooterKey):
        if key.has_class("-command-palette") or not key.display:
            continue
        assert key.region.right <= right, f"{key.description!r} is cut at the palette key"
        shown.append(key.description)
    return shown


@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=["80x24", "60x20"])
async def test_no_footer_key_is_cut(size: tuple[int, int]) -> None:
    """The checklist's footer read "h Histor▏" at 80 columns: now History is left out."""
    flow, _ = assessed_flow()
    flow.set_reason("5xx spike right after the v1.3.0 deploy", "")
    app = FixedWorld().app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await app.screen.refresh_all()
        shown = footer_keys_are_whole(app.screen)
        assert "Roll back" in shown and "Help" in shown
        await push(pilot, ChecklistScreen(flow), lambda: True)
        await pilot.pause()
        shown = footer_keys_are_whole(app.screen)
        assert "Help" in shown, "help lists every key: it is the last to go"
        assert shown[0] == "Tick/untick"


# =========================================================================== the dashboard


async def test_dashboard_header_has_no_stray_glyph() -> None:
    app = fixed_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        header = app.screen.query_one(Header)
        assert header.icon == ""
        assert "↩" not in app.export_screenshot()


async def test_at_60x20_every_revision_shows_and_the_version_is_whole() -> None:
    """60x20: all four revisions on screen (v1.2.8 was hidden), "current v1.3.0" whole
    (it read "curre…"), and no header line spent on what the status bar says."""
    app = fixed_app()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        await app.screen.refresh_all()
        await pilot.pause()
        screen = app.screen
        assert not screen.query_one(Header).display
        table = screen.query_one("#revisions-table", DataTable)
        assert table.row_count == 4
        assert table.region.height >= table.row_count + 1, "every row has its line"
        status = screen.query_one("#status-service", Static)
        assert "current v1.3.0" in str(status.render())
        assert status.region.right <= screen.query_one("#status-countdown").region.x
        assert str(screen.query_one("#status-countdown", Static).render()) == "5:00 left"


async def test_the_status_bar_says_it_all_at_80_columns() -> None:
    app = fixed_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await app.screen.refresh_all()
        await pilot.pause()
        bar = app.screen.query_one(ServiceStatusBar)
        assert "host · current v1.3.0" in str(bar.query_one("#status-service", Static).render())
        countdown = bar.query_one("#status-countdown", Static)
        assert str(countdown.render()) == "5:00 left to decide"


@pytest.mark.parametrize("many", [False, True], ids=["4 revisions", "12 revisions"])
@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=["80x24", "60x20"])
async def test_revision_rows_keep_their_text_when_the_cursor_moves(
    size: tuple[int, int], many: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The current row rendered shorter after Down: the change column was cut to the
    table's width before its scrollbar appeared, and cut again, shorter, at the next poll.
    The rows now read the same before and after the cursor moves and the poll that follows,
    with a scrollbar (12 revisions) or without."""
    world = FixedWorld()
    long = " and a change cause long enough to be cut at any width of the table"
    world.provider.revisions = tuple(
        replace(rev, change_cause=rev.change_cause + long) for rev in world.provider.revisions
    )
    if many:
        extra = tuple(
            replace(world.provider.revisions[-1], id=f"v1.1.{n}", version=f"v1.1.{n}")
            for n in range(9, 1, -1)
        )
        world.provider.revisions = (*world.provider.revisions, *extra)
    # Every width the change column was cut to, from the first paint on (observed only).
    widths: list[int] = []
    cut = RevisionHistoryPanel._cause_width

    def observed(panel: RevisionHistoryPanel, snapshot: Any) -> int:
        widths.append(cut(panel, snapshot))
        return widths[-1]

    monkeypatch.setattr(RevisionHistoryPanel, "_cause_width", observed)
    app = world.app()
    async with app.run_test(size=size) as pilot:
        table = app.screen.query_one(RevisionHistoryPanel).table
        await wait_until(pilot, lambda: table.row_count > 0, "the first rows")
        before = {key: row_text(table, key) for key in ("v1.3.0", "v1.2.9", "v1.2.8")}
        await pilot.press("down")
        await app.screen.refresh_all()
        await pilot.pause()
        after = {key: row_text(table, key) for key in before}
        assert after == before
        assert len(set(widths)) == 1, f"the change column was cut to {widths}"
        assert app.screen.query_one(RevisionHistoryPanel).target == "v1.2.8"


# =========================================================================== the wizard


def test_plan_commands_continue_under_themselves() -> None:
    lines = [line.plain for line in PlanView(plan_rows(PLAN)).lines(40)]
    start = next(i for i, line in enumerate(lines) if line.startswith("   $ ln"))
    end = next(i for i, line in enumerate(lines) if line.startswith("2. "))
    assert end - start >= 2, "the ln command is longer than 40 columns"
    # The command's next lines start under its text, never at column 0.
    assert all(line[:5] == " " * 5 and line[5] != " " for line in lines[start + 1 : end])
    assert all(len(line) <= 40 for line in lines)
    command = PLAN.steps[0].command
    assert "".join(line[5:] for line in lines[start:end]).replace(" ", "") == command.replace(
        " ", ""
    )


def test_hang_folds_a_long_word_and_keeps_every_character() -> None:
    path = "/srv/" + "x" * 50 + "/current"
    lines = [line.plain for line in hang(Content("12:00:00 ok "), Content(path), 30)]
    assert lines[0].startswith("12:00:00 ok /srv/")
    assert all(line.startswith(" " * 12) for line in lines[1:])
    assert all(len(line) <= 30 for line in lines)
    assert "".join(line[12:] for line in lines) == path


async def test_target_shows_what_changed_not_where_it_lives() -> None:
    flow, _ = prepared_flow()
    app = FixedWorld().app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = TargetScreen(flow)
        await push(pilot, screen, lambda: screen.plan is not None and screen.shown is not None)
        table = screen.query_one("#revisions", DataTable)
        live = row_text(table, "v1.3.0")
        assert "live now · New one-page checkout flow" in live
        longest = row_text(table, "v1.2.8")
        assert longest.endswith("…"), "a change longer than the column ends in an ellipsis"
        assert "/srv/" not in longest
        plan = screen.query_one("#plan", PlanView)
        assert f"ln -sfn {RELEASES}/v1.2.9 {LINK}" in plan.plain


async def test_confirm_at_60x20_shows_the_name_box_and_both_buttons() -> None:
    flow, _ = prepared_flow()
    app = FixedWorld().app()
    async with app.run_test(size=(60, 20)) as pilot:
        target = TargetScreen(flow)
        await push(pilot, target, lambda: target.plan is not None)
        confirm = ConfirmScreen(PLAN)
        await push(pilot, confirm, lambda: True)
        for selector in ("#confirm-name", "#cancel", "#confirm", "#confirm-summary"):
            assert on_screen(confirm, confirm.query_one(selector)), selector
        await pilot.press("tab")
        confirm.query_one("#confirm-name", Input).focus()
        await pilot.press("w", "e", "b")
        await pilot.pause()
        assert confirm.name_matches
        assert not confirm.query_one("#confirm").disabled


@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=["80x24", "60x20"])
async def test_execute_output_is_wrapped_never_cut(size: tuple[int, int]) -> None:
    flow, _ = prepared_flow(fail_restart=True)
    app = FixedWorld().app()
    async with app.run_test(size=size) as pilot:
        screen = ExecuteScreen(flow, PLAN)
        await push(pilot, screen, lambda: screen.phase == "failed")
        log = screen.query_one("#execute-log", OutputLog)
        width = log.scrollable_content_region.width
        assert all(len(row) <= width for row in log.rows)
        # Every line is there whole: the rows, indents taken out, give back the text.
        shown = " ".join(row.strip() for row in log.rows)
        for word in RESTART_FAILURE.split():
            assert word in shown
        assert f"{LINK} -> {RELEASES}/v1.2.9".replace(" ", "") in shown.replace(" ", "")
        assert log.plain.endswith("!! exited 1")
        # The view follows the output to its end, however small the pane became (the scroll
        # lands with a later refresh: waited for, under load it may take a few frames).
        await wait_until(pilot, lambda: log.is_vertical_scroll_end, "the end of the output")
        error = screen.query_one("#flow-error", Static)
        assert str(error.render()).endswith("…"), "a long error ends in an ellipsis"


async def test_verify_verdict_is_on_screen_at_60x20() -> None:
    flow, _ = prepared_flow()
    flow.execute(PLAN)
    app = FixedWorld().app()
    async with app.run_test(size=(60, 20)) as pilot:
        screen = VerifyScreen(flow)
        await push(pilot, screen, lambda: screen.verification is not None)
        verdict = screen.query_one("#verify-verdict", Static)
        assert str(verdict.render()).startswith("PASSED")
        assert on_screen(screen, verdict)


@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=["80x24", "60x20"])
async def test_saved_record_names_the_postmortem_on_one_line(size: tuple[int, int]) -> None:
    flow = finished_flow()
    app = FixedWorld().app()
    async with app.run_test(size=size) as pilot:
        screen = RecordScreen(flow)
        await push(pilot, screen, lambda: "| Outcome |" in screen.entry)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: screen.saved is not None, "the saved entry")
        saved = screen.query_one("#record-saved", Static)
        lines = str(saved.render()).split("\n")
        assert lines[0] == "Saved to rollback-history.md"
        assert lines[1].startswith("Postmortem draft: postmortems/")
        assert lines[1].endswith("-20260116T020000Z.md")
        assert len(lines[1]) <= saved.content_size.width
        draft = Path("postmortems/2026-01-16-web-production-20260116T020000Z.md")
        assert draft.is_file()
        assert str(draft.absolute()) in str(saved.tooltip)
        # The entry preview keeps the room the (now done) tick list had.
        assert not screen.query_one("#record-items").display


@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=["80x24", "60x20"])
async def test_no_key_is_cut_on_any_step(size: tuple[int, int]) -> None:
    """Every wizard step's footer, as the app shows it (its own keys and the app's)."""
    flow, _ = prepared_flow()
    app = FixedWorld().app()
    async with app.run_test(size=size) as pilot:
        target = TargetScreen(flow)
        await push(pilot, target, lambda: target.plan is not None)
        assert "Help" in footer_keys_are_whole(target)
        confirm = ConfirmScreen(PLAN)
        await push(pilot, confirm, lambda: True)
        footer_keys_are_whole(confirm)
        confirm.dismiss(False)
        execute = ExecuteScreen(flow, PLAN)
        await push(pilot, execute, lambda: execute.phase == "ready")
        assert "Help" in footer_keys_are_whole(execute)
        verify = VerifyScreen(flow)
        app.switch_screen(verify)
        await wait_until(pilot, lambda: verify.verification is not None, "the verdict")
        assert "Help" in footer_keys_are_whole(verify)
        record = RecordScreen(flow)
        app.switch_screen(record)
        await wait_until(pilot, lambda: "| Outcome |" in record.entry, "the preview")
        assert "Help" in footer_keys_are_whole(record)
