"""SyncOfflinePurchases reads a chunk's members, ledgers, orders and pending referrals ahead, and sends
its ledger writes together (`db.read_ahead`, `db.fast.defer_writes`). These stories hold the chunk path
to what each purchase does alone, where the read-ahead rows run out or do not apply."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import grpc
from loyalty.v1 import common_pb2, ledger_pb2, members_pb2, program_pb2

from loyalty_service.ledger.book import Book, Cause
from loyalty_service.ledger.check import check_ledger
from tests.journeys.conftest import journey_settings, now_of
from tests.ledger.conftest import make_programme, member_ref, purchase
from tests.support.api import Running, new_key
from tests.tiers.test_stories import ladder_spec, set_ladder, tier_of


async def test_one_order_for_two_members_in_a_batch_credits_only_the_first(isolated_service: Running) -> None:
    """Goal: the chunk claims each order once, for the first purchase naming it; the second purchase
    of that order (another member) is DUPLICATE_ORDER and its member keeps nothing."""
    programme = await make_programme(isolated_service)
    first, second = await programme.member(), await programme.member()
    order = "o-" + new_key()
    at = now_of(isolated_service) - timedelta(minutes=5)
    items = [
        purchase(
            member_ref(member_id),
            store_id=programme.store_id,
            amount_minor=amount,
            currency=programme.currency,
            order_id=order,
            occurred_at=at,
        )
        for member_id, amount in ((first, 1200), (second, 3400))
    ]
    answer = await programme.till.ledger.SyncOfflinePurchases(
        ledger_pb2.SyncOfflinePurchasesRequest(purchases=items)
    )
    assert answer.results[0].purchase.points == 12
    assert answer.results[1].error.code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert "already recorded" in answer.results[1].error.message
    assert (await programme.balance(first)).available == 12
    assert (await programme.balance(second)).available == 0


async def test_an_uploaded_first_purchase_pays_a_pending_referral_once(isolated_service: Running) -> None:
    """Goal: in one upload with members who were never referred, the referee's first purchase pays
    both referral bonuses, its second purchase in the same upload pays nothing more."""
    running = isolated_service
    programme = await make_programme(running)
    await journey_settings(running, referrer_bonus_points=200, referee_bonus_points=100)
    web = await running.client("webshop")
    referrer = (
        await web.members.EnrollMember(members_pb2.EnrollMemberRequest(idempotency_key=new_key()))
    ).member
    friend = (
        await web.members.EnrollMember(
            members_pb2.EnrollMemberRequest(idempotency_key=new_key(), referral_code=referrer.referral_code)
        )
    ).member
    others = [await programme.member() for _ in range(3)]
    at = now_of(running) - timedelta(minutes=30)
    buyers = [others[0], friend.member_id, others[1], friend.member_id, others[2]]
    items = [
        purchase(
            member_ref(member_id),
            store_id=programme.store_id,
            amount_minor=1000,
            currency=programme.currency,
            occurred_at=at + timedelta(minutes=i),
        )
        for i, member_id in enumerate(buyers)
    ]
    answer = await programme.till.ledger.SyncOfflinePurchases(
        ledger_pb2.SyncOfflinePurchasesRequest(purchases=items)
    )
    assert [r.WhichOneof("outcome") for r in answer.results] == ["purchase"] * 5
    assert answer.results[1].purchase.balance.available == 10 + 100
    assert answer.results[3].purchase.balance.available == 10 + 100 + 10
    assert (await programme.balance(friend.member_id)).available == 120
    assert (await programme.balance(referrer.member_id)).available == 200
    assert [(await programme.balance(m)).available for m in others] == [10, 10, 10]


async def test_a_batch_earns_exactly_what_the_same_purchases_earn_one_by_one(
    isolated_service: Running,
) -> None:
    """Goal: with a tier ladder in force (its purchase hooks read and write with Core statements between
    the chunk's kept writes), the same sales uploaded in one batch and recorded one by one give every
    item the same points, each member the same balance and tier, and clean ledgers."""
    running = isolated_service
    programme = await make_programme(running)
    await set_ladder(programme, ladder_spec(window="rolling"))
    rng = random.Random(12)
    uploaded = [await programme.member() for _ in range(3)]
    recorded = [await programme.member() for _ in range(3)]
    start = now_of(running) - timedelta(days=2)
    sales = [
        (rng.randrange(3), rng.randrange(500, 40_000), start + timedelta(minutes=7 * i)) for i in range(60)
    ]
    items = [
        purchase(
            member_ref(uploaded[who]),
            store_id=programme.store_id,
            amount_minor=amount,
            currency=programme.currency,
            occurred_at=at,
        )
        for who, amount, at in sales
    ]
    answer = await programme.till.ledger.SyncOfflinePurchases(
        ledger_pb2.SyncOfflinePurchasesRequest(purchases=items)
    )
    one_by_one = [await programme.buy(recorded[who], amount, occurred_at=at) for who, amount, at in sales]
    assert [r.purchase.points for r in answer.results] == [r.points for r in one_by_one]
    assert [r.purchase.balance.available for r in answer.results] == [r.balance.available for r in one_by_one]
    for batch_member, single_member in zip(uploaded, recorded, strict=True):
        batch, single = await programme.balance(batch_member), await programme.balance(single_member)
        assert (batch.available, batch.pending, batch.lifetime_earned) == (
            single.available,
            single.pending,
            single.lifetime_earned,
        )
        assert (await tier_of(programme, batch_member)).tier_id == (
            await tier_of(programme, single_member)
        ).tier_id
    assert {(await tier_of(programme, m)).tier_id for m in uploaded} != {"member"}  # the ladder mattered
    async with running.engine.connect() as conn:
        assert await check_ledger(conn) == []


async def test_unknown_cards_in_a_batch_become_provisional_members(isolated_service: Running) -> None:
    """Goal: a card nobody holds is not read ahead; its purchase creates the provisional member on its
    own, once, and the card's second purchase in the batch credits that member."""
    programme = await make_programme(isolated_service)
    card = "C" + new_key()[:10].upper().replace("-", "")
    ref = common_pb2.MemberRef(
        identifier=common_pb2.Identifier(kind=common_pb2.IDENTIFIER_KIND_CARD, value=card)
    )
    known = await programme.member()
    at = now_of(isolated_service) - timedelta(minutes=5)
    items = [
        purchase(
            ref, store_id=programme.store_id, amount_minor=500, currency=programme.currency, occurred_at=at
        ),
        purchase(
            member_ref(known),
            store_id=programme.store_id,
            amount_minor=700,
            currency=programme.currency,
            occurred_at=at,
        ),
        purchase(
            ref, store_id=programme.store_id, amount_minor=900, currency=programme.currency, occurred_at=at
        ),
    ]
    answer = await programme.till.ledger.SyncOfflinePurchases(
        ledger_pb2.SyncOfflinePurchasesRequest(purchases=items)
    )
    created, _, again = (r.purchase for r in answer.results)
    assert created.provisional_member_created
    assert not again.provisional_member_created
    assert again.member_id == created.member_id
    assert again.balance.available == 5 + 9
    assert (await programme.balance(known)).available == 7


async def test_an_upload_waiting_for_a_ledger_lock_reads_the_lots_its_holder_left(
    isolated_service: Running,
) -> None:
    """Goal: while another transaction holds a member's ledger lock and takes points from a lot, an upload
    for that member waits, then reads the lots as that transaction committed them (a statement that
    waited for a row lock re-reads only the locked row, so the chunk reads the lots after locking): the
    answer's next expiry shows what is left in the lot, and the ledger is clean."""
    running = isolated_service
    programme = await make_programme(running)
    clock = running.clock
    assert clock is not None
    await programme.back.program.UpdateProgramSettings(
        program_pb2.UpdateProgramSettingsRequest(
            idempotency_key=new_key(),
            settings=program_pb2.ProgramSettings(pending_days=0, expiry_months=12, offline_max_age_days=30),
        )
    )
    member_id = await programme.member()
    await programme.buy(member_id, 5000, occurred_at=clock.now() - timedelta(days=40))
    assert (await programme.balance(member_id)).next_expiry.points == 50
    item = purchase(
        member_ref(member_id),
        store_id=programme.store_id,
        amount_minor=1000,
        currency=programme.currency,
        occurred_at=clock.now() - timedelta(days=20),
    )
    async with running.engine.begin() as conn:
        book = await Book.open(conn, member_id, now=clock.now(), credential_id="test")
        cause = Cause(channel="", source_type="adjustment", source_ref="race", occurred_at=clock.now())
        await book.deduct(30, cause)
        await book.close()
        upload = asyncio.ensure_future(
            programme.till.ledger.SyncOfflinePurchases(
                ledger_pb2.SyncOfflinePurchasesRequest(purchases=[item])
            )
        )
        await asyncio.sleep(1.0)
        assert not upload.done()  # waiting for the ledger lock this transaction holds
    answer = await upload
    balance = answer.results[0].purchase.balance
    assert (balance.available, balance.next_expiry.points) == (50 - 30 + 10, 50 - 30)
    assert (await programme.balance(member_id)).next_expiry.points == 20
    async with running.engine.connect() as conn:
        assert await check_ledger(conn) == []
