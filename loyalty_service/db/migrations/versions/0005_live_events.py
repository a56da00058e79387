"""live events: the outbox's global cursor and the indexes of the programme figures

Revision ID: 0005_live_events
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_live_events"
down_revision = "0001"
branch_labels = ("live_events",)
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("event_id", sa.BigInteger(), sa.Identity(always=True), nullable=False))
    op.create_index("ix_events_event_id", "events", ["event_id"])
    op.create_index("ix_ledger_entries_occurred_at", "ledger_entries", ["occurred_at"])
    op.create_index("ix_purchases_occurred_at", "purchases", ["occurred_at"])
    op.create_index("ix_members_created_at", "members", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_members_created_at", table_name="members")
    op.drop_index("ix_purchases_occurred_at", table_name="purchases")
    op.drop_index("ix_ledger_entries_occurred_at", table_name="ledger_entries")
    op.drop_index("ix_events_event_id", table_name="events")
    op.drop_column("events", "event_id")
