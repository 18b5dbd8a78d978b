"""What the console prepares while the operator reads the dashboard: the screens keys open.

Textual imports a screen's code when it is first opened and, the first time
each screen with its own CSS is shown, parses every stylesheet again and
restyles the whole app.  ``console.app`` calls ``import_screens`` in a
thread once the dashboard shows live data, then ``load_styles`` on the UI
thread: the CSS of all of them in one parse, so the first ``r`` costs what
later ones do (``tests/bench_keys.py``).
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from textual.css.stylesheet import Stylesheet

#: Help and the wizard's steps, in their order: (module, screen class).
SCREENS: tuple[tuple[str, str], ...] = (
    ("screens.help", "HelpScreen"),
    ("screens.assess", "AssessScreen"),
    ("screens.checklist", "ChecklistScreen"),
    ("screens.target", "TargetScreen"),
    ("screens.confirm", "ConfirmScreen"),
    ("screens.execute", "ExecuteScreen"),
    ("screens.verify", "VerifyScreen"),
    ("screens.record", "RecordScreen"),
)


def import_screens() -> list[type[Any]]:
    """Blocking: import ``SCREENS`` and return their classes."""
    return [getattr(importlib.import_module(module), name) for module, name in SCREENS]


def css_files(screen_class: type[Any]) -> list[Path]:
    """The CSS files Textual reads when a screen of ``screen_class`` is first shown: its
    ``CSS_PATH``, relative to the file of its class (as ``textual._path`` resolves it)."""
    css_path = screen_class.CSS_PATH
    if not css_path:
        return []
    names = css_path if isinstance(css_path, list) else [css_path]
    folder = Path(inspect.getfile(screen_class)).parent
    return [Path(name) if Path(name).is_absolute() else (folder / name).resolve() for name in names]


def load_styles(stylesheet: Stylesheet, classes: list[type[Any]]) -> bool:
    """Read the CSS files of ``classes`` not read yet and parse the stylesheet once; whether
    anything was added (the caller then restyles its nodes: ``stylesheet.update(app)``).

    The files are keyed as Textual keys them, so showing one of these screens later
    finds its CSS already there and parses nothing again.
    """
    new = [
        path
        for screen_class in classes
        for path in css_files(screen_class)
        if not stylesheet.has_source(str(path), "")
    ]
    for path in new:
        stylesheet.read(path)
    if new:
        stylesheet.reparse()
    return bool(new)
