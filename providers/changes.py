"""Building blocks of "What changes" (``SupportsDiff``), shared by the providers.

Every provider compares the live revision with the target in its own terms
(a task definition, a revision template) but says it the same way: one short
``Difference`` a thing, values on one line and cut short around where they
differ, images as ``repo:tag`` when only the tag moves, and nothing secret.
A secret is named with where it comes from; a *plain* value is shown, except
when its variable's name says it is a credential (``DB_PASSWORD``,
``API_TOKEN``): a team that put one in plain text still must not find it in
the history file.  URL passwords and ``password=`` parameters inside plain
values are masked as everywhere else (``console.redact``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from console.model import Difference
from console.redact import MASK, Redactor
from console.textsafe import one_line

#: Longest value shown whole; a longer one is cut around its first difference.
VALUE_LIMIT = 80
#: Characters kept before the first difference when the start of a long value is cut.
CONTEXT = 12

#: Words of a variable name that say its value is a credential.
_CREDENTIAL_WORDS = frozenset(
    {
        "PASSWORD",
        "PASSWD",
        "PWD",
        "PASS",
        "PASSPHRASE",
        "SECRET",
        "SECRETS",
        "TOKEN",
        "TOKENS",
        "CREDENTIAL",
        "CREDENTIALS",
        "APIKEY",
        "PRIVATE",
        "SIGNATURE",
        "COOKIE",
        "SALT",
    }
)
#: Plain-value credential names not made of those words: ``*_KEY`` (``API_KEY``,
#: ``STRIPE_KEY``, ``SECRET_KEY_BASE``), ``DSN`` (a URL with its password).
_CREDENTIAL_NAME = re.compile(r"(?i)(^|_)(KEY|DSN)(_|$)")

#: URL passwords and ``password=`` parameters, as every output channel masks them.
_REDACT = Redactor()

NOT_SHOWN = "differs in a part not shown (a credential)"
PLAIN_CREDENTIAL = "plain value not shown: its name says it is a credential"


def looks_like_credential(name: str) -> bool:
    """Whether a variable named ``name`` holds a credential by its name alone."""
    words = {w for w in re.split(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])", name) if w}
    if {w.upper() for w in words} & _CREDENTIAL_WORDS:
        return True
    return bool(_CREDENTIAL_NAME.search(name))


def shown(value: str) -> str:
    """``value`` on one line, unsafe characters escaped, URL credentials masked."""
    return _REDACT(one_line(value))


def shorten(live: str, target: str, limit: int = VALUE_LIMIT) -> tuple[str, str]:
    """Both values at most ``limit`` characters, cut so their first difference still shows."""
    if len(live) <= limit and len(target) <= limit:
        return live, target
    same = 0
    for a, b in zip(live, target, strict=False):
        if a != b:
            break
        same += 1
    start = same - CONTEXT if same > limit - CONTEXT else 0

    def cut(value: str) -> str:
        if not value:
            return value
        part = ("…" + value[start:]) if start > 0 else value
        return part if len(part) <= limit else part[: limit - 1] + "…"

    return cut(live), cut(target)


def changed(what: str, live: str, target: str, note: str = "") -> list[Difference]:
    """One ``Difference`` when the two values differ (shown, cut short), none when equal."""
    if live == target:
        return []
    a, b = shown(live), shown(target)
    if a == b:
        note = "; ".join(n for n in (note, NOT_SHOWN) if n)
    a, b = shorten(a, b)
    return [Difference(what, a, b, note)]


def image_pair(live: str, target: str) -> tuple[str, str]:
    """Two images as they read best: ``web:v1.3.0`` and ``web:v1.2.9`` when only the tag
    (or digest) differs, the whole references when the repository does too."""
    live_repo, live_ver = _split_image(live)
    target_repo, target_ver = _split_image(target)
    if live and target and live_repo == target_repo and live_ver != target_ver:
        name = live_repo.rsplit("/", 1)[-1]
        return f"{name}{live_ver}", f"{name}{target_ver}"
    return live, target


def _split_image(image: str) -> tuple[str, str]:
    """(repository, ``:tag`` or ``@sha256:short``) of an image reference."""
    name, at, digest = image.partition("@")
    version = ""
    if at:
        algo, _, hexa = digest.partition(":")
        version = f"@{algo}:{hexa[:12]}" if hexa else f"@{digest}"
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, version = name[:colon], f":{name[colon + 1 :]}{version}"
    return name, version


def image_change(what: str, live: str, target: str) -> list[Difference]:
    """``image web: web:v1.3.0 → web:v1.2.9`` when the image differs."""
    if live == target:
        return []
    a, b = image_pair(shown(live), shown(target))
    a, b = shorten(a, b)
    return [Difference(what, a, b, NOT_SHOWN if a == b else "")]


@dataclass(frozen=True)
class Variable:
    """Where one environment variable's value comes from, as it may be shown.

    ``secret``: from a secret store (shown by reference); ``shown``: the text
    for the screen; ``source``: what is compared (the plain value or the
    reference, never a secret's content); ``masked``: a plain value kept off
    the screen because its name says it is a credential.
    """

    shown: str
    source: str
    secret: bool = False
    masked: bool = False


def plain(name: str, value: str) -> Variable:
    """A plain value: shown, unless the variable's name says it is a credential."""
    if looks_like_credential(name):
        return Variable(MASK if value else "", value, masked=True)
    return Variable(shown(value), value)


def variables(
    container: str, live: Mapping[str, Variable], target: Mapping[str, Variable]
) -> list[Difference]:
    """``env web LOG_LEVEL`` / ``secret web DB_PASSWORD`` lines, by name, for one container."""
    out: list[Difference] = []
    for name in sorted(set(live) | set(target)):
        a, b = live.get(name), target.get(name)
        if a is not None and b is not None and (a.source, a.secret) == (b.source, b.secret):
            continue
        secret = (a is not None and a.secret) or (b is not None and b.secret)
        what = " ".join(p for p in ("secret" if secret else "env", container, shown(name)) if p)
        live_text, target_text = a.shown if a else "", b.shown if b else ""
        notes = []
        if (a is not None and a.masked) or (b is not None and b.masked):
            notes.append(PLAIN_CREDENTIAL)
        elif live_text == target_text:
            notes.append(NOT_SHOWN)
        x, y = shorten(live_text, target_text)
        out.append(Difference(what, x, y, "; ".join(notes)))
    return out


def label(kind: str, container: str) -> str:
    """``image web``, or ``image`` for the one unnamed container of a revision."""
    return f"{kind} {container}" if container else kind
