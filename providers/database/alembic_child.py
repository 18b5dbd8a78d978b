"""The child interpreter that changes a schema: ``python -m providers.database.alembic_child``.

``alembic.command.downgrade`` / ``stamp`` run here, not in the console's
process, so the project's ``env.py`` and its logging set-up never touch the
console, its output streams line by line, and a time limit can stop it
(``migrations.runner_argv`` builds the argv).  The DSN is read from the
environment variable named on the command line, never from the argv.
Nothing in the package imports this module: ``-m`` runs it fresh.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Child entry point: run ``alembic.command.downgrade`` / ``stamp`` on ``$DSN_ENV``.

    Alembic's own log lines ("Running downgrade 0003 -> 0002, ...") go to
    stdout; an error is one line on stderr and exit 1.
    """
    import logging

    parser = argparse.ArgumentParser(prog="python -m providers.database.alembic_child")
    parser.add_argument("--ini", required=True)
    parser.add_argument("--dsn-env", required=True)
    parser.add_argument("operation", choices=("downgrade", "stamp"))
    parser.add_argument("revision")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")
    logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)

    from providers.database.pg import mask, read_dsn

    secrets: tuple[str, ...] = ()
    try:
        dsn = read_dsn(args.dsn_env)
        secrets = dsn.secrets
        _run_command(Path(args.ini), dsn.raw, dsn.sqlalchemy_url(), args.operation, args.revision)
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: {type(exc).__name__}: {mask(message, secrets)}", file=sys.stderr)
        return 1
    return 0


def _run_command(ini: Path, raw_dsn: str, url: str, operation: str, revision: str) -> None:
    import psycopg
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    config = Config(str(ini))
    # ConfigParser interpolation: a literal % in the URL must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(raw_dsn))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            if operation == "downgrade":
                command.downgrade(config, revision)
            else:
                command.stamp(config, revision)
    finally:
        engine.dispose()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
