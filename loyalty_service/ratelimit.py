"""Per-credential rate limits: a token bucket per caller, in memory, per process (per replica).

Each caller (an API key's credential; a member token counts as its member, so one app user cannot use up
the app back end's allowance) gets `burst` tokens, refilled at `per_second`; a call takes one. An empty
bucket answers RESOURCE_EXHAUSTED with google.rpc.RetryInfo saying when the next token is due. The
limit is per replica: behind a load balancer spreading calls over N replicas a caller gets up to N times
the rate, which is the price of keeping the hot path free of shared state (documented in the README).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from loyalty_service.config import Settings
from loyalty_service.errors import ResourceExhausted

__all__ = ["RateLimiter", "TokenBucket", "rate_limiter"]

_BUCKETS_MAX = 100_000
"""Callers remembered at once; past it, buckets that are full again (idle callers) are dropped."""


@dataclass(slots=True)
class TokenBucket:
    tokens: float
    updated: float

    def take(self, *, now: float, per_second: float, burst: float) -> float:
        """Take one token; returns 0.0 when taken, else the seconds until one is due (nothing taken)."""
        self.tokens = min(burst, self.tokens + max(0.0, now - self.updated) * per_second)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / per_second


class RateLimiter:
    def __init__(self, *, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        assert per_second > 0, "a limiter with no rate is no limiter: pass None instead"
        assert burst >= 1
        self.per_second = per_second
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, caller: str) -> None:
        """Take one token for `caller`, or raise ResourceExhausted with the delay until the next one."""
        now = self._clock()
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= _BUCKETS_MAX:
                self._forget_idle(now)
            bucket = self._buckets[caller] = TokenBucket(tokens=self.burst, updated=now)
        wait = bucket.take(now=now, per_second=self.per_second, burst=self.burst)
        if wait > 0:
            raise ResourceExhausted(
                f"rate limit of {self.per_second:g} calls/s (burst {self.burst:g}) reached for this caller",
                retry_after_seconds=round(wait, 3),
                reason="RATE_LIMITED",
            )

    def _forget_idle(self, now: float) -> None:
        refill_seconds = self.burst / self.per_second
        idle = [k for k, b in self._buckets.items() if now - b.updated >= refill_seconds]
        for key in idle:
            del self._buckets[key]
        if len(self._buckets) >= _BUCKETS_MAX:  # all busy: start over rather than grow without bound
            self._buckets.clear()


def rate_limiter(settings: Settings) -> RateLimiter | None:
    """The limiter the settings ask for; None when LOYALTY_RATE_LIMIT_PER_SECOND is 0 (off)."""
    if settings.rate_limit_per_second <= 0:
        return None
    burst = settings.rate_limit_burst or max(1, int(settings.rate_limit_per_second))
    return RateLimiter(per_second=settings.rate_limit_per_second, burst=burst)
