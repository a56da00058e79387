"""Channels, credentials, deadlines, retries and idempotency keys: how every client call travels.

Every call has a deadline (`timeout_seconds` per attempt). UNAVAILABLE and DEADLINE_EXCEEDED are
retried up to `RetryPolicy.max_attempts` times with exponential backoff and full jitter; a write is
built once, with its idempotency key, so every attempt sends the same key and the service applies it
once. The API key travels as `authorization: Bearer <key>` and is never logged nor shown by repr().
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from loyalty_clients._errors import LoyaltyClientError, from_rpc_error

__all__ = ["RetryPolicy", "TlsConfig", "Transport", "new_idempotency_key"]

R = TypeVar("R", bound=Message)

_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
# A channel of its own subchannels, so a new client (a restarted till) does not inherit another
# channel's connection backoff to the same address.
_DEFAULT_CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 200),
    # Reconnect quickly when a replica comes back, instead of gRPC's default of up to two minutes.
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 5000),
)


def new_idempotency_key() -> str:
    """A fresh key for one logical write: `lc-` and a uuid4 in hex (printable, 35 characters)."""
    return "lc-" + uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How UNAVAILABLE and DEADLINE_EXCEEDED are retried (with the same idempotency key)."""

    max_attempts: int = 4
    """Attempts in all, the first included; 1 turns retries off."""
    initial_backoff_seconds: float = 0.1
    """Upper bound of the first wait; each later bound is `multiplier` times the previous one."""
    max_backoff_seconds: float = 2.0
    """No wait bound grows past this."""
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.max_attempts > 20:
            raise ValueError("max_attempts must be within 1-20")

    def backoff_seconds(self, attempt: int) -> float:
        """Full jitter: a uniform wait in [0, bound] after failed attempt number `attempt` (1-based)."""
        bound = min(self.max_backoff_seconds, self.initial_backoff_seconds * self.multiplier ** (attempt - 1))
        return random.uniform(0.0, bound)


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """TLS for the channel; give a client certificate and key as well for mutual TLS."""

    root_certificates: bytes | None = None
    """PEM roots to trust; None uses the system's."""
    private_key: bytes | None = field(default=None, repr=False)
    """PEM key of the client certificate (mutual TLS)."""
    certificate_chain: bytes | None = None
    """PEM client certificate chain (mutual TLS)."""


class _Secret:
    """A string that never shows itself in repr() or str()."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


class Transport:
    """One lazily opened grpc.aio channel and the call discipline every client method follows."""

    def __init__(
        self,
        *,
        target: str,
        secret: str,
        tls: TlsConfig | None,
        timeout_seconds: float,
        retry: RetryPolicy,
        channel_options: tuple[tuple[str, str | int], ...] = (),
    ) -> None:
        if not secret:
            raise ValueError("a key or member token is required")
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self.target = target
        self.timeout_seconds = timeout_seconds
        self.retry = retry
        self._secret = _Secret(secret)
        self._tls = tls
        self._options = (*_DEFAULT_CHANNEL_OPTIONS, *channel_options)
        self._channel: grpc.aio.Channel | None = None

    def __repr__(self) -> str:
        return f"Transport(target={self.target!r}, tls={self._tls is not None})"

    def _open(self) -> grpc.aio.Channel:
        if self._channel is None:
            if self._tls is None:
                self._channel = grpc.aio.insecure_channel(self.target, options=self._options)
            else:
                credentials = grpc.ssl_channel_credentials(
                    root_certificates=self._tls.root_certificates,
                    private_key=self._tls.private_key,
                    certificate_chain=self._tls.certificate_chain,
                )
                self._channel = grpc.aio.secure_channel(self.target, credentials, options=self._options)
        return self._channel

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close()

    async def call(
        self, method: str, request: Message, response_type: type[R], *, timeout_seconds: float | None = None
    ) -> R:
        """Call `method` (e.g. "/loyalty.v1.LedgerService/GetBalance") with deadlines and retries.

        `request` is sent unchanged on every attempt, idempotency key included.
        """
        stub: grpc.aio.UnaryUnaryMultiCallable[Message, R] = self._open().unary_unary(
            method,
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        metadata = (("authorization", f"Bearer {self._secret.reveal()}"),)
        timeout = timeout_seconds if timeout_seconds is not None else self.timeout_seconds
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                answer = await stub(request, timeout=timeout, metadata=metadata)
                assert isinstance(answer, response_type)
                return answer
            except grpc.RpcError as error:
                typed = from_rpc_error(error)
                if typed.code not in _RETRYABLE or attempt == self.retry.max_attempts:
                    raise typed from None
            await asyncio.sleep(self.retry.backoff_seconds(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def stream(self, method: str, request: Message, response_type: type[R]) -> AsyncIterator[R]:
        """A server stream without a deadline (it lives as long as the caller reads); errors are typed.

        No retry here: a stream that breaks is resumed by its caller from the last item it received.
        """
        stub: grpc.aio.UnaryStreamMultiCallable[Message, R] = self._open().unary_stream(
            method,
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        call = stub(request, metadata=(("authorization", f"Bearer {self._secret.reveal()}"),))
        try:
            async for item in call:
                assert isinstance(item, response_type)
                yield item
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        finally:
            call.cancel()


def is_retryable(error: LoyaltyClientError) -> bool:
    return error.code in _RETRYABLE
