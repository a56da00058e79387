"""Blocking variants that run the async clients' own code on a private event loop thread.

`blocking(AsyncPosClient.balance)` turns one async method into a blocking one with the same signature
and docstring; `blocking_iterator` does the same for async iterators; `constructed_like(AsyncPosClient)`
gives the blocking class's `__init__` the async class's constructor arguments. There is one implementation
of every call and one declaration of every argument: the blocking classes hold no logic.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar

from loyalty_clients._base import ClientBase

__all__ = ["BlockingClient", "blocking", "blocking_iterator", "constructed_like"]

A = TypeVar("A", bound=ClientBase)
A_co = TypeVar("A_co", bound=ClientBase, covariant=True)
B = TypeVar("B", bound="BlockingClient[Any]")
P = ParamSpec("P")
R = TypeVar("R")


class _LoopThread:
    """An event loop running in a daemon thread, for as long as the blocking client is open."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, R]) -> R:
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("a blocking client cannot be called from its own loop thread")
        future: Future[R] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result()

    def stop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()


class BlockingClient(Generic[A_co]):
    """Holds one async client and the loop thread its calls run on. Use `with` or call `close()`."""

    def __init__(self, client: A_co) -> None:
        self._async = client
        self._runner = _LoopThread(f"{type(self).__name__}-loop")
        self._closed = False

    @property
    def async_client(self) -> A_co:
        """The async client underneath (its coroutines must run on this client's loop: do not await them)."""
        return self._async

    def __repr__(self) -> str:
        return repr(self._async).replace("Async", "", 1)

    def close(self) -> None:
        """Close the channel and stop the loop thread."""
        if not self._closed:
            self._closed = True
            self._runner.run(self._async.close())
            self._runner.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def constructed_like(
    client_class: Callable[P, A],
) -> Callable[[Callable[[B, A], None]], Callable[Concatenate[B, P], None]]:
    """Decorates a blocking class's `__init__(self, client)` so that it takes `client_class`'s arguments.

    The user calls `PosClient(store_id=..., api_key=..., target=...)` exactly as `AsyncPosClient(...)`: mypy
    and `inspect.signature` both see the async constructor's keyword arguments and defaults, declared once.

    >>> class PosClient(BlockingClient[AsyncPosClient]):
    ...     @constructed_like(AsyncPosClient)
    ...     def __init__(self, client: AsyncPosClient) -> None:
    ...         super().__init__(client)
    """

    def decorate(init: Callable[[B, A], None]) -> Callable[Concatenate[B, P], None]:
        @functools.wraps(init)
        def __init__(self: B, /, *args: P.args, **kwargs: P.kwargs) -> None:
            init(self, client_class(*args, **kwargs))

        # `inspect.signature` follows `__wrapped__`: show the async constructor's arguments.
        return functools.update_wrapper(__init__, client_class.__init__, assigned=(), updated=())

    return decorate


def blocking(
    method: Callable[Concatenate[A, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[BlockingClient[A], P], R]:
    """The blocking twin of an async client method."""

    @functools.wraps(method)
    def run(self: BlockingClient[A], /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._runner.run(method(self._async, *args, **kwargs))

    return run


def blocking_iterator(
    method: Callable[Concatenate[A, P], AsyncIterator[R]],
) -> Callable[Concatenate[BlockingClient[A], P], Iterator[R]]:
    """The blocking twin of an async client method that returns an async iterator."""

    @functools.wraps(method)
    def run(self: BlockingClient[A], /, *args: P.args, **kwargs: P.kwargs) -> Iterator[R]:
        iterator = method(self._async, *args, **kwargs)

        async def step() -> tuple[bool, R | None]:
            try:
                return True, await anext(iterator)
            except StopAsyncIteration:
                return False, None

        while True:
            more, item = self._runner.run(step())
            if not more:
                return
            yield item  # type: ignore[misc]

    return run
