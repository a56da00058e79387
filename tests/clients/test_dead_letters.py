"""The till's dead letters keep the service's machine-readable reason and metadata, also in old queue files.

A till queues sales while the service is unreachable (here: a proxy that refuses connections), then a
till on the same sqlite file uploads them; the refused ones become dead letters that say why in a form
a program can branch on (ItemError.reason / metadata), not only in English.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loyalty.v1 import common_pb2, ledger_pb2
from loyalty_clients import (
    AsyncMarketingClient,
    AsyncPosClient,
    DeadLetter,
    Identifier,
    Money,
    QueuedPurchase,
    RetryPolicy,
)
from loyalty_clients._offline import OfflineQueue

from tests.clients.conftest import Keys, ledger_guard, make_keys, target_of, unique, unique_card
from tests.clients.proxy import Proxy
from tests.support.api import Running

UNKNOWN_MEMBER = "mem_01J0000000000000000000000Z"

OLD_SCHEMA = """
create table if not exists queued_purchases (
    position integer primary key autoincrement,
    idempotency_key text not null unique,
    order_id text not null,
    amount_minor integer not null,
    currency text not null,
    occurred_at text not null,
    queued_at text not null,
    request blob not null
);
create table if not exists dead_letters (
    position integer primary key,
    idempotency_key text not null,
    order_id text not null,
    request blob not null,
    queued_at text not null,
    failed_at text not null,
    error_code integer not null,
    error_message text not null,
    field_violations text not null
);
"""
"""The queue file's schema as the client before ItemError.reason made it (no reason/metadata columns)."""


async def queue_offline(
    service: Running, keys: Keys, queue: Path, sales: list[dict[str, Any]]
) -> list[QueuedPurchase]:
    """Record `sales` with a till whose service is unreachable: each lands in the queue file."""
    proxy = await Proxy(service.port).start()
    proxy.refuse = True
    till = AsyncPosClient(
        store_id=keys.store_id,
        api_key=keys.pos,
        target=proxy.target,
        queue_path=queue,
        retry=RetryPolicy(max_attempts=1),
    )
    try:
        queued = [await till.record_purchase(**sale) for sale in sales]
    finally:
        await till.close()
        await proxy.close()
    offline = [q for q in queued if isinstance(q, QueuedPurchase)]
    assert offline == queued, queued
    return offline


async def test_refused_queued_purchases_keep_reason_and_metadata(service: Running, tmp_path: Path) -> None:
    """Goal: a too-old sale, a duplicate order and an unknown member, queued offline and refused on
    upload, become dead letters with the reason and metadata the service gave each; the good sale
    beside them is credited and leaves the queue."""
    keys = await make_keys(service.url)
    target, queue, card = target_of(service), tmp_path / "till.sqlite3", unique_card()
    async with AsyncMarketingClient(api_key=keys.backoffice, target=target) as office:
        max_age_days = (await office.get_program_settings()).offline_max_age_days
        member = await office.enroll_member(identifiers=[Identifier.card(card)])
    order = unique("DL")
    async with AsyncPosClient(store_id=keys.store_id, api_key=keys.pos, target=target) as online:
        with ledger_guard():
            await online.record_purchase(member=member.member_id, order_id=order, amount=Money(500, "EUR"))
    queued = await queue_offline(
        service,
        keys,
        queue,
        [
            {
                "member": Identifier.card(card),
                "order_id": "DL-old",
                "amount": Money(900, "EUR"),
                "occurred_at": datetime.now(UTC) - timedelta(days=400),
            },
            {"member": member.member_id, "order_id": order, "amount": Money(500, "EUR")},
            {"member": UNKNOWN_MEMBER, "order_id": "DL-nobody", "amount": Money(700, "EUR")},
            {"member": member.member_id, "order_id": "DL-good", "amount": Money(300, "EUR")},
        ],
    )

    async with AsyncPosClient(
        store_id=keys.store_id, api_key=keys.pos, target=target, queue_path=queue
    ) as till:
        with ledger_guard():
            report = await till.sync()
        letters = await till.dead_letters()
        assert await till.queued_count() == 0
    assert [c.idempotency_key for c in report.credited] == [queued[3].idempotency_key]
    assert report.failed == letters
    found = {d.order_id: (d.error_code, d.reason, dict(d.metadata)) for d in letters}
    assert found == {
        "DL-old": (9, "OFFLINE_PURCHASE_TOO_OLD", {"max_age_days": str(max_age_days)}),
        order: (6, "DUPLICATE_ORDER", {"channel": "pos", "store_id": keys.store_id, "order_id": order}),
        "DL-nobody": (5, "NOT_FOUND", {"resource_type": "member"}),
    }
    assert all(isinstance(d, DeadLetter) and d.error_message for d in letters)
    assert hash(letters[0]) == hash(letters[0])  # still a frozen, hashable value
    read_only = letters[0].metadata
    assert not hasattr(read_only, "__setitem__")


def old_client_refusal(
    queue: Path, request: ledger_pb2.RecordPurchaseRequest, *, failed_at: str, code: int, message: str
) -> None:
    """What the previous client did with a sale it queued and the service then refused: its own
    statements (put, then settle), which name no reason/metadata column."""
    with closing(sqlite3.connect(queue, isolation_level=None)) as conn:
        conn.execute(
            "insert into queued_purchases (idempotency_key, order_id, amount_minor, currency,"
            " occurred_at, queued_at, request) values (?, ?, ?, ?, ?, ?, ?)"
            " on conflict (idempotency_key) do nothing",
            (
                request.idempotency_key,
                request.order_id,
                request.amount.amount_minor,
                request.amount.currency,
                "2024-01-01T09:00:00+00:00",
                "2024-01-01T10:00:00+00:00",
                request.SerializeToString(deterministic=True),
            ),
        )
        (position,) = conn.execute(
            "select position from queued_purchases where idempotency_key = ?", (request.idempotency_key,)
        ).fetchone()
        conn.execute("begin immediate")
        conn.execute(
            "insert or replace into dead_letters (position, idempotency_key, order_id, request,"
            " queued_at, failed_at, error_code, error_message, field_violations)"
            " select position, idempotency_key, order_id, request, queued_at, ?, ?, ?, ?"
            " from queued_purchases where position = ?",
            (failed_at, code, message, json.dumps([]), position),
        )
        conn.execute("delete from queued_purchases where position = ?", (position,))
        conn.execute("commit")


def old_request(store_id: str, key: str, order_id: str) -> ledger_pb2.RecordPurchaseRequest:
    return ledger_pb2.RecordPurchaseRequest(
        idempotency_key=key,
        member=common_pb2.MemberRef(member_id=UNKNOWN_MEMBER),
        channel=common_pb2.CHANNEL_POS,
        store_id=store_id,
        order_id=order_id,
        amount=common_pb2.Money(amount_minor=100, currency="EUR"),
    )


async def test_queue_file_of_the_old_schema_opens_and_keeps_working(service: Running, tmp_path: Path) -> None:
    """Goal: a queue file written by the previous client (dead_letters without reason/metadata columns,
    one old dead letter in it) opens with this client: the columns are added, the old letter reads
    with reason "" and no metadata, a new refusal stores its reason and metadata, and a till still
    running the previous client can keep writing to the file."""
    keys = await make_keys(service.url)
    queue = tmp_path / "old-till.sqlite3"
    with closing(sqlite3.connect(queue, isolation_level=None)) as conn:
        conn.execute("pragma journal_mode=wal")
        conn.executescript(OLD_SCHEMA)
    not_found = f"member {UNKNOWN_MEMBER!r} not found"
    old_client_refusal(
        queue,
        old_request(keys.store_id, "old-k1", "OLD-1"),
        failed_at="2024-01-02T10:00:00+00:00",
        code=5,
        message=not_found,
    )

    queued = await queue_offline(
        service,
        keys,
        queue,
        [
            {
                "member": UNKNOWN_MEMBER,
                "order_id": "NEW-old",
                "amount": Money(900, "EUR"),
                "occurred_at": datetime.now(UTC) - timedelta(days=400),
            }
        ],
    )
    with closing(sqlite3.connect(queue)) as conn:
        columns = [row[1] for row in conn.execute("pragma table_info(dead_letters)")]
    assert columns[-2:] == ["reason", "metadata"]
    assert columns.count("reason") == 1

    async with AsyncPosClient(
        store_id=keys.store_id, api_key=keys.pos, target=target_of(service), queue_path=queue
    ) as till:
        (old,) = await till.dead_letters()
        assert (old.order_id, old.error_code, old.reason, dict(old.metadata)) == ("OLD-1", 5, "", {})
        assert (old.error_message, old.failed_at) == (not_found, datetime(2024, 1, 2, 10, tzinfo=UTC))
        with ledger_guard():
            report = await till.sync()
        letters = await till.dead_letters()
    (new,) = report.failed
    assert new.idempotency_key == queued[0].idempotency_key
    assert (new.order_id, new.reason) == ("NEW-old", "OFFLINE_PURCHASE_TOO_OLD")
    assert set(new.metadata) == {"max_age_days"}
    assert [(d.order_id, d.reason) for d in letters] == [
        ("OLD-1", ""),
        ("NEW-old", "OFFLINE_PURCHASE_TOO_OLD"),
    ]

    # A till still running the previous client on this (now migrated) file writes its letters as before.
    old_client_refusal(
        queue,
        old_request(keys.store_id, "old-k2", "OLD-2"),
        failed_at="2024-01-03T10:00:00+00:00",
        code=5,
        message=not_found,
    )
    async with AsyncPosClient(
        store_id=keys.store_id, api_key=keys.pos, target=target_of(service), queue_path=queue
    ) as reopened:
        again = await reopened.dead_letters()
    assert again[:2] == letters
    assert [(d.order_id, d.reason, dict(d.metadata)) for d in again[2:]] == [("OLD-2", "", {})]


def test_clients_opening_one_old_file_at_once_add_each_column_once(tmp_path: Path) -> None:
    """Goal: several till processes upgraded together open the same old queue file at the same moment:
    none fails (no "duplicate column name"), and the file ends with each new column once."""
    queue = tmp_path / "shared.sqlite3"
    with closing(sqlite3.connect(queue, isolation_level=None)) as conn:
        conn.execute("pragma journal_mode=wal")
        conn.executescript(OLD_SCHEMA)
    start = threading.Barrier(8)

    def open_queue() -> None:
        start.wait(timeout=30)
        OfflineQueue(queue)

    with ThreadPoolExecutor(max_workers=8) as pool:
        for opened in [pool.submit(open_queue) for _ in range(8)]:
            opened.result(timeout=60)
    with closing(sqlite3.connect(queue)) as conn:
        columns = [row[1] for row in conn.execute("pragma table_info(dead_letters)")]
    assert columns.count("reason") == columns.count("metadata") == 1
    assert OfflineQueue(queue).dead_letters() == []
