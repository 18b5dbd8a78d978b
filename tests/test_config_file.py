"""``config example|path|schema|init`` and the example shipped inside the package.

The packaged example (``console/config/config.example.toml``) must be the
repository's ``config.example.toml``: after editing the top-level one, copy it
(``cp config.example.toml console/config/``).  The schema is checked with
``jsonschema`` against the example and its commented example services.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest

from console.config.schema import config_schema
from tests.conftest import REPO
from tests.example_config import every_key_text, example_services_text


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_the_packaged_example_is_the_repositorys() -> None:
    packaged = REPO / "console" / "config" / "config.example.toml"
    assert packaged.read_bytes() == (REPO / "config.example.toml").read_bytes(), (
        "cp config.example.toml console/config/config.example.toml"
    )


def test_config_example_prints_it() -> None:
    result = cli("config", "example")
    assert result.returncode == 0
    assert result.stdout == (REPO / "config.example.toml").read_text()


def test_config_path_follows_the_flag_then_the_variable_then_xdg(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    assert cli("config", "path", env={"XDG_CONFIG_HOME": str(xdg)}).stdout.strip() == str(
        xdg / "rollback-console" / "config.toml"
    )
    named = tmp_path / "named.toml"
    env = {"ROLLBACK_CONSOLE_CONFIG": str(named)}
    assert cli("config", "path", env=env).stdout.strip() == str(named)
    flag = tmp_path / "flag.toml"
    assert cli("config", "path", "--config", str(flag), env=env).stdout.strip() == str(flag)


def test_config_init_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "mine.toml"
    target.write_text("# my own\n")
    result = cli("config", "init", "--config", str(target))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {target} already exists: nothing was written")
    assert target.read_text() == "# my own\n"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    result = cli("config", "schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema == config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_example_and_its_commented_services_validate(
    validator: jsonschema.Draft202012Validator,
) -> None:
    example = tomllib.loads((REPO / "config.example.toml").read_text())
    assert list(validator.iter_errors(example)) == []
    services = tomllib.loads(example_services_text())
    assert {s["provider"] for s in services["services"]} >= {"kubernetes", "ecs", "cloudrun"}  # type: ignore[index]
    assert list(validator.iter_errors(services)) == []


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d["console"].update(languag="en"), "languag"),
        (lambda d: d["services"][0]["host"].update(restartt=["x"]), "restartt"),
        (lambda d: d["services"][0].update(verify_window_s="10"), "'10' is not of type 'number'"),
        (lambda d: d["services"][0].pop("name"), "'name' is a required property"),
    ],
)
def test_the_schema_refuses_what_check_config_refuses(
    validator: jsonschema.Draft202012Validator, edit, where: str
) -> None:
    example = tomllib.loads((REPO / "config.example.toml").read_text())
    edit(example)
    errors = [e.message for e in validator.iter_errors(example)]
    assert any(where in e for e in errors), errors


#: Keys whose values are the user's own maps (HTTP headers, a JSON body), not config keys.
FREE_FORM = {"headers", "headers_env", "body"}


def undescribed(value: object, schema: dict, where: str) -> list[str]:
    """Every key of ``value`` the schema does not name in ``properties`` (a key merely let
    through by a table left open is undescribed too), or names without a type."""
    options = schema.get("anyOf", [schema])
    if isinstance(value, list):
        items = [o["items"] for o in options if "items" in o]
        if not items:  # a list of values (``paths``, an argv): its values are not keys
            return [f"{where}: tables in a list of values" for v in value if isinstance(v, dict)]
        return [m for i, v in enumerate(value) for m in undescribed(v, items[0], f"{where}[{i}]")]
    if not isinstance(value, dict):
        return [] if any("type" in o for o in options) else [f"{where}: no type"]
    tables = [o for o in options if "properties" in o]
    if not tables:
        return [f"{where}: a table the schema does not describe"]
    out = []
    for key, inner in value.items():
        if key not in tables[0]["properties"]:
            out.append(f"{where}.{key}")
        elif key not in FREE_FORM:
            out += undescribed(inner, tables[0]["properties"][key], f"{where}.{key}")
    return out


def test_every_key_of_the_example_is_described_by_the_schema(
    validator: jsonschema.Draft202012Validator,
) -> None:
    # The optional keys and tables commented out above the example services (the PITR
    # engines' sub-tables, [keys], ...) and the examples' own commented keys, uncommented.
    every = tomllib.loads(every_key_text())
    assert {"rds", "cloudsql", "neon"} <= set(every["services"][0]["database"]["pitr"])
    assert every["keys"] and every["console"]["theme"]
    assert undescribed(every, validator.schema, "") == []
    assert list(validator.iter_errors(every)) == []


def test_a_wrong_key_in_an_engine_sub_table_or_keys_is_refused(
    validator: jsonschema.Draft202012Validator,
) -> None:
    every = tomllib.loads(every_key_text())
    every["services"][0]["database"]["pitr"]["rds"]["db_instanse"] = "x"
    every["services"][0]["database"]["pitr"]["margin_s"] = "5m"
    every["keys"]["rollbak"] = "R"
    errors = [e.message for e in validator.iter_errors(every)]
    assert any("db_instanse" in e for e in errors), errors
    assert any("'5m' is not of type 'number'" in e for e in errors), errors
    assert any("rollbak" in e for e in errors), errors
