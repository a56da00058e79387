"""The back office: a store, a till credential, a base earning rule, a weekend promotion and a game.

python examples/marketing.py --target localhost:50051 --api-key $LOYALTY_BACKOFFICE_KEY
"""

from __future__ import annotations

import argparse
import os
import secrets
from datetime import UTC, datetime, timedelta

from loyalty_clients import (
    CredentialKind,
    EarningRuleSpec,
    GamePrize,
    GameSpec,
    MarketingClient,
    PlayCostKind,
    PrizeGrant,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default=os.environ.get("LOYALTY_TARGET", "localhost:50051"))
    parser.add_argument("--api-key", default=os.environ.get("LOYALTY_BACKOFFICE_KEY"))
    args = parser.parse_args()
    with MarketingClient(api_key=args.api_key, target=args.target) as office:
        store = office.create_store(store_id=f"store-{secrets.token_hex(3)}", name="Example store")
        till = office.create_credential(kind=CredentialKind.POS, name="till 1", store_id=store.store_id)
        print(f"store {store.store_id}, till credential {till.credential.credential_id} (key shown once)")
        office.create_earning_rule(
            spec=EarningRuleSpec.base_rate(name="base", currency="EUR", points_per_unit=1)
        )
        start = datetime.now(UTC) + timedelta(days=1)
        office.create_earning_rule(
            spec=EarningRuleSpec.multiplier(
                name="double weekend", factor=2, valid_from=start, valid_to=start + timedelta(days=2)
            )
        )
        for rule in office.list_earning_rules():
            print(f"rule {rule.spec.name!r} v{rule.version} {rule.spec.kind}")
        print(f"settings: {office.get_program_settings()}")
        game = office.create_game(
            spec=GameSpec(
                name="Welcome wheel",
                opens_at=datetime.now(UTC) - timedelta(minutes=1),
                cost_kind=PlayCostKind.FREE,
                plays_per_day=1,
                no_prize_weight=1,
                prizes=(GamePrize(prize_id="ten", name="10 points", weight=1, grant=PrizeGrant(points=10)),),
            )
        )
        for odds in game.odds:
            print(f"game {game.spec.name!r}: {odds.parts_per_million / 10_000:.1f}% for {odds.name}")


if __name__ == "__main__":
    main()
