"""The wheel ``python -m build`` makes, installed in a fresh venv outside the repository.

One wheel and one core venv (no extras) per session (conftest.py); each test
runs the installed ``rollback-console`` as a user would, with a home of its
own.  What is checked: the wheel's files and metadata, the core install's size
and that it opens the demo, a missing SDK named by its extra, ``config init``
then ``check-config``, a provider from another distribution, and a
distribution owning the name ``console`` refused at start-up.
"""

from __future__ import annotations

import email
import json
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.example_config import example_services_text
from tests.packaging.conftest import run_in
from tests.packaging.wheels import make_wheel, pip_install, tree_size
from tests.signals import free_port

CORE_LIMIT_MB = 60


def _site_packages(venv: Path) -> Path:
    (found,) = venv.glob("lib/python3.*/site-packages")
    return found


def test_the_wheel_holds_every_module_and_resource_of_the_checkout(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(
        [
            "git",
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "console",
            "screens",
            "providers",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    wanted = {
        path
        for path in tracked
        if path.endswith((".py", ".tcss", ".md", ".py.txt", ".toml", ".html"))
        and (REPO / path).exists()
    }
    assert {p for p in wanted if p.endswith(".tcss")}, "no .tcss found: the check is empty"
    assert any(p.startswith("console/templates/") for p in wanted)
    assert wanted - names == set(), "missing from the wheel"
    # Nothing but the checkout's own files (no stale build/ leaking a deleted module).
    ours = {n for n in names if n.split("/")[0] in ("console", "screens", "providers")}
    assert ours - wanted == set()
    assert "console/config/config.example.toml" in names
    assert "rollback_console.py" in names


def test_the_wheel_metadata_core_extras_platform_and_providers(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    (meta_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    meta = email.message_from_bytes(archive.read(meta_name))
    requires = meta.get_all("Requires-Dist") or []
    core = sorted(re.split(r"[<>=!~ ;\[]", r)[0] for r in requires if "extra ==" not in r)
    assert core == ["httpx", "platformdirs", "textual", "tomli-w"]
    extras = set(meta.get_all("Provides-Extra") or [])
    assert {"kubernetes", "ecs", "cloudrun", "database", "web", "all"} <= extras
    boto = [r for r in requires if r.startswith("boto3")]
    assert boto and all('extra == "ecs"' in r for r in boto)
    classifiers = meta.get_all("Classifier") or []
    assert "Operating System :: POSIX :: Linux" in classifiers
    for minor in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {minor}" in classifiers
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["License-Expression"] == "MIT"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in archive.namelist())
    (points_name,) = [n for n in archive.namelist() if n.endswith("entry_points.txt")]
    points = archive.read(points_name).decode()
    assert "[rollback_console.providers]" in points
    for name in ("host", "kubernetes", "ecs", "cloudrun", "alb", "swarm"):
        assert f"\n{name} = providers." in points
    assert "rollback-console = rollback_console:main" in points


def test_a_core_install_is_small_and_opens_the_demo(core_venv: Path, tmp_path: Path) -> None:
    size = tree_size(core_venv)
    print(f"core install (venv with pip): {size / 1e6:.1f} MB")
    assert size <= CORE_LIMIT_MB * 1_000_000, f"{size / 1e6:.1f} MB"
    home = tmp_path / "home"
    version = run_in(core_venv, ["rollback-console", "--version"], home)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("rollback-console 0.")
    module = run_in(core_venv, ["python", "-m", "console", "--version"], home)
    assert module.stdout == version.stdout
    assert run_in(core_venv, ["rollback-console", "demo", "--help"], home).returncode == 0
    sandbox = tmp_path / "demo"
    port = free_port()
    built = run_in(
        core_venv,
        ["rollback-console", "demo", "--no-tui", "--dir", str(sandbox), "--port", str(port)],
        home,
    )
    assert built.returncode == 0, built.stderr
    try:
        # The app itself, headless, on the demo: the dashboard shows the service.
        script = textwrap.dedent(
            """
            import asyncio, sys
            from pathlib import Path
            from console.app import make_app
            from console.config import load_config

            async def main():
                app = make_app(load_config(Path(sys.argv[1])), service=None)
                async with app.run_test(size=(120, 40)) as pilot:
                    for _ in range(100):
                        await pilot.pause(0.1)
                        svg = app.export_screenshot()
                        if "v1.3.0" in svg:
                            break
                    print(type(app.screen).__name__)
                    print("v1.3.0" in svg, "web" in svg)
                    await pilot.press("q")

            asyncio.run(main())
            """
        )
        shown = run_in(
            core_venv, ["python", "-c", script, str(sandbox / "config.toml")], home, timeout=180
        )
        assert shown.returncode == 0, shown.stderr[-2000:]
        assert shown.stdout.split() == ["DashboardScreen", "True", "True"], shown.stdout
        status = run_in(
            core_venv,
            ["rollback-console", "status", "web", "--config", "demo/config.toml"],
            tmp_path,
        )
        assert status.returncode == 0, status.stderr
        assert "v1.3.0" in status.stdout
    finally:
        subprocess.run(
            [str(core_venv / "bin" / "python"), "-m", "console.demo", "stop", str(sandbox)],
            capture_output=True,
            timeout=60,
        )


def test_a_provider_whose_sdk_is_missing_names_the_extra(core_venv: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(example_services_text())
    result = run_in(
        core_venv, ["rollback-console", "check-config", "--config", str(config)], tmp_path
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    first = result.stderr.splitlines()[0]
    assert "services[0].provider" in first
    assert "pip install 'rollback-console[kubernetes]'" in first
    # Every problem of the run is reported, each with its line: one per example service,
    # an extra named once a service (the ECS service's CloudWatch source needs boto3 too).
    lines = result.stderr.splitlines()
    # services[3] is the Swarm service: the core talks to its Engine API (no extra).
    wanted = {0: "kubernetes", 1: "ecs", 2: "cloudrun", 4: "ecs"}
    assert not [x for x in lines if "services[3]." in x and "needs" in x], lines
    for index, extra in wanted.items():
        (line,) = [x for x in lines if f"services[{index}]." in x and "needs" in x]
        assert f"services[{index}].provider: " in line
        assert line.endswith(
            f"pip install 'rollback-console[{extra}]' (or pipx/uv tool install with the same extra)"
        )
    assert not [x for x in lines if "probe" in x], lines  # the ALB service is not probed


def test_config_init_writes_the_example_and_check_config_accepts_it(
    core_venv: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    init = run_in(core_venv, ["rollback-console", "config", "init"], home)
    assert init.returncode == 0, init.stderr
    written = home / ".config" / "rollback-console" / "config.toml"
    assert f"wrote {written}" in init.stdout
    assert written.read_text().startswith("# rollback-console configuration")
    path = run_in(core_venv, ["rollback-console", "config", "path"], home)
    assert path.stdout.strip() == str(written)
    check = run_in(core_venv, ["rollback-console", "check-config"], home)
    assert check.returncode == 0, check.stderr
    assert "ok, 1 service(s)" in check.stdout
    again = run_in(core_venv, ["rollback-console", "config", "init"], home)
    assert again.returncode == 2
    assert "already exists" in again.stderr
    example = run_in(core_venv, ["rollback-console", "config", "example"], home)
    assert example.stdout == (REPO / "config.example.toml").read_text()


PLUGIN = '''
from datetime import datetime, timezone
from console.model import Revision, Snapshot


class StaticProvider:
    """A provider of another distribution: reports the version its table names."""

    def __init__(self, service):
        self.service = service
        self.version = service.plugin["version"]

    def snapshot(self):
        live = Revision(id="r1", version=self.version, current=True)
        return Snapshot(
            service=self.service.name,
            environment=self.service.environment,
            provider=self.service.provider,
            taken_at=datetime.now(timezone.utc),
            current=live,
            revisions=(live,),
        )
'''


def test_a_provider_from_another_distribution_is_found_by_its_entry_point(
    core_venv: Path, tmp_path: Path
) -> None:
    plugin = make_wheel(
        tmp_path,
        "rollback_static_provider",
        {"rollback_static_provider.py": PLUGIN},
        entry_points="[rollback_console.providers]\n"
        "static = rollback_static_provider:StaticProvider\n",
    )
    # Its own venv (a copy of the core one): the shared venv stays as the wheel made it.
    venv = _copy_venv(core_venv, tmp_path / "venv")
    pip_install(venv / "bin" / "python", str(plugin), offline=True)
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(
            """
            [[services]]
            name = "edge"
            environment = "prod"
            provider = "static"
            [services.static]
            version = "v9.9.9"
            [[services.health]]
            url = "http://127.0.0.1:PORT/health"
            """
        ).replace("PORT", str(free_port()))
    )
    status = run_in(
        venv, ["python", "-m", "console", "status", "edge", "--config", str(config)], tmp_path
    )
    assert status.returncode == 0, status.stderr
    assert "v9.9.9" in status.stdout


def _copy_venv(source: Path, target: Path) -> Path:
    """A copy of a venv, run through its ``bin/python`` (scripts name the original's)."""
    shutil.copytree(source, target, symlinks=True)
    return target


CLASH = {"console/__init__.py": "raise ImportError('console 0.0.1: not rollback-console')\n"}


def test_a_distribution_owning_the_name_console_is_named_at_start_up(
    core_venv: Path, tmp_path: Path
) -> None:
    venv = _copy_venv(core_venv, tmp_path / "venv")
    python = venv / "bin" / "python"
    home = tmp_path / "home"
    ok = run_in(venv, ["python", "-m", "rollback_console", "--version"], home)
    assert ok.returncode == 0, ok.stderr
    # pip installs PyPI's `console` over our files without a word.
    pip_install(python, str(make_wheel(tmp_path, "console", CLASH)), offline=True)
    clash = run_in(venv, ["python", "-m", "rollback_console", "--version"], home)
    assert clash.returncode == 2
    assert clash.stdout == ""
    (line,) = clash.stderr.splitlines()
    assert "import name `console` is taken by the `console` distribution" in line
    assert "pipx install rollback-console" in line and "uv tool install" in line
    # Uninstalling it deletes our console/__init__.py too: said as well.
    subprocess.run(
        [str(python), "-m", "pip", "uninstall", "-y", "console"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    gone = run_in(venv, ["python", "-m", "rollback_console", "--version"], home)
    assert gone.returncode == 2
    assert "`console` package of rollback-console is missing" in gone.stderr


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("Linux only")


def test_the_kubernetes_extra_adds_only_what_kubernetes_needs(
    core_venv: Path, wheel: Path, tmp_path: Path
) -> None:
    """pip's own resolution (``--dry-run --report``): no other platform's SDK comes along."""
    report = tmp_path / "report.json"
    subprocess.run(
        [
            str(core_venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--dry-run",
            "--report",
            str(report),
            f"{wheel}[kubernetes]",
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    names = {i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"]}
    assert "kubernetes" in names
    others = {"boto3", "botocore", "google-cloud-run", "google-auth", "psycopg", "alembic"}
    assert names & (others | {"textual-serve"}) == set(), names
