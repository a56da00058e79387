"""A seeded chaos run's history and the Elle-style check of it against a model of the ledger rules.

Clients record every logical operation (a purchase credit, a spend, a reward redemption, a game play or a
till's offline upload) with each attempt's answer; an upload's items are purchases of their own (each with
its key, order and answer), recorded as its `items` and checked like RecordPurchase calls. After the run
the database is read back as `Applied` rows, vouchers, plays, purchase rows, order claims and stock
counters (an operation is applied iff its idempotency key holds an answer: a purchase's or spend's
names its ledger entry, a redemption's its voucher, a play's its play). A redemption's ledger entry is the
REDEEM entry of its voucher, a play's the GAME_WIN entry of its play (none when nothing was won).
`check` then replays, member by member in the ledger's commit order, a model where credits (purchases,
game wins) add and debits (spends, redemptions) subtract, and lists every violation:

- an acknowledged operation is missing, applied twice, or applied with other points than acknowledged;
  an acknowledged redemption has not exactly one voucher and one REDEEM entry, an acknowledged play not
  exactly one play row (and one GAME_WIN entry iff it won points);
- a refused operation (a definitive error) was applied;
- an operation whose outcome the client never learned was applied more than once;
- a purchase (a RecordPurchase call or an upload's item) is partly there: its order claimed, its purchase
  row, its EARN entry and its key's answer are all there, once each and naming each other, or none is;
  an acknowledged upload has an answer for each of its items;
- an idempotency key was committed without its answer;
- a ledger entry, voucher or play belongs to no operation;
- the model's balance differs from an entry's balance_after or from the final balance, or a debit took
  the model's balance below zero;
- more vouchers or prize wins than stock, or stock counters that do not add up.

The history is JSON: `python -m tests.chaos.history FILE` checks a saved run again (replayable), and the
run's seed reproduces its schedule of operations, kills and restarts.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "Applied",
    "Attempt",
    "History",
    "Kind",
    "Op",
    "OrderRead",
    "PlayRead",
    "PurchaseRead",
    "Stock",
    "VoucherRead",
    "check",
]

Kind = Literal["purchase", "spend", "redeem", "play", "upload"]
Outcome = Literal["ack", "refused", "unknown"]


@dataclass
class Attempt:
    server: int
    code: str
    """OK, or the status code's name."""
    elapsed_ms: float


@dataclass
class Op:
    op_id: int
    kind: Kind
    member_id: str
    key: str
    order_id: str
    amount: int
    """amount_minor of a purchase, points of a spend; 0 for a redemption, a play or an upload."""
    attempts: list[Attempt] = field(default_factory=list)
    outcome: Outcome = "unknown"
    refusal: str = ""
    entry_id: str = ""
    """The acknowledged ledger entry of a purchase or spend (a redemption's or play's is found by object)."""
    points: int = 0
    """Signed points of the acknowledged entry (+ credit, - spend or redemption; 0 for a play not won)."""
    ack_available: int = 0
    via: str = ""
    """The caller of a redemption or play: "member" (member token) or "webshop" (the web shop's key)."""
    object_id: str = ""
    """The acknowledged voucher (redemption) or play (play)."""
    won: bool = False
    """An acknowledged play won a prize."""
    purchase_id: str = ""
    """The acknowledged purchase of a purchase (or an upload's item)."""
    items: list[Op] = field(default_factory=list)
    """An upload's items, in request order: purchases (via "upload") with their own key and order, whose
    outcome is their own result when the upload was acknowledged, and the upload's outcome otherwise. An
    item sent twice in one upload (the same key) is here twice."""
    age_seconds: int = 0
    """An upload item's occurred_at: this long before the upload was first sent."""
    duplicate: bool = False
    """An acknowledged upload item was answered as a duplicate (an earlier attempt's or copy's answer)."""

    def ledger_ops(self) -> list[Op]:
        """The operation's calls that make a ledger entry by key: itself, or an upload's items."""
        return self.items if self.kind == "upload" else [self]

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Op:
        return cls(
            **{
                **raw,
                "attempts": [Attempt(**a) for a in raw["attempts"]],
                "items": [cls.of(item) for item in raw.get("items", [])],
            }
        )


@dataclass(frozen=True)
class Applied:
    """A ledger entry as read back from the database."""

    entry_id: str
    member_id: str
    entry_seq: int
    entry_type: str
    points: int
    balance_after: int
    source_ref: str


@dataclass(frozen=True)
class VoucherRead:
    """A voucher as read back from the database."""

    voucher_id: str
    member_id: str
    reward_id: str
    state: str
    points_charged: int
    redeem_entry_id: str
    source_type: str
    source_ref: str
    """The redemption's idempotency key (source_type "redemption")."""


@dataclass(frozen=True)
class PlayRead:
    """A game play as read back from the database."""

    play_id: str
    member_id: str
    game_id: str
    prize_id: str
    """Empty when nothing was won."""


@dataclass(frozen=True)
class PurchaseRead:
    """A purchase row as read back from the database."""

    member_id: str
    purchase_id: str
    order_id: str
    points: int


@dataclass(frozen=True)
class OrderRead:
    """An order claim (`purchase_orders`) as read back from the database."""

    order_id: str
    member_id: str
    purchase_id: str


@dataclass(frozen=True)
class Stock:
    """A stock-holding item at the end: a reward (total and remaining from its row) or a game prize (total
    from the game's spec, remaining from `game_prizes`)."""

    kind: Literal["reward", "prize"]
    item_id: str
    total: int
    remaining: int


@dataclass
class History:
    seed: int
    ops: list[Op] = field(default_factory=list)
    key_entries: dict[str, str] = field(default_factory=dict)
    """idempotency key -> entry_id of its stored answer (purchases and spends that were applied)."""
    key_objects: dict[str, str] = field(default_factory=dict)
    """idempotency key -> voucher_id or play_id of its stored answer (redemptions and plays applied)."""
    key_purchases: dict[str, str] = field(default_factory=dict)
    """idempotency key -> purchase_id of its stored answer (purchases and upload items applied)."""
    unanswered_keys: list[str] = field(default_factory=list)
    """Keys committed without an answer (a committed claim always has one)."""
    entries: list[Applied] = field(default_factory=list)
    vouchers: list[VoucherRead] = field(default_factory=list)
    plays: list[PlayRead] = field(default_factory=list)
    purchases: list[PurchaseRead] = field(default_factory=list)
    orders: list[OrderRead] = field(default_factory=list)
    stocks: list[Stock] = field(default_factory=list)
    final_balances: dict[str, int] = field(default_factory=dict)
    """member_id -> available + pending at the end."""

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> History:
        raw = json.loads(path.read_text())
        return cls(
            seed=raw["seed"],
            ops=[Op.of(o) for o in raw["ops"]],
            key_entries=raw["key_entries"],
            key_objects=raw.get("key_objects", {}),
            key_purchases=raw.get("key_purchases", {}),
            unanswered_keys=raw.get("unanswered_keys", []),
            entries=[Applied(**e) for e in raw["entries"]],
            vouchers=[VoucherRead(**v) for v in raw.get("vouchers", [])],
            plays=[PlayRead(**p) for p in raw.get("plays", [])],
            purchases=[PurchaseRead(**p) for p in raw.get("purchases", [])],
            orders=[OrderRead(**o) for o in raw.get("orders", [])],
            stocks=[Stock(**s) for s in raw.get("stocks", [])],
            final_balances=raw["final_balances"],
        )


_VIOLATIONS_MAX = 50
_HOLDING_STOCK = ("issued", "used", "expired")
"""Voucher states that keep their unit of stock (a cancelled voucher gave it back)."""


@dataclass
class _Index:
    """The database's rows, looked up by what the checks ask."""

    by_entry: dict[str, list[Applied]] = field(default_factory=lambda: defaultdict(list))
    by_ref: dict[tuple[str, str], list[Applied]] = field(default_factory=lambda: defaultdict(list))
    """(entry_type, source_ref) -> entries: a voucher's REDEEM entries, a play's GAME_WIN entries."""
    vouchers_by_key: dict[str, list[VoucherRead]] = field(default_factory=lambda: defaultdict(list))
    plays_by_id: dict[str, list[PlayRead]] = field(default_factory=lambda: defaultdict(list))
    purchases_by_order: dict[str, list[PurchaseRead]] = field(default_factory=lambda: defaultdict(list))
    orders_by_id: dict[str, list[OrderRead]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def of(cls, history: History) -> _Index:
        index = cls()
        for entry in history.entries:
            index.by_entry[entry.entry_id].append(entry)
            index.by_ref[(entry.entry_type, entry.source_ref)].append(entry)
        for voucher in history.vouchers:
            index.vouchers_by_key[voucher.source_ref].append(voucher)
        for play in history.plays:
            index.plays_by_id[play.play_id].append(play)
        for purchase in history.purchases:
            index.purchases_by_order[purchase.order_id].append(purchase)
        for order in history.orders:
            index.orders_by_id[order.order_id].append(order)
        return index

    def owners(self, history: History) -> dict[str, Op]:
        """entry_id -> the operation that made it, per the database."""
        owner: dict[str, Op] = {}
        for op in (call for operation in history.ops for call in operation.ledger_ops()):
            if op.kind in ("purchase", "spend") and op.key in history.key_entries:
                owner[history.key_entries[op.key]] = op
            elif op.kind == "redeem":
                for voucher in self.vouchers_by_key.get(op.key, []):
                    for entry in self.by_ref.get(("redeem", voucher.voucher_id), []):
                        owner[entry.entry_id] = op
            elif op.kind == "play" and op.key in history.key_objects:
                for entry in self.by_ref.get(("game_win", history.key_objects[op.key]), []):
                    owner[entry.entry_id] = op
        return owner


def _ledger_op_problems(name: str, op: Op, history: History, index: _Index) -> list[str]:
    problems: list[str] = []
    entry_id = history.key_entries.get(op.key)
    copies = index.by_entry.get(entry_id, []) if entry_id else []
    if op.outcome == "ack":
        if entry_id != op.entry_id:
            problems.append(f"{name}: acknowledged entry {op.entry_id}, database has {entry_id}")
        if len(copies) != 1:
            problems.append(f"{name}: acknowledged, in the ledger {len(copies)} times")
        elif copies[0].points != op.points:
            problems.append(f"{name}: acknowledged {op.points} points, ledger has {copies[0].points}")
        if op.kind == "spend" and op.ack_available < 0:
            problems.append(f"{name}: acknowledged with a negative balance {op.ack_available}")
    elif op.outcome == "refused" and entry_id is not None:
        problems.append(f"{name}: refused ({op.refusal}) but applied as {entry_id}")
    elif op.outcome == "unknown" and entry_id is not None and len(copies) != 1:
        problems.append(f"{name}: outcome unknown, in the ledger {len(copies)} times")
    if op.kind == "purchase":
        problems += _purchase_row_problems(name, op, history, index)
    return problems


def _purchase_row_problems(name: str, op: Op, history: History, index: _Index) -> list[str]:
    """A purchase is there once, whole, or not at all: its key's answer, its order claim, its purchase row
    and (when it earned) its EARN entry name each other; without an answer none of them is there."""
    problems: list[str] = []
    purchase_id = history.key_purchases.get(op.key)
    claims = [(o.member_id, o.purchase_id) for o in index.orders_by_id.get(op.order_id, [])]
    rows = index.purchases_by_order.get(op.order_id, [])
    stored = [(row.member_id, row.purchase_id) for row in rows]
    if purchase_id is None:
        if claims or stored:
            problems.append(f"{name}: no answer, yet order claims {claims} and purchase rows {stored}")
        return problems
    if op.outcome == "ack" and op.purchase_id != purchase_id:
        problems.append(f"{name}: acknowledged purchase {op.purchase_id}, database answer has {purchase_id}")
    if claims != [(op.member_id, purchase_id)] or stored != claims:
        problems.append(
            f"{name}: answer {purchase_id} of {op.member_id}, order claims {claims}, purchase rows {stored}"
        )
    entry_id = history.key_entries.get(op.key, "")
    entries = index.by_entry.get(entry_id, []) if entry_id else []
    if len(rows) == 1 and len(entries) <= 1:
        earned = entries[0].points if entries else 0
        if rows[0].points != earned or any(entry.source_ref != op.order_id for entry in entries):
            problems.append(
                f"{name}: purchase row earned {rows[0].points}, its entry {entries} (order {op.order_id})"
            )
    return problems


def _upload_problems(name: str, op: Op, history: History, index: _Index) -> list[str]:
    """An acknowledged upload answers every item; each item is checked as a purchase of its own."""
    problems: list[str] = []
    if op.outcome == "ack":
        unanswered = [position for position, item in enumerate(op.items) if item.outcome == "unknown"]
        if unanswered:
            problems.append(f"{name}: acknowledged without a result for items {unanswered}")
    seen: set[str] = set()
    for position, item in enumerate(op.items):
        item_name = f"{name} item {position} ({item.key} member {item.member_id})"
        problems += _ledger_op_problems(item_name, item, history, index)
        # A copy of an earlier item is that item's answer; a first copy is new unless an earlier attempt
        # of the upload (which left no answer with the client) may have written it.
        expected = True if item.key in seen else (None if len(op.attempts) > 1 else False)
        if item.outcome == "ack" and expected is not None and item.duplicate != expected:
            problems.append(f"{item_name}: answered with duplicate={item.duplicate}")
        seen.add(item.key)
    return problems


def _redeem_problems(name: str, op: Op, history: History, index: _Index) -> list[str]:
    """A redemption's voucher (its REDEEM entry is checked with every voucher in `_voucher_problems`)."""
    problems: list[str] = []
    stored = history.key_objects.get(op.key)
    found = index.vouchers_by_key.get(op.key, [])
    if stored is not None and stored not in {voucher.voucher_id for voucher in found}:
        problems.append(f"{name}: its answer names voucher {stored}, which the database does not hold")
    if op.outcome == "ack":
        if stored != op.object_id:
            problems.append(f"{name}: acknowledged voucher {op.object_id}, database answer has {stored}")
        if len(found) != 1:
            problems.append(f"{name}: acknowledged, {len(found)} vouchers")
        elif found[0].points_charged != -op.points:
            problems.append(
                f"{name}: acknowledged {-op.points} points charged, voucher has {found[0].points_charged}"
            )
        if op.ack_available < 0:
            problems.append(f"{name}: acknowledged with a negative balance {op.ack_available}")
    elif op.outcome == "refused" and (stored is not None or found):
        problems.append(f"{name}: refused ({op.refusal}) but applied as {len(found)} vouchers")
    elif op.outcome == "unknown" and len(found) > 1:
        problems.append(f"{name}: outcome unknown, {len(found)} vouchers")
    return problems


def _play_problems(name: str, op: Op, history: History, index: _Index) -> list[str]:
    """A play's row (its GAME_WIN entry is checked with every play in `_play_row_problems`)."""
    problems: list[str] = []
    stored = history.key_objects.get(op.key)
    rows = index.plays_by_id.get(stored, []) if stored else []
    wins = index.by_ref.get(("game_win", stored), []) if stored else []
    if op.outcome == "ack":
        if stored != op.object_id:
            problems.append(f"{name}: acknowledged play {op.object_id}, database answer has {stored}")
        if len(rows) != 1:
            problems.append(f"{name}: acknowledged, {len(rows)} play rows")
        elif bool(rows[0].prize_id) != op.won:
            problems.append(f"{name}: acknowledged won={op.won}, play row has prize {rows[0].prize_id!r}")
        if sum(entry.points for entry in wins) != op.points:
            problems.append(f"{name}: acknowledged {op.points} points won, GAME_WIN entries {wins}")
    elif op.outcome == "refused" and stored is not None:
        problems.append(f"{name}: refused ({op.refusal}) but applied as play {stored}")
    elif op.outcome == "unknown" and stored is not None and len(rows) != 1:
        problems.append(f"{name}: outcome unknown, {len(rows)} play rows")
    return problems


_OP_CHECKS = {
    "purchase": _ledger_op_problems,
    "spend": _ledger_op_problems,
    "redeem": _redeem_problems,
    "play": _play_problems,
    "upload": _upload_problems,
}


def _op_problems(history: History, index: _Index) -> list[str]:
    problems: list[str] = []
    for op in history.ops:
        name = f"op {op.op_id} ({op.kind} {op.key} member {op.member_id})"
        problems += _OP_CHECKS[op.kind](name, op, history, index)
    return problems


def _voucher_problems(history: History, index: _Index) -> list[str]:
    """Every voucher comes from one redemption and has exactly one REDEEM entry taking its points."""
    problems: list[str] = []
    redemptions = {op.key for op in history.ops if op.kind == "redeem"}
    for voucher in history.vouchers:
        name = f"voucher {voucher.voucher_id} (member {voucher.member_id})"
        if voucher.source_type != "redemption" or voucher.source_ref not in redemptions:
            problems.append(f"{name}: belongs to no redemption ({voucher.source_type} {voucher.source_ref})")
        redeems = index.by_ref.get(("redeem", voucher.voucher_id), [])
        if len(redeems) != 1:
            problems.append(f"{name}: {len(redeems)} REDEEM entries")
        elif redeems[0].entry_id != voucher.redeem_entry_id or redeems[0].points != -voucher.points_charged:
            problems.append(
                f"{name}: charged {voucher.points_charged} as {voucher.redeem_entry_id}, REDEEM entry"
                f" {redeems[0].entry_id} took {-redeems[0].points}"
            )
    return problems


def _play_row_problems(history: History, index: _Index) -> list[str]:
    """Every play row is some play's stored answer; a winning play has one GAME_WIN entry, a losing none."""
    problems: list[str] = []
    answered = {
        history.key_objects[op.key]
        for op in history.ops
        if op.kind == "play" and op.key in history.key_objects
    }
    for play in history.plays:
        name = f"play {play.play_id} (member {play.member_id})"
        if play.play_id not in answered:
            problems.append(f"{name}: belongs to no play operation's answer")
        wins = index.by_ref.get(("game_win", play.play_id), [])
        if len(wins) != (1 if play.prize_id else 0):
            problems.append(f"{name}: prize {play.prize_id!r} with {len(wins)} GAME_WIN entries")
    return problems


def _purchase_table_problems(history: History) -> list[str]:
    """Every purchase row and order claim is some purchase's; every committed key has its answer."""
    problems = [f"key {key}: committed without an answer" for key in history.unanswered_keys]
    orders = {call.order_id for op in history.ops for call in op.ledger_ops() if call.kind == "purchase"}
    for row in history.purchases:
        if row.order_id not in orders:
            problems.append(
                f"purchase {row.purchase_id} (member {row.member_id}): order {row.order_id} unknown"
            )
    for claim in history.orders:
        if claim.order_id not in orders:
            problems.append(f"order claim {claim.order_id} ({claim.purchase_id}): belongs to no purchase")
    return problems


def _stock_problems(history: History) -> list[str]:
    """No reward or prize handed out beyond its stock, and the counters add up."""
    problems: list[str] = []
    for stock in history.stocks:
        if stock.kind == "reward":
            held = sum(v.reward_id == stock.item_id and v.state in _HOLDING_STOCK for v in history.vouchers)
            if held > stock.total or stock.total != stock.remaining + held:
                problems.append(
                    f"reward {stock.item_id}: stock_total {stock.total}, remaining {stock.remaining},"
                    f" {held} vouchers issued/used/expired"
                )
        else:
            won = sum(f"{p.game_id}:{p.prize_id}" == stock.item_id for p in history.plays)
            if won > stock.total or stock.remaining != stock.total - won:
                problems.append(
                    f"prize {stock.item_id}: stock {stock.total}, remaining {stock.remaining},"
                    f" won {won} times"
                )
    return problems


_SIGNS = {"purchase": 1, "play": 1, "spend": -1, "redeem": -1}
_ENTRY_TYPES = {"purchase": "earn", "redeem": "redeem", "play": "game_win"}


def _member_problems(history: History, owner: dict[str, Op]) -> list[str]:
    """Replay each member's entries in commit order through the model."""
    problems: list[str] = []
    by_member: dict[str, list[Applied]] = defaultdict(list)
    for entry in history.entries:
        by_member[entry.member_id].append(entry)
    for member_id in sorted(set(by_member) | set(history.final_balances)):
        balance = 0
        for entry in sorted(by_member.get(member_id, []), key=lambda e: e.entry_seq):
            op = owner.get(entry.entry_id)
            kind = op.kind if op else None
            if op is None:
                problems.append(f"member {member_id}: entry {entry.entry_id} belongs to no operation")
            elif op.member_id != member_id:
                problems.append(
                    f"member {member_id}: entry {entry.entry_id} is op {op.op_id}'s of {op.member_id}"
                )
            if kind and (entry.points * _SIGNS[kind] < 0 or (_SIGNS[kind] < 0 and entry.points == 0)):
                problems.append(f"member {member_id}: {kind} entry {entry.entry_id} has {entry.points}")
            if kind in _ENTRY_TYPES and entry.entry_type != _ENTRY_TYPES[kind]:
                problems.append(f"member {member_id}: {kind} entry {entry.entry_id} is a {entry.entry_type}")
            balance += entry.points
            if kind in ("spend", "redeem") and balance < 0:
                problems.append(f"member {member_id}: {kind} {entry.entry_id} took the balance to {balance}")
            if balance != entry.balance_after:
                problems.append(
                    f"member {member_id}: model {balance} != balance_after {entry.balance_after}"
                    f" at entry {entry.entry_id}"
                )
        final = history.final_balances.get(member_id, 0)
        if final != balance:
            problems.append(f"member {member_id}: final balance {final} != model {balance}")
    return problems


def check(history: History) -> list[str]:
    """Every violation of the rules found in `history` (empty when the run was correct)."""
    index = _Index.of(history)
    problems = [
        *_op_problems(history, index),
        *_voucher_problems(history, index),
        *_play_row_problems(history, index),
        *_purchase_table_problems(history),
        *_stock_problems(history),
        *_member_problems(history, index.owners(history)),
    ]
    if len(problems) > _VIOLATIONS_MAX:
        problems = [*problems[:_VIOLATIONS_MAX], f"... and {len(problems) - _VIOLATIONS_MAX} more"]
    return problems


def _repeated_keys(history: History) -> set[str]:
    """Keys sent more than once within one upload."""
    repeated: set[str] = set()
    for op in history.ops:
        keys = [item.key for item in op.items]
        repeated |= {key for key in keys if keys.count(key) > 1}
    return repeated


def summary(history: History) -> dict[str, int]:
    attempts = sum(len(op.attempts) for op in history.ops)
    items = [item for op in history.ops for item in op.items]

    def acked(kind: str) -> int:
        return sum(op.kind == kind and op.outcome == "ack" for op in history.ops)

    return {
        "operations": len(history.ops),
        "attempts": attempts,
        "retries": attempts - len(history.ops),
        "acknowledged": sum(op.outcome == "ack" for op in history.ops),
        "refused": sum(op.outcome == "refused" for op in history.ops),
        "unknown": sum(op.outcome == "unknown" for op in history.ops),
        "unknown_applied": sum(
            op.outcome == "unknown" and (op.key in history.key_entries or op.key in history.key_objects)
            for op in history.ops
        ),
        "ledger_entries": len(history.entries),
        "redemptions": sum(op.kind == "redeem" for op in history.ops),
        "redemptions_acknowledged": acked("redeem"),
        "out_of_stock": sum(op.kind == "redeem" and "OUT_OF_STOCK" in op.refusal for op in history.ops),
        "vouchers": len(history.vouchers),
        "plays": sum(op.kind == "play" for op in history.ops),
        "plays_acknowledged": acked("play"),
        "play_rows": len(history.plays),
        "prize_wins": sum(bool(play.prize_id) for play in history.plays),
        "uploads": sum(op.kind == "upload" for op in history.ops),
        "uploads_acknowledged": acked("upload"),
        "upload_items": len(items),
        "upload_items_acknowledged": sum(item.outcome == "ack" for item in items),
        "upload_items_refused": sum(item.outcome == "refused" for item in items),
        "upload_items_repeated": len(items) - len({item.key for item in items}),
        "upload_items_written_by_an_earlier_attempt": len(
            {item.key for item in items if item.duplicate} - _repeated_keys(history)
        ),
        "upload_items_unknown_applied": sum(
            item.outcome == "unknown" and item.key in history.key_purchases for item in items
        ),
    }


def main(argv: list[str]) -> int:
    history = History.load(Path(argv[0]))
    problems = check(history)
    print(json.dumps({"seed": history.seed, **summary(history)}))
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
