"""ledger hash chain: ledger_entries.entry_hash, accounts.last_entry_hash, recorded_at set by the service

Entries written before this revision are chained here, in sequence order per member, so `check` verifies
every member's whole history afterwards.

Revision ID: 0003_ledger_chain
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from loyalty_service.ledger.chain import GENESIS, ChainedEntry, entry_hash

revision = "0003_ledger_chain"
down_revision = "0001"
branch_labels = ("ledger_chain",)
depends_on = None

_FIELDS = (
    "member_id",
    "entry_seq",
    "entry_id",
    "entry_type",
    "points",
    "balance_after",
    "channel",
    "store_id",
    "source_type",
    "source_ref",
    "reason",
    "occurred_at",
    "recorded_at",
    "credential_id",
)


def _chain_existing_entries() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(f"select {', '.join(_FIELDS)} from ledger_entries order by member_id, entry_seq")
    ).mappings()
    member, previous = None, GENESIS
    heads: dict[str, bytes] = {}
    for row in rows.all():
        if row["member_id"] != member:
            member, previous = row["member_id"], GENESIS
        previous = entry_hash(previous, ChainedEntry(**row))
        bind.execute(
            sa.text("update ledger_entries set entry_hash = :h where member_id = :m and entry_seq = :s"),
            {"h": previous, "m": member, "s": row["entry_seq"]},
        )
        heads[str(member)] = previous
    for member_id, head in heads.items():
        bind.execute(
            sa.text("update accounts set last_entry_hash = :h where member_id = :m"),
            {"h": head, "m": member_id},
        )


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column(
            "last_entry_hash",
            sa.LargeBinary(),
            server_default=sa.text("decode(repeat('00', 32), 'hex')"),
            nullable=False,
        ),
    )
    op.add_column("ledger_entries", sa.Column("entry_hash", sa.LargeBinary(), nullable=True))
    op.alter_column("ledger_entries", "recorded_at", server_default=None)
    _chain_existing_entries()
    op.alter_column("ledger_entries", "entry_hash", nullable=False)


def downgrade() -> None:
    op.alter_column("ledger_entries", "recorded_at", server_default=sa.text("now()"))
    op.drop_column("ledger_entries", "entry_hash")
    op.drop_column("accounts", "last_entry_hash")
