"""SyncOfflinePurchases' per-item errors carry the machine-readable reason and metadata.

An item refused in a batch says what the google.rpc.ErrorInfo of the same purchase sent alone as
RecordPurchase would say (same reason, same metadata), so a till tells a too-old sale from a duplicate
order or an unknown member without parsing the English message.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from loyalty.v1 import common_pb2, ledger_pb2, program_pb2

from tests.ledger.conftest import Programme, member_ref, purchase
from tests.support.api import new_key

UNKNOWN_MEMBER = "mem_01J0000000000000000000000Z"


def error_info(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    """The status code, and the reason and metadata of the google.rpc.ErrorInfo, of a whole-RPC error."""
    details = dict(error.trailing_metadata() or ())["grpc-status-details-bin"]
    for detail in status_pb2.Status.FromString(details).details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return error.code(), info.reason, dict(info.metadata)
    raise AssertionError(f"no ErrorInfo in {error!r}")


async def alone(programme: Programme, request: ledger_pb2.RecordPurchaseRequest) -> grpc.aio.AioRpcError:
    """The error of `request` sent alone as RecordPurchase (under a fresh key, so nothing replays)."""
    single = ledger_pb2.RecordPurchaseRequest()
    single.CopyFrom(request)
    single.idempotency_key = new_key()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await programme.till.ledger.RecordPurchase(single)
    return refused.value


def item_info(error: common_pb2.ItemError) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    codes = {code.value[0]: code for code in grpc.StatusCode}
    return codes[error.code], error.reason, dict(error.metadata)


async def test_item_errors_say_the_reason_and_metadata_of_the_lone_call(programme: Programme) -> None:
    """Goal: a too-old item, a duplicate order, an unknown member, an invalid item and a reused key
    each get an ItemError whose code, reason and metadata equal the ErrorInfo the same purchase gets
    as a lone RecordPurchase (or, for the age limit that only uploads have, the documented one);
    the good item beside them is credited."""
    member_id = await programme.member()
    settings = await programme.back.program.GetProgramSettings(program_pb2.GetProgramSettingsRequest())
    max_age_days = settings.settings.offline_max_age_days
    now = datetime.now(UTC)

    def item(
        member: str = member_id,
        *,
        amount_minor: int = 1200,
        currency: str = programme.currency,
        order_id: str | None = None,
        occurred_at: datetime | None = None,
        key: str | None = None,
    ) -> ledger_pb2.RecordPurchaseRequest:
        return purchase(
            member_ref(member),
            store_id=programme.store_id,
            amount_minor=amount_minor,
            currency=currency,
            order_id=order_id,
            occurred_at=occurred_at,
            key=key,
        )

    first = item()
    await programme.till.ledger.RecordPurchase(first)
    too_old = item(occurred_at=now - timedelta(days=max_age_days + 2))
    duplicate = item(order_id=first.order_id)
    unknown = item(UNKNOWN_MEMBER)
    invalid = item(currency="eur")
    reused = item(key=first.idempotency_key, amount_minor=999)
    good = item()
    answer = await programme.till.ledger.SyncOfflinePurchases(
        ledger_pb2.SyncOfflinePurchasesRequest(purchases=[too_old, duplicate, unknown, invalid, reused, good])
    )
    results = {result.index: result for result in answer.results}
    assert sorted(results) == list(range(6))
    assert results[5].HasField("purchase"), answer
    assert results[5].purchase.points == 12
    assert all(results[i].HasField("error") for i in range(5)), answer

    assert item_info(results[0].error) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "OFFLINE_PURCHASE_TOO_OLD",
        {"max_age_days": str(max_age_days)},
    )
    duplicate_alone = error_info(await alone(programme, duplicate))
    assert item_info(results[1].error) == duplicate_alone
    assert duplicate_alone == (
        grpc.StatusCode.ALREADY_EXISTS,
        "DUPLICATE_ORDER",
        {"channel": "pos", "store_id": programme.store_id, "order_id": first.order_id},
    )
    unknown_alone = error_info(await alone(programme, unknown))
    assert item_info(results[2].error) == unknown_alone
    assert unknown_alone[:2] == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    assert unknown_alone[2]["resource_type"] == "member"
    invalid_alone = error_info(await alone(programme, invalid))
    assert item_info(results[3].error) == invalid_alone
    assert invalid_alone[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert [v.field for v in results[3].error.field_violations] == ["amount.currency"]
    with pytest.raises(grpc.aio.AioRpcError) as reused_alone:
        await programme.till.ledger.RecordPurchase(reused)  # the reused key as is: not via `alone`
    assert item_info(results[4].error) == error_info(reused_alone.value)
    assert results[4].error.reason == "IDEMPOTENCY_KEY_REUSED"
    assert results[4].error.metadata["idempotency_key"] == first.idempotency_key
