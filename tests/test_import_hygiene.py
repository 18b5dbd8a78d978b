"""Layering the design relies on, checked in fresh interpreters.

The core (console/ outside app.py and widgets/) and providers/ never import
Textual; no cloud SDK is imported by importing any module, only inside the
function of the provider that uses it; ``providers.base`` (the contract
layer) imports nothing of ours but the model and the errors; and the
packages imported are this repository's, not namesakes.  The static side of
the same rules is import-linter's, in ``make lint`` (pyproject.toml).
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

CLOUD_SDKS = ("kubernetes", "boto3", "botocore", "google.cloud.run_v2", "psycopg")


def modules_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def every_module(package: str) -> list[str]:
    """Every module of ``package`` (one of ours), found on disk, not from a list kept by hand."""
    root = REPO / package
    names = [package]
    for info in pkgutil.walk_packages([str(root)], prefix=f"{package}."):
        names.append(info.name)
    return sorted(names)


def is_textual_side(module: str) -> bool:
    return module in ("console.app", "console.app_resume") or module.startswith(
        ("console.widgets", "console.__main__")
    )


def test_every_core_module_and_provider_imports_no_textual() -> None:
    ours = [
        m for m in every_module("console") + every_module("providers") if not is_textual_side(m)
    ]
    assert "console.flow" in ours and "console.runner" in ours  # the walk found them
    loaded = modules_after("\n".join(f"import {m}" for m in ours))
    assert not any(m == "textual" or m.startswith("textual.") for m in loaded)


def test_no_module_imports_a_cloud_sdk_when_imported() -> None:
    """Every module of ours, screens included, imported at once: no SDK comes with them."""
    ours = every_module("console") + every_module("providers") + every_module("screens")
    loaded = modules_after("\n".join(f"import {m}" for m in ours))
    for sdk in CLOUD_SDKS:
        assert sdk not in loaded, f"{sdk} imported by importing our modules"


def test_the_contract_layer_imports_only_the_model_and_the_errors() -> None:
    loaded = modules_after("import providers.base")
    ours = {m for m in loaded if m.split(".")[0] in ("console", "providers", "screens")}
    ours = {"console.model" if m.startswith("console.model.") else m for m in ours}
    allowed = {"console", "console.model", "console.clock", "console.errors", "console.registry"}
    assert ours <= allowed | {"providers", "providers.base"}


def test_the_history_browser_and_its_markdown_renderer_load_on_demand() -> None:
    """Not needed for the first frame: ``h`` imports them (cold start is a benchmark)."""
    loaded = modules_after("import console.app")
    assert "screens.history" not in loaded
    assert "markdown_it" not in loaded


def test_opening_the_console_imports_only_what_its_first_frame_needs(tmp_path: Path) -> None:
    """``rollback-console`` up to its first frame: the CLI, the config, the app and the
    dashboard's layout.  The model (its dataclasses alone cost ~20 ms to create), the
    severity rules, HTTP, the flow, the journal and the other screens come after that
    frame, with the first data or the first key (cold start is a benchmark)."""
    from console.demo import build_sandbox

    config = build_sandbox(tmp_path / "sandbox").config_path  # built, not started
    loaded = modules_after(
        "import console.cli\nfrom pathlib import Path\nfrom console.app import make_app\n"
        f"from console.config import load_config\nmake_app(load_config(Path({str(config)!r})))"
    )
    later = (
        "console.model",
        "console.severity",
        "console.flow",
        "console.journal",
        "console.incident",
        "console.history",
        "console.signals",
        "console.widgets.database",
        "console.widgets.restore_points",
        # the demo is a host: the other platforms' config sections are not read
        "console.config.kubernetes",
        "console.config.ecs",
        "console.config.cloudrun",
        "console.config.alb",
        "console.config.database",
        "console.config.cdn",
        "console.cdn_flow",
        "providers.base",
        "providers.host",
        "screens.assess",
        "screens.flow_common",
        "screens.preload",
        "httpx",
        "psycopg",
        "markdown_it",
    )
    assert [m for m in later if m in loaded] == []


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
