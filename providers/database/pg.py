"""PostgreSQL plumbing for the database provider: DSNs and the client tools.

The DSN is a secret: it lives in the environment variable the config names
(``dsn_env``) and nowhere else.  Nothing here puts it in an argv (other users
of a bastion can read ``/proc/*/cmdline``) or in a message: ``pg_dump`` and
``pg_restore`` get ``--dbname`` as a connection string *without* the password
and the password in ``PGPASSWORD``; the command an operator sees is written
with the variable's name (``pg_dump -Fc --dbname "$DATABASE_URL" ...``).

Only the standard library is imported at module level; psycopg is imported
where a DSN is parsed.  The tools run through the console's one subprocess
runner (``console.process``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from providers.base import NotFound, ProviderError

#: Debian's per-version folders: /usr/lib/postgresql/15/bin/pg_dump.
DEBIAN_BIN = "/usr/lib/postgresql/{major}/bin"


class DsnError(ProviderError):
    """The DSN variable is missing, empty, or not a connection string (bad config: exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Dsn:
    """A parsed DSN: the secret parts and what may be shown.

    ``params`` are libpq keywords (``host``, ``port``, ``dbname``, ``user``,
    ``password``, ``sslmode``...).  ``secrets`` lists the strings that must be
    masked wherever text is shown or written (the whole DSN, the password).
    """

    env_name: str
    raw: str
    params: Mapping[str, str]

    @property
    def password(self) -> str:
        return self.params.get("password", "")

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.raw, self.password) if s)

    @property
    def database(self) -> str:
        return self.params.get("dbname", "") or self.params.get("user", "") or "(default)"

    @property
    def target(self) -> str:
        """ "mks_db on db.internal:5432 as mks_user": everything but the password."""
        host = self.params.get("host") or self.params.get("hostaddr") or "local socket"
        port = self.params.get("port", "")
        where = f"{host}:{port}" if port and not host.startswith("/") else host
        user = self.params.get("user", "")
        return f"{self.database} on {where}" + (f" as {user}" if user else "")

    def conninfo_without_password(self) -> str:
        """A libpq connection string with every parameter but the password (safe in argv)."""
        from psycopg.conninfo import make_conninfo

        public = {k: v for k, v in self.params.items() if k != "password"}
        return make_conninfo("", **public)

    def tool_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for pg_dump / pg_restore: the password in PGPASSWORD only."""
        env = dict(os.environ if base is None else base)
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def sqlalchemy_url(self) -> str:
        """The same connection as a ``postgresql+psycopg://`` URL (for ``sqlalchemy.url``)."""
        from sqlalchemy.engine import URL

        known = {"host", "port", "dbname", "user", "password"}
        port = self.params.get("port", "")
        url = URL.create(
            "postgresql+psycopg",
            username=self.params.get("user") or None,
            password=self.params.get("password") or None,
            host=self.params.get("host") or None,
            port=int(port) if port.isdigit() else None,
            database=self.params.get("dbname") or None,
            query={k: v for k, v in self.params.items() if k not in known},
        )
        return url.render_as_string(hide_password=False)


def read_dsn(env_name: str, environ: Mapping[str, str] | None = None) -> Dsn:
    """The DSN from ``$env_name``, parsed; ``DsnError`` (never echoing the value) otherwise."""
    env = os.environ if environ is None else environ
    raw = env.get(env_name, "")
    if not raw.strip():
        state = "is empty" if env_name in env else "is not set"
        raise DsnError(
            f"environment variable {env_name} {state}: it must hold the database's DSN "
            "([services.database] dsn_env)"
        )
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(raw)
    except ProgrammingError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "unparseable"
        reason = mask(reason, (raw, *_password_guess(raw)))
        raise DsnError(
            f"environment variable {env_name} does not hold a valid PostgreSQL DSN ({reason})"
        ) from None
    return Dsn(env_name, raw, {k: str(v) for k, v in params.items() if v is not None})


def _password_guess(raw: str) -> tuple[str, ...]:
    """Password-looking parts of an unparseable DSN, so an error about it cannot leak them."""
    found = re.findall(r"://[^:/@\s]*:([^@\s]+)@", raw)
    found += re.findall(r"(?i)\bpassword\s*=\s*'?([^'\s]+)", raw)
    return tuple(found)


def mask(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


# --------------------------------------------------------------------------- client tools


def tool_major(path: str) -> int | None:
    """The major version ``path --version`` reports (``pg_dump (PostgreSQL) 15.18`` -> 15)."""
    try:
        out = subprocess.run(
            [path, "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            stdin=subprocess.DEVNULL,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\)\s+(\d+)", out)
    return int(match.group(1)) if match else None


def find_tool(name: str, bin_dir: Path | None, server_major: int | None = None) -> str:
    """The ``pg_dump`` / ``pg_restore`` to run.

    ``bin_dir`` (config ``pg_bin_dir``) wins.  Otherwise the one on the PATH,
    unless it is older than the server (pg_dump refuses to dump a newer
    server), in which case Debian's folder for the server's major version is
    tried.  Raises ``NotFound`` naming what to configure.
    """
    if bin_dir is not None:
        candidate = bin_dir / name
        if not os.access(candidate, os.X_OK):
            raise NotFound(f"{name} not found in pg_bin_dir {bin_dir}")
        return str(candidate)
    on_path = shutil.which(name)
    if on_path and server_major is not None:
        major = tool_major(on_path)
        if major is not None and major < server_major:
            debian = Path(DEBIAN_BIN.format(major=server_major)) / name
            if os.access(debian, os.X_OK):
                return str(debian)
            raise NotFound(
                f"{on_path} is PostgreSQL {major} but the server is {server_major}: "
                f"install the {server_major} client tools or set pg_bin_dir"
            )
    if on_path:
        return on_path
    if server_major is not None:
        debian = Path(DEBIAN_BIN.format(major=server_major)) / name
        if os.access(debian, os.X_OK):
            return str(debian)
    raise NotFound(f"{name} not found on the PATH: install the PostgreSQL client or set pg_bin_dir")
