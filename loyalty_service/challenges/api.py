"""What other features may use of challenges: whether a challenge exists (the leaderboards' NOT_FOUND)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.challenges import store

__all__ = ["challenge_exists"]


async def challenge_exists(conn: AsyncConnection, challenge_id: str) -> bool:
    return await store.get_challenge(conn, challenge_id) is not None
