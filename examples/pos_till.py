"""A till: identify a member by card, credit a sale (queued if the service is down), show the balance.

    python examples/pos_till.py --target localhost:50051 --store-id paris-01 --api-key $LOYALTY_POS_KEY \
        --card 4000123456 --queue till-queue.sqlite3
"""

from __future__ import annotations

import argparse
import os
import secrets

from loyalty_clients import Identifier, Money, NotFound, PosClient, QueuedPurchase


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default=os.environ.get("LOYALTY_TARGET", "localhost:50051"))
    parser.add_argument("--store-id", default=os.environ.get("LOYALTY_STORE_ID"), required=False)
    parser.add_argument("--api-key", default=os.environ.get("LOYALTY_POS_KEY"))
    parser.add_argument("--card", default="4000123456")
    parser.add_argument("--queue", default="till-queue.sqlite3")
    args = parser.parse_args()
    with PosClient(
        store_id=args.store_id, api_key=args.api_key, target=args.target, queue_path=args.queue
    ) as till:
        card = Identifier.card(args.card)
        try:
            member = till.lookup_member(identifier=card)
        except NotFound:
            member = till.enroll_member(display_name="New member", identifiers=[card])
        print(f"member {member.member_id}")
        sale = till.record_purchase(
            member=card, order_id=f"T-{secrets.token_hex(4)}", amount=Money(2350, "EUR")
        )
        if isinstance(sale, QueuedPurchase):
            print(f"offline: sale {sale.order_id} queued at position {sale.position}")
            return
        print(f"+{sale.points} points ({', '.join(r.name for r in sale.applied_rules) or 'no rule'})")
        print(f"balance {till.balance(member=card).available}; queued {till.queued_count()}")


if __name__ == "__main__":
    main()
