"""Which keys each screen's bindings answer to, so ``[keys]`` can refuse a remap that
takes a key another binding on the same screen already uses.

Textual applies a keymap node by node (``App.set_keymap``): a binding remapped
onto a key another binding of the same screen holds silently removes that one
(``BindingsMap.apply_keymap``'s "clashed bindings"), and a screen's binding
shadows the app's on the same key.  Either way a key the operator relies on
stops working on that screen, with no message.  The core may not import
Textual, so the screens' bindings are listed here as data (``SCREEN_BINDINGS``);
``tests/test_keymap.py`` fails when they drift from the ``BINDINGS`` the screens
declare.  Keys that already share a key by default (``verify-next`` and
``verify-next-when-passed`` on Enter, the app's ``q`` under a viewer's ``q``)
are the screens' own design and are not reported.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Screen -> binding id -> its default keys (comma-separated, Textual's key names).
#: "app" is the app's own bindings, active on every screen (help has priority).
#: A widget's bindings count with the screen it sits on (the database panel: the
#: dashboard; the history table: history).
SCREEN_BINDINGS: dict[str, dict[str, str]] = {
    "app": {"help": "question_mark,f1", "history": "h", "quit": "q"},
    "dashboard": {
        "rollback": "r",
        "refresh": "R,f5",
        "details": "e",
        "actions": "a",
        "switch-service": "s",
        "dashboard-focus-next": "tab",
        "dashboard-focus-previous": "shift+tab",
        "database-backup": "b",
        "database-restore": "o",
    },
    "actions": {"actions-copy": "c", "actions-confirm": "ctrl+n", "actions-back": "escape"},
    "assess": {"assess-continue": "ctrl+n", "assess-reassess": "ctrl+r", "assess-leave": "escape"},
    "checklist": {
        "checklist-tick": "space,x",
        "checklist-skip": "s",
        "checklist-continue": "ctrl+n",
        "checklist-back": "escape",
    },
    "confirm": {"confirm-cancel": "escape,n"},
    "database restore": {"db-restore-close": "escape"},
    "events": {"events-dismiss": "escape,e,q"},
    "execute": {"execute-next": "enter", "execute-leave": "escape"},
    "text question": {"dialog-cancel": "escape"},
    "yes/no question": {"dialog-no": "escape,n", "dialog-focus-next": "left,right"},
    "help": {"help-close": "escape,question_mark,q"},
    "history entry": {"history-close": "escape,q", "history-copy": "c"},
    "history": {
        "history-back": "escape,q,h",
        "history-reload": "R,f5",
        "history-select-cursor": "enter",
    },
    "logs": {"logs-dismiss": "escape,q"},
    "notification": {"notify-copy": "c", "notify-close": "escape,q"},
    "switch": {"pitr-switch-not-now": "escape"},
    "point in time": {
        "pitr-time-later": "up",
        "pitr-time-earlier": "down",
        "pitr-time-later-10": "pageup",
        "pitr-time-earlier-10": "pagedown",
        "pitr-time-reset": "ctrl+r",
        "pitr-time-back": "escape",
    },
    "record": {
        "record-tick": "space,x",
        "record-save": "ctrl+s",
        "record-save-or-leave": "enter",
        "record-done": "q",
        "record-message": "c",
        "record-leave": "escape",
    },
    "schema target": {"schema-target-cancel": "escape"},
    "target": {
        "target-confirm": "enter",
        "target-copy": "c",
        "target-write-script": "w",
        "target-schema": "m",
        "target-back": "escape",
    },
    "verify": {
        "verify-abort": "a",
        "verify-next": "enter",
        "verify-next-when-passed": "enter",
        "verify-leave": "escape",
    },
}


def _split(keys: str) -> list[str]:
    return [k.strip() for k in keys.split(",") if k.strip()]


def key_clashes(keymap: Mapping[str, str]) -> list[tuple[str, str, str, str]]:
    """``(remapped id, other id, key, screen)`` for each key ``keymap`` gives a binding
    that another binding on the same screen then also answers to (not when both had it
    by default); one a pair of bindings and key, in the order of ``keymap``."""
    app = SCREEN_BINDINGS["app"]
    found: list[tuple[str, str, str, str]] = []
    seen: set[tuple[frozenset[str], str]] = set()
    for screen, own in SCREEN_BINDINGS.items():
        bindings = own if screen == "app" else {**app, **own}
        default = {b: set(_split(k)) for b, k in bindings.items()}
        now = {b: set(_split(keymap.get(b, k))) for b, k in bindings.items()}
        for binding_id in keymap:
            if binding_id not in bindings:
                continue
            for key in _split(keymap[binding_id]):
                for other in bindings:
                    both_by_default = key in default[binding_id] and key in default[other]
                    pair = (frozenset((binding_id, other)), key)
                    if other == binding_id or key not in now[other] or both_by_default:
                        continue
                    if pair not in seen:
                        seen.add(pair)
                        found.append((binding_id, other, key, screen))
    return found
