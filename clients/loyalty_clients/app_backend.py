"""The mobile app's back end: it enrols members and issues the member tokens the app calls with."""

from __future__ import annotations

from loyalty_clients import _operations as ops
from loyalty_clients import _ops_events as live
from loyalty_clients._base import DEFAULT_TIMEOUT_SECONDS
from loyalty_clients._blocking import BlockingClient, blocking, blocking_iterator
from loyalty_clients._models import Channel
from loyalty_clients._transport import RetryPolicy, TlsConfig

__all__ = ["AppBackendClient", "AsyncAppBackendClient"]


class AsyncAppBackendClient(
    ops.MemberLookup,
    ops.MemberEnrolment,
    ops.Consents,
    ops.MemberTokens,
    ops.Balances,
    ops.History,
    live.MemberWatching,
):
    """The app back end (an `app_backend` credential).

    >>> async with AsyncAppBackendClient(api_key=key, target="loyalty:50051") as backend:
    ...     token = await backend.issue_member_token(member_id=member.member_id)
    """

    _channel = Channel.APP

    def __init__(
        self,
        *,
        api_key: str,
        target: str,
        tls: TlsConfig | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy | None = None,
        channel_options: tuple[tuple[str, str | int], ...] = (),
    ) -> None:
        super().__init__(
            target=target,
            secret=api_key,
            tls=tls,
            timeout_seconds=timeout_seconds,
            retry=retry,
            channel_options=channel_options,
        )


class AppBackendClient(BlockingClient[AsyncAppBackendClient]):
    """The blocking app back-end client; same arguments and methods as `AsyncAppBackendClient`.

    >>> with AppBackendClient(api_key=key, target="loyalty:50051") as backend:
    ...     token = backend.issue_member_token(member_id=member.member_id)
    """

    def __init__(
        self,
        *,
        api_key: str,
        target: str,
        tls: TlsConfig | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy | None = None,
        channel_options: tuple[tuple[str, str | int], ...] = (),
    ) -> None:
        super().__init__(
            AsyncAppBackendClient(
                api_key=api_key,
                target=target,
                tls=tls,
                timeout_seconds=timeout_seconds,
                retry=retry,
                channel_options=channel_options,
            )
        )

    lookup_member = blocking(AsyncAppBackendClient.lookup_member)
    get_member = blocking(AsyncAppBackendClient.get_member)
    enroll_member = blocking(AsyncAppBackendClient.enroll_member)
    link_identifier = blocking(AsyncAppBackendClient.link_identifier)
    update_consent = blocking(AsyncAppBackendClient.update_consent)
    issue_member_token = blocking(AsyncAppBackendClient.issue_member_token)
    balance = blocking(AsyncAppBackendClient.balance)
    list_ledger_entries = blocking(AsyncAppBackendClient.list_ledger_entries)
    history = blocking_iterator(AsyncAppBackendClient.history)
    watch_member = blocking_iterator(AsyncAppBackendClient.watch_member)
