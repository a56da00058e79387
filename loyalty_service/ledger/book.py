"""One member's ledger inside one transaction: the only code that moves points.

`Book.open` locks the member's `accounts` row (every write to a member takes that lock first, so the
lots read next are current and two spends cannot both see the same points), loads the open lots and
catches up with time as the lots protocol asks: release due pending lots (paying any debt), then post
expiry. Each change then updates the lots and the in-memory head, and `_post` writes the entry (with
`balance_after`) and its `points_changed` event at once. `close` catches up once more (a cancelled spend
may put points back into an expired lot) and saves the head with the times the maintenance job must
look at the member again.

State kept, and checked by `ledger.check`:
    available = sum(remaining of released lots) - debt,   pending = sum(remaining of unreleased lots),
    debt = max(0, -available), and a debt never sits beside released lots holding points.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from loyalty.v1 import events_pb2, ledger_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import metrics
from loyalty_service.db import fast
from loyalty_service.errors import InsufficientPoints, NotFound
from loyalty_service.events import outbox
from loyalty_service.kernel.ids import new_id
from loyalty_service.ledger import chain, store
from loyalty_service.ledger import lots as lot_rules
from loyalty_service.ledger.lots import Lot, Take
from loyalty_service.ledger.messages import EntryType, balance_message, entry_message
from loyalty_service.ledger.store import AccountRow, EntryRow, StoredLot, chained

__all__ = ["HELD_UNTIL_RELEASED", "Book", "Cause"]

SYSTEM_CREDENTIAL = "system"
"""credential_id of entries no caller asked for (expiry run by the maintenance job)."""
HELD_UNTIL_RELEASED = datetime(9999, 1, 1, tzinfo=UTC)
"""available_at of a lot that stays pending until `Book.release_now` (a click-and-collect order)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Cause:
    """What an entry records about why it happened."""

    channel: str
    store_id: str = ""
    source_type: str
    source_ref: str
    reason: str = ""
    occurred_at: datetime


class Book:
    def __init__(
        self,
        conn: AsyncConnection,
        account: AccountRow,
        lots: list[StoredLot],
        *,
        now: datetime,
        credential_id: str,
    ) -> None:
        self._conn = conn
        self.account = account
        self.lots = {stored.lot.lot_id: stored for stored in lots}
        self.now = now
        self.credential_id = credential_id
        self.entries: list[EntryRow] = []
        self._lot_writes: dict[str, fast.Write] = {}
        """Lot rows changed since the last statement, written with the next entry or the head (one
        round trip for a change); by lot id, so two changes of one lot write its last state once."""
        self._other_writes: list[fast.Write] = []
        """Takes not written yet, likewise."""
        self._lot_inserts: set[str] = set()
        """Lots among `_lot_writes` that are new (their pending write is the insert)."""
        self._head_writes: list[fast.Write] = []
        """Rows of the caller sent with the head at `close` (`write_with_head`)."""

    @classmethod
    async def open(cls, conn: AsyncConnection, member_id: str, *, now: datetime, credential_id: str) -> Book:
        """Lock the member's ledger, load its open lots and bring them up to `now`."""
        found = await store.locked_account_with_lots(conn, member_id)  # a batch locked it already
        if found is None:
            account = await store.lock_account(conn, member_id)
            if account is None:
                raise NotFound("member", member_id)
            found = account, await store.open_lots(conn, member_id)
        book = cls(conn, found[0], found[1], now=now, credential_id=credential_id)
        await book.catch_up()
        return book

    @property
    def member_id(self) -> str:
        return self.account.member_id

    @property
    def debt(self) -> int:
        return max(0, -self.account.available)

    def live_lots(self) -> list[Lot]:
        return [stored.lot for stored in self.lots.values() if stored.lot.remaining > 0]

    def balance(self) -> ledger_pb2.Balance:
        return balance_message(
            member_id=self.member_id,
            available=self.account.available,
            pending=self.account.pending,
            lifetime_earned=self.account.lifetime_earned,
            next_expiry=lot_rules.next_expiry(self.live_lots(), self.now),
        )

    def add_lifetime(self, points: int) -> None:
        """Lifetime earned counts what purchases earned net of refund reversals (not adjustments)."""
        self.account = replace(self.account, lifetime_earned=self.account.lifetime_earned + points)

    def write_with_head(self, write: fast.Write) -> None:
        """Send `write` with the head update at `close`, in the same statement: for a row of this change
        (a purchase, a tier contribution) that nothing reads back in this transaction before then, and
        that no other write of the change touches. Saves its round trip; a rollback drops it too."""
        self._head_writes.append(write)

    # --- time ------------------------------------------------------------------------------------

    async def catch_up(self) -> tuple[int, int]:
        """Release due pending lots, then expire due lots, and write the lots; (released, expired)."""
        counts = await self._catch_up()
        await self._flush()
        return counts

    async def _catch_up(self) -> tuple[int, int]:
        """Release due pending lots, then expire due lots; returns (lots released, lots expired)."""
        unreleased = [stored.lot for stored in self.lots.values() if not stored.released]
        released, debt = lot_rules.release_and_settle(unreleased, self.now, debt=self.debt)
        for lot in released:
            before = self.lots[lot.lot_id].lot.remaining
            self._move(available=before, pending=-before)
            await self._save_lot(lot, released=True)
        assert debt == self.debt, "release paid the debt differently from the head"
        expiring = lot_rules.expiry_due(self.live_lots(), self.now)
        for take in expiring:
            stored = self.lots[take.lot_id]
            self._take(stored, take.points)
            await self._save_lot(replace(stored.lot, remaining=0), released=stored.released)
            assert stored.lot.expires_at is not None
            cause = Cause(
                channel="",
                source_type="expiry",
                source_ref=stored.entry_id,
                occurred_at=stored.lot.expires_at,
            )
            await self._post(EntryType.EXPIRE, -take.points, cause, entry_id=new_id("ent"))
        return len(released), len(expiring)

    async def release_now(self, lot_id: str) -> int:
        """Make a pending lot spendable at once (paying any debt first); returns the points it held."""
        stored = self.lots.get(lot_id)
        if stored is None or stored.released or stored.lot.remaining == 0:
            return 0
        self.lots[lot_id] = StoredLot(replace(stored.lot, available_at=self.now), False, stored.entry_id)
        await store.set_available_at(self._conn, member_id=self.member_id, lot_id=lot_id, at=self.now)
        await self.catch_up()
        return stored.lot.remaining

    # --- credits ---------------------------------------------------------------------------------

    async def credit(
        self,
        entry_type: EntryType,
        points: int,
        cause: Cause,
        *,
        earned_at: datetime,
        available_at: datetime,
        expires_at: datetime | None,
        lifetime: bool = False,
        preceded_by: events_pb2.EventPayload | None = None,
    ) -> tuple[EntryRow, str]:
        """A new lot of `points` (pending until `available_at`) and its entry; returns (entry, lot id).
        `preceded_by`: an event of the caller numbered just before the entry's, in the same statement."""
        assert points > 0, "a credit credits something"
        entry_id, lot_id = new_id("ent"), new_id("lot")
        released = available_at <= self.now
        remaining = points
        if released:
            remaining, _ = lot_rules.settle_debt(points, self.debt)
            self._move(available=points)
        else:
            self._move(pending=points)
        lot = Lot(
            lot_id=lot_id,
            points=points,
            remaining=remaining,
            earned_at=earned_at,
            available_at=available_at,
            expires_at=expires_at,
        )
        stored = StoredLot(lot, released, entry_id)
        self.lots[lot_id] = stored
        self._lot_writes[lot_id] = store.lot_insert(member_id=self.member_id, stored=stored)
        self._lot_inserts.add(lot_id)
        if lifetime:
            self.account = replace(self.account, lifetime_earned=self.account.lifetime_earned + points)
        entry = await self._post(entry_type, points, cause, entry_id=entry_id, preceded_by=preceded_by)
        return entry, lot_id

    async def put_back(
        self, takes: list[Take], cause: Cause, *, entry_type: EntryType = EntryType.SPEND_CANCEL
    ) -> EntryRow:
        """Return a cancelled debit's points to the lots they came from (paying any debt first)."""
        missing = [t.lot_id for t in takes if t.lot_id not in self.lots]
        for stored in await store.lots_by_id(self._conn, self.member_id, missing):
            self.lots[stored.lot.lot_id] = stored
        for take in takes:
            stored = self.lots[take.lot_id]
            back = take.points
            if stored.released:
                back, _ = lot_rules.settle_debt(take.points, self.debt)
                self._move(available=take.points)
            else:
                self._move(pending=take.points)
            await self._save_lot(
                replace(stored.lot, remaining=stored.lot.remaining + back), released=stored.released
            )
        total = sum(t.points for t in takes)
        return await self._post(entry_type, total, cause, entry_id=new_id("ent"))

    # --- debits ----------------------------------------------------------------------------------

    async def spend(self, points: int, cause: Cause) -> EntryRow:
        """Oldest-expiring points first; never below zero (InsufficientPoints)."""
        try:
            takes = lot_rules.allocate_spend(self.live_lots(), points, self.now, debt=self.debt)
        except lot_rules.InsufficientPoints as error:
            raise InsufficientPoints(
                member_id=self.member_id, available=error.available, requested=points
            ) from error
        return await self._debit(EntryType.SPEND, points, takes, 0, cause)

    async def debit(self, entry_type: EntryType, points: int, cause: Cause) -> EntryRow:
        """As `spend`, under another entry type (REDEEM, GAME_PLAY, DRAW_ENTRY, ...): never below zero."""
        try:
            takes = lot_rules.allocate_spend(self.live_lots(), points, self.now, debt=self.debt)
        except lot_rules.InsufficientPoints as error:
            raise InsufficientPoints(
                member_id=self.member_id, available=error.available, requested=points
            ) from error
        return await self._debit(entry_type, points, takes, 0, cause)

    async def reverse(self, points: int, cause: Cause, *, own_lot_id: str | None) -> EntryRow:
        """A refund reversal: the purchase's own lot, then pending, then available; the rest is debt."""
        takes, rest = lot_rules.allocate_reversal(
            self.live_lots(), points, own_lot_id=own_lot_id, now=self.now
        )
        return await self._debit(EntryType.REFUND_REVERSAL, points, takes, rest, cause)

    async def deduct(self, points: int, cause: Cause) -> EntryRow:
        """A negative adjustment: spendable points first, then pending ones; the rest is debt."""
        covered = min(points, max(0, lot_rules.spendable(self.live_lots(), self.now, debt=self.debt)))
        takes: tuple[Take, ...] = ()
        if covered:
            takes = lot_rules.allocate_spend(self.live_lots(), covered, self.now, debt=self.debt)
        left = lot_rules.apply_takes(self.live_lots(), takes)
        more, rest = lot_rules.allocate_reversal(left, points - covered, own_lot_id=None, now=self.now)
        return await self._debit(EntryType.ADJUST, points, _merge_takes((*takes, *more)), rest, cause)

    async def _debit(
        self, entry_type: EntryType, points: int, takes: tuple[Take, ...], rest: int, cause: Cause
    ) -> EntryRow:
        entry_id = new_id("ent")
        for take in takes:
            stored = self.lots[take.lot_id]
            self._take(stored, take.points)
            await self._save_lot(
                replace(stored.lot, remaining=stored.lot.remaining - take.points), released=stored.released
            )
        self._move(available=-rest)
        if takes:
            self._other_writes.append(
                store.takes_insert(member_id=self.member_id, entry_id=entry_id, takes=takes)
            )
        return await self._post(entry_type, -points, cause, entry_id=entry_id)

    # --- merge ------------------------------------------------------------------------------------

    async def empty_into(self, target: Book, cause_out: Cause, cause_in: Cause) -> int:
        """Move this member's points (and debt) to `target`; the caller moves the rows. Returns the points."""
        points = self.account.available + self.account.pending
        target.lots.update(self.lots)
        target._move(available=self.account.available, pending=self.account.pending)
        target.account = replace(
            target.account, lifetime_earned=target.account.lifetime_earned + self.account.lifetime_earned
        )
        self.lots = {}
        self._move(available=-self.account.available, pending=-self.account.pending)
        self.account = replace(self.account, lifetime_earned=0)
        if points:
            await self._post(EntryType.MERGE_OUT, -points, cause_out, entry_id=new_id("ent"))
        entry_id = new_id("ent")
        # One member's debt beside the other's points: pay it, so no debt sits beside spendable lots.
        released_points = sum(s.lot.remaining for s in target.lots.values() if s.released)
        pay = min(released_points, target.debt)
        if pay:
            takes = lot_rules.allocate_spend(target.live_lots(), pay, target.now, debt=0)
            for take in takes:
                stored = target.lots[take.lot_id]
                await target._save_lot(
                    replace(stored.lot, remaining=stored.lot.remaining - take.points),
                    released=stored.released,
                )
            target._other_writes.append(
                store.takes_insert(member_id=target.member_id, entry_id=entry_id, takes=takes)
            )
        if points:
            await target._post(EntryType.MERGE_IN, points, cause_in, entry_id=entry_id)
        await self._flush()
        await target._flush()
        return points

    # --- writing ----------------------------------------------------------------------------------

    def _move(self, *, available: int = 0, pending: int = 0) -> None:
        self.account = replace(
            self.account, available=self.account.available + available, pending=self.account.pending + pending
        )

    def _take(self, stored: StoredLot, points: int) -> None:
        if stored.released:
            self._move(available=-points)
        else:
            self._move(pending=-points)

    async def _save_lot(self, lot: Lot, *, released: bool) -> None:
        stored = self.lots[lot.lot_id]
        self.lots[lot.lot_id] = StoredLot(lot, released, stored.entry_id)
        if lot.lot_id in self._lot_inserts:  # not written yet: insert it as it is now
            self._lot_writes[lot.lot_id] = store.lot_insert(
                member_id=self.member_id, stored=self.lots[lot.lot_id]
            )
            return
        self._lot_writes[lot.lot_id] = store.lot_save(
            member_id=self.member_id, lot_id=lot.lot_id, remaining=lot.remaining, released=released
        )

    def _take_writes(self) -> list[fast.Write]:
        writes = [*self._lot_writes.values(), *self._other_writes]
        self._lot_writes, self._other_writes, self._lot_inserts = {}, [], set()
        return writes

    async def _flush(self) -> None:
        """Write what is still pending (no-op when a statement already carried it)."""
        await store.run_writes(self._conn, self._take_writes(), member_id=self.member_id)

    async def _post(
        self,
        entry_type: EntryType,
        points: int,
        cause: Cause,
        *,
        entry_id: str,
        preceded_by: events_pb2.EventPayload | None = None,
    ) -> EntryRow:
        self.account = replace(self.account, entry_seq=self.account.entry_seq + 1)
        entry = EntryRow(
            member_id=self.member_id,
            entry_seq=self.account.entry_seq,
            entry_id=entry_id,
            entry_type=entry_type.value,
            points=points,
            balance_after=self.account.available + self.account.pending,
            channel=cause.channel,
            store_id=cause.store_id,
            source_type=cause.source_type,
            source_ref=cause.source_ref,
            reason=cause.reason,
            credential_id=self.credential_id,
            occurred_at=cause.occurred_at,
            recorded_at=self.now,
        )
        # The hash chain (ledger.chain): the previous hash is on the locked account row, so no read.
        entry = replace(entry, entry_hash=chain.entry_hash(self.account.last_entry_hash, chained(entry)))
        self.account = replace(self.account, last_entry_hash=entry.entry_hash)
        metrics.count_points(self._conn, entry.entry_type, points)
        self.entries.append(entry)
        changed = events_pb2.PointsChanged(entry=entry_message(entry), balance=self.balance())
        # The lots and takes of this change, the entry and its event: one statement.
        await outbox.append(
            self._conn,
            member_id=self.member_id,
            occurred_at=self.now,
            payload=events_pb2.EventPayload(points_changed=changed),
            together_with=[*self._take_writes(), store.entry_insert(entry)],
            preceded_by=() if preceded_by is None else (preceded_by,),
        )
        return entry

    async def close(self) -> None:
        """Catch up once more and save the head, with the next times maintenance must look at it."""
        await self._catch_up()  # its lot rows go with the head
        release_times = [s.lot.available_at for s in self.lots.values() if not s.released]
        expiry_times = [lot.expires_at for lot in self.live_lots() if lot.expires_at is not None]
        await store.save_account(
            self._conn,
            account=self.account,
            next_release_at=min(release_times, default=None),
            next_expiry_at=min(expiry_times, default=None),
            now=self.now,
            together_with=[*self._take_writes(), *self._head_writes],
        )
        self._head_writes = []


def _merge_takes(takes: tuple[Take, ...]) -> tuple[Take, ...]:
    """One take per lot (lot_takes is keyed by entry and lot)."""
    merged: dict[str, int] = {}
    for take in takes:
        merged[take.lot_id] = merged.get(take.lot_id, 0) + take.points
    return tuple(Take(lot_id, points) for lot_id, points in merged.items())
