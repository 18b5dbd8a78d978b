"""``[services.ecs]`` without ``region``: the standard AWS chain, and messages naming it.

The chain is read for real: the environment given to ``load_config``, and
botocore's own reading of a shared config file (``$AWS_CONFIG_FILE``) for the
profile's region.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from console.config import ConfigError, load_config
from console.config.ecs import EcsConfig

CONFIG = """\
[[services]]
name = "orders"
environment = "prod"
provider = "ecs"
[[services.health]]
url = "http://127.0.0.1:9/health"
[services.ecs]
cluster = "prod"
service = "orders"
{extra}
"""


@pytest.fixture
def aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shared AWS config file of its own (no one's ~/.aws is read)."""
    path = tmp_path / "aws-config"
    path.write_text("[default]\noutput = json\n\n[profile oncall]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    return path


def _load(tmp_path: Path, env: dict[str, str], extra: str = "") -> EcsConfig:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(extra=extra))
    ecs = load_config(path, environ=env).services[0].ecs
    assert ecs is not None
    return ecs


@pytest.mark.parametrize("name", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_the_region_comes_from_the_environment(tmp_path: Path, aws_config: Path, name: str) -> None:
    ecs = _load(tmp_path, {name: "ap-southeast-2"})
    assert (ecs.region, ecs.region_from) == ("ap-southeast-2", f"${name}")


def test_aws_region_comes_before_aws_default_region(tmp_path: Path, aws_config: Path) -> None:
    ecs = _load(tmp_path, {"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-west-1"})
    assert ecs.region == "us-west-2"


def test_the_region_comes_from_the_profile_in_the_shared_config(
    tmp_path: Path, aws_config: Path
) -> None:
    ecs = _load(tmp_path, {}, extra='profile = "oncall"')
    assert ecs.region == "eu-central-1"
    assert ecs.region_from == f"the region of profile 'oncall' in {aws_config}"


def test_the_sections_region_wins(tmp_path: Path, aws_config: Path) -> None:
    ecs = _load(tmp_path, {"AWS_REGION": "us-west-2"}, extra='region = "ap-northeast-1"')
    assert (ecs.region, ecs.region_from) == ("ap-northeast-1", "")


def test_no_region_anywhere_says_where_it_looked(tmp_path: Path, aws_config: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, {})
    message = str(info.value)
    assert "services[0].ecs.region: is required" in message
    assert "$AWS_REGION, $AWS_DEFAULT_REGION nor the default profile in" in message
    assert str(aws_config) in message
    assert info.value.exit_code == 2


def test_a_bad_region_from_the_environment_names_the_variable(
    tmp_path: Path, aws_config: Path
) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, {"AWS_DEFAULT_REGION": "tokyo"})
    assert "got 'tokyo' (from $AWS_DEFAULT_REGION, as [services.ecs] has none)" in str(info.value)
