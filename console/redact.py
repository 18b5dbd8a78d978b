"""Keep secrets off screens, logs, the journal and the history file.

Two kinds of secret are known: values of environment variables the config
names (``*_env`` keys) and credentials embedded in URLs (``scheme://user:pw@``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

MASK = "***"
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@"
)
_PASSWORD_PARAMS = re.compile(r"(?i)\b(password|passwd|pwd|token|secret)=([^\s&;]+)")


class Redactor:
    """Replaces known secret values and URL passwords with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()):
        # Longest first so a secret containing another is masked whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    @classmethod
    def from_env(cls, names: Iterable[str], environ: Mapping[str, str] | None = None) -> Redactor:
        env = os.environ if environ is None else environ
        return cls(env.get(n, "") for n in names)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
        return _PASSWORD_PARAMS.sub(lambda m: f"{m[1]}={MASK}", text)
