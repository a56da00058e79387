"""What every async client shares: its transport, its channel and store, closing, a safe repr.

`ConnectionOptions` are the keyword arguments every client constructor, async or blocking, accepts after
its own (`**options: Unpack[ConnectionOptions]`): they are declared once, here.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self, TypedDict, Unpack

from loyalty_clients._models import Channel
from loyalty_clients._transport import RetryPolicy, TlsConfig, Transport

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "ClientBase", "ConnectionOptions"]

DEFAULT_TIMEOUT_SECONDS = 10.0


class ConnectionOptions(TypedDict, total=False):
    """How a client reaches the service; every key is optional."""

    tls: TlsConfig | None
    """TLS or mutual TLS; None (the default) opens a plain channel."""
    timeout_seconds: float
    """Deadline of each attempt of a call (default `DEFAULT_TIMEOUT_SECONDS`, 10 s)."""
    retry: RetryPolicy | None
    """How UNAVAILABLE and DEADLINE_EXCEEDED are retried; None: `RetryPolicy()`."""
    channel_options: tuple[tuple[str, str | int], ...]
    """Extra grpc channel arguments, after the clients' own."""


class ClientBase:
    """An async client bound to one target and one credential. Use `async with` or call `close()`."""

    _channel: Channel = Channel.UNSPECIFIED

    def __init__(
        self, *, target: str, secret: str, store_id: str = "", **options: Unpack[ConnectionOptions]
    ) -> None:
        self._transport = Transport(
            target=target,
            secret=secret,
            tls=options.get("tls"),
            timeout_seconds=options.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS),
            retry=options.get("retry") or RetryPolicy(),
            channel_options=options.get("channel_options", ()),
        )
        self._store_id = store_id

    @property
    def target(self) -> str:
        return self._transport.target

    def __repr__(self) -> str:
        store = f", store_id={self._store_id!r}" if self._store_id else ""
        return f"{type(self).__name__}(target={self._transport.target!r}{store})"

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        await self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()
