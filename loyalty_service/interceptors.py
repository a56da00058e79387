"""The one interceptor chain: authenticate, authorise, run, map errors, count, log.

It wraps each handler's behaviour (not the transport), so the ContextVar it sets is seen by the
servicer. Expected failures (LoyaltyError) become their status with google.rpc details; anything else is
logged with its traceback and answered INTERNAL without internals.

Request bytes that do not parse (bad wire format, invalid UTF-8 in a string field) would fail inside
grpc's deserializer, before any handler runs, and come back UNKNOWN; `_tolerant` turns them into an
`_Undecodable` marker that the wrapper answers INVALID_ARGUMENT, like any other bad request.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from loyalty_service import metrics
from loyalty_service.auth.authenticator import Authenticator
from loyalty_service.auth.policy import PUBLIC_SERVICES, allowed_kinds
from loyalty_service.auth.principal import Principal, principal_var
from loyalty_service.db.transaction import as_unavailable
from loyalty_service.errors import FieldViolation, InvalidArgument, LoyaltyError, PermissionDenied, to_status
from loyalty_service.grpc_types import Context, Handler
from loyalty_service.ratelimit import RateLimiter

__all__ = ["CallInterceptor"]

_log = logging.getLogger("loyalty_service.calls")
_DETAILS_KEY = "grpc-status-details-bin"


class _Undecodable:
    """What a request that could not be parsed becomes; the handler wrapper refuses it."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as error:  # protobuf raises DecodeError, and others for some malformed inputs
            return _Undecodable(error)

    return deserialize


def _refuse_undecodable(request: Any) -> None:
    if isinstance(request, _Undecodable):
        raise InvalidArgument(
            [FieldViolation("request", "not a valid serialised message of this method's request type")]
        )


def _service_of(method: str) -> str:
    return method.strip("/").split("/", 1)[0]


class _Call:
    """What one call did, for its log line and metrics."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.started = time.perf_counter()
        self.code = grpc.StatusCode.OK
        self.principal: Principal | None = None
        self.request_id = uuid.uuid4().hex[:16]

    def finish(self) -> None:
        duration = time.perf_counter() - self.started
        name = self.method.rsplit("/", 1)[-1]
        metrics.CALLS.labels(name, self.code.name).inc()
        metrics.LATENCY.labels(name).observe(duration)
        fields = {
            "method": self.method,
            "code": self.code.name,
            "duration_ms": round(duration * 1000, 2),
            "credential_id": self.principal.log_id if self.principal else None,
            "request_id": self.request_id,
        }
        level = (
            logging.ERROR
            if self.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
            else logging.INFO
        )
        _log.log(level, "call", extra={"fields": fields})


class CallInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, authenticator: Authenticator, *, rate_limiter: RateLimiter | None = None) -> None:
        self._authenticator = authenticator
        self._rate_limiter = rate_limiter

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None or _service_of(details.method) in PUBLIC_SERVICES:
            return handler
        method: str = details.method
        metadata = details.invocation_metadata
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, metadata, handler.unary_unary),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, metadata, handler.unary_stream),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        # Request-streaming RPCs go through the same checks (the wrappers pass the iterator through):
        # returning them unwrapped would serve them with no authentication at all.
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(method, metadata, handler.stream_unary),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._wrap_stream(method, metadata, handler.stream_stream),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        raise AssertionError(f"{method}: a handler of no known kind")

    async def _admit(self, call: _Call, metadata: Any) -> None:
        principal = await self._authenticator.authenticate(metadata)
        call.principal = principal
        allowed = allowed_kinds(call.method)
        if allowed is None or principal.kind not in allowed:
            raise PermissionDenied(f"a {principal.kind.value} credential may not call {call.method}")
        if self._rate_limiter is not None:  # per caller: a member token counts as its member
            self._rate_limiter.check(principal.idempotency_scope)
        principal_var.set(principal)

    def _wrap_unary(self, method: str, metadata: Any, behaviour: Any) -> Any:
        async def wrapper(request: Any, context: Context) -> Any:
            call = _Call(method)
            try:
                await self._admit(call, metadata)
                _refuse_undecodable(request)
                return await behaviour(request, context)
            except BaseException as error:
                await self._fail(call, context, error)
            finally:
                call.finish()

        return wrapper

    def _wrap_stream(self, method: str, metadata: Any, behaviour: Any) -> Any:
        async def wrapper(request: Any, context: Context) -> AsyncIterator[Any]:
            call = _Call(method)
            try:
                await self._admit(call, metadata)
                _refuse_undecodable(request)
                async for item in behaviour(request, context):
                    yield item
            except BaseException as error:
                await self._fail(call, context, error)
            finally:
                call.finish()

        return wrapper

    async def _fail(self, call: _Call, context: Context, error: BaseException) -> None:
        """Answer `error` as a status; re-raises what is not ours to answer (cancellation, aborts)."""
        unavailable = as_unavailable(error)
        if unavailable is not None:
            error = unavailable
        if isinstance(error, LoyaltyError):
            call.code = error.code
            status = to_status(error)
            await context.abort(
                error.code, error.message, trailing_metadata=((_DETAILS_KEY, status.SerializeToString()),)
            )
        if isinstance(error, NotImplementedError):
            # The generated servicer base class raises it for an RPC not written yet.
            call.code = grpc.StatusCode.UNIMPLEMENTED
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{call.method} is not implemented")
        if isinstance(error, Exception) and not _is_abort(error):
            call.code = grpc.StatusCode.INTERNAL
            _log.exception(
                "unexpected error", extra={"fields": {"method": call.method, "request_id": call.request_id}}
            )
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request {call.request_id})")
        code = context.code() if hasattr(context, "code") else None
        if isinstance(code, grpc.StatusCode):
            call.code = code
        elif isinstance(error, BaseException) and not isinstance(error, Exception):
            call.code = grpc.StatusCode.CANCELLED
        raise error


def _is_abort(error: BaseException) -> bool:
    return type(error).__name__ == "AbortError"
