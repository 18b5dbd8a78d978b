"""Suite-wide isolation: no test reads or writes the real user's config or state."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Fixtures shared by the whole suite, defined once (tests/fakes/).
pytest_plugins = ["tests.fakes.demo"]


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    home = tmp_path_factory.mktemp("home")
    saved = {k: os.environ.get(k) for k in _VARS}
    os.environ["XDG_CONFIG_HOME"] = str(home / "config")
    os.environ["XDG_STATE_HOME"] = str(home / "state")
    os.environ.pop("ROLLBACK_CONSOLE_CONFIG", None)
    os.environ.pop("NO_COLOR", None)
    os.environ.pop("TEXTUAL_THEME", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


_VARS = (
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "ROLLBACK_CONSOLE_CONFIG",
    "NO_COLOR",
    "TEXTUAL_THEME",
)

REPO = Path(__file__).resolve().parent.parent
