"""``[[services.steps]]`` in the config: what loads, and bad input as one line naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from console.config import ConfigError, HttpCall, StepAction, load_config
from console.redact import env_keys
from tests.conftest import REPO
from tests.test_bad_input import assert_refused, cli
from tests.test_config import GOOD

STEPS = """
[[services.steps]]
id = "maint-on"
title = "Maintenance mode on"
when = "before"
run = ["touch", "/srv/app/maintenance.flag"]
check = ["test", "-e", "/srv/app/maintenance.flag"]
undo = ["rm", "-f", "/srv/app/maintenance.flag"]

[[services.steps]]
id = "kill-switch"
title = "Feature flag new-checkout off"
when = "before"
timeout_s = 5
required = false
[services.steps.http]
method = "put"
url = "https://flags.example.com/api/flags/new-checkout"
headers_env = { Authorization = "FLAG_API_TOKEN" }
body = { enabled = false }
expect_status = [200, 204]
[services.steps.check]
url = "https://flags.example.com/api/flags/new-checkout"
headers_env = { Authorization = "FLAG_API_TOKEN" }
expect_body = '"enabled":false'
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "releases" / "v1").mkdir(parents=True)
    return tmp_path


def test_steps_load_in_order_with_their_defaults(site: Path) -> None:
    config = load_config(_write(site, STEPS))
    first, second = config.service("web").steps
    assert (first.id, first.when, first.required, first.timeout_s) == (
        "maint-on",
        "before",
        True,
        60.0,
    )
    assert first.action == StepAction(argv=("touch", "/srv/app/maintenance.flag"))
    assert first.undo == StepAction(argv=("rm", "-f", "/srv/app/maintenance.flag"))
    assert first.workdir == site
    assert second.action.http == HttpCall(
        method="PUT",
        url="https://flags.example.com/api/flags/new-checkout",
        headers_env={"Authorization": "FLAG_API_TOKEN"},
        headers={"Content-Type": "application/json"},
        body='{"enabled":false}',
        expect_status=(200, 204),
    )
    assert second.check is not None and second.check.http is not None
    assert second.check.http.method == "GET"  # no body: GET
    assert second.check.http.expect_body == '"enabled":false'
    assert (second.timeout_s, second.required) == (5, False)
    # The redactor learns the variables a step's headers come from.
    assert ("headers_env", "FLAG_API_TOKEN") in env_keys(config)


def _write(site: Path, steps: str) -> Path:
    path = site / "config.toml"
    path.write_text(GOOD + steps)
    return path


BASE = '[[services.steps]]\nid = "a"\ntitle = "A"\nwhen = "before"\n'


@pytest.mark.parametrize(
    ("steps", "key", "words"),
    [
        ('[[services.steps]]\ntitle = "A"\nwhen = "before"\nrun = ["true"]\n', "id", "required"),
        (BASE.replace('"a"', '"a b"') + 'run = ["true"]\n', "id", "letters, digits"),
        (BASE.replace('"before"', '"during"') + 'run = ["true"]\n', "when", "'before' or 'after'"),
        (BASE, "run", "run = [argv] or http"),
        (BASE + 'run = ["true"]\nhttp = { url = "http://x:1/" }\n', "http", "not both"),
        (BASE + "run = []\n", "run", "non-empty list"),
        (BASE + 'run = "systemctl restart app"\n', "run", "a list"),
        (BASE + 'run = ["true"]\ncheck = "test -e x"\n', "check", "a list or a table"),
        (BASE + 'run = ["true"]\nundo = { url = "ftp://x/" }\n', "undo.url", "http://"),
        (BASE + 'run = ["true"]\nrequired = "yes"\n', "required", "true or false"),
        (BASE + 'run = ["true"]\ntimeout_s = 0\n', "timeout_s", "greater than 0"),
        (BASE + 'run = ["true"]\nwhen_ = 1\n', "when_", "unknown key"),
        (BASE + 'http = { url = "http://h:1/", verb = "PUT" }\n', "http.verb", "unknown key"),
        (BASE + 'http = { url = "http://h:1/", method = "YANK" }\n', "http.method", "one of"),
        (
            BASE + 'http = { url = "http://ops:hunter22@h:1/" }\n',
            "http.url",
            "must not carry a credential",
        ),
        (BASE + 'http = { url = "http://h:1/?token=abc123" }\n', "http.url", "credential"),
        (
            BASE + 'http = { url = "http://h:1/", headers_env = { Authorization = "Bearer x" } }\n',
            "http.headers_env.Authorization",
            "name of an environment variable",
        ),
        (
            BASE + 'http = { url = "http://h:1/", headers = { Authorization = "Bearer x" } }\n',
            "http.headers.Authorization",
            "headers_env instead",
        ),
        (
            BASE + 'http = { url = "http://h:1/", headers = { "Bad Name" = "x" } }\n',
            "http.headers.Bad Name",
            "not a valid HTTP header name",
        ),
        (BASE + 'http = { url = "http://h:1/", expect_status = 700 }\n', "expect_status", "100"),
        (
            BASE + 'run = ["true"]\n' + BASE.replace('"A"', '"B"') + 'run = ["true"]\n',
            "services[0].steps[1].id",
            "duplicate step id 'a'",
        ),
    ],
)
def test_bad_steps_are_one_line_naming_the_key(
    site: Path, steps: str, key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(site, steps))
    message = str(info.value)
    assert "\n" not in message
    assert key in message and words in message, message
    assert info.value.exit_code == 2


def test_a_secret_pasted_into_headers_env_is_not_echoed(site: Path) -> None:
    pasted = "Bearer sk-live-0123456789abcdef"
    steps = BASE + f'http = {{ url = "http://h:1/", headers_env = {{ X-Token = "{pasted}" }} }}\n'
    with pytest.raises(ConfigError) as info:
        load_config(_write(site, steps))
    assert "sk-live" not in str(info.value)


def test_check_config_refuses_a_bad_step_with_exit_2_and_one_line(site: Path) -> None:
    path = _write(site, BASE + 'run = ["true"]\nundo = "rm -f x"\n')
    line = assert_refused(cli("check-config", "--config", str(path)), "services[0].steps[0].undo")
    assert f"{path}:" in line


def test_the_commented_steps_of_config_example_load(site: Path) -> None:
    """Every commented ``[[services.steps]]`` example of config.example.toml, uncommented."""
    text = (REPO / "config.example.toml").read_text()
    block = text.split("# Maintenance mode on before the switch", 1)[1].split("# ----", 1)[0]
    lines = [line.removeprefix("# ").removeprefix("#") for line in block.splitlines()]
    toml = [line for line in lines if line.startswith("[") or re.match(r"[\w-]+ = ", line)]
    config = load_config(_write(site, "\n".join(toml) + "\n"))
    steps = config.service("web").steps
    assert [s.id for s in steps] == [
        "maint-on",
        "maint-off",
        "nginx-restore",
        "nginx-reload",
        "unit-restore",
        "daemon-reload",
        "unit-restart",
        "kill-switch",
    ]
    flag = steps[-1]
    assert flag.action.http is not None and flag.action.http.headers_env == {
        "Authorization": "FLAG_API_TOKEN"
    }
    assert flag.check is not None and flag.check.http is not None
    assert flag.undo is not None and flag.undo.http is not None
    assert flag.undo.http.body == '{"enabled":true}'


def test_the_redactor_masks_a_step_header_value_and_the_token_after_its_scheme(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLAG_API_TOKEN", "Bearer s3cr3t-t0ken-value")
    redact = load_config(_write(site, STEPS)).redactor
    assert redact("sent Authorization: Bearer s3cr3t-t0ken-value") == "sent Authorization: ***"
    assert redact('{"token":"s3cr3t-t0ken-value"}') == '{"token":"***"}'
