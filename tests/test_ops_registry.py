"""The lists the core keeps of the TUI's and CLI's names, checked against the real ones.

The core may not import Textual, so read-only mode (``console.readonly``), the
theme names and the binding ids ``[keys]`` may remap (``console.config.ui``) are
lists of their own.  These tests walk the parser's commands, every screen's and
widget's bindings and Textual's themes: a new command or key that is not
classified fails here, so nothing slips past read-only mode or ``[keys]``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil

from textual.binding import Binding
from textual.dom import DOMNode
from textual.theme import BUILTIN_THEMES

import console.widgets
import screens
from console import readonly
from console.app import RollbackConsoleApp
from console.cli.parser import build_parser
from console.config.keymap import SCREEN_BINDINGS
from console.config.ui import BINDING_IDS, THEMES


def _commands() -> set[str]:
    parser = build_parser()
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found |= set(action.choices)
    return found


def _bindings() -> list[tuple[str, Binding]]:
    classes: list[type[DOMNode]] = [RollbackConsoleApp]  # type: ignore[list-item]
    for package in (screens, console.widgets):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            classes += [
                c
                for _n, c in inspect.getmembers(module, inspect.isclass)
                if issubclass(c, DOMNode) and c.__module__ == module.__name__
            ]
    return [
        (f"{c.__module__}.{c.__name__}", b)
        for c in classes
        for b in Binding.make_bindings(c.__dict__.get("BINDINGS", []))
    ]


def test_every_command_is_classified_for_read_only() -> None:
    missing = _commands() - set(readonly.COMMANDS)
    assert not missing, f"classify these in console/readonly.py COMMANDS: {missing}"
    for command in ("rollback", "action", "resume", "db-restore", "db-backup"):
        assert readonly.COMMANDS[command] is not None


def test_every_binding_action_is_classified_for_read_only() -> None:
    missing = {
        (where, b.action)
        for where, b in _bindings()
        if readonly.action_name(b.action) not in readonly.ACTIONS
    }
    assert not missing, f"classify these in console/readonly.py ACTIONS: {missing}"
    for action in ("rollback", "app.actions", "backup", "restore"):
        assert readonly.changes(action)
    assert not readonly.changes("refresh")
    # fail closed: an action nobody classified counts as a change
    assert readonly.changes("something_new")


def test_every_binding_has_an_id_and_the_config_knows_them_all() -> None:
    ids = set()
    for where, binding in _bindings():
        assert binding.id, f"{where}: Binding({binding.key!r}, {binding.action!r}) has no id="
        ids.add(binding.id)
    assert ids == set(BINDING_IDS)


def test_the_theme_names_are_textuals() -> None:
    assert list(THEMES) == list(BUILTIN_THEMES)


#: The class whose BINDINGS each screen of ``console.config.keymap.SCREEN_BINDINGS`` holds.
SCREEN_CLASSES = {
    "RollbackConsoleApp": "app",
    "DashboardScreen": "dashboard",
    "DatabasePanel": "dashboard",
    "ActionsScreen": "actions",
    "AssessScreen": "assess",
    "ChecklistScreen": "checklist",
    "ConfirmScreen": "confirm",
    "DatabaseRestoreScreen": "database restore",
    "EventsScreen": "events",
    "ExecuteScreen": "execute",
    "AskText": "text question",
    "AskYesNo": "yes/no question",
    "HelpScreen": "help",
    "HistoryEntryScreen": "history entry",
    "HistoryScreen": "history",
    "HistoryTable": "history",
    "LogsScreen": "logs",
    "NotificationScreen": "notification",
    "SwitchConfirmScreen": "switch",
    "PitrTimeScreen": "point in time",
    "RecordScreen": "record",
    "SchemaTargetScreen": "schema target",
    "TargetScreen": "target",
    "VerifyScreen": "verify",
}


def test_the_keymaps_screens_are_the_screens_bindings() -> None:
    declared: dict[str, dict[str, list[str]]] = {}
    for where, binding in _bindings():
        screen = SCREEN_CLASSES.get(where.rsplit(".", 1)[-1])
        assert screen, f"{where}: add its screen to SCREEN_CLASSES and SCREEN_BINDINGS"
        keys = declared.setdefault(screen, {}).setdefault(binding.id or "", [])
        keys += [k for k in binding.key.split(",") if k not in keys]
    listed = {s: {b: k.split(",") for b, k in ids.items()} for s, ids in SCREEN_BINDINGS.items()}
    assert listed == declared
