"""The config loader: the public keys load into typed objects; bad input is one clear line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from console.config import (
    ConfigError,
    Thresholds,
    load_config,
    resolve_config_path,
)
from tests.conftest import REPO

GOOD = """
[console]
operator = "alice"
history_file = "rollback-history.md"
state_dir = "state"

[[services]]
name = "web"
environment = "production"
provider = "host"
verify_window_s = 60
[services.host]
releases_dir = "releases"
current_link = "current"
restart = ["systemctl", "restart", "app"]
[[services.health]]
url = "http://127.0.0.1:8080/health"
[services.error_rate]
source = "probe"
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "releases" / "v1").mkdir(parents=True)
    return tmp_path


def write(site: Path, text: str) -> Path:
    path = site / "config.toml"
    path.write_text(text)
    return path


def test_issue_example_loads_with_relative_paths_resolved(site: Path) -> None:
    config = load_config(write(site, GOOD))
    assert config.console.operator == "alice"
    assert config.console.history_file == site / "rollback-history.md"
    assert config.console.state_dir == site / "state"
    web = config.service("web")
    assert web.environment == "production"
    assert web.verify_window_s == 60
    assert web.host is not None
    assert web.host.releases_dir == site / "releases"
    assert web.host.current_link == site / "current"
    assert web.host.restart == ("systemctl", "restart", "app")
    assert [h.url for h in web.health] == ["http://127.0.0.1:8080/health"]
    assert web.error_rate.source == "probe"
    assert web.thresholds == Thresholds()


def test_runbook_default_thresholds() -> None:
    t = Thresholds()
    assert (t.critical_error_rate, t.high_error_rate, t.latency_factor) == (0.5, 0.1, 3.0)
    assert (t.critical_deadline_s, t.high_deadline_s) == (300, 900)


def test_thresholds_override_per_service(site: Path) -> None:
    text = GOOD + "[services.thresholds]\ncritical_error_rate = 0.3\nbaseline_p95_ms = 40\n"
    web = load_config(write(site, text)).service("web")
    assert web.thresholds.critical_error_rate == 0.3
    assert web.thresholds.baseline_p95_ms == 40
    assert web.thresholds.high_error_rate == 0.1


def test_minimum_evidence_defaults_and_overrides(site: Path) -> None:
    """Issue 11: how much a "verified" and a severity need, per service."""
    web = load_config(write(site, GOOD)).service("web")
    assert (web.verify_min_rounds, web.verify_min_requests) == (3, 20)
    assert web.thresholds.min_requests == 20
    text = GOOD.replace(
        "verify_window_s = 60",
        "verify_window_s = 60\nverify_min_requests = 50\nverify_min_rounds = 5",
    )
    text += "[services.thresholds]\nmin_requests = 30\n"
    web = load_config(write(site, text)).service("web")
    assert (web.verify_min_rounds, web.verify_min_requests) == (5, 50)
    assert web.thresholds.min_requests == 30


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        (
            "verify_window_s = 60",
            "verify_window_s = 60\nverify_min_requests = 0",
            ["verify_min_requests"],
        ),
        (
            "verify_window_s = 60",
            "verify_window_s = 60\nverify_min_rounds = 0",
            ["verify_min_rounds"],
        ),
        (
            'source = "probe"',
            'source = "probe"\n[services.thresholds]\nmin_requests = -1',
            ["thresholds.min_requests"],
        ),
        (
            'source = "probe"',
            'source = "probe"\nwindow_s = 5\ninterval_s = 1\n'
            "[services.thresholds]\nmin_requests = 20",
            ["thresholds.min_requests", "never fit", "holds 5"],
        ),
    ],
)
def test_bad_minimum_evidence_names_the_key(
    site: Path, old: str, new: str, names: list[str]
) -> None:
    path = write(site, GOOD.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    for name in names:
        assert name in str(info.value)
    assert info.value.exit_code == 2


def test_operator_defaults_to_login_name(site: Path) -> None:
    config = load_config(write(site, GOOD.replace('operator = "alice"\n', "")))
    assert config.console.operator


def test_example_config_loads_against_a_demo_sandbox(tmp_path: Path) -> None:
    from console.demo import build_sandbox

    shutil.copy(REPO / "config.example.toml", tmp_path / "config.toml")
    build_sandbox(tmp_path / ".demo")
    config = load_config(tmp_path / "config.toml")
    assert config.service("web").host is not None


def example_block(platform: str) -> str:
    """One commented-out ``--- example: PLATFORM ---`` block of config.example.toml, uncommented."""
    text = (REPO / "config.example.toml").read_text()
    block = text.split(f"# --- example: {platform} ---\n", 1)[1].split("\n\n", 1)[0]
    lines = [line.removeprefix("# ") for line in block.splitlines()]
    return "\n".join(line for line in lines if not line.startswith("#")) + "\n"


@pytest.mark.parametrize("platform", ["kubernetes", "ecs", "cloudrun", "alb", "swarm"])
def test_each_platform_example_in_config_example_loads(tmp_path: Path, platform: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    block = example_block(platform).replace("~/.kube/config", str(kubeconfig))
    path = tmp_path / "config.toml"
    path.write_text(f'[console]\nstate_dir = "state"\n\n{block}')
    svc = load_config(path).services[0]
    assert svc.provider == platform
    assert getattr(svc, platform) is not None
    assert svc.error_rate.source in {"prometheus", "cloudwatch", "cloudmonitoring"}
    assert svc.state_dir == tmp_path / "state"


@pytest.mark.parametrize(
    ("edit", "names"),
    [
        (lambda t: t + "\n[bogus]\n", ["bogus", "unknown key"]),
        (
            lambda t: t.replace("verify_window_s = 60", "verify_windw_s = 60"),
            ["verify_windw_s", "unknown key"],
        ),
        (
            lambda t: t.replace('provider = "host"', 'provider = "nomad"'),
            ["provider", "nomad", "known: host"],
        ),
        (
            lambda t: t.replace('releases_dir = "releases"', 'releases_dir = "nope"'),
            ["releases_dir", "nope"],
        ),
        (
            lambda t: t.replace("verify_window_s = 60", 'verify_window_s = "60"'),
            ["verify_window_s", "number"],
        ),
        (
            lambda t: t.replace("verify_window_s = 60", "verify_window_s = -1"),
            ["verify_window_s", "greater than 0"],
        ),
        (
            lambda t: t.replace('["systemctl", "restart", "app"]', '"systemctl restart app"'),
            ["restart", "list"],
        ),
        (
            lambda t: t.replace('url = "http://127.0.0.1:8080/health"', 'url = "localhost:8080"'),
            ["url", "http"],
        ),
        (lambda t: t.replace('name = "web"', 'name = ""'), ["name", "empty"]),
        (lambda t: t.replace('source = "probe"', 'source = "datadog"'), ["source", "datadog"]),
        (
            lambda t: t + '[[services]]\nname = "web"\nenvironment = "x"\nprovider = "host"\n',
            ["duplicate", "web"],
        ),
        (lambda t: t.replace("[services.host]", "[services.hostt]"), ["hostt", "unknown key"]),
    ],
)
def test_bad_config_names_file_and_key(site: Path, edit, names: list[str]) -> None:
    path = write(site, edit(GOOD))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    # Every problem the run found (``ConfigProblems``), each one line naming the file.
    problems = [str(p) for p in getattr(info.value, "problems", (info.value,))]
    for message in problems:
        assert "\n" not in message
        assert str(path) in message
    for name in names:
        assert any(name in message for message in problems), problems
    assert info.value.exit_code == 2


def test_error_names_the_line_of_the_key(site: Path) -> None:
    text = GOOD.replace("verify_window_s = 60", "verify_window_s = 0")
    path = write(site, text)
    line = text.splitlines().index("verify_window_s = 0") + 1
    with pytest.raises(ConfigError, match=rf"config.toml:{line}: services\[0\].verify_window_s"):
        load_config(path)


def test_malformed_toml_names_the_position(site: Path) -> None:
    with pytest.raises(ConfigError, match=r"invalid TOML: .*line 2"):
        load_config(write(site, "[console]\noperator = \n"))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="directory"):
        load_config(tmp_path)


def test_unknown_service_lists_known(site: Path) -> None:
    config = load_config(write(site, GOOD))
    with pytest.raises(ConfigError, match=r"unknown service 'api' \(known: web\)"):
        config.service("api")


def test_config_path_precedence(tmp_path: Path) -> None:
    env = {"ROLLBACK_CONSOLE_CONFIG": str(tmp_path / "env.toml")}
    assert resolve_config_path("cli.toml", env) == Path("cli.toml")
    assert resolve_config_path(None, env) == tmp_path / "env.toml"
    assert resolve_config_path(None, {}).name == "config.toml"
    assert "rollback-console" in str(resolve_config_path(None, {}))


def test_checklist_override(site: Path) -> None:
    text = GOOD + '[[services.checklist]]\ntext = "Page the DBA"\nrequired = true\n'
    web = load_config(write(site, text)).service("web")
    assert web.checklist is not None
    assert [i.text for i in web.checklist] == ["Page the DBA"]
    assert web.checklist[0].required


PLATFORMS = """
[console]
operator = "alice"
history_file = "h.md"
state_dir = "state"

[[services]]
name = "api"
environment = "production"
provider = "kubernetes"
[services.kubernetes]
deployment = "api"
namespace = "prod"
context = "prod-cluster"
[services.error_rate]
source = "prometheus"
url = "http://127.0.0.1:9090"
query = 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))'
[services.database]
dsn_env = "API_DSN"
alembic_ini = "alembic.ini"
backup_dir = "backups"
[[services.database.checks]]
name = "users"
sql = "select count(*) from users"

[[services]]
name = "orders"
environment = "production"
provider = "ecs"
[services.ecs]
cluster = "prod"
service = "orders"
region = "ap-northeast-1"
[services.error_rate]
source = "cloudwatch"
load_balancer = "app/orders/50dc6c495c0c9188"
target_group = "targetgroup/orders/73e2d6bc24d8a067"

[[services]]
name = "front"
environment = "production"
provider = "cloudrun"
[services.cloudrun]
project = "acme"
region = "asia-northeast1"
service = "front"
gradual_steps = [25, 100]
[services.error_rate]
source = "cloudmonitoring"
"""


def test_every_platform_section_loads(site: Path) -> None:
    (site / "alembic.ini").write_text("[alembic]\n")
    config = load_config(write(site, PLATFORMS))
    api, orders, front = config.services
    assert api.kubernetes is not None and api.kubernetes.namespace == "prod"
    assert api.kubernetes.context == "prod-cluster"
    assert (api.kubernetes.gitops, api.kubernetes.argocd_namespace) == ("auto", "argocd")
    assert api.error_rate.source == "prometheus" and "5.." in api.error_rate.query
    assert api.database is not None and api.database.alembic_ini == site / "alembic.ini"
    assert api.database.checks[0].name == "users"
    assert api.database.backup_dir == site / "backups"
    assert orders.ecs is not None and orders.ecs.region == "ap-northeast-1"
    assert orders.error_rate.target_group.startswith("targetgroup/")
    assert front.cloudrun is not None and front.cloudrun.gradual_steps == (25, 100)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('deployment = "api"\n', "", "services[0].kubernetes.deployment"),
        ('deployment = "api"', 'deployment = "API_1"', "services[0].kubernetes.deployment"),
        ('provider = "kubernetes"', 'provider = "nomad"', "services[0].provider"),
        (
            'context = "prod-cluster"',
            'context = "prod-cluster"\ngitops = "suspend"',
            "services[0].kubernetes.gitops",
        ),
        (
            'context = "prod-cluster"',
            'context = "prod-cluster"\nargocd_namespace = "Argo CD"',
            "services[0].kubernetes.argocd_namespace",
        ),
        ("query = 'sum", "querry = 'sum", "services[0].error_rate.querry"),
        ('source = "prometheus"', 'source = "datadog"', "services[0].error_rate.source"),
        ('dsn_env = "API_DSN"', 'dsn_env = "postgres://u:p@h/db"', "services[0].database.dsn_env"),
        ('region = "ap-northeast-1"', 'region = "tokyo"', "services[1].ecs.region"),
        (
            "gradual_steps = [25, 100]",
            "gradual_steps = [50, 25]",
            "services[2].cloudrun.gradual_steps",
        ),
        ("[services.cloudrun]", "[services.cloud_run]", "services[2].cloud_run"),
    ],
)
def test_bad_platform_sections_name_the_key(site: Path, old: str, new: str, key: str) -> None:
    (site / "alembic.ini").write_text("[alembic]\n")
    assert old in PLATFORMS
    with pytest.raises(ConfigError) as err:
        load_config(write(site, PLATFORMS.replace(old, new, 1)))
    assert key in " ".join(str(p) for p in getattr(err.value, "problems", (err.value,)))
    assert str(site / "config.toml") in str(err.value)
    assert "u:p@h" not in str(err.value)


# --------------------------------------------------------------------------- database section

DATABASE = """
[services.database]
dsn_env = "APP_DSN"
alembic_ini = "alembic.ini"
backup_dir = "backups"
pg_bin_dir = "pgbin"
command_timeout_s = 42
require_backup = false
[[services.database.checks]]
name = "users"
sql = "SELECT count(*) FROM users"
"""


def test_database_section_with_pg_bin_dir(site: Path) -> None:
    (site / "alembic.ini").write_text("[alembic]\n")
    (site / "pgbin").mkdir()
    db = load_config(write(site, GOOD + DATABASE)).service("web").database
    assert db is not None
    assert (db.dsn_env, db.migrations, db.command_timeout_s) == ("APP_DSN", "alembic", 42)
    assert db.pg_bin_dir == site / "pgbin"
    assert db.backup_dir == site / "backups"
    assert not db.require_backup
    assert [(c.name, c.sql) for c in db.checks] == [("users", "SELECT count(*) FROM users")]


def test_database_pg_bin_dir_must_exist(site: Path) -> None:
    (site / "alembic.ini").write_text("[alembic]\n")
    with pytest.raises(ConfigError, match=r"database\.pg_bin_dir: path does not exist"):
        load_config(write(site, GOOD + DATABASE))


def test_database_without_pg_bin_dir_uses_the_path(site: Path) -> None:
    (site / "alembic.ini").write_text("[alembic]\n")
    text = GOOD + DATABASE.replace('pg_bin_dir = "pgbin"\n', "")
    db = load_config(write(site, text)).service("web").database
    assert db is not None and db.pg_bin_dir is None


@pytest.mark.parametrize(
    ("environment", "shown"),
    [
        ('"prod/../../etc"', "'/'"),
        ('"prod\\\\x"', r"'\'"),
        ('"prod..x"', "'..'"),
        ('"prod|x"', "'|'"),
        ('"prod\\nx"', r"control character (\n)"),
        ('"prod\\u001b[2Jx"', r"control character (\x1b)"),
        ('"prod\\u2028x"', "control character"),
    ],
)
def test_environment_that_could_name_another_file_or_break_a_line_is_refused(
    site: Path, environment: str, shown: str
) -> None:
    """The environment names the lock file and fills table cells: file:line:key, exit 2."""
    text = GOOD.replace('environment = "production"', f"environment = {environment}")
    path = write(site, text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith("environment"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and "\x1b" not in message
    assert message.startswith(f"{path}:{line}: services[0].environment: must not contain")
    assert shown in message
    assert info.value.exit_code == 2


@pytest.mark.parametrize("name", ["web..x", "web/x", "web|x"])
def test_service_name_that_could_name_another_file_is_refused(site: Path, name: str) -> None:
    path = write(site, GOOD.replace('name = "web"', f'name = "{name}"'))
    with pytest.raises(ConfigError, match=r"config.toml:\d+: services\[0\].name: must be"):
        load_config(path)


def test_plain_environments_still_load(site: Path) -> None:
    for environment in ("production", "prod-eu.1", "staging (blue)", "本番", "web@x"):
        text = GOOD.replace('environment = "production"', f'environment = "{environment}"')
        assert load_config(write(site, text)).service("web").environment == environment


# --------------------------------------------------------------------------- host logs and unit


@pytest.mark.parametrize(
    ("line", "names"),
    [
        ("log_file = 5", ["services[0].host.log_file", "expected a string", "5"]),
        ('log_file = ""', ["services[0].host.log_file", "empty"]),
        ('systemd_unit = ["app"]', ["services[0].host.systemd_unit", "expected a string"]),
        ('systemd_unit = "--all"', ["services[0].host.systemd_unit", "not a systemd unit name"]),
        ('systemd_unit = "app service"', ["services[0].host.systemd_unit", "'app service'"]),
    ],
)
def test_bad_log_file_or_unit_is_one_line_naming_the_key(
    site: Path, line: str, names: list[str]
) -> None:
    text = GOOD.replace('current_link = "current"', f'current_link = "current"\n{line}')
    path = write(site, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert f"config.toml:{text.splitlines().index(line) + 1}:" in message
    for name in names:
        assert name in message, message
    assert info.value.exit_code == 2


def test_log_file_is_relative_to_the_config_and_the_unit_comes_from_the_restart(
    site: Path,
) -> None:
    text = GOOD.replace(
        'current_link = "current"', 'current_link = "current"\nlog_file = "app.log"'
    )
    host = load_config(write(site, text)).service("web").host
    assert host is not None
    assert host.log_file == site / "app.log"  # need not exist yet
    assert host.systemd_unit == "app"  # restart = ["systemctl", "restart", "app"]
    explicit = text.replace('log_file = "app.log"', 'systemd_unit = "web@1.service"')
    host = load_config(write(site, explicit)).service("web").host
    assert host is not None and host.systemd_unit == "web@1.service" and host.log_file is None


@pytest.mark.parametrize(
    ("restart", "unit"),
    [
        (("systemctl", "restart", "app"), "app"),
        (("/usr/bin/systemctl", "try-restart", "app.service"), "app.service"),
        (("systemctl", "--user", "restart", "app"), ""),
        (("systemctl", "restart", "a", "b"), ""),
        (("sudo", "systemctl", "restart", "app"), ""),
        (("supervisorctl", "restart", "app"), ""),
        ((), ""),
    ],
)
def test_the_unit_of_a_restart_command(restart: tuple[str, ...], unit: str) -> None:
    from console.config.host import unit_of_restart

    assert unit_of_restart(restart) == unit


ALB = """
[console]
state_dir = "state"

[[services]]
name = "web"
environment = "production"
provider = "alb"
[services.alb]
listener_arn = "ARN:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
target_groups = [
  { name = "blue", arn = "ARN:targetgroup/web-blue/73e2d6bc24d8a067" },
  { name = "green", arn = "ARN:targetgroup/web-green/0b1d2e3f4a5b6c7d" },
]
[services.cdn]
distribution_id = "E2QWRUHEXAMPLE"
""".replace("ARN:", "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:")
RULE = (
    "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:listener-rule/app/web/"
    "50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
)


def test_an_alb_service_reads_its_groups_its_region_and_its_load_balancers_error_rate(
    site: Path,
) -> None:
    web = load_config(write(site, ALB)).service("web")
    assert web.alb is not None and web.cdn is not None
    assert web.alb.region == "ap-northeast-1"  # from the listener's ARN
    assert [g.name for g in web.alb.target_groups] == ["blue", "green"]
    assert web.alb.load_balancer == "app/web/50dc6c495c0c9188"
    assert web.alb.target_groups[0].metric_name == "targetgroup/web-blue/73e2d6bc24d8a067"
    assert (web.alb.gradual_steps, web.alb.gate_s) == ((10, 50, 100), 60.0)
    # No [services.error_rate]: the load balancer's CloudWatch metrics, no probe URL needed.
    assert web.error_rate.source == "cloudwatch" and not web.health
    assert (web.cdn.paths, web.cdn.region, web.cdn.timeout_s) == (("/*",), "us-east-1", 900.0)
    with_rule = ALB.replace("[services.cdn]", f'rule_arn = "{RULE}"\n[services.cdn]')
    assert load_config(write(site, with_rule)).service("web").alb.rule_arn == RULE  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("edit", "names"),
    [
        (
            lambda t: t.replace(
                "listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2", "targetgroup/x/1"
            ),
            ["services[0].alb.listener_arn", "must be a listener ARN"],
        ),
        (
            lambda t: t.replace("[services.cdn]", 'region = "eu-west-1"\n[services.cdn]'),
            ["services[0].alb.region", "listener_arn is in 'ap-northeast-1'"],
        ),
        (
            lambda t: t.replace(
                "[services.cdn]",
                f'rule_arn = "{RULE.replace("f2f7dc8e", "00000000")}"\n[services.cdn]',
            ),
            ["services[0].alb.rule_arn", "another listener"],
        ),
        (
            lambda t: t.replace('  { name = "green"', '#  { name = "green"'),
            ["services[0].alb.target_groups", "two or more", "got 1"],
        ),
        (
            lambda t: t.replace('name = "green"', 'name = "blue"'),
            ["services[0].alb.target_groups[1].name", "'blue' is used by two"],
        ),
        (
            lambda t: t.replace(
                ":123456789012:targetgroup/web-green", ":999999999999:targetgroup/web-green"
            ),
            ["services[0].alb.target_groups[1].arn", "another region or account"],
        ),
        (
            lambda t: t.replace('{ name = "blue", arn', '{ name = "blue", weight = 1, arn'),
            ["services[0].alb.target_groups[0].weight", "unknown key"],
        ),
        (
            lambda t: t.replace("[services.cdn]", "gradual_steps = [50, 10]\n[services.cdn]"),
            ["services[0].alb.gradual_steps", "increasing"],
        ),
        (
            lambda t: t.replace('"E2QWRUHEXAMPLE"', '"d111111abcdef8.cloudfront.net"'),
            ["services[0].cdn.distribution_id", "distribution id"],
        ),
        (
            lambda t: t + 'paths = ["index.html"]\n',
            ["services[0].cdn.paths", "must start with '/'"],
        ),
        (lambda t: t + "paths = []\n", ["services[0].cdn.paths", "at least one"]),
        (lambda t: t + "timeout_s = 0\n", ["services[0].cdn.timeout_s", "greater than 0"]),
    ],
)
def test_bad_alb_and_cdn_sections_are_one_line_naming_the_key(
    site: Path, edit, names: list[str]
) -> None:
    path = write(site, edit(ALB))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    for name in names:
        assert name in message
    assert info.value.exit_code == 2


def test_the_session_operator_from_serve_beats_the_configured_one(site: Path) -> None:
    """``serve`` names each browser session's operator in the environment: that name is
    recorded, not ``console.operator`` nor the login name."""
    from console.config.console import ENV_SESSION_OPERATOR

    path = write(site, GOOD)
    assert load_config(path, {}).console.operator == "alice"
    env = {ENV_SESSION_OPERATOR: "dana", "ROLLBACK_CONSOLE_OPERATOR": "erin"}
    assert load_config(path, env).console.operator == "dana"


def test_operator_header_is_read_and_checked(site: Path) -> None:
    path = write(
        site, GOOD.replace('operator = "alice"\n', 'operator_header = "X-Forwarded-User"\n')
    )
    assert load_config(path, {}).console.operator_header == "X-Forwarded-User"
    bad = GOOD.replace('operator = "alice"\n', 'operator_header = "X Forwarded"\n')
    with pytest.raises(ConfigError, match="operator_header"):
        load_config(write(site, bad), {})


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ('service = "web svc"', "swarm.service", "Swarm service name"),
        ('service = "web"\ndocker_host = "tcp://10.0.0.1:2375"', "swarm.docker_host", "unix"),
        ('service = "web"\nlock_ttl_s = 1', "swarm.lock_ttl_s", ""),
        ('service = "web"\nimage = "x"', "swarm.image", ""),
        ("", "swarm.service", ""),
    ],
)
def test_bad_swarm_section_names_the_key(tmp_path: Path, table: str, key: str, words: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[[services]]\nname = "web"\nenvironment = "prod"\nprovider = "swarm"\n'
        '[[services.health]]\nurl = "http://127.0.0.1:9/health"\n'
        f"[services.swarm]\n{table}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert key in str(info.value) and words in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2
