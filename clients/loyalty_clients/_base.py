"""What every async client shares: its transport, its channel and store, closing, a safe repr."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from loyalty_clients._models import Channel
from loyalty_clients._transport import RetryPolicy, TlsConfig, Transport

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "ClientBase"]

DEFAULT_TIMEOUT_SECONDS = 10.0


class ClientBase:
    """An async client bound to one target and one credential. Use `async with` or call `close()`."""

    _channel: Channel = Channel.UNSPECIFIED

    def __init__(
        self,
        *,
        target: str,
        secret: str,
        store_id: str = "",
        tls: TlsConfig | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy | None = None,
        channel_options: tuple[tuple[str, str | int], ...] = (),
    ) -> None:
        self._transport = Transport(
            target=target,
            secret=secret,
            tls=tls,
            timeout_seconds=timeout_seconds,
            retry=retry or RetryPolicy(),
            channel_options=channel_options,
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
