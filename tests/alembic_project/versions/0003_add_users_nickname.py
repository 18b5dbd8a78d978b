"""add users.nickname, drop users.legacy_code

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("nickname", sa.String(50)))
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("legacy_code")


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("legacy_code", sa.String(20)))
    op.drop_column("users", "nickname")
