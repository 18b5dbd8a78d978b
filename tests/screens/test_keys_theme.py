"""Theme and key remapping kept in the config, as Posting does: ``[console] theme`` and
``[keys]`` (binding id -> key), applied with Textual's own keymap.

The console runs on the real demo sandbox with its config file edited; a
remapped key starts the rollback, the old one no longer does, and the footer
and help show the new key.  A bad theme or binding id is refused (exit 2) by
the CLI, naming the key.
"""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from console.app import make_app
from console.config import load_config
from console.demo import DemoSandbox
from screens.assess import AssessScreen
from screens.dashboard import DashboardScreen
from screens.help import HelpScreen
from tests.console_cli import run_console
from tests.screens.test_dashboard import wait_until


def _configure(box: DemoSandbox, console: str, keys: str) -> None:
    text = box.config_path.read_text()
    text = text.replace("[console]\n", f"[console]\n{console}\n", 1)
    box.config_path.write_text(text + f"\n[keys]\n{keys}\n")


async def test_theme_and_remapped_keys_from_the_config(demo_sandbox: DemoSandbox) -> None:
    _configure(demo_sandbox, 'theme = "nord"', 'rollback = "x"\nhelp = "f2"')
    app = make_app(load_config(demo_sandbox.config_path))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        assert app.theme == "nord"
        await wait_until(pilot, lambda: screen.selected_target == "v1.2.9", "the target")
        footer = {key.action: key.key_display for key in screen.query(FooterKey)}
        assert footer.get("rollback") == "x", footer
        await pilot.press("r")  # the old key does nothing now
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "help on f2")
        keys = str(app.screen.query_one("#help-keys").render())
        rows = {line.split("  ", 1)[-1].strip(): line for line in keys.splitlines()}
        rollback_row = next(line for text, line in rows.items() if text.startswith("Roll back"))
        assert rollback_row.split()[0] == "x", keys
        help_row = next(line for text, line in rows.items() if text.startswith("This help"))
        assert help_row.split()[0] == "f2", keys
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, "the dashboard")
        await pilot.press("question_mark")  # help moved to f2: ? no longer opens it
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, AssessScreen), "Assess on x")


def test_an_unknown_theme_or_binding_id_is_one_line_and_exit_2(
    demo_sandbox: DemoSandbox,
) -> None:
    original = demo_sandbox.config_path.read_text()
    _configure(demo_sandbox, 'theme = "solarised"', "")
    done = run_console(demo_sandbox.config_path, "check-config")
    assert done.returncode == 2
    assert "console.theme" in done.stderr and "'solarised'" in done.stderr, done.stderr
    assert "textual-dark" in done.stderr and "nord" in done.stderr  # the valid ones
    assert len(done.stderr.strip().splitlines()) == 1
    demo_sandbox.config_path.write_text(original)
    _configure(demo_sandbox, "", 'rollbak = "x"')
    done = run_console(demo_sandbox.config_path, "check-config")
    assert done.returncode == 2
    assert "keys.rollbak" in done.stderr and "unknown binding id" in done.stderr, done.stderr
    assert "rollback" in done.stderr  # the known ids are listed


def test_a_remap_onto_a_key_the_same_screen_uses_is_refused_naming_both(
    demo_sandbox: DemoSandbox,
) -> None:
    original = demo_sandbox.config_path.read_text()
    _configure(demo_sandbox, "", 'refresh = "r"')  # r is rollback's on the dashboard
    done = run_console(demo_sandbox.config_path, "check-config")
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "keys.refresh" in done.stderr and "rollback's key" in done.stderr, done.stderr
    assert "dashboard" in done.stderr
    # An app key taken by a screen's binding: history on c is target-copy's on Target.
    demo_sandbox.config_path.write_text(original)
    _configure(demo_sandbox, "", 'history = "c"')
    done = run_console(demo_sandbox.config_path, "check-config")
    assert done.returncode == 2 and "keys.history" in done.stderr, done.stderr
    # A swap is no clash, nor is a key two bindings share by default.
    demo_sandbox.config_path.write_text(original)
    _configure(demo_sandbox, "", 'rollback = "R"\nrefresh = "r,f5"\nverify-next = "enter,ctrl+n"')
    assert load_config(demo_sandbox.config_path).keys["rollback"] == "R"


async def test_textual_drops_the_other_binding_on_a_clash(demo_sandbox: DemoSandbox) -> None:
    """Why the clash is refused: given straight to Textual's keymap, refresh on r silently
    takes r away from rollback (no message, no rollback)."""
    app = make_app(load_config(demo_sandbox.config_path))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await wait_until(pilot, lambda: screen.selected_target == "v1.2.9", "the target")
        app.set_keymap({"refresh": "r"})
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        assert app.screen is screen  # no Assess: rollback lost its key
        footer = {key.action for key in screen.query(FooterKey)}
        assert "rollback" not in footer, footer
