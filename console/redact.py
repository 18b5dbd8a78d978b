"""Keep secrets off screens, logs, the journal and the history file.

Two kinds of secret are known: values of environment variables the config
names (``*_env`` keys: the DSN, the team webhook URL, and any added later)
and credentials embedded in URLs the config holds (``scheme://user:pw@``, a
``?token=`` query parameter).

There is one redactor per config: ``Redactor.for_config`` walks the whole
config, so a URL or an ``*_env`` key added to it later is covered without
anyone remembering to register it, and every output channel (the CLI's text
and JSON, the TUI, the journal, the history entry, team messages, postmortem
drafts, crash reports) masks the same strings.  ``Config.redactor`` builds it
once and keeps it.  On top of that, what the health checks and error-rate
sources report carries ``display_url`` (credentials already masked), so a
screen that forgets to redact still shows no password.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import PurePath
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

MASK = "***"
#: Secrets shorter than this are not masked in free text (they would mask ordinary words).
MIN_SECRET = 4
#: A scheme starts where no scheme character precedes it (and its characters are never
#: given back): without that, a long run of letters or dots made every redaction of the
#: line quadratic (a restart printing a 300 kB line took minutes to stream).
_URL_CREDENTIALS = re.compile(
    r"(?<![A-Za-z0-9+.\-])(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*+://)(?P<user>[^:/@\s]*+):[^@/\s]++@"
)
#: Query or ``key=value`` parameters whose value is a credential.
_SECRET_KEYS = (
    "password|passwd|pwd|token|secret|access_token|api_key|apikey|auth|signature"
    "|private_token|client_secret"
)
#: The value ends at white space, a separator or a quote (the redactor also runs over JSON).
_PASSWORD_PARAMS = re.compile(rf"(?i)(?<![A-Za-z0-9])({_SECRET_KEYS})=([^\s&;\"'`<>]+)")
#: In a URL's query, a few more names hold the credential (Azure's ``code``, a signature).
_QUERY_KEYS = f"{_SECRET_KEYS}|code|key|sig"
_SECRET_KEY = re.compile(rf"(?i)^({_QUERY_KEYS})$")
#: An HTTP authorization value, ``Bearer TOKEN`` / ``Basic B64`` (a header from ``*_env``).
_AUTH_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9_-]* +(\S+)")
#: libpq ``password=...`` in a key/value DSN, quoted or not.
_DSN_PASSWORD = re.compile(r"(?i)\bpassword\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))")


class Redactor:
    """Replaces known secret values and URL passwords with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()):
        # Longest first so a secret containing another is masked whole.
        self._secrets = sorted(
            {s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True
        )

    @classmethod
    def for_config(cls, config: Any, environ: Mapping[str, str] | None = None) -> Redactor:
        """The redactor of everything secret ``config`` knows about (see ``config_secrets``).

        Use ``Config.redactor`` (built once, here) rather than calling this again.
        """
        return cls(config_secrets(config, environ))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if "://" in text:
            text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
        if "=" in text:
            text = _PASSWORD_PARAMS.sub(lambda m: f"{m[1]}={MASK}", text)
        return text

    def deep(self, value: Any) -> Any:
        """``value`` (JSON-like: dicts, lists, strings...) with every string redacted.

        Dict keys are redacted too; other values are returned as they are.
        """
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(k) if isinstance(k, str) else k: self.deep(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.deep(v) for v in value]
        return value


# --------------------------------------------------------------------------- URLs


def url_secrets(url: str) -> tuple[str, ...]:
    """The credentials a URL carries: the userinfo's password (or the user, when it is
    the only credential, as in ``https://TOKEN@host``) and secret query values.

    Both the text as written and its percent-decoded form are returned, since an
    error message may quote either.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return _loose_url_secrets(url)
    found: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, colon, password = userinfo.partition(":")
        found += [password] if colon and password else [user]
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        if _SECRET_KEY.match(key):
            found.append(value)
    for raw in re.findall(rf"(?i)(?:^|[?&;])(?:{_QUERY_KEYS})=([^&#;]+)", parts.query):
        found.append(raw)
    return _with_decoded(found)


def _loose_url_secrets(text: str) -> tuple[str, ...]:
    found = re.findall(r"://([^/@\s]+)@", text)
    return _with_decoded(f.partition(":")[2] or f for f in found)


def _with_decoded(values: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        if value:
            out.append(value)
            decoded = unquote(value)
            if decoded != value:
                out.append(decoded)
    return tuple(dict.fromkeys(out))


def display_url(url: str) -> str:
    """``url`` as it may be shown: ``https://ops:***@host/x?token=***``.

    A user given without a password is the credential itself and is masked whole.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return Redactor(_loose_url_secrets(url))(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"
    query = _PASSWORD_PARAMS.sub(lambda m: f"{m[1]}={MASK}", parts.query)
    shown = parts._replace(netloc=netloc, query=query).geturl()
    # What the parser kept verbatim elsewhere (a fragment, say) is masked too.
    return Redactor(url_secrets(url))(shown)


# --------------------------------------------------------------------------- environment


def env_secrets(value: str) -> tuple[str, ...]:
    """What to mask for the value of a secret environment variable.

    The value itself; when it is a URL, the credentials in it; when it is an
    ``http(s)`` URL (a webhook, where the path or query is the token), its
    path and query as well, and each path segment that looks like a token
    (``T0123/B0456/xoxAbc...``: digits or mixed case, or very long; not a word
    like ``services``); when it is a key/value DSN, its ``password``; when it is
    an authorization header's value (``Bearer TOKEN``), the token alone too.
    """
    value = value.strip()
    if not value:
        return ()
    found = [value]
    if "://" in value:
        found += url_secrets(value)
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if parts is not None and parts.scheme.lower() in ("http", "https"):
            # Short paths ("/", "/hook") are not the token; long ones are.
            found += [p for p in (parts.path, parts.path.lstrip("/"), parts.query) if len(p) >= 8]
            found += [p for p in parts.path.split("/") if _looks_like_token(unquote(p))]
    scheme = _AUTH_SCHEME.fullmatch(value)
    if scheme:  # an Authorization header's value: the credential after "Bearer " too
        found.append(scheme[1])
    for quoted, bare in _DSN_PASSWORD.findall(value):
        found.append(quoted.replace("\\'", "'").replace("\\\\", "\\") if quoted else bare)
    return _with_decoded(found)


def _looks_like_token(segment: str) -> bool:
    if len(segment) < 6:
        return False
    mixed = any(c.isupper() for c in segment) and any(c.islower() for c in segment)
    return len(segment) >= 24 or mixed or any(c.isdigit() for c in segment)


def config_secrets(config: Any, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret a config leads to: the credentials of every URL in it and the
    value of every ``*_env`` variable it names (read from ``environ``, default the
    process's environment), found by walking the whole config.
    """
    env = os.environ if environ is None else environ
    found: list[str] = []
    for name, value in _walk(config):
        if name.endswith("_env"):
            if value:
                found += env_secrets(env.get(value, ""))
        elif "://" in value:
            found += url_secrets(value)
    return found


def env_keys(config: Any) -> list[tuple[str, str]]:
    """``(field name, variable name)`` of every ``*_env`` key set in ``config``."""
    return [(n, v) for n, v in _walk(config) if n.endswith("_env") and v]


def _walk(value: Any, name: str = "") -> Iterator[tuple[str, str]]:
    """``(field name, string)`` for every string in a config of dataclasses, tuples and dicts."""
    if isinstance(value, str):
        yield name, value
    elif isinstance(value, PurePath | bool | int | float) or value is None:
        return
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk(getattr(value, f.name), f.name)
    elif isinstance(value, Mapping):
        # A table of variables (``headers_env = { Authorization = "FLAG_TOKEN" }``) keeps
        # its ``*_env`` name: each value names a secret's variable.
        for key, item in value.items():
            yield from _walk(item, name if name.endswith("_env") else str(key))
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _walk(item, name)


# --------------------------------------------------------------------------- last resort

_active = Redactor()


def install(redactor: Redactor) -> None:
    """Make ``redactor`` the one ``active()`` returns (the CLI does, once the config loads)."""
    global _active
    _active = redactor


def active() -> Redactor:
    """The redactor of the config this process loaded, for the channels that have no
    config at hand: the CLI's terminal streams and the crash report.  Before a
    config loads, a plain ``Redactor()`` (URL passwords and ``token=`` values only).
    """
    return _active
