"""The database side of a rollback (PostgreSQL, Alembic or a migration command): one
concern a module, ``DatabaseProvider`` (``provider.py``) the facade the console uses."""

from __future__ import annotations

from providers.database.pg import DsnError
from providers.database.provider import (
    BACKUP_OP,
    CHECKS_OP,
    OPS,
    RESTORE_OP,
    DatabaseProvider,
)
from providers.database.schema import SCHEMA_OP, SchemaPlan

__all__ = [
    "BACKUP_OP",
    "CHECKS_OP",
    "OPS",
    "RESTORE_OP",
    "SCHEMA_OP",
    "DatabaseProvider",
    "DsnError",
    "SchemaPlan",
]
