"""Type aliases for the grpc.aio types that servicers and interceptors annotate with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import grpc

__all__ = ["Context", "Handler"]

if TYPE_CHECKING:
    Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
else:
    Context = grpc.aio.ServicerContext
    Handler = grpc.RpcMethodHandler
