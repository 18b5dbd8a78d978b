"""TOML config -> typed, validated objects.

The file is read with ``tomllib`` and every table is walked by a small reader
that knows which keys it consumed, so an unknown key, a wrong type or a missing
path becomes one ``ConfigError`` naming ``file:line: key``.  Relative paths are
resolved against the config file's folder.  Secrets never live in the file: it
names environment variables (``*_env`` keys) and the console reads them when
needed.
"""

from __future__ import annotations

import dataclasses
import functools
import getpass
import ipaddress
import math
import os
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import platformdirs

from console.errors import BadInput
from console.model import ChecklistItem
from console.redact import Redactor, display_url
from console.textsafe import printable

APP_NAME = "rollback-console"
ENV_CONFIG = "ROLLBACK_CONSOLE_CONFIG"

#: Providers the console knows, mapped to the module that implements them.
#: Only the chosen one is imported (see ``providers.load_provider``).
KNOWN_PROVIDERS = ("host", "kubernetes", "ecs", "cloudrun")
#: Where an error rate can come from ([services.error_rate] source).
KNOWN_SOURCES = ("probe", "prometheus", "cloudwatch", "cloudmonitoring")

#: The shortest any duration key may be: below 10 ms it is a unit mistake, not a time.
MIN_DURATION_S = 0.01
#: The longest any duration key (``*_s``) may be: a day.  Anything longer is a typo
#: (``1e308``) or a unit mistake (milliseconds), and a timer that long overflows.
MAX_DURATION_S = 86_400.0
#: The shortest time limit one HTTP request may have (health checks, probes, webhook):
#: shorter, every request "fails" and the console reports an outage that is not there.
MIN_REQUEST_TIMEOUT_S = 0.1
#: The shortest pause between probe requests: shorter is a busy loop against the service.
MIN_PROBE_INTERVAL_S = 0.05
#: The shortest platform lock lifetime: shorter, another console takes the lock over
#: while a rollback is still running.
MIN_LOCK_TTL_S = 10.0
#: The largest latency (p95 thresholds, in ms): a day, like the durations.
MAX_LATENCY_MS = MAX_DURATION_S * 1000
#: The longest a command may wait at exit for team messages (0 = not at all).
MAX_EXIT_WAIT_S = 600.0


class ConfigError(BadInput):
    """Bad configuration: ``str(err)`` is one line naming the file, line and key."""

    exit_code = 2

    def __init__(self, file: Path | str, key: str, message: str, line: int | None = None):
        self.file = str(file)
        self.key = key
        self.message = message
        self.line = line
        where = f"{self.file}:{line}" if line else self.file
        label = f" {key}:" if key else ""
        # Keys and values in messages come from the file itself, and a TOML key may
        # hold a newline or a control character.
        super().__init__(printable(f"{where}:{label} {message}"))


# --------------------------------------------------------------------------- typed config


@dataclass(frozen=True)
class Thresholds:
    """Severity thresholds; defaults come from runbooks 001, 002 and 004."""

    #: Error rate (0..1) at or above which a rollback is critical (runbook 001: 50%).
    critical_error_rate: float = 0.50
    #: Error rate at or above which a rollback is high priority (runbook 001: 10%).
    high_error_rate: float = 0.10
    #: Error rate above which the service is degraded but a forward fix may do.
    medium_error_rate: float = 0.01
    #: p95 latency as a multiple of the baseline that makes it high (runbook 001: 3x).
    latency_factor: float = 3.0
    #: The service's normal p95 in ms; without it the latency rule is not applied.
    baseline_p95_ms: float | None = None
    #: Unit restarts at or above which restarts count as "frequent" (runbook 001).
    restarts_high: int = 3
    #: After a rollback the error rate must be below this (runbook 001: 1%).
    ok_error_rate: float = 0.01
    #: After a rollback p95 must be below this (runbook 001: 500 ms).
    ok_p95_ms: float = 500.0
    #: Time to decide, from detection, per severity (runbook 001: 5 and 15 minutes).
    critical_deadline_s: float = 300.0
    high_deadline_s: float = 900.0
    medium_deadline_s: float = 1800.0
    #: Requests the error-rate source must have measured in its window before the
    #: console gives a severity; below it the verdict is "assessing (n of N samples)".
    min_requests: int = 20


@dataclass(frozen=True)
class HealthCheck:
    url: str
    name: str = ""
    expect_status: int = 200
    timeout_s: float = 3.0

    @property
    def display_url(self) -> str:
        """The URL as screens, logs and results show it: credentials masked."""
        return display_url(self.url)

    @property
    def label(self) -> str:
        return self.name or self.display_url


@dataclass(frozen=True)
class ErrorRateConfig:
    """Where the error rate comes from.  ``probe`` samples the health URLs itself."""

    source: str = "probe"
    #: Seconds between probe requests (per URL).
    interval_s: float = 0.5
    #: Sliding window, seconds, over which rate and p95 are computed.
    window_s: float = 30.0
    #: URLs to probe; default: the service's health URLs.
    urls: tuple[str, ...] = ()
    timeout_s: float = 3.0
    #: prometheus: the server's base URL; cloudwatch / cloudmonitoring: an API endpoint
    #: override (tests, LocalStack).
    url: str = ""
    #: prometheus: PromQL giving the error ratio (0..1) as one instant value.
    query: str = ""
    #: prometheus: PromQL giving p95 latency in seconds.
    latency_query: str = ""
    #: cloudwatch: region / profile (default: the ECS section's), and either an ALB
    #: (load_balancer + target_group, "app/NAME/ID" / "targetgroup/NAME/ID") or
    #: ``expression`` (metric math over ``metrics``) giving the error ratio.
    region: str = ""
    profile: str = ""
    load_balancer: str = ""
    target_group: str = ""
    expression: str = ""
    metrics: tuple[dict[str, Any], ...] = ()
    #: cloudmonitoring: project / service / region (default: the cloudrun section's).
    project: str = ""
    service: str = ""


@dataclass(frozen=True)
class KubernetesConfig:
    """A Deployment (runbooks 001, 002).  Credentials: kubeconfig or in-cluster."""

    deployment: str
    namespace: str = "default"
    #: kubeconfig context; "" = the current one.
    context: str = ""
    #: kubeconfig file; None = $KUBECONFIG / ~/.kube/config, or in-cluster config.
    kubeconfig: Path | None = None
    #: Container whose image is "the version" (default: the first).
    container: str = ""
    #: How long another console's lock annotation holds before it may be taken over.
    lock_ttl_s: float = 900.0


@dataclass(frozen=True)
class EcsConfig:
    """An ECS service (runbook 003).  Credentials: the normal AWS chain."""

    cluster: str
    service: str
    region: str
    profile: str = ""
    endpoint_url: str = ""
    #: Container whose image is "the version" and that image rollbacks change.
    container: str = ""
    #: RDS instance whose snapshots the database panel lists (runbook 003).
    rds_instance: str = ""
    lock_ttl_s: float = 900.0


@dataclass(frozen=True)
class CloudRunConfig:
    """A Cloud Run service (runbook 004).  Credentials: Application Default Credentials."""

    project: str
    region: str
    service: str
    #: API endpoint override, e.g. "http://127.0.0.1:PORT" for tests.
    endpoint: str = ""
    #: Traffic percentages of a gradual rollback, ending at 100.
    gradual_steps: tuple[int, ...] = (10, 50, 100)
    #: How long health and error rate must hold between gradual steps.
    gate_s: float = 60.0
    #: Time limit for one long-running operation.
    operation_timeout_s: float = 300.0


@dataclass(frozen=True)
class DatabaseCheck:
    """A named SQL query run before and after the rollback (row counts and the like)."""

    name: str
    sql: str


@dataclass(frozen=True)
class DatabaseConfig:
    """The database side of a rollback (runbooks 000-004).  The DSN lives in ``dsn_env``."""

    dsn_env: str
    #: "alembic" (needs alembic_ini), "command" (status / down argv), or "none".
    migrations: str = "alembic"
    alembic_ini: Path | None = None
    checks: tuple[DatabaseCheck, ...] = ()
    backup_dir: Path | None = None
    #: migrations = "command": argv printing the current version, and migrating down
    #: (``{steps}`` in an argument is replaced by the number of steps).
    status_command: tuple[str, ...] = ()
    down_command: tuple[str, ...] = ()
    #: Run the commands inside a pod of the Kubernetes service (kubectl exec equivalent).
    exec_in_pod: bool = False
    command_timeout_s: float = 300.0
    #: Whether a verified backup must exist before executing (skippable only with a reason).
    require_backup: bool = True
    #: Folder holding pg_dump / pg_restore (default: the PATH, else the Debian folder of
    #: the server's major version, /usr/lib/postgresql/N/bin).
    pg_bin_dir: Path | None = None


@dataclass(frozen=True)
class HostConfig:
    """A service on a VM or bastion: symlinked release folders or a git checkout."""

    strategy: str = "symlink"
    releases_dir: Path | None = None
    current_link: Path | None = None
    repo: Path | None = None
    #: git strategy: "checkout" (detached at the target) or "revert" (new revert commits).
    git_mode: str = "checkout"
    #: How many commits/tags the git strategy lists.
    history_limit: int = 20
    restart: tuple[str, ...] = ()
    #: Optional config test run before the reload, e.g. ["nginx", "-t"].
    reload_check: tuple[str, ...] = ()
    #: Optional reload, e.g. ["systemctl", "reload", "nginx"].
    reload: tuple[str, ...] = ()
    #: A file holding the main process id; the process becomes the unit shown.
    pid_file: Path | None = None
    #: A regular expression matched against /proc/*/cmdline to find the units.
    process_match: str = ""
    command_timeout_s: float = 60.0
    #: Folder the commands run in (default: the config file's folder), so a
    #: relative argv[0] or argument means the same thing from any shell.
    workdir: Path | None = None


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    environment: str
    provider: str
    verify_window_s: float = 60.0
    ready_timeout_s: float = 300.0
    #: The least evidence a "verified" needs (``console.verify``): this many health
    #: rounds and this many requests measured by the error-rate source.
    verify_min_requests: int = 20
    verify_min_rounds: int = 3
    host: HostConfig | None = None
    kubernetes: KubernetesConfig | None = None
    ecs: EcsConfig | None = None
    cloudrun: CloudRunConfig | None = None
    database: DatabaseConfig | None = None
    health: tuple[HealthCheck, ...] = ()
    error_rate: ErrorRateConfig = field(default_factory=ErrorRateConfig)
    thresholds: Thresholds = field(default_factory=Thresholds)
    #: Replaces the runbook checklist when given (see ``console.checklist``).
    checklist: tuple[ChecklistItem, ...] | None = None
    #: ``[console] state_dir``, copied here so a provider built from its service
    #: alone (Kubernetes manifest backups) keeps its files where the console does.
    state_dir: Path | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.environment})"


@dataclass(frozen=True)
class ConsoleConfig:
    operator: str
    history_file: Path
    state_dir: Path
    language: str = "en"
    #: Environment variable holding the Slack-compatible webhook URL ("" = no webhook).
    #: The URL is a secret: it is read when a message is sent and never shown or recorded.
    webhook_env: str = ""
    #: Seconds one webhook request may take before it counts as failed.
    webhook_timeout_s: float = 10.0
    #: Attempts per message (5xx, 429, timeouts and connection errors are retried).
    webhook_attempts: int = 3
    #: How long a headless command waits, after the entry is saved, for messages still
    #: being sent before it exits (and says which were not confirmed).
    webhook_exit_wait_s: float = 10.0


@dataclass(frozen=True)
class Config:
    path: Path
    console: ConsoleConfig
    services: tuple[ServiceConfig, ...]

    @functools.cached_property
    def redactor(self) -> Redactor:
        """The one redactor of this config (``console.redact``), built on first use.

        It masks the credentials of every URL in the config and the value of
        every ``*_env`` variable it names, as the environment holds them now.
        """
        return Redactor.for_config(self)

    def service(self, name: str) -> ServiceConfig:
        """The service called ``name``; a ``ConfigError`` (exit 2) names the known ones."""
        for svc in self.services:
            if svc.name == name:
                return svc
        known = ", ".join(s.name for s in self.services) or "none"
        raise ConfigError(self.path, "services", f"unknown service {name!r} (known: {known})")


# --------------------------------------------------------------------------- locating the file


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def default_state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP_NAME))


def resolve_config_path(cli_path: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """``--config``, else ``$ROLLBACK_CONSOLE_CONFIG``, else the XDG config path."""
    env = os.environ if environ is None else environ
    if cli_path:
        return Path(cli_path).expanduser()
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG]).expanduser()
    return default_config_path()


def is_utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8.

    Python keeps bytes of a command-line argument or environment variable that
    are not UTF-8 as lone surrogates (``'\\udcff'``); such a string fails at the
    first file or terminal it is written to.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# --------------------------------------------------------------------------- reading


T = TypeVar("T")


class _Reader:
    """Walks one TOML table, checking types and remembering which keys were read."""

    def __init__(self, loader: _Loader, table: Mapping[str, Any], path: str):
        self.loader = loader
        self.table = table
        self.path = path
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, message: str) -> ConfigError:
        return self.loader.error(self.key(name), message)

    def get(self, name: str, kind: type[T] | tuple[type, ...], default: Any = None) -> Any:
        self.seen.add(name)
        if name not in self.table:
            return default
        value = self.table[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int in Python; never accept true for a number.
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(name, f"expected {_kind_name(kinds)}, got {_shown(value)}")
        if not isinstance(value, kinds):
            raise self.error(name, f"expected {_kind_name(kinds)}, got {_shown(value)}")
        return value

    def require(self, name: str, kind: type[T]) -> T:
        if name not in self.table:
            self.seen.add(name)
            raise self.error(name, "is required")
        value: T = self.get(name, kind)
        if isinstance(value, str) and not value.strip():
            raise self.error(name, "must not be empty")
        return value

    def number(self, name: str, default: float | None, *, positive: bool = True) -> Any:
        value = self.get(name, (int, float), default)
        if value is None:
            return None
        value = self._finite(name, value)
        if positive and value <= 0:
            raise self.error(name, f"must be greater than 0, got {_shown(value)}")
        return value

    def duration(
        self,
        name: str,
        default: float | None,
        *,
        low: float = MIN_DURATION_S,
        high: float = MAX_DURATION_S,
        unit: str = "s",
    ) -> Any:
        """A positive, finite number of seconds (or ``unit``) between ``low`` and ``high``."""
        value = self.number(name, default)
        if value is None:
            return None
        if value < low:
            raise self.error(name, f"must be at least {low:g} {unit}, got {_shown(value)}")
        if value > high:
            raise self.error(name, f"must be at most {high:g} {unit}, got {_shown(value)}")
        return value

    def fraction(self, name: str, default: float) -> float:
        value = self._finite(name, self.get(name, (int, float), default))
        if not 0 <= value <= 1:
            raise self.error(name, f"must be a fraction between 0 and 1, got {_shown(value)}")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value: int = self.get(name, int, default)
        if not low <= value <= high:
            raise self.error(name, f"must be between {low} and {high}, got {_shown(value)}")
        return value

    def _finite(self, name: str, value: float) -> float:
        """``value`` as a float; inf, nan and integers too large for a float are refused."""
        try:
            number = float(value)
        except OverflowError:
            raise self.error(name, "is too large a number") from None
        if not math.isfinite(number):
            raise self.error(name, f"must be a finite number, got {number!r}")
        return number

    def argv(self, name: str) -> tuple[str, ...]:
        value = self.get(name, list, [])
        if not all(isinstance(v, str) for v in value):
            raise self.error(name, "must be a list of strings (an argv, run without a shell)")
        if any("\x00" in v for v in value):
            raise self.error(name, "must not contain a NUL character")
        return tuple(value)

    def path_value(self, name: str, *, must_exist: bool = False) -> Path | None:
        raw = self.get(name, str)
        if raw is None:
            return None
        if not raw.strip():
            raise self.error(name, "must not be empty")
        if "\x00" in raw:
            raise self.error(name, "must not contain a NUL character")
        try:
            resolved = self.loader.resolve(raw)
        except RuntimeError:  # "~name/..." for a user this machine does not know
            raise self.error(name, f"cannot expand {_shown(raw)}: no such user") from None
        if must_exist:
            try:
                os.stat(resolved)
            except (FileNotFoundError, NotADirectoryError):
                raise self.error(name, f"path does not exist: {resolved}") from None
            except OSError as exc:
                raise self.error(name, f"cannot use {resolved}: {exc.strerror}") from None
        return resolved

    def sub(self, name: str) -> _Reader | None:
        value = self.get(name, dict)
        return None if value is None else _Reader(self.loader, value, self.key(name))

    def subs(self, name: str) -> list[_Reader]:
        value = self.get(name, list, [])
        readers = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.error(f"{name}[{i}]", "expected a table")
            readers.append(_Reader(self.loader, item, f"{self.key(name)}[{i}]"))
        return readers

    def expect(self, *names: str) -> None:
        """Reject unknown keys up front, before a missing key hides the typo behind it."""
        for name in self.table:
            if name not in names:
                raise self.error(name, "unknown key")

    def done(self) -> None:
        """Reject keys nobody read: a typo must not silently change behaviour."""
        for name in self.table:
            if name not in self.seen:
                raise self.error(name, "unknown key")


def _shown(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters."""
    try:
        text = repr(value)
    except ValueError:  # an integer with more digits than Python will print
        return "a number too large to show"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_url(value: object) -> bool:
    """An http(s) URL with no spaces or control characters in it, and a usable host and port."""
    return (
        isinstance(value, str)
        and re.fullmatch(r"https?://[^\s\x00-\x1f\x7f]+", value) is not None
        and _host_port_problem(value) is None
    )


def _url_error(r: _Reader, key: str, value: object) -> ConfigError:
    """Why ``value`` is not a usable http(s) URL, as the error to raise for ``key``.

    A bad host or port is named on its own, without the rest of the URL (which
    may hold a password).
    """
    problem = _host_port_problem(value) if isinstance(value, str) else None
    if problem is not None and re.fullmatch(r"https?://[^\s\x00-\x1f\x7f]+", str(value)):
        return r.error(key, problem)
    return r.error(key, f"must be an http:// or https:// URL, got {_shown(value)}")


#: One DNS label (letters of any script, digits, '-', '_'; no '-' at either end).
_LABEL = re.compile(r"(?!-)[\w-]{1,63}(?<!-)")


def _host_port_problem(url: str) -> str | None:
    """What is wrong with the host or port of ``url`` (None when both are usable).

    ``http://localhost:99999/`` or ``http://exa%20mple/`` would only fail when
    the first request is made, as a connection error that looks like an outage.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced "[", or no IPv6 address inside the brackets
        return "has an invalid IPv6 address (the host in [ ])"
    hostport = parts.netloc.rpartition("@")[2]
    try:
        port = parts.port
    except ValueError:
        text = hostport.rpartition("]")[2].rpartition(":")[2]
        return f"has an invalid port {_shown(text)} (must be a number from 1 to 65535)"
    if port == 0:
        return "has an invalid port '0' (must be a number from 1 to 65535)"
    host = parts.hostname or ""
    if not host:
        return "has no host name"
    if hostport.startswith("["):
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return f"has an invalid IPv6 address {_shown(host)}"
        return None
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"has an invalid IPv4 address {_shown(host)}"
        return None
    if not all(_LABEL.fullmatch(label) for label in host.removesuffix(".").split(".")):
        return f"has an invalid host name {_shown(host)}"
    return None


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


class _Loader:
    def __init__(self, path: Path, text: str):
        self.path = path
        self.text = text
        self.base = path.parent

    def resolve(self, raw: str) -> Path:
        p = Path(raw).expanduser()
        if p.is_absolute():
            return p
        full = self.base / p
        if full.name in ("", ".", ".."):
            return full.resolve()
        # Resolve the folder but not the last part: ``current_link`` *is* a symlink,
        # and following it would hand the provider the live release folder instead.
        return full.parent.resolve() / full.name

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(self.path, key, message, _line_of(self.text, key))


def _line_of(text: str, dotted: str) -> int | None:
    """Best-effort line number of ``dotted`` (``services[1].host.restart``) in ``text``.

    tomllib reports no positions for valid documents, so walk the headers:
    find the n-th ``[[services]]``, then the sub-table header, then the key.
    """
    parts = re.findall(r"([A-Za-z0-9_\-]+)(?:\[(\d+)\])?", dotted)
    lines = text.splitlines()
    start = 0
    prefix: list[str] = []
    key = ""
    for i, (name, index) in enumerate(parts):
        last = i == len(parts) - 1
        prefix.append(name)
        header = ".".join(prefix)
        if index:
            pattern = re.compile(rf"^\s*\[\[\s*{re.escape(header)}\s*\]\]")
            hits = [n for n in range(start, len(lines)) if pattern.match(lines[n])]
            if int(index) < len(hits):
                start = hits[int(index)]
            continue
        if last:
            key = name
            break
        pattern = re.compile(rf"^\s*\[\s*{re.escape(header)}\s*\]")
        for n in range(start, len(lines)):
            if pattern.match(lines[n]):
                start = n
                break
    if not key:
        return start + 1 if lines else None
    key_re = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    for n in range(start, len(lines)):
        if key_re.match(lines[n]):
            return n + 1
    return start + 1 if start else None


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config at ``path``; raise ``ConfigError`` on anything wrong."""
    env = os.environ if environ is None else environ
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, "", "config file not found") from None
    except IsADirectoryError:
        raise ConfigError(path, "", "is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read: {exc.strerror}") from None
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "", f"not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, or an integer too long to convert
        raise ConfigError(path, "", f"invalid TOML: {exc}") from None
    loader = _Loader(path.resolve() if path.exists() else path, text)
    root = _Reader(loader, data, "")
    root.expect("console", "services")
    console = _read_console(root.sub("console") or _Reader(loader, {}, "console"), loader, env)
    readers = root.subs("services")
    names = [r.table.get("name") for r in readers]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise loader.error(f"services[{i}].name", f"duplicate service name {_shown(name)}")
    services = tuple(
        dataclasses.replace(_read_service(r), state_dir=console.state_dir) for r in readers
    )
    if not services:
        raise loader.error("services", "at least one [[services]] entry is required")
    root.done()
    return Config(path=loader.path, console=console, services=services)


def _read_console(r: _Reader, loader: _Loader, env: Mapping[str, str]) -> ConsoleConfig:
    r.expect(
        "operator",
        "history_file",
        "state_dir",
        "language",
        "webhook_env",
        "webhook_timeout_s",
        "webhook_attempts",
        "webhook_exit_wait_s",
    )
    operator = r.get("operator", str) or env.get("ROLLBACK_CONSOLE_OPERATOR") or _login_name()
    if not is_utf8(operator):
        # Only the environment can hold such bytes (the file is UTF-8): the name goes into
        # every entry, journal and message, so it is refused before anything is done.
        raise r.error(
            "operator",
            f"$ROLLBACK_CONSOLE_OPERATOR (or the login name) is not UTF-8 text: {_shown(operator)}",
        )
    history = r.path_value("history_file") or loader.resolve("docs/operations/rollback-history.md")
    state = r.path_value("state_dir") or default_state_dir()
    language = r.get("language", str, "en")
    if language not in ("en", "ja"):
        raise r.error("language", f"must be 'en' or 'ja', got {language!r}")
    webhook_env = r.get("webhook_env", str, "")
    if webhook_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", webhook_env):
        # Never echo the value: it may be the URL itself pasted by mistake.
        raise r.error("webhook_env", "must name an environment variable (the URL stays out)")
    attempts = r.integer("webhook_attempts", 3, 1, 10)
    webhook_timeout = r.duration("webhook_timeout_s", 10.0, low=MIN_REQUEST_TIMEOUT_S)
    exit_wait = r.number("webhook_exit_wait_s", 10.0, positive=False)
    if not 0 <= exit_wait <= MAX_EXIT_WAIT_S:
        raise r.error(
            "webhook_exit_wait_s",
            f"must be between 0 and {MAX_EXIT_WAIT_S:g} s, got {_shown(exit_wait)}",
        )
    r.done()
    return ConsoleConfig(
        operator=operator,
        history_file=history,
        state_dir=state,
        language=language,
        webhook_env=webhook_env,
        webhook_timeout_s=webhook_timeout,
        webhook_attempts=attempts,
        webhook_exit_wait_s=exit_wait,
    )


def _read_service(r: _Reader) -> ServiceConfig:
    r.expect(*_SERVICE_KEYS)
    name = r.require("name", str)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name) or ".." in name:
        raise r.error(
            "name", f"must be letters, digits, '-', '_' or '.' (no '..'), got {_shown(name)}"
        )
    environment = _environment(r, r.require("environment", str))
    provider = r.require("provider", str)
    if provider not in KNOWN_PROVIDERS:
        raise r.error(
            "provider", f"unknown provider {provider!r} (known: {', '.join(KNOWN_PROVIDERS)})"
        )
    verify_window = r.duration("verify_window_s", 60.0)
    ready_timeout = r.duration("ready_timeout_s", 300.0)
    min_requests = r.integer("verify_min_requests", 20, 1, 1_000_000)
    min_rounds = r.integer("verify_min_rounds", 3, 1, 10_000)
    health = tuple(_read_health(h) for h in r.subs("health"))
    sections: dict[str, Any] = {}
    for section, read in _PROVIDER_SECTIONS.items():
        section_reader = r.sub(section)
        sections[section] = read(section_reader) if section_reader else None
    if sections.get(provider) is None:
        raise r.error(provider, f"is required when provider = {provider!r}")
    db_reader = r.sub("database")
    database = _read_database(db_reader) if db_reader else None
    rate_reader = r.sub("error_rate")
    error_rate = _read_error_rate(rate_reader) if rate_reader else ErrorRateConfig()
    if error_rate.source == "probe" and not (error_rate.urls or health):
        raise r.error("error_rate.source", "'probe' needs [[services.health]] urls or urls")
    th_reader = r.sub("thresholds")
    thresholds = _read_thresholds(th_reader) if th_reader else Thresholds()
    if error_rate.source == "probe":
        urls = len(error_rate.urls or health)
        fits = error_rate.window_s / error_rate.interval_s * urls  # (inf for extreme values)
        if fits + 1e-9 < thresholds.min_requests:
            # Else the severity would stay "assessing" for ever.
            raise r.error(
                "thresholds.min_requests",
                f"{thresholds.min_requests} requests never fit in the probe's window "
                f"(error_rate.window_s {error_rate.window_s:g} s at one request every "
                f"{error_rate.interval_s:g} s to {urls} URL(s) holds {math.floor(fits + 1e-9)})",
            )
    checklist = _read_checklist(r)
    r.done()
    return ServiceConfig(
        name=name,
        environment=environment,
        provider=provider,
        verify_window_s=verify_window,
        ready_timeout_s=ready_timeout,
        verify_min_requests=min_requests,
        verify_min_rounds=min_rounds,
        host=sections["host"],
        kubernetes=sections["kubernetes"],
        ecs=sections["ecs"],
        cloudrun=sections["cloudrun"],
        database=database,
        health=health,
        error_rate=error_rate,
        thresholds=thresholds,
        checklist=checklist,
    )


def _environment(r: _Reader, value: str) -> str:
    """``environment`` names files (locks) and fills table cells and messages: keep it plain.

    No ``/`` or ``..`` (a path), no ``|`` (a markdown table cell), no line
    break or other control or invisible formatting character.
    """
    bad = next(
        (c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")), None
    )
    if bad is not None:
        problem = f"a control character ({bad.encode('unicode_escape').decode('ascii')})"
    elif "/" in value or "\\" in value:
        problem = "a '/' or '\\'"
    elif ".." in value:
        problem = "'..'"
    elif "|" in value:
        problem = "'|'"
    else:
        return value
    raise r.error("environment", f"must not contain {problem}, got {_shown(value)}")


_SERVICE_KEYS = (
    "name",
    "environment",
    "provider",
    "verify_window_s",
    "ready_timeout_s",
    "verify_min_requests",
    "verify_min_rounds",
    "health",
    "host",
    "kubernetes",
    "ecs",
    "cloudrun",
    "database",
    "error_rate",
    "thresholds",
    "checklist",
)


def _read_health(r: _Reader) -> HealthCheck:
    url = r.require("url", str)
    if not _is_url(url):
        raise _url_error(r, "url", url)
    check = HealthCheck(
        url=url,
        name=r.get("name", str, ""),
        expect_status=r.integer("expect_status", 200, 100, 599),
        timeout_s=r.duration("timeout_s", 3.0, low=MIN_REQUEST_TIMEOUT_S),
    )
    r.done()
    return check


def _read_error_rate(r: _Reader) -> ErrorRateConfig:
    r.expect(*(f.name for f in fields(ErrorRateConfig)))
    source = r.get("source", str, "probe")
    if source not in KNOWN_SOURCES:
        raise r.error(
            "source", f"unknown error-rate source {source!r} (known: {', '.join(KNOWN_SOURCES)})"
        )
    urls = r.get("urls", list, [])
    for url in urls:
        if not _is_url(url):
            raise _url_error(r, "urls", url)
    url = r.get("url", str, "")
    if url and not _is_url(url):
        raise _url_error(r, "url", url)
    metrics = r.get("metrics", list, [])
    for i, metric in enumerate(metrics):
        if not isinstance(metric, dict) or "id" not in metric:
            raise r.error(f"metrics[{i}]", "must be a table with at least an id (GetMetricData)")
    cfg = ErrorRateConfig(
        source=source,
        interval_s=r.duration(
            "interval_s", 0.5 if source == "probe" else 15.0, low=MIN_PROBE_INTERVAL_S
        ),
        window_s=r.duration("window_s", 30.0 if source == "probe" else 300.0),
        urls=tuple(urls),
        timeout_s=r.duration(
            "timeout_s", 3.0 if source == "probe" else 10.0, low=MIN_REQUEST_TIMEOUT_S
        ),
        url=url,
        query=r.get("query", str, ""),
        latency_query=r.get("latency_query", str, ""),
        region=r.get("region", str, ""),
        profile=r.get("profile", str, ""),
        load_balancer=r.get("load_balancer", str, ""),
        target_group=r.get("target_group", str, ""),
        expression=r.get("expression", str, ""),
        metrics=tuple(metrics),
        project=r.get("project", str, ""),
        service=r.get("service", str, ""),
    )
    if cfg.window_s < cfg.interval_s:
        raise r.error(
            "window_s",
            f"must be at least interval_s ({cfg.interval_s:g} s): the window must hold a sample, "
            f"got {_shown(cfg.window_s)}",
        )
    if source == "prometheus":
        if not cfg.url:
            raise r.error("url", "is required for source = 'prometheus' (the server's base URL)")
        if not cfg.query:
            raise r.error("query", "is required for source = 'prometheus' (PromQL error ratio)")
    if source == "cloudwatch" and not (cfg.expression or (cfg.load_balancer and cfg.target_group)):
        raise r.error(
            "load_balancer",
            "source = 'cloudwatch' needs load_balancer and target_group, or expression + metrics",
        )
    if cfg.expression and not cfg.metrics:
        raise r.error("metrics", "is required with expression (the metrics it refers to)")
    r.done()
    return cfg


def _read_kubernetes(r: _Reader) -> KubernetesConfig:
    r.expect("deployment", "namespace", "context", "kubeconfig", "container", "lock_ttl_s")
    cfg = KubernetesConfig(
        deployment=_dns_name(r, "deployment", r.require("deployment", str)),
        namespace=_dns_name(r, "namespace", r.get("namespace", str, "default")),
        context=r.get("context", str, ""),
        kubeconfig=r.path_value("kubeconfig", must_exist=True),
        container=r.get("container", str, ""),
        lock_ttl_s=r.duration("lock_ttl_s", 900.0, low=MIN_LOCK_TTL_S),
    )
    r.done()
    return cfg


def _dns_name(r: _Reader, key: str, value: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", value):
        raise r.error(
            key, f"must be a Kubernetes name (lower-case letters, digits, '-'), got {value!r}"
        )
    return value


def _read_ecs(r: _Reader) -> EcsConfig:
    r.expect(
        "cluster",
        "service",
        "region",
        "profile",
        "endpoint_url",
        "container",
        "rds_instance",
        "lock_ttl_s",
    )
    endpoint = r.get("endpoint_url", str, "")
    if endpoint and not _is_url(endpoint):
        raise _url_error(r, "endpoint_url", endpoint)
    region = r.require("region", str)
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d+", region):
        raise r.error("region", f"is not an AWS region name, got {region!r}")
    cfg = EcsConfig(
        cluster=r.require("cluster", str),
        service=r.require("service", str),
        region=region,
        profile=r.get("profile", str, ""),
        endpoint_url=endpoint,
        container=r.get("container", str, ""),
        rds_instance=r.get("rds_instance", str, ""),
        lock_ttl_s=r.duration("lock_ttl_s", 900.0, low=MIN_LOCK_TTL_S),
    )
    r.done()
    return cfg


def _read_cloudrun(r: _Reader) -> CloudRunConfig:
    r.expect(
        "project",
        "region",
        "service",
        "endpoint",
        "gradual_steps",
        "gate_s",
        "operation_timeout_s",
    )
    endpoint = r.get("endpoint", str, "")
    if endpoint and not _is_url(endpoint):
        raise _url_error(r, "endpoint", endpoint)
    steps = r.get("gradual_steps", list, [10, 50, 100])
    if (
        not steps
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 100 for v in steps)
        or list(steps) != sorted(set(steps))
        or steps[-1] != 100
    ):
        raise r.error(
            "gradual_steps",
            f"must be increasing percentages between 1 and 100 ending at 100, got {_shown(steps)}",
        )
    cfg = CloudRunConfig(
        project=r.require("project", str),
        region=r.require("region", str),
        service=r.require("service", str),
        endpoint=endpoint,
        gradual_steps=tuple(steps),
        gate_s=r.duration("gate_s", 60.0),
        operation_timeout_s=r.duration("operation_timeout_s", 300.0),
    )
    r.done()
    return cfg


def _read_database(r: _Reader) -> DatabaseConfig:
    r.expect(
        "dsn_env",
        "migrations",
        "alembic_ini",
        "checks",
        "backup_dir",
        "status_command",
        "down_command",
        "exec_in_pod",
        "command_timeout_s",
        "require_backup",
        "pg_bin_dir",
    )
    dsn_env = r.require("dsn_env", str)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", dsn_env):
        # The value is not echoed: a DSN pasted here by mistake holds a password.
        raise r.error("dsn_env", "must be the name of an environment variable, not the DSN")
    migrations = r.get("migrations", str, "alembic")
    if migrations not in ("alembic", "command", "none"):
        raise r.error("migrations", f"must be 'alembic', 'command' or 'none', got {migrations!r}")
    alembic_ini = r.path_value("alembic_ini", must_exist=True)
    if migrations == "alembic" and alembic_ini is None:
        raise r.error("alembic_ini", "is required for migrations = 'alembic'")
    checks = []
    for check in r.subs("checks"):
        checks.append(DatabaseCheck(name=check.require("name", str), sql=check.require("sql", str)))
        check.done()
    cfg = DatabaseConfig(
        dsn_env=dsn_env,
        migrations=migrations,
        alembic_ini=alembic_ini,
        checks=tuple(checks),
        backup_dir=r.path_value("backup_dir"),
        status_command=r.argv("status_command"),
        down_command=r.argv("down_command"),
        exec_in_pod=bool(r.get("exec_in_pod", bool, False)),
        command_timeout_s=r.duration("command_timeout_s", 300.0),
        require_backup=bool(r.get("require_backup", bool, True)),
        pg_bin_dir=r.path_value("pg_bin_dir", must_exist=True),
    )
    if migrations == "command" and not (cfg.status_command and cfg.down_command):
        raise r.error(
            "down_command", "migrations = 'command' needs status_command and down_command"
        )
    r.done()
    return cfg


def _read_host(r: _Reader) -> HostConfig:
    r.expect(
        "strategy",
        "releases_dir",
        "current_link",
        "repo",
        "git_mode",
        "history_limit",
        "restart",
        "reload_check",
        "reload",
        "pid_file",
        "process_match",
        "command_timeout_s",
        "workdir",
    )
    strategy = r.get("strategy", str, "symlink")
    if strategy not in ("symlink", "git"):
        raise r.error("strategy", f"must be 'symlink' or 'git', got {strategy!r}")
    git_mode = r.get("git_mode", str, "checkout")
    if git_mode not in ("checkout", "revert"):
        raise r.error("git_mode", f"must be 'checkout' or 'revert', got {git_mode!r}")
    releases_dir = r.path_value("releases_dir", must_exist=strategy == "symlink")
    current_link = r.path_value("current_link")
    repo = r.path_value("repo", must_exist=strategy == "git")
    if strategy == "symlink":
        if releases_dir is None:
            raise r.error("releases_dir", "is required for strategy = 'symlink'")
        if current_link is None:
            raise r.error("current_link", "is required for strategy = 'symlink'")
        if not releases_dir.is_dir():
            raise r.error("releases_dir", f"not a directory: {releases_dir}")
    if strategy == "git":
        if repo is None:
            raise r.error("repo", "is required for strategy = 'git'")
        if not (repo / ".git").exists():
            raise r.error("repo", f"not a git repository: {repo}")
    process_match = r.get("process_match", str, "")
    if process_match:
        try:
            re.compile(process_match)
        except re.error as exc:
            raise r.error("process_match", f"invalid regular expression: {exc}") from None
    cfg = HostConfig(
        strategy=strategy,
        releases_dir=releases_dir,
        current_link=current_link,
        repo=repo,
        git_mode=git_mode,
        history_limit=r.integer("history_limit", 20, 1, 100_000),
        restart=r.argv("restart"),
        reload_check=r.argv("reload_check"),
        reload=r.argv("reload"),
        pid_file=r.path_value("pid_file"),
        process_match=process_match,
        command_timeout_s=r.duration("command_timeout_s", 60.0),
        workdir=r.path_value("workdir", must_exist=True) or r.loader.base,
    )
    r.done()
    return cfg


#: [services.<provider>] table -> its reader; the table named by ``provider`` is required.
_PROVIDER_SECTIONS: dict[str, Callable[[_Reader], Any]] = {
    "host": _read_host,
    "kubernetes": _read_kubernetes,
    "ecs": _read_ecs,
    "cloudrun": _read_cloudrun,
}


def _read_thresholds(r: _Reader) -> Thresholds:
    d = Thresholds()
    th = Thresholds(
        critical_error_rate=r.fraction("critical_error_rate", d.critical_error_rate),
        high_error_rate=r.fraction("high_error_rate", d.high_error_rate),
        medium_error_rate=r.fraction("medium_error_rate", d.medium_error_rate),
        latency_factor=r.duration(
            "latency_factor", d.latency_factor, low=1.0, high=1000.0, unit="(times the baseline)"
        ),
        baseline_p95_ms=r.duration("baseline_p95_ms", None, high=MAX_LATENCY_MS, unit="ms"),
        restarts_high=r.integer("restarts_high", d.restarts_high, 1, 1_000_000),
        ok_error_rate=r.fraction("ok_error_rate", d.ok_error_rate),
        ok_p95_ms=r.duration("ok_p95_ms", d.ok_p95_ms, high=MAX_LATENCY_MS, unit="ms"),
        critical_deadline_s=r.duration("critical_deadline_s", d.critical_deadline_s),
        high_deadline_s=r.duration("high_deadline_s", d.high_deadline_s),
        medium_deadline_s=r.duration("medium_deadline_s", d.medium_deadline_s),
        min_requests=r.integer("min_requests", d.min_requests, 1, 1_000_000),
    )
    if not th.high_error_rate <= th.critical_error_rate:
        raise r.error("high_error_rate", "must not exceed critical_error_rate")
    if not th.medium_error_rate <= th.high_error_rate:
        raise r.error("medium_error_rate", "must not exceed high_error_rate")
    r.done()
    return th


def _read_checklist(r: _Reader) -> tuple[ChecklistItem, ...] | None:
    readers = r.subs("checklist")
    if not readers and "checklist" not in r.table:
        return None
    items: list[ChecklistItem] = []
    phases = ("prepare", "execute", "verify", "after")
    for i, item in enumerate(readers):
        phase = item.get("phase", str, "prepare")
        if phase not in phases:
            raise item.error("phase", f"must be one of {', '.join(phases)}, got {phase!r}")
        item_id = item.get("id", str, f"custom-{i + 1}")
        if not item_id.strip():
            raise item.error("id", "must not be empty")
        if any(earlier.id == item_id for earlier in items):
            # Ticks are kept per id: two items with one id would be ticked together.
            raise item.error("id", f"duplicate checklist id {_shown(item_id)}")
        items.append(
            ChecklistItem(
                id=item_id,
                phase=phase,
                text=item.require("text", str),
                required=bool(item.get("required", bool, False)),
            )
        )
        item.done()
    return tuple(items)
