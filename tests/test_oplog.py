"""``--log-file`` / ``--debug``: a plain log of API calls and timings, secrets redacted.

The console runs as a process on the real demo sandbox, its health check given
a URL that carries credentials and a token and a webhook whose URL is a secret
(``webhook_env``); the log must name each call (method, URL path, status,
milliseconds) and hold none of those secret values.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from console.demo import DemoSandbox
from tests.conftest import REPO
from tests.fakes.demo import sandbox  # noqa: F401

SECRETS = ("s3cret-passw0rd", "tok3n-value-42", "T0KEN/hooks/zzz")
API_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT[\d:.]+Z INFO rollback_console\.api GET "
    r"http://127\.0\.0\.1:\d+/health (\d{3}) (\d+\.\d) ms$"
)


def _run(box: DemoSandbox, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TEAM_WEBHOOK": f"https://hooks.example.invalid/{SECRETS[2]}"}
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *args, "--config", str(box.config_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=180,
    )


def _with_secrets(box: DemoSandbox) -> None:
    text = box.config_path.read_text()
    url = f"http://127.0.0.1:{box.port}/health"
    secret_url = f"http://ops:{SECRETS[0]}@127.0.0.1:{box.port}/health?token={SECRETS[1]}"
    text = text.replace(f'"{url}"', f'"{secret_url}"')
    text = text.replace("[console]\n", '[console]\nwebhook_env = "TEAM_WEBHOOK"\n', 1)
    box.config_path.write_text(text)


def test_log_file_has_each_api_call_with_status_and_ms_and_no_secret(
    sandbox: DemoSandbox,  # noqa: F811
) -> None:
    _with_secrets(sandbox)
    log = sandbox.root / "logs" / "ops.log"
    done = _run(sandbox, "status", "web", "--log-file", str(log))
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    calls = [m for line in text.splitlines() if (m := API_LINE.match(line))]
    assert calls, text
    assert {m[1] for m in calls} <= {"200", "500"}  # the broken release answers both
    assert "500" in {m[1] for m in calls}
    for secret in SECRETS:
        assert secret not in text
    assert oct(log.stat().st_mode & 0o777) == "0o600"
    # nothing of the log reached the terminal
    assert "rollback_console.api" not in done.stdout + done.stderr


def test_debug_adds_the_libraries_detail_to_the_file_only(
    sandbox: DemoSandbox,  # noqa: F811
) -> None:
    _with_secrets(sandbox)
    log = sandbox.root / "debug.log"
    done = _run(sandbox, "status", "web", "--debug", "--log-file", str(log))
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    assert " DEBUG " in text  # httpx / httpcore's own lines
    assert any(API_LINE.match(line) for line in text.splitlines())
    for secret in SECRETS:
        assert secret not in text
    assert " DEBUG " not in done.stdout + done.stderr
    # --debug alone: the log goes to the state dir
    default = sandbox.root / "state" / "rollback-console.log"
    assert _run(sandbox, "history", "--debug").returncode == 0
    assert "log started (debug)" in default.read_text()


def test_an_unwritable_log_file_is_one_line_exit_2(sandbox: DemoSandbox) -> None:  # noqa: F811
    done = _run(sandbox, "status", "web", "--log-file", "/proc/nope/ops.log")
    assert done.returncode == 2
    assert done.stderr.startswith("error: --log-file /proc/nope/ops.log cannot be written")
    assert len(done.stderr.strip().splitlines()) == 1


def test_kubernetes_sdk_calls_are_logged_with_status_and_ms(tmp_path: Path) -> None:
    """The Kubernetes SDK (urllib3 underneath) on the fake API server: its reads are in the
    log, and the kubeconfig's bearer token is not, even with --debug."""
    import tomli_w

    from tests.k8s_server import running
    from tests.k8s_server.fixtures import DEPLOYMENT, NAMESPACE, deploy, start_server
    from tests.signals import FlipServer

    token = "k8s-bearer-t0ken-9f8e7d"
    kube = start_server()
    health = FlipServer()
    try:
        deploy(kube, ["v1.2.9", "v1.3.0"])
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
        kubeconfig.write_text(kubeconfig.read_text().replace("fake-token", token))
        service = {
            "name": "web",
            "environment": "production",
            "provider": "kubernetes",
            "kubernetes": {
                "deployment": DEPLOYMENT,
                "namespace": NAMESPACE,
                "kubeconfig": str(kubeconfig),
            },
            "health": [{"url": health.url}],
            "error_rate": {"source": "probe", "interval_s": 0.05, "window_s": 2},
        }
        config = tmp_path / "config.toml"
        console = {"history_file": str(tmp_path / "h.md"), "state_dir": str(tmp_path / "st")}
        config.write_text(tomli_w.dumps({"console": console, "services": [service]}))
        log = tmp_path / "k8s.log"
        with running(kube):
            done = subprocess.run(
                [sys.executable, "-m", "console.cli", "rollback", "web", "--dry-run",
                 "--debug", "--log-file", str(log), "--config", str(config)],
                capture_output=True, text=True, cwd=REPO, stdin=subprocess.DEVNULL, timeout=180,
            )  # fmt: skip
        assert done.returncode == 0, done.stderr
        text = log.read_text()
        path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{DEPLOYMENT}"
        reads = re.findall(rf" GET {re.escape(kube.url)}{path} (\d{{3}}) \d+\.\d ms$", text, re.M)
        assert "200" in reads, text[-3000:]
        assert token not in text
    finally:
        health.close()
        kube.stop()


def test_header_values_are_masked_whatever_the_config_knows() -> None:
    """Authorization, cookies and AWS session tokens in a library's debug line."""
    import logging

    from console.oplog import _RedactingFormatter

    def shown(message: str) -> str:
        record = logging.LogRecord("x", logging.DEBUG, "", 0, message, None, None)
        return _RedactingFormatter("%(message)s").format(record)

    assert "abc123" not in shown("[(b'Set-Cookie', b'sid=abc123'), (b'X', b'y')]")
    assert "xyz-tok" not in shown("headers: {'Authorization': 'Bearer xyz-tok'}")
    assert "FQoG" not in shown("X-Amz-Security-Token: FQoGZXIvYXdzEJr")
    assert shown("GET /health 200 1.0 ms") == "GET /health 200 1.0 ms"


def test_commands_a_provider_runs_are_logged_as_shown(sandbox: DemoSandbox) -> None:  # noqa: F811
    """The host provider's restart on the demo: the command (as the plan shows it), its exit
    code and its time, beside the HTTP calls of the verification."""
    log = sandbox.root / "restart.log"
    done = _run(
        sandbox, "action", "web", "restart", "--yes", "--reason", "log it",
        "--verify-window", "2", "--log-file", str(log),
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr  # verified or not: the restart ran
    lines = log.read_text().splitlines()
    restart = [line for line in lines if " rollback_console.command `" in line]
    assert any(re.search(r"console\.demo restart .*` exit 0 \d+\.\d ms$", x) for x in restart), (
        lines
    )
    assert any(API_LINE.match(line) for line in lines)
