"""Layering the design relies on, checked in fresh interpreters.

The core (console/ outside app.py and widgets/) and providers/ never import
Textual; no cloud SDK is imported at start-up, only inside the provider that
uses it; and the packages imported are this repository's, not namesakes.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

CLOUD_SDKS = ("kubernetes", "boto3", "botocore", "google.cloud.run_v2", "psycopg")


def modules_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_core_and_providers_do_not_import_textual() -> None:
    core = [
        "console.config",
        "console.model",
        "console.flow",
        "console.incident",
        "console.history",
        "console.journal",
        "console.severity",
        "console.verify",
        "console.signals",
        "console.cli",
        "console.demo",
        "providers",
        "providers.host",
    ]
    loaded = modules_after("\n".join(f"import {m}" for m in core))
    assert not any(m == "textual" or m.startswith("textual.") for m in loaded)


def test_no_cloud_sdk_at_start_up() -> None:
    loaded = modules_after("import console.app, console.cli, providers, providers.host")
    for sdk in CLOUD_SDKS:
        assert sdk not in loaded, f"{sdk} imported at start-up"


def test_the_history_browser_and_its_markdown_renderer_load_on_demand() -> None:
    """Not needed for the first frame: ``h`` imports them (cold start is a benchmark)."""
    loaded = modules_after("import console.app")
    assert "screens.history" not in loaded
    assert "markdown_it" not in loaded


def test_packages_are_this_repositorys() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import console, screens, providers, json;"
            "print(json.dumps([console.__file__, screens.__file__, providers.__file__]))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd="/",
    )
    for path in json.loads(out.stdout):
        assert path.startswith(str(REPO)), path
