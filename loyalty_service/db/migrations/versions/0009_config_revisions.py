"""configuration revisions: program_settings.draws_revision, token_rules_revision and ladders_revision

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

_COLUMNS = ("draws_revision", "token_rules_revision", "ladders_revision")
_COUNTED = {
    "draws_revision": "draws",
    "token_rules_revision": "play_token_rules",
    "ladders_revision": "tier_ladders",
}


def upgrade() -> None:
    for name in _COLUMNS:
        op.add_column(
            "program_settings", sa.Column(name, sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
    # Existing configuration counts as changes already made: 0 must mean "none yet". A feature branch
    # migrated after this one creates its table empty, so 0 is right for it.
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    for column, table in _COUNTED.items():
        if table in tables:
            op.execute(f"update program_settings set {column} = (select count(*) from {table})")


def downgrade() -> None:
    for name in reversed(_COLUMNS):
        op.drop_column("program_settings", name)
