"""The ledger's second balance: play tokens, earned by purchases and prizes, spent on games.

Same invariants as points: the balance (`play_token_balances`) equals the sum of the member's
`play_token_entries` (`check_play_tokens`), and never goes below zero (a conditional update, backed by a
CHECK constraint). Every move writes a `play_tokens_changed` event in the caller's transaction.
A move is unique per (member, source_type, source_ref): a replayed grant is a no-op.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from loyalty.v1 import events_pb2, games_pb2
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.db import fast
from loyalty_service.db.tables_games import play_token_balances, play_token_entries
from loyalty_service.errors import FailedPrecondition
from loyalty_service.events import outbox
from loyalty_service.kernel.ids import new_id
from loyalty_service.ledger.tokens import TokenFacts, TokenRule, tokens_for_purchase
from loyalty_service.members import merge_registry
from loyalty_service.program import revisions

__all__ = [
    "InsufficientPlayTokens",
    "check_play_tokens",
    "grant_purchase_tokens",
    "move_play_tokens",
    "play_token_balance",
    "token_rule",
]


class InsufficientPlayTokens(FailedPrecondition):
    reason = "INSUFFICIENT_PLAY_TOKENS"

    def __init__(self, *, member_id: str, balance: int, requested: int) -> None:
        super().__init__(
            f"play tokens {balance} < requested {requested}",
            metadata={"member_id": member_id, "balance": balance, "requested": requested},
        )


async def play_token_balance(conn: AsyncConnection, member_id: str) -> int:
    value = (
        await conn.execute(
            select(play_token_balances.c.balance).where(play_token_balances.c.member_id == member_id)
        )
    ).scalar_one_or_none()
    return int(value or 0)


async def move_play_tokens(
    conn: AsyncConnection,
    *,
    member_id: str,
    tokens: int,
    source_type: str,
    source_ref: str,
    now: datetime,
) -> int | None:
    """Add (tokens > 0) or take (tokens < 0) play tokens; returns the new balance.

    None when this (source_type, source_ref) already moved tokens (idempotent replay). Raises
    InsufficientPlayTokens rather than go below zero.
    """
    assert tokens != 0, "a move moves something"
    seen = await conn.execute(
        select(play_token_entries.c.entry_id).where(
            play_token_entries.c.member_id == member_id,
            play_token_entries.c.source_type == source_type,
            play_token_entries.c.source_ref == source_ref,
        )
    )
    if seen.first() is not None:
        return None
    if tokens > 0:
        row = await conn.execute(
            insert(play_token_balances)
            .values(member_id=member_id, balance=tokens, updated_at=now)
            .on_conflict_do_update(
                index_elements=[play_token_balances.c.member_id],
                set_={"balance": play_token_balances.c.balance + tokens, "updated_at": now},
            )
            .returning(play_token_balances.c.balance)
        )
    else:
        row = await conn.execute(
            update(play_token_balances)
            .where(play_token_balances.c.member_id == member_id, play_token_balances.c.balance >= -tokens)
            .values(balance=play_token_balances.c.balance + tokens, updated_at=now)
            .returning(play_token_balances.c.balance)
        )
    balance = row.scalar_one_or_none()
    if balance is None:
        have = await play_token_balance(conn, member_id)
        raise InsufficientPlayTokens(member_id=member_id, balance=have, requested=-tokens)
    await conn.execute(
        insert(play_token_entries).values(
            member_id=member_id,
            entry_id=new_id("tok"),
            tokens=tokens,
            balance_after=balance,
            source_type=source_type,
            source_ref=source_ref,
            created_at=now,
        )
    )
    changed = games_pb2.PlayTokensChanged(
        tokens=tokens, balance=int(balance), source_type=source_type, source_ref=source_ref
    )
    await outbox.append(
        conn,
        member_id=member_id,
        occurred_at=now,
        payload=events_pb2.EventPayload(play_tokens_changed=changed),
    )
    return int(balance)


async def _merge_tokens(conn: AsyncConnection, *, source: str, target: str, now: datetime) -> None:
    """A merged provisional member's play tokens move to the real member as a pair of entries.

    As the points' MERGE_OUT/MERGE_IN: `merge` entries out of the source (source_ref: the target) and
    into the target (source_ref: the source), so both balances still equal their entries.
    """
    held = (
        await conn.execute(
            select(play_token_balances.c.balance)
            .where(play_token_balances.c.member_id == source)
            .with_for_update()
        )
    ).scalar_one_or_none()
    tokens = int(held or 0)
    if tokens <= 0:
        return
    await move_play_tokens(
        conn, member_id=source, tokens=-tokens, source_type="merge", source_ref=target, now=now
    )
    await move_play_tokens(
        conn, member_id=target, tokens=tokens, source_type="merge", source_ref=source, now=now
    )


merge_registry.register("play_tokens", _merge_tokens)


def token_rule(rule_id: str, spec: dict[str, Any]) -> TokenRule:
    """A stored rule (PlayTokenRule as JSON, channel values as strings) as the pure rule."""
    valid_to = spec.get("valid_to")
    return TokenRule(
        rule_id=rule_id,
        channels=frozenset(spec.get("channels", ())),
        currency=str(spec["currency"]),
        min_amount_minor=int(spec.get("min_amount_minor", 0)),
        tokens=int(spec["tokens"]),
        valid_from=datetime.fromisoformat(spec["valid_from"]).astimezone(UTC),
        valid_to=None if valid_to is None else datetime.fromisoformat(valid_to).astimezone(UTC),
    )


async def _load_token_rules(conn: AsyncConnection) -> tuple[TokenRule, ...]:
    rows = await fast.fetch(conn, "select rule_id, spec from play_token_rules order by created_at, rule_id")
    return tuple(token_rule(str(rule_id), dict(spec)) for rule_id, spec in rows)


# Consulted by every purchase: cached per process by `program_settings.token_rules_revision`, which
# every rule change bumps (games.store.save_token_rule).
_token_rules = revisions.RevisionCache("token_rules_revision", _load_token_rules)


async def grant_purchase_tokens(
    conn: AsyncConnection, *, member_id: str, purchase_id: str, facts: TokenFacts, now: datetime
) -> int:
    """Grant the tokens the play-token rules give this purchase; returns how many."""
    granted = 0
    for rule_id, tokens in tokens_for_purchase(await _token_rules.get(conn), facts):
        moved = await move_play_tokens(
            conn,
            member_id=member_id,
            tokens=tokens,
            source_type="purchase",
            source_ref=f"{purchase_id}:{rule_id}",
            now=now,
        )
        granted += tokens if moved is not None else 0
    return granted


async def check_play_tokens(conn: AsyncConnection, *, limit: int) -> list[str]:
    """Members whose token balance differs from the sum of their token entries, or whose newest
    entry's balance_after differs from the balance."""
    sums = (
        select(
            play_token_entries.c.member_id,
            func.sum(play_token_entries.c.tokens).label("total"),
        )
        .group_by(play_token_entries.c.member_id)
        .subquery()
    )
    rows = await conn.execute(
        select(play_token_balances.c.member_id, play_token_balances.c.balance, sums.c.total)
        .select_from(play_token_balances.outerjoin(sums, sums.c.member_id == play_token_balances.c.member_id))
        .where(func.coalesce(sums.c.total, 0) != play_token_balances.c.balance)
        .limit(limit)
    )
    problems = [
        f"member {r.member_id}: play tokens {r.balance} but its token entries add up to {r.total or 0}"
        for r in rows
    ]
    orphans = await conn.execute(
        text(
            "select member_id from play_token_entries e where not exists (select 1 from "
            "play_token_balances b where b.member_id = e.member_id) group by member_id limit :limit"
        ),
        {"limit": limit},
    )
    problems.extend(f"member {r.member_id}: play token entries without a balance" for r in orphans)
    return problems
