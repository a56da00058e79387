"""The audit log of back-office actions: who changed what, when, with the state before and after.

A reference-ish table keyed by `audit_id` (time-ordered ids, so the key is also the listing order). It is
append-only: nothing in the service updates or deletes a row. `before` and `after` are JSON documents of
the changed thing, never secrets (an API key's hash or value is never written here).
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

from loyalty_service.db.tables import metadata

__all__ = ["audit_events"]

audit_events = Table(
    "audit_events",
    metadata,
    Column("audit_id", Text, primary_key=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("principal_kind", Text, nullable=False),
    Column("credential_id", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("subject_type", Text, nullable=False),
    Column("subject_id", Text, nullable=False),
    Column("before", JSONB, nullable=True),
    Column("after", JSONB, nullable=True),
    Index(None, "subject_type", "subject_id", "audit_id"),
    Index(None, "occurred_at"),
)
