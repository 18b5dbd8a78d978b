"""How the console looks and which keys do what: ``[console] theme`` and ``[keys]``.

As Posting does, the theme and key remapping live in the config.  The core
may not import Textual (``make lint``), so the theme names and the binding
ids a config may use are listed here; ``tests/test_ops_ui.py`` fails when
they drift from Textual's built-in themes or from the ``id=`` of the
bindings the screens declare.  ``[keys]`` maps a binding id to the key(s)
Textual's own keymap (``App.set_keymap``) then binds it to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from console.config.keymap import key_clashes
from console.config.reader import Reader, shown

#: Textual's built-in themes (``textual.theme.BUILTIN_THEMES``), in its order.
THEMES: tuple[str, ...] = (
    "textual-dark",
    "textual-light",
    "nord",
    "gruvbox",
    "catppuccin-mocha",
    "dracula",
    "tokyo-night",
    "monokai",
    "flexoki",
    "catppuccin-latte",
    "catppuccin-frappe",
    "catppuccin-macchiato",
    "solarized-light",
    "solarized-dark",
    "rose-pine",
    "rose-pine-moon",
    "rose-pine-dawn",
    "atom-one-dark",
    "atom-one-light",
    "ansi-dark",
    "ansi-light",
)

DEFAULT_THEME = "textual-dark"

#: Every binding id of the console's screens (the ``id=`` of their ``Binding``s): what
#: ``[keys]`` may remap.  Named ``screen-action``; the dashboard's and the app's own keys
#: keep their short names.
BINDING_IDS: frozenset[str] = frozenset(
    {
        # the app (every screen) and the dashboard
        "help",
        "history",
        "quit",
        "rollback",
        "refresh",
        "details",
        "actions",
        "switch-service",
        "dashboard-focus-next",
        "dashboard-focus-previous",
        "database-backup",
        "database-restore",
        # the wizard
        "assess-continue",
        "assess-reassess",
        "assess-leave",
        "checklist-tick",
        "checklist-skip",
        "checklist-continue",
        "checklist-back",
        "target-confirm",
        "target-copy",
        "target-write-script",
        "target-schema",
        "target-back",
        "schema-target-cancel",
        "confirm-cancel",
        "execute-next",
        "execute-leave",
        "verify-abort",
        "verify-next",
        "verify-next-when-passed",
        "verify-leave",
        "record-tick",
        "record-save",
        "record-save-or-leave",
        "record-done",
        "record-message",
        "record-leave",
        "actions-copy",
        "actions-confirm",
        "actions-back",
        "pitr-time-later",
        "pitr-time-earlier",
        "pitr-time-later-10",
        "pitr-time-earlier-10",
        "pitr-time-reset",
        "pitr-time-back",
        "pitr-switch-not-now",
        # viewers and dialogs
        "history-back",
        "history-reload",
        "history-select-cursor",
        "history-close",
        "history-copy",
        "help-close",
        "events-dismiss",
        "logs-dismiss",
        "notify-copy",
        "notify-close",
        "db-restore-close",
        "dialog-cancel",
        "dialog-no",
        "dialog-focus-next",
    }
)

#: One key name (``R``, ``f5``, ``ctrl+r``, ``question_mark``) or a printable character.
_KEY = re.compile(r"(?:[A-Za-z0-9_]+(?:\+[A-Za-z0-9_]+)*|[^\s,])")


def read_theme(r: Reader) -> str:
    """``[console] theme``: one of Textual's built-in themes (exit 2 lists them)."""
    theme: str = r.get("theme", str, DEFAULT_THEME)
    if theme not in THEMES:
        raise r.error("theme", f"unknown theme {shown(theme)} (valid: {', '.join(THEMES)})")
    return theme


def read_keys(r: Reader | None) -> Mapping[str, str]:
    """``[keys]``: binding id -> key(s) (``rollback = "R"``, ``help = "f1,question_mark"``)."""
    if r is None:
        return {}
    keys: dict[str, str] = {}
    for binding_id in r.table:
        value = r.get(binding_id, str)
        if binding_id not in BINDING_IDS:
            raise r.error(
                binding_id,
                f"unknown binding id {shown(binding_id)} (known: {', '.join(sorted(BINDING_IDS))})",
            )
        parts = [part.strip() for part in value.split(",")]
        if not parts or not all(_KEY.fullmatch(part) for part in parts):
            raise r.error(
                binding_id,
                f'not a key or comma-separated keys (e.g. "R", "ctrl+r"): {shown(value)}',
            )
        keys[binding_id] = ",".join(parts)
    # Textual would silently drop (or shadow) the other binding: refused, both named.
    for remapped, other, key, screen in key_clashes(keys):
        where = "every screen" if screen == "app" else f"the {screen} screen"
        raise r.error(
            remapped,
            f"{key!r} is already {other}'s key on {where}: remap {other} too, "
            f"or choose another key for {remapped}",
        )
    r.done()
    return keys
