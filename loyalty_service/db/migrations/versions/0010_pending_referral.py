"""members.pending_referral: set while the member's referral (journeys) is pending

Revision ID: 0010_pending_referral
Revises: 0008_journeys
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_pending_referral"
down_revision = "0008_journeys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    column: sa.Column[bool] = sa.Column(
        "pending_referral", sa.Boolean(), nullable=False, server_default=sa.text("false")
    )
    op.add_column("members", column)
    op.execute(
        "update members set pending_referral = true"
        " where member_id in (select member_id from referrals where status = 'pending')"
    )


def downgrade() -> None:
    op.drop_column("members", "pending_referral")
