"""Indexes of the live-events feature on core tables (docs/decisions/0005-live-events.md).

No tables of its own: the programme feed reads the outbox by `event_id`, and the programme figures are
computed from the ledger, the purchases and the members by time range, which these indexes make cheap.
"""

from __future__ import annotations

from sqlalchemy import Index

from loyalty_service.db.tables import events, ledger_entries, members, purchases

__all__ = ["INDEXES"]

INDEXES = (
    Index("ix_events_event_id", events.c.event_id),
    Index("ix_ledger_entries_occurred_at", ledger_entries.c.occurred_at),
    Index("ix_purchases_occurred_at", purchases.c.occurred_at),
    Index("ix_members_created_at", members.c.created_at),
)
