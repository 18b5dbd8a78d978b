"""A real PostgreSQL server for the tests, from the PyPI ``pgserver`` package's binaries.

``pgserver`` ships PostgreSQL (server, ``pg_dump``, ``pg_restore``) inside the
wheel, so ``make test`` needs nothing installed on the machine.  Its own
``get_server`` only listens on a unix socket with ``trust`` auth; these tests
also need a password that is really checked (a wrong one must fail) and a TCP
port (a DSN an operator would write), so the server is started here with the
same binaries: ``initdb`` with scram-sha-256 for TCP, ``pg_ctl start`` on a
free 127.0.0.1 port with fsync off.  When running as root (containers), the
server runs as the system user ``pgserver`` creates for the same reason.

One server per test session (``PgServer``); one database per test
(``PgServer.create_database``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

#: The superuser's password: a secret that must never show up in any output.
PASSWORD_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _quiet_import_pgserver() -> None:
    """Import pgserver without its platformdirs warning about XDG_RUNTIME_DIR."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver  # noqa: F401


def pg_bin_dir() -> Path:
    """The folder holding pgserver's postgres, initdb, pg_ctl, pg_dump and pg_restore."""
    _quiet_import_pgserver()
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgServer:
    """A running PostgreSQL server on 127.0.0.1:``port`` with a password-protected superuser."""

    root: Path
    port: int
    password: str
    bin_dir: Path
    run_as: str | None = None
    user: str = "postgres"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def dsn(self, database: str = "postgres", *, password: str | None = None) -> str:
        """A URL DSN, as an operator would put in DATABASE_URL."""
        pw = self.password if password is None else password
        return f"postgresql://{self.user}:{pw}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self.run_as:
            kwargs["user"] = self.run_as
        result = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            **kwargs,  # type: ignore[arg-type]
        )
        if result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode, argv, result.stdout, f"{result.stderr}\n{result.stdout}"
            )
        return result

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            from pgserver.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            self.run_as = "pgserver"
            ensure_user_exists(self.run_as)
            ensure_prefix_permissions(self.root)
            ensure_prefix_permissions(self.bin_dir)
            ensure_folder_permissions(self.bin_dir, 0o055)
            ensure_folder_permissions(self.bin_dir.parent / "lib", 0o044)
            shutil.chown(self.root, user=self.run_as)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.run_as:
            shutil.chown(pwfile, user=self.run_as)
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--pwfile",
            str(pwfile),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
            timeout=60,
        )
        pwfile.unlink()

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "start",
            timeout=60,
        )

    def stop(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "stop")

    def connect(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.dsn(database), autocommit=True)

    def create_database(self, name: str | None = None) -> str:
        """A fresh, empty database; returns its name."""
        name = name or f"db_{secrets.token_hex(4)}"
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def sql(self, database: str, query: str) -> list[tuple[object, ...]]:
        with self.connect(database) as conn:
            cur = conn.execute(query)
            return list(cur.fetchall()) if cur.description else []


def private_root() -> Path:
    """A fresh folder for a server's files, outside pytest's temp folders.

    pytest resets ``/tmp/pytest-of-USER`` to mode 0700 whenever a session starts
    and removes all but its last three session folders, so a server running as
    another user (root in a container runs it as ``pgserver``) could lose access
    to its data directory, or the directory itself, to a concurrent pytest run.
    """
    import atexit
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="rollback-console-pg-"))
    root.chmod(0o755)
    atexit.register(shutil.rmtree, root, True)
    return root


def start_server(root: Path | None = None) -> PgServer:
    """Init and start a server (about a second); stop it with ``server.stop()``.

    ``root`` None: a private folder removed at exit (see ``private_root``).
    """
    root = private_root() / "pg" if root is None else root
    password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(24))
    server = PgServer(root=root, port=_free_port(), password=password, bin_dir=pg_bin_dir())
    server.init()
    for attempt in range(3):
        try:
            server.start()
            break
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise
            server.port = _free_port()  # lost a race for the port
            time.sleep(0.1)
    return server


def running_server(root: Path) -> Iterator[PgServer]:
    """Generator for a session fixture: start, yield, stop."""
    server = start_server(root)
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()


# --------------------------------------------------------------------------- shared per process

#: The Alembic project under tests/ (four revisions; 0003's downgrade drops users.nickname).
ALEMBIC_INI = Path(__file__).resolve().parent / "alembic_project" / "alembic.ini"
#: The database every test database is copied from: migrated to head, with rows.
TEMPLATE = "template_head"

_shared: dict[str, object] = {}


def shared_server(_unused: Path | None = None) -> PgServer:
    """One server for the whole test process (several modules share it), started on first use.

    Stopped when the process exits; its files are in a private folder (``private_root``).
    """
    server = _shared.get("server")
    if isinstance(server, PgServer):
        return server
    import atexit

    server = start_server()
    _shared["server"] = server
    atexit.register(_stop_quietly, server)
    _make_template(server)
    return server


def _stop_quietly(server: PgServer) -> None:
    with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        server.stop()


def migrate(server: PgServer, database: str, revision: str = "head") -> None:
    """``alembic upgrade REVISION`` in a child process (keeps Alembic's logging out of ours)."""
    import sys

    env = dict(os.environ, DATABASE_URL=server.dsn(database))
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "upgrade", revision],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )


def _make_template(server: PgServer) -> None:
    server.create_database(TEMPLATE)
    migrate(server, TEMPLATE)
    server.sql(
        TEMPLATE,
        "INSERT INTO projects (name) VALUES ('alpha'), ('beta');"
        "INSERT INTO users (email, nickname) VALUES ('a@example.com', 'ann'), "
        "('b@example.com', 'bob'), ('c@example.com', 'cy');"
        "INSERT INTO audit_log (message) VALUES ('created');",
    )


def database_at_head(server: PgServer) -> str:
    """A fresh database copied from the template: schema at 0004, 2 projects, 3 users."""
    name = f"db_{secrets.token_hex(4)}"
    with server.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    return name


# --------------------------------------------------------------------------- demo sandbox


#: Demo release -> how many of the test project's migrations it ships.
RELEASE_MIGRATIONS = {"v1.2.8": 1, "v1.2.9": 2, "v1.3.0": 4}


def add_database(config_path: Path, releases: Path, server: PgServer, env: str) -> None:
    """Give the demo sandbox's service a database section and each release its scripts.

    v1.2.9 ships migrations up to 0002 and v1.3.0 up to 0004, so the console
    can tell which schema a rollback target expects.  The DSN is read from
    ``$env``; pg_dump / pg_restore are pgserver's (they match its server).
    """
    import tomllib

    import tomli_w

    scripts = sorted((ALEMBIC_INI.parent / "versions").glob("0*.py"))
    for release, count in RELEASE_MIGRATIONS.items():
        folder = releases / release / "db"
        (folder / "versions").mkdir(parents=True, exist_ok=True)
        shutil.copy(ALEMBIC_INI, folder / "alembic.ini")
        shutil.copy(ALEMBIC_INI.parent / "env.py", folder / "env.py")
        for script in scripts[:count]:
            shutil.copy(script, folder / "versions" / script.name)
    data = tomllib.loads(config_path.read_text())
    data["services"][0]["verify_window_s"] = 2
    data["services"][0]["database"] = {
        "dsn_env": env,
        "alembic_ini": str(releases / "v1.3.0" / "db" / "alembic.ini"),
        "pg_bin_dir": str(server.bin_dir),
        "command_timeout_s": 60,
        "checks": [
            {"name": "users", "sql": "SELECT count(*) FROM users"},
            {"name": "projects", "sql": "SELECT count(*) FROM projects"},
        ],
    }
    config_path.write_text(tomli_w.dumps(data))
