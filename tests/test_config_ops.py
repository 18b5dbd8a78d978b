"""The config keys of read-only mode, the theme, ``[keys]`` and history in git: defaults,
and each bad value one ``ConfigError`` naming the key (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.config import ConfigError, load_config
from tests.test_config import GOOD, site, write  # noqa: F401


def with_console(text: str, extra: str, tail: str = "") -> str:
    return text.replace('state_dir = "state"\n', f'state_dir = "state"\n{extra}\n', 1) + tail


def test_defaults(site: Path) -> None:  # noqa: F811
    config = load_config(write(site, GOOD))
    console = config.console
    assert (console.read_only, console.theme) == (False, "textual-dark")
    assert (console.history_git, console.history_push, console.history_remote) == (
        False,
        False,
        "origin",
    )
    assert dict(config.keys) == {}


def test_all_set(site: Path) -> None:  # noqa: F811
    text = with_console(
        GOOD,
        'read_only = true\ntheme = "nord"\nhistory_git = true\nhistory_push = true\n'
        'history_remote = "upstream"',
        '\n[keys]\nrollback = "ctrl+r"\nhelp = "f1, question_mark"\n',
    )
    config = load_config(write(site, text))
    assert config.console.read_only and config.console.theme == "nord"
    assert config.console.history_push and config.console.history_remote == "upstream"
    assert dict(config.keys) == {"rollback": "ctrl+r", "help": "f1,question_mark"}


@pytest.mark.parametrize(
    ("extra", "tail", "key", "says"),
    [
        ('read_only = "yes"', "", "console.read_only", "true or false"),
        ('theme = "nope"', "", "console.theme", "textual-dark"),
        ("history_push = true", "", "console.history_push", "history_git"),
        ('history_git = true\nhistory_remote = "-x; rm"', "", "console.history_remote", "remote"),
        ("", '\n[keys]\nrollbak = "x"\n', "keys.rollbak", "unknown binding id"),
        ("", '\n[keys]\nrollback = "a b"\n', "keys.rollback", "not a key"),
        ("", "\n[keys]\nrollback = 1\n", "keys.rollback", "str"),
    ],
)
def test_bad_values_name_the_key(
    site: Path,  # noqa: F811
    extra: str,
    tail: str,
    key: str,
    says: str,
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(site, with_console(GOOD, extra, tail)))
    assert key in str(caught.value) and says in str(caught.value), str(caught.value)
