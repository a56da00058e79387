"""What a batch of ledger writes (`Runtime.write_each`: an offline upload, a group commit) reads and
claims ahead in each chunk's transaction, so that its calls find their rows there instead of reading
them one by one (`db.read_ahead`). A call that finds none reads for itself, exactly as alone."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.ledger import records, store
from loyalty_service.ledger.purchases import PurchaseInput
from loyalty_service.members import api as members_api

__all__ = ["LedgerBatch", "PurchaseBatch"]


class LedgerBatch:
    """Calls that each change one member's ledger (spends): the chunk's ledgers locked and read, and
    its members read, ahead."""

    def __init__(self, members: Sequence[members_api.MemberKey]) -> None:
        self._keys = members
        self.members: dict[members_api.MemberKey, str] = {}
        """The member id of each reference read so far that names a member."""

    async def before_chunk(self, conn: AsyncConnection, part: Sequence[int]) -> None:
        """Lock the chunk's ledgers in member id order (so that concurrent batches cannot deadlock)
        and read, in one statement each, what every call would read on its own: its member (which says
        whether a referral may be pending) and its ledger."""
        keys = [self._keys[i] for i in part]
        await store.lock_accounts(conn, keys)
        self.members.update(await members_api.read_ahead(conn, keys))

    async def before_calls(self, conn: AsyncConnection, fresh: Sequence[int]) -> None:
        """Nothing more to claim ahead."""


class PurchaseBatch(LedgerBatch):
    """Purchases: as `LedgerBatch`, and their orders claimed ahead."""

    def __init__(self, purchases: Sequence[PurchaseInput]) -> None:
        super().__init__([purchase.member for purchase in purchases])
        self._purchases = purchases

    async def before_calls(self, conn: AsyncConnection, fresh: Sequence[int]) -> None:
        """Claim the orders of the purchases about to be recorded, in one statement (`record_purchase`
        finds its claim); purchases of unknown members claim their own."""
        chosen = [self._purchases[i] for i in fresh]
        await records.claim_orders(
            conn,
            [
                ((p.channel.value, p.store_id, p.order_id), self.members[p.member])
                for p in chosen
                if p.member in self.members
            ],
        )
