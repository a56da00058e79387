"""Slowing down code guessing: too many GetVoucher/UseVoucher misses from one credential.

A miss is an unknown code (NOT_FOUND) or a mistyped one (INVALID_ARGUMENT "mistyped"). After
`max_misses` misses within `window_seconds`, the credential's lookups are refused with
RESOURCE_EXHAUSTED (google.rpc.RetryInfo says when the oldest miss leaves the window) until then.

The window is kept in process memory, per replica: behind a load balancer over N replicas a guesser
gets at most N x max_misses tries per window. With 75-bit codes that is still hopeless; the limit is
about noise and cost, not the security of the codes.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

from loyalty_service.errors import ResourceExhausted

__all__ = ["MissGuard"]


class MissGuard:
    def __init__(
        self,
        *,
        max_misses: int = 20,
        window_seconds: float = 60.0,
        max_tracked: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_misses = max_misses
        """Misses allowed per credential within the window."""
        self.window_seconds = window_seconds
        self.max_tracked = max_tracked
        """Credentials remembered at most (the least recently missing are forgotten first)."""
        self._clock = clock
        self._misses: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()

    def _recent(self, credential_id: str, now: float) -> collections.deque[float]:
        misses = self._misses.get(credential_id)
        if misses is None:
            return collections.deque()
        while misses and misses[0] <= now - self.window_seconds:
            misses.popleft()
        if not misses:
            del self._misses[credential_id]
        return misses

    def check(self, credential_id: str) -> None:
        """Refuse the lookup if the credential missed too often lately."""
        now = self._clock()
        misses = self._recent(credential_id, now)
        if len(misses) >= self.max_misses:
            retry_after = misses[0] + self.window_seconds - now
            raise ResourceExhausted(
                f"too many unknown or mistyped voucher codes; retry in {retry_after:.0f} s",
                retry_after_seconds=retry_after,
                reason="VOUCHER_LOOKUPS_EXHAUSTED",
            )

    def record_miss(self, credential_id: str) -> None:
        now = self._clock()
        misses = self._recent(credential_id, now)
        misses.append(now)
        while len(misses) > self.max_misses:
            misses.popleft()
        self._misses[credential_id] = misses
        self._misses.move_to_end(credential_id)
        while len(self._misses) > self.max_tracked:
            self._misses.popitem(last=False)
