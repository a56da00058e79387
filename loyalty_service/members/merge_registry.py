"""Where features plug their member rows into the merge of a provisional member (LinkIdentifier).

When a card first seen at a till is linked by a real member, `members.linking` merges the provisional
member into the real one: the ledger moves first (`ledger.api.merge_member`: lots, purchases, refunds,
spends and a MERGE_OUT/MERGE_IN pair of entries), then every registered feature moves its own rows. A
feature that keeps member-scoped state that must follow the card (vouchers, play tokens, ...) registers
once, at import time of a module its servicer imports (so it is registered whenever the server runs),
an async mover:

    from loyalty_service.members import merge_registry

    async def _move(conn: AsyncConnection, *, source: str, target: str, now: datetime) -> None:
        ...  # re-home the source member's rows onto the target, in its own tables only

    merge_registry.register("rewards", _move)

Movers run inside the LinkIdentifier transaction, after the ledger merge, in registration order (a
name registered again keeps its place), with both members' accounts already locked in member-id order
(the one lock order of every multi-member change). A mover raises to abort the whole merge.

Balances move as a pair of entries (out of the source, into the target) so that each member's balance
still equals the sum of its entries; history (entries, plays, ...) stays with the source.

Not moved (limitations):
- draw entries (`draw_entries`, `draw_members`, `draw_winners`): an entry's `member_ref` is an HMAC of
  the member id published in the frozen entry list, so entries stay with the provisional member and a
  draw pays whoever holds them (the closed provisional member);
- history of games, passports, challenges and leaderboards (plays, stamps, progress, scores) stays with
  the provisional member.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["Mover", "move_features", "register", "registered"]

_FEATURES_MAX = 64


class Mover(Protocol):
    def __call__(
        self, conn: AsyncConnection, *, source: str, target: str, now: datetime
    ) -> Awaitable[None]: ...


_registry: dict[str, Mover] = {}


def register(name: str, mover: Mover) -> None:
    """Register a feature's mover under `name`; registering a name again replaces it (same place)."""
    assert name.isidentifier(), f"feature name {name!r}: lower_snake_case"
    assert len(_registry) < _FEATURES_MAX or name in _registry, "too many features registered"
    _registry[name] = mover


def registered() -> Mapping[str, Mover]:
    """The movers by name, in registration order (the order they run)."""
    return dict(_registry)


async def move_features(conn: AsyncConnection, *, source: str, target: str, now: datetime) -> list[str]:
    """Run every registered mover in registration order; returns their names."""
    assert source != target, "a member is not merged into itself"
    names = list(_registry)
    for name in names:
        await _registry[name](conn, source=source, target=target, now=now)
    return names
