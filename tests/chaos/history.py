"""A seeded chaos run's history and the Elle-style check of it against a model of the ledger rules.

Clients record every logical operation (a purchase credit or a spend) with each attempt's answer; after the
run the database is read back as `Applied` rows (an operation is applied iff its idempotency key holds an
answer, and that answer names its ledger entry). `check` then replays, member by member in the ledger's
commit order, a model where credits add and spends subtract, and lists every violation:

- an acknowledged operation is missing, applied twice, or applied with other points than acknowledged;
- a refused operation (a definitive error) was applied;
- an operation whose outcome the client never learned was applied more than once;
- a ledger entry belongs to no operation;
- the model's balance differs from an entry's balance_after or from the final balance, or a spend took
  the model's balance below zero.

The history is JSON: `python -m tests.chaos.history FILE` checks a saved run again (replayable), and the
run's seed reproduces its schedule of operations, kills and restarts.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["Applied", "Attempt", "History", "Op", "check"]

Kind = Literal["purchase", "spend"]
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
    """amount_minor of a purchase, points of a spend."""
    attempts: list[Attempt] = field(default_factory=list)
    outcome: Outcome = "unknown"
    refusal: str = ""
    entry_id: str = ""
    points: int = 0
    """Signed points of the acknowledged entry (+ credit, - spend)."""
    ack_available: int = 0


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


@dataclass
class History:
    seed: int
    ops: list[Op] = field(default_factory=list)
    key_entries: dict[str, str] = field(default_factory=dict)
    """idempotency key -> entry_id of its stored answer (only keys whose operation was applied)."""
    entries: list[Applied] = field(default_factory=list)
    final_balances: dict[str, int] = field(default_factory=dict)
    """member_id -> available + pending at the end."""

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> History:
        raw = json.loads(path.read_text())
        ops = [Op(**{**o, "attempts": [Attempt(**a) for a in o["attempts"]]}) for o in raw["ops"]]
        return cls(
            seed=raw["seed"],
            ops=ops,
            key_entries=raw["key_entries"],
            entries=[Applied(**e) for e in raw["entries"]],
            final_balances=raw["final_balances"],
        )


_VIOLATIONS_MAX = 50


def _op_problems(history: History, by_entry: dict[str, list[Applied]]) -> list[str]:
    problems: list[str] = []
    for op in history.ops:
        entry_id = history.key_entries.get(op.key)
        copies = by_entry.get(entry_id, []) if entry_id else []
        name = f"op {op.op_id} ({op.kind} {op.key} member {op.member_id})"
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
    return problems


def _member_problems(history: History, owned: set[str]) -> list[str]:
    """Replay each member's entries in commit order through the model."""
    problems: list[str] = []
    kinds = {history.key_entries[op.key]: op.kind for op in history.ops if op.key in history.key_entries}
    by_member: dict[str, list[Applied]] = defaultdict(list)
    for entry in history.entries:
        by_member[entry.member_id].append(entry)
    for member_id in sorted(set(by_member) | set(history.final_balances)):
        balance = 0
        for entry in sorted(by_member.get(member_id, []), key=lambda e: e.entry_seq):
            if entry.entry_id not in owned:
                problems.append(f"member {member_id}: entry {entry.entry_id} belongs to no operation")
            kind = kinds.get(entry.entry_id)
            if (kind == "purchase" and entry.points < 0) or (kind == "spend" and entry.points >= 0):
                problems.append(f"member {member_id}: {kind} entry {entry.entry_id} has {entry.points}")
            balance += entry.points
            if kind == "spend" and balance < 0:
                problems.append(f"member {member_id}: spend {entry.entry_id} took the balance to {balance}")
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
    by_entry: dict[str, list[Applied]] = defaultdict(list)
    for entry in history.entries:
        by_entry[entry.entry_id].append(entry)
    owned = {entry_id for key, entry_id in history.key_entries.items()}
    problems = _op_problems(history, by_entry) + _member_problems(history, owned)
    if len(problems) > _VIOLATIONS_MAX:
        problems = [*problems[:_VIOLATIONS_MAX], f"... and {len(problems) - _VIOLATIONS_MAX} more"]
    return problems


def summary(history: History) -> dict[str, int]:
    attempts = sum(len(op.attempts) for op in history.ops)
    return {
        "operations": len(history.ops),
        "attempts": attempts,
        "retries": attempts - len(history.ops),
        "acknowledged": sum(op.outcome == "ack" for op in history.ops),
        "refused": sum(op.outcome == "refused" for op in history.ops),
        "unknown": sum(op.outcome == "unknown" for op in history.ops),
        "unknown_applied": sum(
            op.outcome == "unknown" and op.key in history.key_entries for op in history.ops
        ),
        "ledger_entries": len(history.entries),
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
