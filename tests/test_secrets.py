"""Secrets planted in every place a config can hold one never come out anywhere.

A config can hold a secret in two ways: a credential inside a URL (the
health checks', the error-rate source's, an API endpoint's: ``user:pw@`` or
``?token=``) and the value of an environment variable it names (every
``*_env`` key: the DSN, the team webhook URL, a runbook step's header token, any
added later).  Hypothesis
draws a different secret for each place (with characters a URL must
percent-encode, so the encoded and the decoded form both count), and:

* ``Config.redactor`` masks every one of them, and the URLs the console
  shows (``display_url``) carry none;
* end to end, on a host service whose health URL holds a password and
  answers 500 (so assessment, NOT VERIFIED lines and the journal's
  ``verified`` event all quote it), with a DSN and a webhook whose token is
  in its path (the webhook answers 404 quoting the path back), and a runbook step
  whose HTTP request carries a token from ``headers_env`` (answered 404 quoting
  the header back): the CLI's
  ``status`` (text and ``--json``), ``resume --list`` of an open incident,
  ``resume``, a headless ``rollback``, ``history`` (text, ``--json``,
  ``--open``), ``db-status``, the dashboard and the history browser of the
  TUI (a Pilot run), and every file the console wrote (journals, history,
  postmortem drafts, locks) are searched for each secret: none is found.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import console.config
from console.config import Config, load_config
from console.model import ItemState
from console.redact import display_url, env_keys
from tests.conftest import REPO
from tests.signals import FlipServer, failing, free_port

#: ``PROPERTY_SCALE=20 pytest tests/test_secrets.py`` for a longer hunt (CI keeps 1).
SCALE = max(1, int(os.environ.get("PROPERTY_SCALE", "1")))
SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

DSN_ENV = "SECRETS_TEST_DATABASE_URL"
WEBHOOK_ENV = "SECRETS_TEST_WEBHOOK_URL"
FLAG_ENV = "SECRETS_TEST_FLAG_TOKEN"
NEON_ENV = "SECRETS_TEST_NEON_API_KEY"

#: Where a config holds a secret (each gets its own).
PLACES = (
    "health_password",
    "health_token_user",
    "rate_password",
    "rate_query_token",
    "prometheus_password",
    "endpoint_password",
    "dsn_password",
    "webhook_token",
    "flag_token",
    "neon_key",
)

#: Characters a password may hold, URL-special ones included (they are percent-encoded).
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$*@:/#%+ "


@st.composite
def secrets_by_place(draw: st.DrawFn) -> dict[str, str]:
    """One secret a place, distinct, none inside another, none ordinary text."""
    body = st.text(alphabet=ALPHABET, min_size=8, max_size=20).filter(
        lambda s: s.strip() == s and "//" not in s
    )
    found: dict[str, str] = {}
    for number, place in enumerate(PLACES):
        # A fixed, unlikely head keeps a secret from matching ordinary output by chance.
        secret = f"Qz{number}{draw(body)}"
        found[place] = secret
    return found


def enc(secret: str) -> str:
    return quote(secret, safe="")


def forms(secret: str) -> set[str]:
    """What counts as the secret leaking: as drawn, or as the config's URL writes it."""
    return {secret, enc(secret)}


# --------------------------------------------------------------------------- the site


class Webhook:
    """A team webhook that answers 404 and quotes the request's path (the token) back, and
    its Authorization header (a runbook step's token) too."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                auth = self.headers.get("Authorization", "")
                body = f"no_such_hook {self.path} {auth}".encode()
                self.send_response(404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_site(
    root: Path, secrets: dict[str, str], health_port: int, flag_port: int | None = None
) -> Path:
    """A host service (symlinked releases v1..v3, v3 live) with a secret in every place.

    Its runbook step sends a token to ``flag_port`` (default: the health port).
    """
    for age, release in enumerate(("v3", "v2", "v1")):
        folder = root / "releases" / release
        folder.mkdir(parents=True)
        stamp = 1_700_000_000 - age * 3600
        os.utime(folder, (stamp, stamp))
    (root / "current").symlink_to(root / "releases" / "v3")
    here = f"127.0.0.1:{health_port}"
    health = f"http://ops:{enc(secrets['health_password'])}@{here}/health"
    token_user = f"http://{enc(secrets['health_token_user'])}@{here}/health"
    rate = f"http://probe:{enc(secrets['rate_password'])}@{here}/health"
    rate_token = f"http://{here}/health?token={enc(secrets['rate_query_token'])}"
    document = {
        "console": {
            "operator": "alice",
            "history_file": "docs/rollback-history.md",
            "state_dir": "state",
            "webhook_env": WEBHOOK_ENV,
            "webhook_attempts": 1,
            "webhook_timeout_s": 5,
        },
        "services": [
            {
                "name": "web",
                "environment": "production",
                "provider": "host",
                "verify_window_s": 1,
                "ready_timeout_s": 5,
                "host": {
                    "strategy": "symlink",
                    "releases_dir": "releases",
                    "current_link": "current",
                    "command_timeout_s": 10,
                },
                "health": [
                    {"url": health, "timeout_s": 2},
                    {"url": token_user, "timeout_s": 2},
                ],
                "error_rate": {
                    "source": "probe",
                    "urls": [rate, rate_token],
                    "url": f"http://prom:{enc(secrets['prometheus_password'])}@{here}",
                    "interval_s": 0.05,
                    "window_s": 1,
                    "timeout_s": 2,
                },
                "database": {
                    "dsn_env": DSN_ENV,
                    "migrations": "none",
                    "require_backup": False,
                },
                "steps": [
                    {
                        "id": "kill-switch",
                        "title": "Feature flag new-checkout off",
                        "when": "before",
                        "http": {
                            "method": "POST",
                            "url": f"http://127.0.0.1:{flag_port or health_port}/flags/x",
                            "headers_env": {"Authorization": FLAG_ENV},
                            "body": {"enabled": False},
                        },
                        "required": False,
                    }
                ],
            },
            {
                "name": "jobs",
                "environment": "production",
                "provider": "ecs",
                "ecs": {
                    "cluster": "main",
                    "service": "jobs",
                    "region": "eu-west-1",
                    "endpoint_url": f"http://aws:{enc(secrets['endpoint_password'])}@{here}",
                },
                "error_rate": {
                    "source": "cloudwatch",
                    "load_balancer": "app/main/1",
                    "target_group": "targetgroup/jobs/2",
                },
            },
            {
                "name": "api",
                "environment": "production",
                "provider": "cloudrun",
                "cloudrun": {"project": "p", "region": "asia-northeast1", "service": "api"},
                "error_rate": {"source": "cloudmonitoring"},
                "database": {
                    "dsn_env": DSN_ENV,
                    "migrations": "none",
                    "pitr": {"neon": {"project_id": "p", "api_key_env": NEON_ENV}},
                },
            },
        ],
    }
    path = root / "config.toml"
    path.write_text(tomli_w.dumps(document), encoding="utf-8")
    return path


def environment(secrets: dict[str, str], webhook_port: int) -> dict[str, str]:
    dead = free_port()
    dsn = f"postgresql://app:{enc(secrets['dsn_password'])}@127.0.0.1:{dead}/orders"
    return {
        DSN_ENV: dsn,
        WEBHOOK_ENV: f"http://127.0.0.1:{webhook_port}/services/{enc(secrets['webhook_token'])}",
        FLAG_ENV: enc(secrets["flag_token"]),
        NEON_ENV: enc(secrets["neon_key"]),
    }


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="secrets-prop-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --------------------------------------------------------------------------- the redactor


def every_env_key_of_the_config_types() -> set[str]:
    """Every ``*_env`` field any config dataclass declares (so a new one must be planted)."""
    # Every public name, the platform sections imported on first use included.
    values = [getattr(console.config, name) for name in console.config.__all__]
    return {
        f.name
        for value in values
        if isinstance(value, type) and dataclasses.is_dataclass(value)
        for f in dataclasses.fields(value)
        if f.name.endswith("_env")
    }


@settings(SETTINGS, max_examples=60 * SCALE)
@given(secrets=secrets_by_place())
def test_the_config_redactor_masks_every_secret_the_config_leads_to(
    secrets: dict[str, str],
) -> None:
    values = environment(secrets, free_port())
    with scratch() as root, environ(values):
        config = load_config(write_site(root, secrets, free_port()))
        planted = {name for name, _ in env_keys(config)}
        assert planted == every_env_key_of_the_config_types(), "plant a secret in the new *_env"
        redact = config.redactor
        for place, secret in secrets.items():
            for form in forms(secret):
                text = f"GET failed for {form}: see {form}/x"
                assert secret not in redact(text) and form not in redact(text), (place, form)
        for name, value in values.items():  # each variable's whole value is a secret too
            assert value not in redact(f"connecting to {value} failed"), name
        urls = [check.url for check in config.services[0].health]
        urls += [*config.services[0].error_rate.urls, config.services[0].error_rate.url]
        for url in urls:
            shown = display_url(url)
            assert not any(form in shown for s in secrets.values() for form in forms(s)), shown
        for check in config.services[0].health:
            assert not any(f in check.label for s in secrets.values() for f in forms(s))


# --------------------------------------------------------------------------- end to end


def run_cli(config: Path, env: dict[str, str], *args: str) -> str:
    """One console command as its own process; stdout and stderr, checked for crashes."""
    result = subprocess.run(
        [sys.executable, "-m", "console.cli", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
        env={**os.environ, **env},
    )
    assert result.returncode in (0, 1, 3), (args, result.returncode, result.stderr)
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    return f"$ {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}"


def open_an_incident(config_path: Path) -> None:
    """Roll back and verify, then stop before recording: an open incident whose journal
    holds the plan, the steps and the (failed) verification.

    Run in a process of its own (``python -m tests.test_secrets CONFIG``) that then
    ends, as a console that died would.
    """
    from console.flow import RollbackFlow
    from console.signals import make_error_rate_source
    from providers import load_provider

    config = load_config(config_path)
    service = config.service("web")
    source = make_error_rate_source(service)
    source.start()
    try:
        flow = RollbackFlow(config, service, load_provider(service), source, reason="5xx")
        flow.incident.mark("db-backup", ItemState.SKIPPED, "no database here")
        flow.assess()
        flow.execute(flow.plan("v2"))
        flow.verify(window_s=1)
    finally:
        source.stop()


def interrupted_rollback(config: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "tests.test_secrets", str(config)],
        check=True,
        timeout=180,
        cwd=REPO,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )


async def tui_text(config: Config) -> str:
    """What the dashboard and the history browser show, once health has been read."""
    from console.app import make_app
    from screens.history import HistoryScreen

    app = make_app(config)
    shown: list[str] = []

    def screen_text() -> str:
        return "\n".join(strip.text for strip in app.screen._compositor.render_strips())

    async with app.run_test(size=(160, 50)) as pilot:
        await app.refresh_all()
        await pilot.pause()
        shown.append(screen_text())
        app.notify("health: " + " ".join(c.url for c in config.services[0].health))
        await pilot.pause()
        shown.append(screen_text())
        await pilot.press("h")
        for _ in range(100):
            screen = app.screen
            if isinstance(screen, HistoryScreen) and screen.loaded:
                break
            await pilot.pause(0.1)
        await pilot.pause()
        shown.append(screen_text())
    return "\n".join(shown)


def files_written(root: Path) -> dict[Path, str]:
    """Everything under the site but the config (which holds the URLs) and the releases."""
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and path.name != "config.toml" and "releases" not in path.parts:
            found[path] = path.read_bytes().decode("utf-8", errors="replace")
    return found


@settings(SETTINGS, max_examples=2 * SCALE)
@given(secrets=secrets_by_place())
def test_no_secret_reaches_any_output_or_file(secrets: dict[str, str]) -> None:
    health = FlipServer(failing)
    webhook = Webhook()
    env = environment(secrets, webhook.port)
    try:
        with scratch() as root, environ(env):
            path = write_site(root, secrets, health.port, webhook.port)
            outputs = [
                run_cli(path, env, "status", "web"),
                run_cli(path, env, "status", "web", "--json"),
                run_cli(path, env, "check-config"),
            ]
            interrupted_rollback(path, env)
            outputs += [
                run_cli(path, env, "resume", "--list"),
                run_cli(path, env, "resume", "web", "--yes", "--verify-window", "1"),
                run_cli(
                    path,
                    env,
                    *("rollback", "web", "--to", "v1", "--yes", "--reason", "5xx again"),
                    *("--skip-backup", "no database here", "--verify-window", "1"),
                ),
                run_cli(path, env, "history"),
                run_cli(path, env, "history", "--json"),
                run_cli(path, env, "history", "--open", "1"),
                run_cli(path, env, "db-status", "web"),
                run_cli(path, env, "db-status", "web", "--json"),
            ]
            outputs.append(asyncio.run(tui_text(load_config(path))))
            written = files_written(root)
    finally:
        health.close()
        webhook.close()
    everything = {f"output {i}": text for i, text in enumerate(outputs)}
    everything.update({str(p): text for p, text in written.items()})
    # The run did what the channels are to be searched for.
    assert any(p.suffix == ".jsonl" for p in written), sorted(written)
    assert any("postmortems" in p.parts for p in written), sorted(written)
    assert any('"event":"verified"' in text for text in written.values())
    assert "NOT VERIFIED" in "\n".join(outputs)
    # The step sent its token, and the answer quoting it back was recorded (masked).
    assert any("no_such_hook /flags/x ***" in text for text in written.values())
    for where, text in everything.items():
        for place, secret in secrets.items():
            for form in forms(secret):
                assert form not in text, f"{place} secret {form!r} leaked in {where}:\n{text}"


if __name__ == "__main__":
    open_an_incident(Path(sys.argv[1]))
