"""A stream's inbox (hub.Subscription) against a model: whatever the hub hands over or fails to, in any
interleaving with the stream's own sends and reads, the stream delivers every event once, in order."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from loyalty_service.events.feed import StoredEvent
from loyalty_service.events.subscription import Subscription

_BATCH = 5
_INBOX = 8


def _event(seq: int) -> StoredEvent:
    return StoredEvent(
        member_id="mem_a",
        seq=seq,
        event_id=seq,
        event_type="points_changed",
        payload=b"",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        age_seconds=0.0,
    )


class InboxMachine(RuleBasedStateMachine):
    """The outbox holds seq 1..committed. The stream sends one event per step from its local batch, and
    when the batch is done takes what was handed over, or reads the outbox itself (`_BATCH` at most, and
    again at once after a full batch), as `LiveServicer._watch_member` does.
    The hub offers any range it read (also stale, partial or gapped ones) or wakes the stream."""

    def __init__(self) -> None:
        super().__init__()
        self.subscription = Subscription("mem_a", inbox_limit=_INBOX)
        self.committed = 0
        self.local: list[StoredEvent] = []
        self.sent: list[int] = []
        self.after = 0
        self.read_again = False

    @rule(count=st.integers(1, 6))
    def commit(self, count: int) -> None:
        self.committed += count

    @rule(data=st.data())
    def hub_offers_a_range(self, data: st.DataObject) -> None:
        upto = data.draw(st.integers(0, self.committed))
        after = data.draw(st.integers(0, upto))
        self.subscription.offer([_event(seq) for seq in range(after + 1, upto + 1)])

    @rule()
    def hub_offers_what_it_should(self) -> None:
        """The hub's own round: from what the subscriber has up to the newest announced."""
        have = self.subscription.has
        self.subscription.offer([_event(seq) for seq in range(have + 1, self.committed + 1)])

    @rule()
    def hub_wakes(self) -> None:
        self.subscription.wake()

    @precondition(lambda self: bool(self.local))
    @rule()
    def stream_sends_one(self) -> None:
        event = self.local.pop(0)
        self.sent.append(event.seq)
        self.after = self.subscription.delivered = event.seq

    @precondition(lambda self: not self.local)
    @rule()
    def stream_takes_or_reads(self) -> None:
        handed = None if self.read_again else self.subscription.take(self.after)
        if handed is None:
            upto = min(self.after + _BATCH, self.committed)
            handed = [_event(seq) for seq in range(self.after + 1, upto + 1)]
            self.read_again = len(handed) == _BATCH  # a full batch: there may be more
        self.local = list(handed)

    @invariant()
    def delivered_in_order_without_loss_or_repeat(self) -> None:
        assert self.sent == list(range(1, len(self.sent) + 1))

    @invariant()
    def the_inbox_stays_bounded(self) -> None:
        assert self.subscription.has - self.subscription.delivered <= _INBOX + _BATCH

    def teardown(self) -> None:
        """After the last commit's round, the stream catches up with everything committed."""
        self.hub_offers_what_it_should()
        for _ in range(4 * self.committed + 4):
            if self.local:
                self.stream_sends_one()
            else:
                self.stream_takes_or_reads()
                if not self.local and not self.read_again:
                    break
        assert self.sent == list(range(1, self.committed + 1))


InboxMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)
test_the_inbox_never_loses_or_repeats_an_event = InboxMachine.TestCase
