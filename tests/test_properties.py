"""Bad input at scale: whatever comes in, only the console's own clear errors come out.

Hypothesis throws at the config loader valid TOML with random keys and values
at every level of the schema, mutated TOML text and random bytes; at the CLI
random argument lists (including bytes that are not UTF-8, as a real argv can
hold); at the history writer records full of markdown pipes, line breaks,
control characters, lone surrogates and very long strings.  The contracts:

* ``load_config`` returns a ``Config`` or raises ``ConfigError`` whose message
  is one line naming the file;
* ``cli.run`` exits 0, 1, 2 or 3 and never reports an "unexpected" error (that
  is the crash-file path, which the contract reserves for bugs);
* ``append_entry`` adds exactly one entry that ``read_entries`` finds again
  with its fields, and never changes a byte that was already in the file.

The CLI examples never open the TUI or the demo, and never execute a rollback
(those argument lists are set aside): their config points at a sandbox whose
health URL refuses connections.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import tomli_w
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from console import cli
from console.config import Config, ConfigError, load_config
from console.history import append_entry, read_entries
from console.model import (
    ChecklistItem,
    ChecklistMark,
    HistoryRecord,
    ItemState,
    Outcome,
    Revision,
    Sample,
    Severity,
    TimelineEvent,
)

#: ``PROPERTY_SCALE=20 pytest tests/test_properties.py`` for a longer hunt (CI keeps 1).
SCALE = max(1, int(os.environ.get("PROPERTY_SCALE", "1")))
SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


# --------------------------------------------------------------------------- the sandbox


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def base_document(port: int) -> dict[str, Any]:
    """A config that loads, using every section of the schema (paths relative to the site)."""
    health = [{"url": f"http://127.0.0.1:{port}/health", "timeout_s": 0.5, "name": "health"}]
    return {
        "console": {
            "operator": "alice",
            "history_file": "history/rollback-history.md",
            "state_dir": "state",
            "language": "en",
            "webhook_env": "SLACK_WEBHOOK_URL",
            "webhook_timeout_s": 5,
            "webhook_attempts": 3,
        },
        "services": [
            {
                "name": "web",
                "environment": "production",
                "provider": "host",
                "verify_window_s": 1,
                "ready_timeout_s": 2,
                "host": {
                    "strategy": "symlink",
                    "releases_dir": "releases",
                    "current_link": "current",
                    "restart": [],
                    "command_timeout_s": 5,
                    "process_match": "no-such-process-[0-9]+",
                },
                "health": health,
                "error_rate": {
                    "source": "probe",
                    "interval_s": 0.05,
                    "window_s": 0.3,
                    "timeout_s": 0.5,
                },
                "thresholds": {
                    "high_error_rate": 0.2,
                    "baseline_p95_ms": 50,
                    "restarts_high": 2,
                    # (the 0.3 s probe window holds 6 requests: issue 11's check)
                    "min_requests": 5,
                },
                "database": {
                    "dsn_env": "DATABASE_URL",
                    "migrations": "alembic",
                    "alembic_ini": "alembic.ini",
                    "checks": [{"name": "users", "sql": "select count(*) from users"}],
                    "require_backup": False,
                },
                "checklist": [
                    {"id": "tell", "phase": "prepare", "text": "Tell #incidents", "required": True}
                ],
            },
            {
                "name": "api",
                "environment": "staging",
                "provider": "kubernetes",
                "kubernetes": {"deployment": "api", "namespace": "shop", "lock_ttl_s": 60},
                "health": health,
            },
            {
                "name": "jobs",
                "environment": "production",
                "provider": "ecs",
                "ecs": {"cluster": "main", "service": "jobs", "region": "eu-west-1"},
                "error_rate": {
                    "source": "cloudwatch",
                    "load_balancer": "app/main/1",
                    "target_group": "targetgroup/jobs/2",
                },
            },
            {
                "name": "run",
                "environment": "production",
                "provider": "cloudrun",
                "cloudrun": {"project": "p", "region": "asia-northeast1", "service": "run"},
                "error_rate": {
                    "source": "prometheus",
                    "url": f"http://127.0.0.1:{port}",
                    "query": "x",
                },
            },
        ],
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("site")
    for release in ("v1.0.0", "v1.1.0"):
        (root / "releases" / release).mkdir(parents=True)
    (root / "current").symlink_to(root / "releases" / "v1.1.0")
    (root / "alembic.ini").write_text("[alembic]\n")
    (root / "history").mkdir()
    (root / "a-folder").mkdir()
    (root / "empty.toml").write_text("")
    (root / "binary.toml").write_bytes(b"\xff\xfe\x00garbage")
    document = base_document(_dead_port())
    (root / "config.toml").write_text(tomli_w.dumps(document))
    (root / "cli.toml").write_text(tomli_w.dumps(cli_document(root, _dead_port())))
    (root / "history" / "rollback-history.md").write_text(
        "# Rollback history\n\n## 2024-01-01 hand-written\n\n| 日時 | 2024-01-01 |\n"
        "| サービス | web |\n| 復旧時間 | 12分 |\n\n"
        "<!-- rollback-console entry id=torn -->\n## x\n| Dat"
    )
    yield root


def cli_document(root: Path, port: int) -> dict[str, Any]:
    """Two host services (a symlink one and a git one) whose health URL refuses connections."""
    repo = root / "repo"
    repo.mkdir()
    for args in (
        ["init", "-q"],
        ["config", "user.email", "t@example.com"],
        ["config", "user.name", "t"],
    ):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    for tag in ("v1", "v2"):
        (repo / "app.txt").write_text(tag)
        subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
        subprocess.run(["git", "-C", str(repo), "commit", "-qm", tag], check=True)
        subprocess.run(["git", "-C", str(repo), "tag", tag], check=True)
    document = base_document(port)
    web = document["services"][0]
    del web["database"]
    git = {
        **web,
        "name": "repo",
        "host": {"strategy": "git", "repo": "repo", "command_timeout_s": 5},
        "checklist": [],
    }
    document["services"] = [web, git]
    return document


def test_the_base_document_loads(site: Path) -> None:
    config = load_config(site / "config.toml", environ={})
    assert [s.name for s in config.services] == ["web", "api", "jobs", "run"]


# --------------------------------------------------------------------------- config loader

INTERESTING_STRINGS = [
    "",
    " ",
    "host",
    "kubernetes",
    "ecs",
    "cloudrun",
    "swarm",
    "symlink",
    "git",
    "checkout",
    "revert",
    "probe",
    "prometheus",
    "cloudwatch",
    "cloudmonitoring",
    "alembic",
    "command",
    "none",
    "en",
    "ja",
    "prepare",
    "http://127.0.0.1:1/x",
    "https://user:pw@example.com/",
    "localhost:8080",
    "~",
    "~no-such-user-here/x",
    "~root",
    "/",
    ".",
    "..",
    "releases",
    "current",
    "a-folder",
    "nul\x00byte",
    "line\nbreak",
    "../../../../etc/passwd",
    "([unclosed",
    "web",
    "DATABASE_URL",
    "postgres://u:secret@db/x",
    "eu-west-1",
    "日本語",
    "x" * 3000,
]
INTERESTING_NUMBERS: list[Any] = [
    0,
    -1,
    1,
    2,
    100,
    101,
    2**63 - 1,
    -(2**63),
    10**30,
    10**400,
    0.0,
    -0.0,
    0.5,
    1e-300,
    1e308,
    math.inf,
    -math.inf,
    math.nan,
    True,
    False,
]

scalars = st.one_of(
    st.sampled_from(INTERESTING_STRINGS),
    st.sampled_from(INTERESTING_NUMBERS),
    st.text(max_size=30),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.datetimes(),
    st.dates(),
    st.times(),
)
keys = st.one_of(
    st.sampled_from(
        [
            "name",
            "url",
            "source",
            "provider",
            "host",
            "health",
            "services",
            "console",
            "timeout_s",
            "restart",
            "checks",
            "metrics",
            "gradual_steps",
        ]
    ),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=8,
)


def _slots(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) pair in the document, the root's keys included."""
    found: list[tuple[Any, Any]] = []
    if isinstance(node, dict):
        for key, child in node.items():
            found.append((node, key))
            found += _slots(child)
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found.append((node, index))
            found += _slots(child)
    return found


def _tables(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for child in node.values():
            found += _tables(child)
    elif isinstance(node, list):
        for child in node:
            found += _tables(child)
    return found


#: Half the time a value known to sit on an edge, half the time anything at all.
edgy_values = st.one_of(
    st.sampled_from(INTERESTING_STRINGS + INTERESTING_NUMBERS),
    # More digits than Python will print (its repr raises): built, so hypothesis can show it.
    st.just(5000).map(lambda digits: 16**digits),
    values,
)


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    """The base document with a few keys replaced, removed or added, anywhere in it.

    Mostly one change: the loader stops at the first error, so a second change
    would often hide the first one's effect.
    """
    document = base_document(1)
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 4]))):
        operation = draw(st.sampled_from(["set", "set", "set", "delete", "add"]))
        if operation == "add":
            table = draw(st.sampled_from(_tables(document)))
            table[draw(keys)] = draw(edgy_values)
            continue
        slots = _slots(document)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        if operation == "set":
            container[key] = draw(edgy_values)
        else:
            del container[key]
    return document


def assert_loads_or_clear_error(path: Path) -> Config | None:
    try:
        config = load_config(path, environ={})
    except ConfigError as err:
        message = str(err)
        assert len(message.splitlines()) == 1 and "\n" not in message, repr(message)
        assert path.name in message, message
        return None
    assert isinstance(config, Config)
    for service in config.services:
        assert getattr(service, service.provider) is not None
        for number in (service.verify_window_s, service.ready_timeout_s):
            assert math.isfinite(number) and number > 0
    return config


@settings(SETTINGS, max_examples=300 * SCALE)
@given(document=mutated_documents())
def test_config_with_random_keys_and_values_loads_or_says_why(
    site: Path, document: dict[str, Any]
) -> None:
    try:
        text = tomli_w.dumps(document)
    except (TypeError, ValueError):
        assume(False)  # not expressible in TOML at all
        raise
    path = site / "fuzzed-config.toml"
    path.write_text(text, encoding="utf-8")
    assert_loads_or_clear_error(path)


@st.composite
def mangled_texts(draw: st.DrawFn) -> bytes:
    """The base document as TOML bytes, cut, spliced and garbled in a few places."""
    data = bytearray(tomli_w.dumps(base_document(1)).encode())
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(data)))
        end = draw(st.integers(start, min(len(data), start + 40)))
        replacement = draw(
            st.one_of(
                st.binary(max_size=12),
                st.sampled_from(
                    [b"", b"\n", b"[", b"]]", b'"', b"'''", b"=", b"#", b"\\", b"\r", b"\x00"]
                ),
                st.text(max_size=12).map(str.encode),
            )
        )
        data[start:end] = replacement
    return bytes(data)


@settings(SETTINGS, max_examples=200 * SCALE)
@given(data=st.one_of(mangled_texts(), st.binary(max_size=300)))
def test_mangled_text_and_random_bytes_load_or_say_why(site: Path, data: bytes) -> None:
    path = site / "fuzzed-config.toml"
    path.write_bytes(data)
    assert_loads_or_clear_error(path)


# --------------------------------------------------------------------------- CLI arguments

COMMANDS = [
    "status",
    "rollback",
    "resume",
    "history",
    "check-config",
    "action",
    "db-status",
    "db-backup",
    "db-restore",
]
#: Each command's options, and whether the option takes a value.
OPTIONS: dict[str, dict[str, bool]] = {
    "status": {"--json": False},
    "rollback": {
        "--to": True,
        "--dry-run": False,
        "--yes": False,
        "--reason": True,
        "--verify-window": True,
        "--db-steps": True,
        "--db-to": True,
        "--skip-backup": True,
    },
    "action": {
        "--list": False,
        "--arg": True,
        "--dry-run": False,
        "--yes": False,
        "--reason": True,
        "--verify-window": True,
    },
    "resume": {"--list": False, "--yes": False, "--verify-window": True},
    "history": {"--last": True, "--open": True, "--json": False},
    "check-config": {},
    "db-status": {"--json": False},
    "db-backup": {},
    "db-restore": {"--from": True, "--yes": False, "--reason": True, "--skip-backup": True},
}
FLAGS = ["--service", "--config", "-h", "--", "-", "--no-such-flag", "--json", "--yes"]
WORDS = [
    "web",
    "repo",
    "nope",
    "restart",
    "v1.0.0",
    "v1.1.0",
    "v1",
    "HEAD",
    "HEAD~1",
    "v9",
    "0",
    "-1",
    "1",
    "0.05",
    "1e400",
    "nan",
    "inf",
    "",
    " ",
    "x" * 5000,
]

#: Real argv: any bytes but NUL, decoded the way Python decodes its own argv.
argv_bytes = st.binary(max_size=20).map(lambda b: os.fsdecode(b.replace(b"\x00", b"")))
tokens = st.one_of(
    st.sampled_from(FLAGS),
    st.sampled_from(WORDS),
    st.sampled_from(COMMANDS),
    st.text(max_size=20).map(lambda t: t.replace("\x00", "")),
    argv_bytes,
)
#: Option values: mostly ones the option accepts, sometimes anything.
VALUES = {
    "--verify-window": st.sampled_from(["0.05", "0.05", "0.1", "1e-300", "0", "1e400", "nan"])
    | tokens,
    "--last": st.sampled_from(["1", "2", "1000000000000", "0"]) | tokens,
    "--open": st.sampled_from(["1", "2", "#1", "0", "-1", "torn", "99999999999999999999"]) | tokens,
    "--db-steps": st.sampled_from(["1", "0", "-1"]) | tokens,
    "--to": st.sampled_from(["v1.0.0", "v1.1.0", "v1", "v2", "HEAD~1", "nope"]) | tokens,
    "--reason": st.sampled_from(["5xx after deploy", "\udcff\udcfe", "a\nb | c", ""]) | tokens,
}
CONFIGS = ["cli.toml", "cli.toml", "missing.toml", "a-folder", "empty.toml", "binary.toml"]


#: An argument value that argparse takes as a value (it does not start with "-").
odd_values = st.one_of(tokens, argv_bytes).filter(lambda v: not v.startswith("-"))


@st.composite
def command_lines(draw: st.DrawFn, site: Path) -> list[str]:
    """Well-formed command lines (they reach the command itself) with odd values."""
    command = draw(st.sampled_from(["rollback", "rollback", "action", *COMMANDS]))
    argv = [command]
    if command not in ("resume", "history", "check-config") or draw(st.booleans()):
        names = st.sampled_from(["web", "repo", "nope"])
        argv.append(draw(st.one_of(names, names, names, odd_values)))
    if command == "action" and draw(st.booleans()):
        actions = st.sampled_from(["restart", "nope"])
        argv.append(draw(st.one_of(actions, actions, actions, odd_values)))
    for option, takes_value in OPTIONS[command].items():
        rare = option.startswith("--db-") or option == "--skip-backup"
        if option in ("--reason", "--from") or draw(st.integers(0, 5 if rare else 1)) == 0:
            argv.append(option)
            if takes_value:
                likely = VALUES.get(option, odd_values)
                argv.append(draw(st.one_of(likely, likely, likely, odd_values)))
    config = draw(st.sampled_from(CONFIGS[:2] * 4 + CONFIGS))
    return [*argv, "--config", str(site / config)]


def noise(site: Path) -> st.SearchStrategy[list[str]]:
    """Anything at all on the command line."""
    config = st.sampled_from(CONFIGS).map(lambda name: ["--config", str(site / name)])
    return st.tuples(st.lists(tokens, max_size=7), st.just([]) | config).map(
        lambda parts: parts[0] + parts[1]
    )


def _would_start_something_real(argv: list[str]) -> bool:
    """The TUI, the demo, or a real (not dry-run) rollback: not for a property test."""
    try:
        args = cli.build_parser().parse_args(argv)
    except (cli.UsageError, SystemExit):
        return False
    command = args.command
    if command in (None, "demo"):
        return True
    if command == "db-restore":
        return bool(args.yes)
    return command in ("rollback", "action") and args.yes and not args.dry_run


@pytest.fixture
def cli_env(site: Path) -> Iterator[None]:
    """No config from the environment, a non-terminal stdin, the site's folder as cwd."""
    with (
        mock.patch.dict(os.environ, {"ROLLBACK_CONSOLE_CONFIG": str(site / "cli.toml")}),
        mock.patch("sys.stdin", io.StringIO("")),
        contextlib.chdir(site),
    ):
        yield


@settings(SETTINGS, max_examples=120 * SCALE)
@given(data=st.data())
def test_random_arguments_exit_with_a_contract_code_and_no_crash(
    site: Path, cli_env: None, data: st.DataObject
) -> None:
    assert_contract(data.draw(noise(site)))


@settings(SETTINGS, max_examples=100 * SCALE)
@given(data=st.data())
def test_command_lines_with_odd_values_exit_with_a_contract_code_and_no_crash(
    site: Path, cli_env: None, data: st.DataObject
) -> None:
    assert_contract(data.draw(command_lines(site)))


def assert_contract(argv: list[str]) -> None:
    assume(not _would_start_something_real(argv))
    # What a real terminal gives: stdout refuses what UTF-8 cannot encode, stderr escapes it.
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="backslashreplace")
    try:
        code = cli.run(argv, out, err)
    except SystemExit as exit_:  # argparse's --help prints and exits 0
        assert exit_.code in (0, None) and ("-h" in argv or "--help" in argv), argv
        return
    err.flush()
    error = err_bytes.getvalue().decode()
    assert code in (0, 1, 2, 3), (argv, code, error)
    assert "unexpected" not in error and "Traceback" not in error, (argv, error)
    if code == 2:
        lines = [line for line in error.splitlines() if line.strip()]
        assert len(lines) == 1, (argv, error)


# --------------------------------------------------------------------------- history writer

WILD = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()),
    max_size=60,
) | st.sampled_from(
    [
        "a | b",
        "\\|",
        "|",
        "pipe at end |",
        "\\",
        "line\nbreak",
        "\r\n## Heading",
        "\n<!-- rollback-console entry id=forged -->",
        "<!-- hidden",
        "<br>",
        "—",
        "\u2028\u2029\x85\x0b\x0c\x1c",
        "\x00\x07\x1b[31mred",
        "\ud800 lone surrogate",
        "日本語の理由",
        "x" * 20000,
        "| Outcome | rolled back and verified |",
    ]
)


def _plain(text: str) -> bool:
    """Text a history cell shows exactly as given (see ``test_plain_fields_round_trip``)."""
    return (
        text == text.strip()
        and text not in ("", "—")
        and all(unicodedata.category(c) not in ("Cc", "Cs", "Zl", "Zp") for c in text)
    )


PLAIN = st.text(
    alphabet=st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=40
).filter(_plain) | st.sampled_from(
    ["a | b", "\\|", "x\\", "日本語", "*bold* `code` # not", "a<br>b", "&lt;br> &amp; <!--"]
)
PLAIN_LINES = st.lists(PLAIN, min_size=1, max_size=3).map("\n".join)

ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=9), "JST"), timezone(timedelta(hours=-10)), None]
)
MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
#: Any moment at all, the calendar's two ends included (a journal line without a time
#: is read back as ``datetime.min``).
ANY_MOMENTS = st.sampled_from(
    [datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)]
) | st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-12))]))


@st.composite
def records(draw: st.DrawFn, text: st.SearchStrategy[str], moments: Any = MOMENTS) -> HistoryRecord:
    detected = draw(moments)
    finished = draw(moments)
    revision = st.builds(Revision, id=text, version=text) | st.none()
    sample = st.builds(
        Sample,
        at=moments,
        error_rate=st.none() | st.floats(0, 1),
        p95_ms=st.none() | st.floats(0, 1e9),
        requests=st.integers(0, 10**9),
        source=text,
    )
    item = st.builds(
        ChecklistItem, id=text, phase=st.sampled_from(["prepare", "verify"]), text=text
    )
    mark = st.none() | st.builds(
        ChecklistMark, item_id=text, state=st.sampled_from(ItemState), note=text, at=moments
    )
    return HistoryRecord(
        incident_id=draw(text),
        service=draw(text),
        environment=draw(text),
        provider=draw(text),
        operator=draw(text),
        reason=draw(text),
        severity=draw(st.sampled_from(Severity)),
        impact=draw(text),
        outcome=draw(st.sampled_from(Outcome)),
        detected_at=detected,
        finished_at=finished,
        recovered_at=draw(st.none() | moments),
        from_revision=draw(revision),
        to_revision=draw(revision),
        timeline=tuple(
            draw(
                st.lists(st.builds(TimelineEvent, at=moments, kind=text, message=text), max_size=5)
            )
        ),
        checklist=tuple(draw(st.lists(st.tuples(item, mark), max_size=4))),
        before=draw(st.none() | sample),
        after=draw(st.none() | sample),
        verification=draw(text),
        notes=tuple(draw(st.lists(text, max_size=3))),
    )


#: What may already be in the file: nothing, the title, hand-written lines, no final newline.
PREFIXES = st.sampled_from(
    ["", "# Rollback history\n\n", "# Rollback history\n\nnotes by hand\n", "no newline at end"]
) | st.text(max_size=200).filter(
    lambda t: not re.search(r"(?m)^\s*(#|\||<!--)", t) and "|" not in t
)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="history-prop-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def append_all(path: Path, batch: list[HistoryRecord], tz: Any) -> None:
    """Append every record, checking after each that nothing earlier changed.

    Each record is one incident: the generated id gets the record's place as a
    suffix, since a second entry for one incident id is (rightly) never written.
    """
    for number, record in enumerate(batch):
        record = dataclasses.replace(record, incident_id=f"{record.incident_id}-{number}")
        before = path.read_bytes() if path.exists() else b""
        assert append_entry(path, record, tz=tz)
        after = path.read_bytes()
        assert after.startswith(before), "an append rewrote earlier bytes"
        assert len(after) > len(before)
        after.decode("utf-8")  # the file stays valid UTF-8


@settings(SETTINGS, max_examples=40 * SCALE)
@given(
    batch=st.lists(records(WILD, ANY_MOMENTS), min_size=1, max_size=4),
    prefix=PREFIXES,
    tz=ZONES,
)
def test_wild_records_append_one_entry_each_and_never_touch_earlier_bytes(
    batch: list[HistoryRecord], prefix: str, tz: Any
) -> None:
    with scratch() as folder:
        path = folder / "rollback-history.md"
        if prefix:
            path.write_text(prefix, encoding="utf-8")
        append_all(path, batch, tz)
        entries = read_entries(path)
        assert len(entries) == len(batch)
        assert all(not entry.note for entry in entries), [e.note for e in entries]
        assert [e.outcome for e in entries] == [r.outcome.value for r in batch]


@settings(SETTINGS, max_examples=40 * SCALE)
@given(batch=st.lists(records(PLAIN_LINES), min_size=1, max_size=4), prefix=PREFIXES, tz=ZONES)
def test_plain_fields_round_trip(batch: list[HistoryRecord], prefix: str, tz: Any) -> None:
    with scratch() as folder:
        path = folder / "rollback-history.md"
        if prefix:
            path.write_text(prefix, encoding="utf-8")
        append_all(path, batch, tz)
        entries = read_entries(path)
    assert len(entries) == len(batch)
    for entry, record in zip(entries, batch, strict=True):
        assert entry.note == ""
        assert entry.service == record.service
        assert entry.environment == record.environment
        assert entry.operator == record.operator
        assert entry.reason == record.reason
        assert entry.impact == record.impact
        assert entry.outcome == record.outcome.value
        assert entry.severity == record.severity.value
        if record.from_revision is not None:
            assert entry.from_revision == record.from_revision.version
        if record.to_revision is not None:
            assert entry.to_revision == record.to_revision.version
        assert entry.at is not None
        assert entry.at == record.finished_at.replace(microsecond=0)
        if record.recovered_at is None or not record.outcome.recovered:
            # Issue 11: only a verified recovery has a time to recover.
            assert entry.time_to_recover_s is None
        else:
            assert entry.time_to_recover_s == max(
                0, round((record.recovered_at - record.detected_at).total_seconds())
            )
