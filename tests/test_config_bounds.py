"""Every number in the config has bounds, checked at load time: exit 2 naming file:line:key.

``webhook_timeout_s = 1e308`` used to load, and fail after a verified
rollback (OverflowError) when the console waited for the team message;
``interval_s = 1e-9`` probed the service in a busy loop; a negative
``restarts_high``, a health URL with port 99999 and two checklist items with
one id loaded too.  The numeric keys are found from the config dataclasses,
so a new one without bounds fails here.
"""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck as Health
from hypothesis import given, settings
from hypothesis import strategies as st

from console import config as cfg
from console.config import ConfigError, load_config
from tests.conftest import REPO


def base() -> dict[str, Any]:
    """A config that reads every table that holds a number (all provider sections at once)."""
    return {
        "console": {"operator": "alice", "history_file": "h.md", "state_dir": "state"},
        "services": [
            {
                "name": "web",
                "environment": "production",
                "provider": "host",
                "host": {"releases_dir": "releases", "current_link": "current"},
                "kubernetes": {"deployment": "web"},
                "ecs": {"cluster": "c", "service": "s", "region": "ap-northeast-1"},
                "cloudrun": {"project": "p", "region": "asia-northeast1", "service": "s"},
                "database": {"dsn_env": "DSN", "migrations": "none"},
                "health": [{"url": "http://127.0.0.1:8080/health"}],
                "error_rate": {"source": "probe"},
                "thresholds": {},
            }
        ],
    }


#: Config dataclass -> where its table is in ``base()``, and its dotted name in messages.
TABLES: dict[type, tuple[tuple[Any, ...], str]] = {
    cfg.ConsoleConfig: (("console",), "console"),
    cfg.ServiceConfig: (("services", 0), "services[0]"),
    cfg.HealthCheck: (("services", 0, "health", 0), "services[0].health[0]"),
    cfg.ErrorRateConfig: (("services", 0, "error_rate"), "services[0].error_rate"),
    cfg.HostConfig: (("services", 0, "host"), "services[0].host"),
    cfg.KubernetesConfig: (("services", 0, "kubernetes"), "services[0].kubernetes"),
    cfg.EcsConfig: (("services", 0, "ecs"), "services[0].ecs"),
    cfg.CloudRunConfig: (("services", 0, "cloudrun"), "services[0].cloudrun"),
    cfg.DatabaseConfig: (("services", 0, "database"), "services[0].database"),
    cfg.Thresholds: (("services", 0, "thresholds"), "services[0].thresholds"),
}

NUMERIC = ("float", "int", "float | None", "int | None")
KEYS = [
    (cls, f.name, f.type) for cls in TABLES for f in dataclasses.fields(cls) if f.type in NUMERIC
]


def kind(name: str, type_: str) -> str:
    if name == "webhook_exit_wait_s":
        return "wait"  # 0 = do not wait
    if type_.startswith("int"):
        return "int"
    if name.endswith("_error_rate"):
        return "fraction"
    if name.endswith("_ms"):
        return "ms"
    return "float"


GARBAGE_ALWAYS = [math.inf, -math.inf, math.nan, 1e308, -1, 10**30, "x", True]
GARBAGE: dict[str, list[Any]] = {
    "int": [*GARBAGE_ALWAYS, 0, 1.5, -(10**30)],
    "fraction": [*GARBAGE_ALWAYS, -0.5, 1.5],
    "ms": [*GARBAGE_ALWAYS, 0, 1e-9, 1e11],
    "float": [*GARBAGE_ALWAYS, 0, 1e-9, 2 * 86400],
    "wait": [*GARBAGE_ALWAYS, -1e-9, 601],
}


def with_value(table: tuple[Any, ...], name: str, value: Any) -> dict[str, Any]:
    data = base()
    node: Any = data
    for part in table:
        node = node[part]
    node[name] = value
    return data


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "releases" / "v1").mkdir(parents=True)
    return tmp_path


def write(site: Path, data: dict[str, Any]) -> Path:
    """``data`` as TOML; the health checks as ``[[services.health]]`` tables, one key a line
    (tomli_w would write them inline, where no key has a line of its own)."""
    data = {**data, "services": [dict(s) for s in data["services"]]}
    health = data["services"][-1].pop("health", [])
    text = tomli_w.dumps(data)
    for check in health:
        text += "\n[[services.health]]\n" + tomli_w.dumps(check)
    path = site / "config.toml"
    path.write_text(text)
    return path


def test_the_base_config_loads(site: Path) -> None:
    svc = load_config(write(site, base())).service("web")
    assert svc.kubernetes and svc.ecs and svc.cloudrun and svc.database


CASES = [
    pytest.param(cls, name, value, id=f"{TABLES[cls][1]}.{name}={value!r}"[:80])
    for cls, name, type_ in KEYS
    for value in GARBAGE[kind(name, type_)]
]


@pytest.mark.parametrize(("cls", "name", "value"), CASES)
def test_garbage_in_a_numeric_key_names_file_line_and_key(
    site: Path, cls: type, name: str, value: Any
) -> None:
    table, dotted = TABLES[cls]
    path = write(site, with_value(table, name, value))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    match = re.match(rf"{re.escape(str(path))}:(\d+): {re.escape(f'{dotted}.{name}')}: ", message)
    assert match, message
    line = path.read_text().splitlines()[int(match.group(1)) - 1]
    assert line.startswith(f"{name} = "), (line, message)
    assert "\n" not in message


def accepted(kind_: str, value: float) -> bool:
    """What a loaded value may be, whatever the file said."""
    if not math.isfinite(value):
        return False
    if kind_ == "fraction":
        return 0 <= value <= 1
    if kind_ == "ms":
        return cfg.MIN_DURATION_S <= value <= cfg.MAX_LATENCY_MS
    if kind_ == "int":
        return 1 <= value <= 1_000_000
    if kind_ == "wait":
        return 0 <= value <= cfg.MAX_EXIT_WAIT_S
    return cfg.MIN_DURATION_S <= value <= cfg.MAX_DURATION_S


@settings(max_examples=300, deadline=None, suppress_health_check=[Health.function_scoped_fixture])
@given(
    key=st.sampled_from(KEYS),
    value=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(),
        st.integers(min_value=-(10**400), max_value=10**400),
        st.booleans(),
        st.text(max_size=3),
    ),
)
def test_any_value_in_any_numeric_key_loads_within_bounds_or_is_a_config_error(
    site: Path, key: tuple[type, str, str], value: Any
) -> None:
    cls, name, type_ = key
    table, _dotted = TABLES[cls]
    try:
        config = load_config(write(site, with_value(table, name, value)))
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    svc = config.service("web")
    loaded = {
        cfg.ConsoleConfig: config.console,
        cfg.ServiceConfig: svc,
        cfg.HealthCheck: svc.health[0],
        cfg.ErrorRateConfig: svc.error_rate,
        cfg.HostConfig: svc.host,
        cfg.KubernetesConfig: svc.kubernetes,
        cfg.EcsConfig: svc.ecs,
        cfg.CloudRunConfig: svc.cloudrun,
        cfg.DatabaseConfig: svc.database,
        cfg.Thresholds: svc.thresholds,
    }[cls]
    got = getattr(loaded, name)
    assert isinstance(got, int | float) and not isinstance(got, bool)
    assert accepted(kind(name, type_), got), (name, value, got)


# --------------------------------------------------------------------------- specific rules


@pytest.mark.parametrize(
    ("table", "name", "value", "words"),
    [
        (("console",), "webhook_timeout_s", 1e308, "at most 86400"),
        (("console",), "webhook_timeout_s", 0.001, "at least 0.1"),
        (("services", 0, "error_rate"), "interval_s", 1e-9, "at least 0.05"),
        (("services", 0, "error_rate"), "window_s", 0.1, "at least interval_s"),
        (("services", 0, "health", 0), "timeout_s", 0.01, "at least 0.1"),
        (("services", 0, "kubernetes"), "lock_ttl_s", 1, "at least 10"),
        (("services", 0, "thresholds"), "restarts_high", -1, "between 1 and"),
        (("services", 0, "thresholds"), "latency_factor", 0.5, "at least 1"),
        (("services", 0, "thresholds"), "medium_error_rate", 0.2, "must not exceed high"),
        (("services", 0, "thresholds"), "critical_deadline_s", -300, "greater than 0"),
    ],
)
def test_each_rule_says_what_it_wants(
    site: Path, table: tuple[Any, ...], name: str, value: Any, words: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(words)) as info:
        load_config(write(site, with_value(table, name, value)))
    assert name in str(info.value)


def test_the_largest_and_smallest_accepted_values_load(site: Path) -> None:
    data = base()
    data["console"]["webhook_timeout_s"] = 86400
    data["services"][0]["error_rate"].update(interval_s=0.05, window_s=0.05, timeout_s=0.1)
    data["services"][0]["verify_window_s"] = 0.01
    # The smallest probe window holds one request: so must the minimum sample (issue 11).
    data["services"][0]["thresholds"].update(restarts_high=1, latency_factor=1, min_requests=1)
    data["services"][0]["verify_min_requests"] = 1
    config = load_config(write(site, data))
    assert config.console.webhook_timeout_s == 86400
    assert config.service("web").error_rate.interval_s == 0.05


# --------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://localhost:99999/", "invalid port '99999'"),
        ("http://localhost:0/", "invalid port '0'"),
        ("http://localhost:http/", "invalid port 'http'"),
        ("http://exa mple/", "http:// or https:// URL"),
        ("http://exa%20mple/", "invalid host name"),
        ("http://-web-/", "invalid host name"),
        ("http://a..b/", "invalid host name"),
        ("http://999.1.1.1/", "invalid IPv4"),
        ("http://[::1/", "IPv6"),
        ("http://[::g]/", "invalid IPv6"),
        ("http://:8080/", "no host"),
        ("http:///health", "no host"),
    ],
)
def test_a_health_url_with_a_bad_host_or_port_is_refused(site: Path, url: str, words: str) -> None:
    data = base()
    data["services"][0]["health"][0]["url"] = url
    path = write(site, data)
    with pytest.raises(ConfigError, match=re.escape(words)) as info:
        load_config(path)
    assert f"{path}:" in str(info.value) and "services[0].health[0].url" in str(info.value)


def test_a_bad_port_is_named_without_the_password_beside_it(site: Path) -> None:
    data = base()
    data["services"][0]["health"][0]["url"] = "http://ops:hunter2-secret@web:99999/health"
    with pytest.raises(ConfigError) as info:
        load_config(write(site, data))
    assert "99999" in str(info.value) and "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/health",
        "https://example.com/",
        "http://[::1]:8080/health",
        "http://my_host.internal:80/x?y=1",
        "http://localhost/",
        "http://user:pw@web.example:65535/",
        "http://xn--bcher-kva.example/",
        "http://bücher.example/",
        "http://web.example.:8080/",
    ],
)
def test_good_urls_still_load(site: Path, url: str) -> None:
    data = base()
    data["services"][0]["health"][0]["url"] = url
    data["services"][0]["error_rate"]["urls"] = [url]
    assert load_config(write(site, data)).service("web").health[0].url == url


@pytest.mark.parametrize(
    ("table", "key"),
    [
        (("services", 0, "error_rate"), "url"),
        (("services", 0, "ecs"), "endpoint_url"),
        (("services", 0, "cloudrun"), "endpoint"),
    ],
)
def test_every_url_key_checks_host_and_port(site: Path, table: tuple[Any, ...], key: str) -> None:
    with pytest.raises(ConfigError, match="invalid port") as info:
        load_config(write(site, with_value(table, key, "http://127.0.0.1:70000")))
    assert key in str(info.value)


def test_error_rate_urls_are_checked_too(site: Path) -> None:
    data = base()
    data["services"][0]["error_rate"]["urls"] = ["http://ok:80/", "http://bad:123456/"]
    with pytest.raises(ConfigError, match=r"error_rate\.urls: has an invalid port '123456'"):
        load_config(write(site, data))


# --------------------------------------------------------------------------- checklist


def test_duplicate_checklist_ids_are_refused(site: Path) -> None:
    data = base()
    data["services"][0]["checklist"] = [
        {"id": "dba", "text": "Page the DBA"},
        {"id": "dba", "text": "Page the DBA again"},
    ]
    path = write(site, data)
    with pytest.raises(ConfigError, match=r"checklist\[1\]\.id: duplicate checklist id 'dba'"):
        load_config(path)


def test_a_default_checklist_id_may_not_collide_either(site: Path) -> None:
    data = base()
    data["services"][0]["checklist"] = [{"text": "one"}, {"id": "custom-1", "text": "two"}]
    with pytest.raises(ConfigError, match="duplicate checklist id 'custom-1'"):
        load_config(write(site, data))


# --------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda d: d["console"].update(webhook_timeout_s=1e308), "console.webhook_timeout_s"),
        (
            lambda d: d["services"][0]["error_rate"].update(interval_s=1e-9),
            "services[0].error_rate.interval_s",
        ),
        (
            lambda d: d["services"][0]["thresholds"].update(restarts_high=-1),
            "services[0].thresholds.restarts_high",
        ),
        (
            lambda d: d["services"][0]["health"][0].update(url="http://localhost:99999/"),
            "services[0].health[0].url",
        ),
        (
            lambda d: d["services"][0].update(
                checklist=[{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]
            ),
            "services[0].checklist[1].id",
        ),
    ],
    ids=["webhook-timeout", "interval", "restarts", "port", "checklist"],
)
@pytest.mark.parametrize("command", [["check-config"], ["status", "web"]])
def test_the_cli_refuses_them_with_exit_2_naming_file_line_key(
    site: Path, change: Any, key: str, command: list[str]
) -> None:
    data = base()
    change(data)
    path = write(site, data)
    result = subprocess.run(
        [sys.executable, "-m", "console.cli", *command, "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert re.match(rf"error: {re.escape(str(path))}:\d+: {re.escape(key)}: ", lines[0]), lines[0]
