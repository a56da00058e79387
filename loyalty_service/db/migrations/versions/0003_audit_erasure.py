"""audit log of back-office actions; members may be erased (GDPR)

Revision ID: 0003_audit_erasure
Revises: 0003_ledger_chain
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_audit_erasure"
down_revision = "0003_ledger_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("audit_id", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("principal_kind", sa.Text(), nullable=False),
        sa.Column("credential_id", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("subject_type", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("audit_id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_occurred_at"), "audit_events", ["occurred_at"])
    op.create_index(
        op.f("ix_audit_events_subject_type_subject_id_audit_id"),
        "audit_events",
        ["subject_type", "subject_id", "audit_id"],
    )
    op.drop_constraint(op.f("ck_members_status"), "members", type_="check")
    op.create_check_constraint(
        op.f("ck_members_status"), "members", "status in ('active', 'provisional', 'closed', 'erased')"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_members_status"), "members", type_="check")
    op.create_check_constraint(
        op.f("ck_members_status"), "members", "status in ('active', 'provisional', 'closed')"
    )
    op.drop_index(op.f("ix_audit_events_subject_type_subject_id_audit_id"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_occurred_at"), table_name="audit_events")
    op.drop_table("audit_events")
