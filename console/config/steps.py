"""``[[services.steps]]``: the team's own runbook steps around the switch (any provider).

Runbook 002 wraps risky work in maintenance mode, runbook 000 restores an
nginx config or a systemd unit and reloads, runbooks 002/004 flip a feature
flag: each is a step of its own, run ``before`` or ``after`` the platform's
switch.  A step does one thing, an argv (``run``, never through a shell) or an
HTTP request (``http``); it may have a ``check`` (argv or HTTP: must pass
before the plan goes on, and tells a resumed rollback whether the step took
effect) and an ``undo`` (run when a later step fails).

Secrets come only from the environment: ``headers_env = { Authorization =
"FLAG_TOKEN" }`` sends the variable's value as the header, and a URL carrying
a credential (``user:pw@``, ``?token=``) is refused, so nothing secret is in
a step's definition, which the plan, the journal and the entry show as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.config.bounds import MIN_REQUEST_TIMEOUT_S
from console.config.reader import Reader, shown
from console.config.urls import is_url, url_error
from console.redact import url_secrets

#: HTTP methods a step may use.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: A header name (RFC 9110 token).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STEP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
#: Plain ``headers`` whose name says they carry a credential: those belong in headers_env.
_SECRET_HEADER = re.compile(r"(?i)authorization|cookie|token|secret|password|api[-_]?key|auth")


@dataclass(frozen=True)
class HttpCall:
    """One HTTP request of a step: no secret in it but the values of ``headers_env``."""

    method: str
    url: str
    #: Header name -> the environment variable holding its value (a token, read when sent).
    headers_env: Mapping[str, str] = field(default_factory=dict)
    #: Header name -> value, for what is not secret (``Content-Type``).
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""
    #: Statuses that count as success; empty: any 2xx.
    expect_status: tuple[int, ...] = ()
    #: Text the answer's body must contain ("" = anything): what a check reads back
    #: (``'"enabled":false'``), since a flag service answers 200 either way.
    expect_body: str = ""


@dataclass(frozen=True)
class StepAction:
    """What a step (or its check, or its undo) does: an argv, or an HTTP request."""

    argv: tuple[str, ...] = ()
    http: HttpCall | None = None


@dataclass(frozen=True)
class CustomStep:
    """One ``[[services.steps]]`` entry."""

    id: str
    title: str
    #: "before" or "after" the platform's switch.
    when: str
    action: StepAction
    check: StepAction | None = None
    undo: StepAction | None = None
    #: The time limit of the action, of the check and of the undo, each.
    timeout_s: float = 60.0
    #: False: a failure is recorded and the plan goes on.
    required: bool = True
    #: Where argv commands run: the config file's folder (relative paths mean the same
    #: thing from any shell).
    workdir: Path | None = None


def read_steps(r: Reader) -> tuple[CustomStep, ...]:
    """The service's ``[[services.steps]]``, in order; ids unique."""
    steps: list[CustomStep] = []
    for item in r.subs("steps"):
        step = read_step(item)
        if any(earlier.id == step.id for earlier in steps):
            # The journal, the checklist and resume know a step by its id.
            raise item.error("id", f"duplicate step id {shown(step.id)}")
        steps.append(step)
    return tuple(steps)


def read_step(r: Reader) -> CustomStep:
    r.expect("id", "title", "when", "run", "http", "check", "undo", "timeout_s", "required")
    step_id = r.require("id", str)
    if not _STEP_ID.fullmatch(step_id):
        raise r.error("id", f"must be letters, digits, '-', '_' or '.', got {shown(step_id)}")
    title = r.require("title", str)
    when = r.require("when", str)
    if when not in ("before", "after"):
        raise r.error("when", f"must be 'before' or 'after' (the switch), got {shown(when)}")
    has_run, has_http = "run" in r.table, "http" in r.table
    if has_run and has_http:
        raise r.error("http", "give run = [argv] or http = { ... }, not both")
    if not (has_run or has_http):
        raise r.error("run", "is required: run = [argv] or http = { method, url, ... }")
    if has_run:
        action = StepAction(argv=_argv(r, "run"))
    else:
        table = r.sub("http")
        assert table is not None
        action = StepAction(http=read_http(table))
    step = CustomStep(
        id=step_id,
        title=title,
        when=when,
        action=action,
        check=_action(r, "check"),
        undo=_action(r, "undo"),
        timeout_s=r.duration("timeout_s", 60.0, low=MIN_REQUEST_TIMEOUT_S),
        required=bool(r.get("required", bool, True)),
        workdir=r.loader.base,
    )
    r.done()
    return step


def _argv(r: Reader, name: str) -> tuple[str, ...]:
    argv = r.argv(name)
    if not argv or not argv[0].strip():
        raise r.error(name, "must name a command: a non-empty list of strings (an argv)")
    return argv


def _action(r: Reader, name: str) -> StepAction | None:
    """``check`` / ``undo``: an argv (a list) or an HTTP request (a table), or nothing."""
    value = r.get(name, (list, dict))
    if value is None:
        return None
    if isinstance(value, list):
        return StepAction(argv=_argv(r, name))
    table = r.sub(name)
    assert table is not None
    return StepAction(http=read_http(table))


def read_http(r: Reader) -> HttpCall:
    """``{ method, url, headers_env, headers, body, expect_status, expect_body }``."""
    r.expect("method", "url", "headers_env", "headers", "body", "expect_status", "expect_body")
    url = r.require("url", str)
    if not is_url(url):
        raise url_error(r, "url", url)
    if url_secrets(url):
        raise r.error(
            "url",
            "must not carry a credential (user:password@ or ?token=): send it in a header "
            "whose value comes from the environment (headers_env)",
        )
    raw_body = r.get("body", (str, dict), "")
    headers = _headers(r, "headers")
    headers_env = _headers(r, "headers_env")
    for name, value in headers.items():
        if _SECRET_HEADER.search(name):
            raise r.error(
                f"headers.{name}",
                "looks like a credential: name the environment variable holding it in "
                "headers_env instead",
            )
        if any(c in value for c in "\r\n\x00"):
            raise r.error(f"headers.{name}", "must not contain a line break or NUL")
    for name, variable in headers_env.items():
        if not _ENV_NAME.fullmatch(variable):
            # The value is not echoed: a token pasted here by mistake is a secret.
            raise r.error(
                f"headers_env.{name}", "must be the name of an environment variable, not a value"
            )
    body = raw_body
    if isinstance(raw_body, dict):
        # A table is sent as JSON (the flag services' APIs take JSON).
        body = json.dumps(raw_body, separators=(",", ":"), default=str)
        if not any(name.lower() == "content-type" for name in headers):
            headers = {**headers, "Content-Type": "application/json"}
    method = r.get("method", str, "POST" if body else "GET").upper()
    if method not in METHODS:
        raise r.error("method", f"must be one of {', '.join(METHODS)}, got {shown(method)}")
    call = HttpCall(
        method=method,
        url=url,
        headers_env=headers_env,
        headers=headers,
        body=body,
        expect_status=_statuses(r),
        expect_body=r.get("expect_body", str, ""),
    )
    r.done()
    return call


def _headers(r: Reader, name: str) -> dict[str, str]:
    table: dict[str, Any] = r.get(name, dict, {})
    found: dict[str, str] = {}
    for header, value in table.items():
        if not _TOKEN.fullmatch(header):
            raise r.error(f"{name}.{header}", "is not a valid HTTP header name")
        if not isinstance(value, str):
            raise r.error(f"{name}.{header}", f"expected a string, got {shown(value)}")
        found[header] = value
    return found


def _statuses(r: Reader) -> tuple[int, ...]:
    value = r.get("expect_status", (int, list), [])
    values = value if isinstance(value, list) else [value]
    for status in values:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise r.error("expect_status", f"must be HTTP statuses (100-599), got {shown(value)}")
    return tuple(values)
