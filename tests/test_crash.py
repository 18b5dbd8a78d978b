"""The crash report: in the state dir, 0600, never written through a link someone planted.

The CLI is run in this process (``cli.run``) with a bug planted in the code
it calls (a function of the console raising ``RuntimeError``), so the error
path is the real one: the report is written, and one line names it.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console import cli
from console.crash import PREFIX, write_crash_report
from tests.test_config import GOOD

VICTIM = b"precious: the victim's own file\n"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "releases" / "v1").mkdir(parents=True)
    (tmp_path / "config.toml").write_text(GOOD)
    (tmp_path / "rollback-history.md").write_text("# Rollback history\n")
    return tmp_path


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim" / "precious.txt"
    path.parent.mkdir()
    path.write_bytes(VICTIM)
    return path


def _bug(*_args: object, **_kwargs: object) -> object:
    raise RuntimeError("a bug planted by the test")


def _run(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(list(argv), out, err)
    return code, err.getvalue()


def _named_report(error: str) -> Path:
    assert error.count("\n") == 1 and "unexpected RuntimeError" in error, error
    path = Path(error.split("details in ", 1)[1].rstrip(")\n"))
    assert path.name.startswith(PREFIX)
    return path


def _plant_links(folder: Path, target: Path) -> list[Path]:
    """Links at every name the report could predictably get in the next seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    links = []
    for second in range(-1, 30):
        stamp = f"{now + timedelta(seconds=second):%Y%m%dT%H%M%SZ}-{os.getpid()}"
        link = folder / f"{PREFIX}{stamp}.txt"
        link.symlink_to(target)
        links.append(link)
    return links


def test_crash_report_goes_to_the_state_dir_owner_only_and_never_through_a_link(
    site: Path, victim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where the old report went (the shared temp folder, by pid), and where the new
    # one would go if its name were all there is to it: links to the victim's file.
    old = Path(tempfile.gettempdir()) / f"rollback-console-crash-{os.getpid()}.txt"
    old.unlink(missing_ok=True)
    old.symlink_to(victim)
    state = site / "state"
    planted = _plant_links(state, victim)
    monkeypatch.setattr("console.history.read_entries", _bug)
    try:
        code, error = _run("history", "--config", str(site / "config.toml"))
    finally:
        old.unlink(missing_ok=True)
    assert code == 1
    report = _named_report(error)
    assert victim.read_bytes() == VICTIM
    assert all(link.is_symlink() for link in planted)
    assert report.parent == state and not report.is_symlink()
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert "a bug planted by the test" in report.read_text()
    assert "Traceback" in report.read_text() and "Traceback" not in error


def test_crash_before_the_config_is_read_goes_to_the_default_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setattr("console.cli.common.resolve_config_path", _bug)
    code, error = _run("history")
    assert code == 1
    report = _named_report(error)
    assert report.parent == tmp_path / "xdg-state" / "rollback-console"
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert stat.S_IMODE(report.parent.stat().st_mode) == 0o700


def test_an_unwritable_state_dir_falls_back_to_a_private_random_temp_file(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the state dir should be")
    path, reason = write_crash_report(blocker / "state", "the traceback")
    assert path is not None and reason == ""
    try:
        assert path.parent == Path(tempfile.gettempdir())
        assert path.name.startswith(PREFIX) and path.name != f"{PREFIX}{os.getpid()}.txt"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text() == "the traceback"
    finally:
        path.unlink()
