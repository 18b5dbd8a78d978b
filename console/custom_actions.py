"""What one of the team's own steps does, as data and as it runs: an argv or an HTTP request.

A ``[[services.steps]]`` entry's action, check and undo are each a
``StepAction`` (``console.config.steps``).  Here they become a step's params
(JSON, no secret: header values are named by their variable, never held)
and back, the shell command an operator reads in the plan (``curl`` for a
request, with ``"$FLAG_TOKEN"`` where the token goes), and the running of
one: an argv through the console's one process runner (``console.process``:
no shell, bounded, its process group stopped on time-out), a request with
httpx.  Either yields its output lines and returns the line saying how it
ended; a failure raises.  ``NoAnswer`` says the request (or command) may have
done its work although no answer said so: the step's check, if it has one,
then decides.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

from console.config.steps import CustomStep, HttpCall, StepAction
from console.errors import CommandFailed, ProviderError
from console.process import run_checked
from console.redact import display_url

#: Lines of an HTTP answer's body shown, and characters of each.
BODY_LINES = 10
BODY_LINE_CHARS = 300
_PLAIN_HEADER = re.compile(r"[A-Za-z0-9-]+")


class NoAnswer(CommandFailed):
    """Sent, but no answer came (a lost response, a time-out): it may have taken effect."""


class StepEnvMissing(ProviderError):
    """A header's environment variable is not set: bad config for this run (exit 2)."""

    exit_code = 2


# --------------------------------------------------------------------------- as params


def action_params(action: StepAction) -> dict[str, Any]:
    """``{"argv": [...]}`` or ``{"http": {...}}``: what the journal keeps of an action."""
    if action.http is None:
        return {"argv": list(action.argv)}
    call = action.http
    return {
        "http": {
            "method": call.method,
            "url": call.url,
            "headers_env": dict(call.headers_env),
            "headers": dict(call.headers),
            "body": call.body,
            "expect_status": list(call.expect_status),
            "expect_body": call.expect_body,
        }
    }


def action_from(raw: Mapping[str, Any] | None) -> StepAction | None:
    """The action ``action_params`` wrote (None for none)."""
    if not raw:
        return None
    http = raw.get("http")
    if http is None:
        return StepAction(argv=tuple(str(a) for a in raw.get("argv") or ()))
    return StepAction(
        http=HttpCall(
            method=str(http["method"]),
            url=str(http["url"]),
            headers_env={str(k): str(v) for k, v in (http.get("headers_env") or {}).items()},
            headers={str(k): str(v) for k, v in (http.get("headers") or {}).items()},
            body=str(http.get("body") or ""),
            expect_status=tuple(int(s) for s in http.get("expect_status") or ()),
            expect_body=str(http.get("expect_body") or ""),
        )
    )


def step_params(step: CustomStep) -> dict[str, Any]:
    """A custom step's definition as its plan step's params (journaled as they are)."""
    return {
        "id": step.id,
        "when": step.when,
        "action": action_params(step.action),
        "check": action_params(step.check) if step.check else None,
        "undo": action_params(step.undo) if step.undo else None,
        "timeout_s": step.timeout_s,
        "required": step.required,
        "workdir": str(step.workdir) if step.workdir else "",
    }


def step_from(params: Mapping[str, Any], title: str) -> CustomStep:
    """The definition ``step_params`` wrote (a journaled plan's step, on resume)."""
    action = action_from(params.get("action"))
    if action is None:
        raise ProviderError(f"step {title!r} has nothing to run")
    workdir = str(params.get("workdir") or "")
    return CustomStep(
        id=str(params["id"]),
        title=title,
        when=str(params.get("when", "before")),
        action=action,
        check=action_from(params.get("check")),
        undo=action_from(params.get("undo")),
        timeout_s=float(params.get("timeout_s", 60.0)),
        required=bool(params.get("required", True)),
        workdir=Path(workdir) if workdir else None,
    )


# --------------------------------------------------------------------------- as shown


def command_of(action: StepAction) -> str:
    """The shell command doing what ``action`` does (``curl`` for a request)."""
    if action.http is None:
        return shlex.join(action.argv)
    call = action.http
    words = ["curl", "-sS"]
    if call.method == "HEAD":
        words.append("-I")
    elif call.method != "GET":
        words += ["-X", call.method]
    for name, value in call.headers.items():
        words += ["-H", shlex.quote(f"{name}: {value}")]
    for name, variable in call.headers_env.items():
        # The value stays in the variable: the shell expands it, the plan never holds it.
        if _PLAIN_HEADER.fullmatch(name):
            words += ["-H", f'"{name}: ${variable}"']
        else:
            words += ["-H", shlex.quote(f"{name}: ") + f'"${variable}"']
    if call.body:
        words += ["--data-raw", shlex.quote(call.body)]
    words.append(shlex.quote(display_url(call.url)))
    if call.expect_body:
        words += ["|", "grep", "-qF", "--", shlex.quote(call.expect_body)]
    return " ".join(words)


def step_command(step: CustomStep) -> str:
    """The plan's command of a custom step: the action, ``&&`` its check, and the undo as a
    comment (a script of the plan's commands stays runnable)."""
    text = command_of(step.action)
    if step.check is not None:
        text += f" && {command_of(step.check)}"
    if step.undo is not None:
        text += f"  # undo if a later step fails: {command_of(step.undo)}"
    return text


def expected(call: HttpCall) -> str:
    return " or ".join(str(s) for s in call.expect_status) or "2xx"


# --------------------------------------------------------------------------- running


def perform(
    action: StepAction,
    *,
    timeout_s: float,
    workdir: Path | None,
    environ: Mapping[str, str],
    step: str,
) -> Generator[str, None, str]:
    """Run ``action``: its output lines, then the line saying it succeeded.

    Raises ``CommandFailed`` (``NoAnswer`` when it may have taken effect
    regardless), ``TimedOut`` for a command past its limit, ``StepEnvMissing``
    when a header's variable is not set (nothing was sent).  ``step`` names the
    step in messages.
    """
    if action.http is not None:
        return (yield from _request(action.http, timeout_s, environ, step))
    argv = list(action.argv)
    return (yield from run_checked(argv, shown=shlex.join(argv), timeout_s=timeout_s, cwd=workdir))


def _request(
    call: HttpCall, timeout_s: float, environ: Mapping[str, str], step: str
) -> Generator[str, None, str]:
    import httpx

    headers = dict(call.headers)
    for name, variable in call.headers_env.items():
        value = environ.get(variable, "")
        if not value.strip():
            state = "is empty" if variable in environ else "is not set"
            raise StepEnvMissing(
                f"environment variable {variable} {state}: step {step!r} sends it as its "
                f"{name} header ([[services.steps]] headers_env); nothing was sent"
            )
        headers[name] = value
    shown = f"{call.method} {display_url(call.url)}"
    content = call.body.encode("utf-8") if call.body else None
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
            response = client.request(call.method, call.url, headers=headers, content=content)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as err:
        raise CommandFailed(
            f"{shown}: could not connect ({_reason(err)}): nothing was sent"
        ) from None
    except httpx.TimeoutException as err:
        raise NoAnswer(
            f"{shown}: no answer within {timeout_s:g} s ({_reason(err)}): "
            "whether it took effect is not known"
        ) from None
    except httpx.HTTPError as err:
        raise NoAnswer(
            f"{shown}: the answer was lost ({_reason(err)}): whether it took effect is not known"
        ) from None
    status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    yield f"{shown} -> {status}"
    lines = response.text.splitlines()
    for line in lines[:BODY_LINES]:
        yield line if len(line) <= BODY_LINE_CHARS else line[: BODY_LINE_CHARS - 1] + "…"
    if len(lines) > BODY_LINES:
        yield f"… {len(lines) - BODY_LINES} more lines of the answer not shown"
    code = response.status_code
    ok = code in call.expect_status if call.expect_status else 200 <= code < 300
    if not ok:
        first = next((line.strip() for line in lines if line.strip()), "")
        detail = f": {first[:200]}" if first else ""
        raise CommandFailed(f"{shown} answered {status}, expected {expected(call)}{detail}")
    if call.expect_body and call.expect_body not in response.text:
        raise CommandFailed(f"{shown} answered {status} without {call.expect_body!r} in its body")
    return status


def _reason(err: Exception) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
