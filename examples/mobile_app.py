"""The mobile app, as one member: balance, history, consents, and one play of each open game.

python examples/mobile_app.py --target localhost:50051 --member-token $LOYALTY_MEMBER_TOKEN
"""

from __future__ import annotations

import argparse
import asyncio
import os

from loyalty_clients import AsyncMobileAppClient, ConsentPurpose


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default=os.environ.get("LOYALTY_TARGET", "localhost:50051"))
    parser.add_argument("--member-token", default=os.environ.get("LOYALTY_MEMBER_TOKEN"))
    args = parser.parse_args()
    async with AsyncMobileAppClient(member_token=args.member_token, target=args.target) as app:
        me = await app.get_member()
        balance = await app.balance()
        print(f"{me.display_name or me.member_id}: {balance.available} points ({balance.pending} pending)")
        async for entry in app.history(page_size=20):
            print(f"  {entry.occurred_at:%Y-%m-%d} {entry.type} {entry.points:+d}")
        consents = await app.update_consent(changes={ConsentPurpose.LOCATION: True})
        print("consents: " + ", ".join(f"{c.purpose}={'yes' if c.granted else 'no'}" for c in consents))
        for offer in (await app.games()).games:
            if offer.can_play:
                play = (await app.play(game_id=offer.game.game_id)).play
                print(f"played {offer.game.spec.name}: {play.prize_name if play.won else 'no prize'}")


if __name__ == "__main__":
    asyncio.run(main())
