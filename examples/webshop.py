"""The web shop back end: enrol a customer, credit an order, spend points at checkout, refund, history.

python examples/webshop.py --target localhost:50051 --api-key $LOYALTY_WEBSHOP_KEY
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets

from loyalty_clients import AsyncWebShopClient, Identifier, InsufficientPoints, Money


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default=os.environ.get("LOYALTY_TARGET", "localhost:50051"))
    parser.add_argument("--api-key", default=os.environ.get("LOYALTY_WEBSHOP_KEY"))
    args = parser.parse_args()
    async with AsyncWebShopClient(api_key=args.api_key, target=args.target) as shop:
        customer = Identifier.webshop_customer_id(f"cust-{secrets.token_hex(4)}")
        member = await shop.enroll_member(display_name="Online customer", identifiers=[customer])
        order = f"W-{secrets.token_hex(4)}"
        bought = await shop.record_purchase(member=customer, order_id=order, amount=Money.of("59.90", "EUR"))
        print(f"order {order}: +{bought.points} points")
        try:
            spend = await shop.spend_points(member=member.member_id, points=20, order_id=f"{order}-checkout")
            print(f"spent 20 points, {spend.balance.available if spend.balance else '?'} left")
        except InsufficientPoints as error:
            print(f"cannot spend 20 points: {error.available} available")
        refund = await shop.record_refund(order_id=order, amount=Money(1000, "EUR"))
        print(f"refund: -{refund.points_reversed} points")
        async for entry in shop.history(member_id=member.member_id):
            print(f"  {entry.type} {entry.points:+d} -> {entry.balance_after}")
        token = await shop.issue_member_token(member_id=member.member_id, ttl_seconds=600)
        print(f"member token expires at {token.expires_at}")


if __name__ == "__main__":
    asyncio.run(main())
