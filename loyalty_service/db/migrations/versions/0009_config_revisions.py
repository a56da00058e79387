"""configuration revisions: program_settings.draws_revision and token_rules_revision

Revision ID: 0009_config_revisions
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_config_revisions"
down_revision = "0001"
branch_labels = ("config_revisions",)
depends_on = None

_COLUMNS = ("draws_revision", "token_rules_revision")


def upgrade() -> None:
    for name in _COLUMNS:
        op.add_column(
            "program_settings", sa.Column(name, sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    for name in reversed(_COLUMNS):
        op.drop_column("program_settings", name)
