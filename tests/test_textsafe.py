"""What comes from outside is printed as text, never as terminal control or lost markdown.

A release folder named with escape sequences (set the terminal's title,
clear the screen) is shown escaped by ``status``, ``rollback``, ``resume
--list`` and ``history``; a reason holding a literal ``<br>`` and one holding
a real line break both come back unchanged from ``history --json``.  The CLI
runs as its own process, on a host service whose releases are real folders.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from console.config import load_config
from console.history import append_entry
from console.model import Revision
from console.textsafe import one_line, printable, printable_lines
from tests.conftest import REPO
from tests.signals import FlipServer, healthy
from tests.test_history import make_record

#: A release name that, printed raw, sets the terminal's title and clears the screen.
EVIL = "v2\x1b]0;pwned\x07\x1b[2J"
#: How it must read instead.
SHOWN = "v2\\x1b]0;pwned\\x07\\x1b[2J"


def test_printable_escapes_controls_and_keeps_text() -> None:
    assert printable(EVIL) == SHOWN
    assert printable("line\nbreak\ttab\r") == "line\\nbreak\\ttab\\r"
    assert printable("日本語の　理由 café") == "日本語の　理由 café"
    assert printable("abc\u202edcba\u2028x\x85") == "abc\\u202edcba\\u2028x\\x85"
    assert printable("\ud800") == "\\ud800"
    assert printable_lines("one\r\ntwo\x1b[31m\tred") == "one\ntwo\\x1b[31m\tred"
    assert one_line("a\n  b\x1bc", limit=5) == "a b\\…"


# --------------------------------------------------------------------------- the site


@pytest.fixture
def health() -> FlipServer:
    server = FlipServer(healthy)
    yield server
    server.close()


def site(root: Path, health_url: str, names: tuple[str, ...] = ("v1", EVIL)) -> Path:
    """A host service: release folders ``names`` (oldest first), the last one live."""
    for age, name in enumerate(reversed(names)):
        folder = root / "releases" / name
        folder.mkdir(parents=True)
        stamp = 1_700_000_000 - age * 3600
        os.utime(folder, (stamp, stamp))
    (root / "current").symlink_to(root / "releases" / names[-1])
    document = {
        "console": {"operator": "alice", "history_file": "history.md", "state_dir": "state"},
        "services": [
            {
                "name": "web",
                "environment": "production",
                "provider": "host",
                "verify_window_s": 1,
                "ready_timeout_s": 5,
                "host": {"releases_dir": "releases", "current_link": "current"},
                "health": [{"url": health_url, "timeout_s": 2}],
                "error_rate": {"source": "probe", "interval_s": 0.05, "window_s": 1},
            }
        ],
    }
    path = root / "config.toml"
    path.write_text(tomli_w.dumps(document), encoding="utf-8")
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
    )


def assert_escaped(output: str) -> None:
    assert "\x1b" not in output and "\x07" not in output, repr(output)
    assert SHOWN in output, output


# --------------------------------------------------------------------------- the CLI


def test_status_shows_a_release_named_with_escape_sequences_escaped(
    tmp_path: Path, health: FlipServer
) -> None:
    result = cli(site(tmp_path, health.url), "status", "web")
    assert result.returncode == 0, result.stderr
    assert_escaped(result.stdout)
    assert f"current:  {SHOWN}" in result.stdout
    # --json keeps the name exact (JSON escapes it), so a script still gets the real one.
    data = json.loads(cli(site(tmp_path / "j", health.url), "status", "web", "--json").stdout)
    assert data["snapshot"]["current"]["id"] == EVIL


def test_rollback_and_history_show_the_release_name_escaped(
    tmp_path: Path, health: FlipServer
) -> None:
    config = site(tmp_path, health.url)
    dry = cli(config, "rollback", "web", "--dry-run", "--reason", "test")
    assert dry.returncode == 0, dry.stderr
    assert_escaped(dry.stdout)
    assert f"from {SHOWN} to v1" in dry.stdout
    done = cli(config, "rollback", "web", "--yes", "--reason", "bad\x1b[2J release")
    assert done.returncode in (0, 1), done.stderr
    assert_escaped(done.stdout)
    assert (tmp_path / "current").resolve().name == "v1"
    listed = cli(config, "history")
    assert listed.returncode == 0, listed.stderr
    assert "\x1b" not in listed.stdout
    assert f"{SHOWN[:2]}" in listed.stdout and "-> v1" in listed.stdout


def interrupt_a_rollback(config_path: Path) -> None:
    """Switch to the previous release and stop there, as a console that died would
    (run as ``python -m tests.test_textsafe CONFIG``): the incident stays open."""
    from console.flow import RollbackFlow
    from console.signals import make_error_rate_source
    from providers import load_provider

    config = load_config(config_path)
    service = config.service("web")
    source = make_error_rate_source(service)
    source.start()
    try:
        flow = RollbackFlow(config, service, load_provider(service), source, reason="x")
        flow.execute(flow.plan(None))
    finally:
        source.stop()


def test_resume_list_shows_the_release_name_escaped(tmp_path: Path, health: FlipServer) -> None:
    path = site(tmp_path, health.url)
    subprocess.run(
        [sys.executable, "-m", "tests.test_textsafe", str(path)],
        check=True,
        timeout=120,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    listed = cli(path, "resume", "--list")
    assert listed.returncode == 0, listed.stderr
    assert_escaped(listed.stdout)
    assert f"from {SHOWN} to v1" in listed.stdout


# --------------------------------------------------------------------------- history --json


def test_a_literal_br_and_a_line_break_in_a_reason_round_trip_through_history_json(
    tmp_path: Path, health: FlipServer
) -> None:
    config = site(tmp_path, health.url, names=("v1", "v2"))
    history = tmp_path / "history.md"
    reasons = [
        "the page showed <br> where a line break should be",
        "first line\nsecond line",
        "both: <br> and\na break, &lt;br&gt; &amp; <!-- too",
    ]
    for number, reason in enumerate(reasons):
        append_entry(
            history,
            make_record(
                f"web-2026011{number}T020000Z-abcd",
                reason=reason,
                impact=reason,
                to_revision=Revision("v1", "v1<br>x"),
            ),
        )
    result = cli(config, "history", "--json")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)["entries"]
    assert [e["reason"] for e in entries] == reasons
    assert [e["impact"] for e in entries] == reasons
    assert {e["to"] for e in entries} == {"v1<br>x"}
    one = json.loads(cli(config, "history", "--open", "2", "--json").stdout)
    assert one["reason"] == "first line\nsecond line"


def test_history_written_before_the_escaping_reads_as_it_did(tmp_path: Path) -> None:
    """An older file: ``<br>`` was a line break and ``&lt;!--`` an escaped ``<!--``."""
    from console.history import read_entries

    path = tmp_path / "history.md"
    path.write_text(
        "# Rollback history\n\n<!-- rollback-console entry id=web-1 -->\n"
        "## 2026-01-16 02:00 UTC — web (production) rolled back v2 → v1\n\n"
        "| Field | Value |\n|---|---|\n| Date | 2026-01-16 02:00:00+00:00 |\n"
        "| Service | web |\n| Reason | one<br>two &lt;!-- hidden |\n",
        encoding="utf-8",
    )
    (entry,) = read_entries(path)
    assert entry.reason == "one\ntwo <!-- hidden"


if __name__ == "__main__":
    interrupt_a_rollback(Path(sys.argv[1]))
