"""Each channel client exposes exactly what its credential may call (the access table,
`loyalty_service.auth.policy.ACCESS`), its blocking twin mirrors it, and every method shows an example.

Which RPCs a method calls is read from the clients' own source: every call names its RPC as
`<SERVICE PREFIX> + "Method"`, and the walk follows calls into `self` methods and into the functions of
`loyalty_clients` modules, so a method reaching an RPC through a shared helper counts too.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from collections.abc import Callable
from typing import Any

import loyalty_clients
import pytest
from loyalty_clients import (
    AppBackendClient,
    AsyncAppBackendClient,
    AsyncMarketingClient,
    AsyncMobileAppClient,
    AsyncPosClient,
    AsyncWebShopClient,
    MarketingClient,
    MobileAppClient,
    PosClient,
    WebShopClient,
)
from loyalty_clients._base import ClientBase
from loyalty_clients._blocking import BlockingClient
from loyalty_clients._ops_games import GameOffice

from loyalty_service.auth.policy import ACCESS
from loyalty_service.auth.principal import PrincipalKind

KIND_OF: dict[type[ClientBase], PrincipalKind] = {
    AsyncPosClient: PrincipalKind.POS,
    AsyncWebShopClient: PrincipalKind.WEBSHOP,
    AsyncAppBackendClient: PrincipalKind.APP_BACKEND,
    AsyncMobileAppClient: PrincipalKind.MEMBER,
    AsyncMarketingClient: PrincipalKind.BACKOFFICE,
}
TWINS: dict[type[BlockingClient[Any]], type[ClientBase]] = {
    PosClient: AsyncPosClient,
    WebShopClient: AsyncWebShopClient,
    AppBackendClient: AsyncAppBackendClient,
    MobileAppClient: AsyncMobileAppClient,
    MarketingClient: AsyncMarketingClient,
}
MAX_DEPTH = 8


def _ours(value: object) -> bool:
    return getattr(value, "__module__", "").startswith("loyalty_clients")


def _constant(node: ast.expr, scope: dict[str, Any]) -> object:
    """The value a Name or `module.NAME` stands for in the function's module, or None."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return scope.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        owner = scope.get(node.value.id)
        return getattr(owner, node.attr, None) if isinstance(owner, types.ModuleType) else None
    return None


def _callee(node: ast.Call, scope: dict[str, Any], cls: type) -> Callable[..., Any] | None:
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
        target = getattr(cls, func.attr, None)
    else:
        target = _constant(func, scope)
    return target if inspect.isfunction(target) and _ours(target) else None


def rpcs_of(function: Callable[..., Any], cls: type, depth: int = 0) -> set[str]:
    """Every RPC path `function` calls, directly or through our helpers and `self` methods."""
    assert depth < MAX_DEPTH, f"call chain too deep at {function.__qualname__}"
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    scope = function.__globals__
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            prefix, name = _constant(node.left, scope), _constant(node.right, scope)
            if isinstance(prefix, str) and prefix.startswith("/loyalty.v1.") and isinstance(name, str):
                found.add(prefix + name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ACCESS:
            found.add(node.value)
        elif isinstance(node, ast.Call) and (callee := _callee(node, scope, cls)) not in (None, function):
            found |= rpcs_of(callee, cls, depth + 1)
    return found


def public_methods(cls: type) -> dict[str, Callable[..., Any]]:
    methods: dict[str, Callable[..., Any]] = {}
    for name in dir(cls):
        value = inspect.getattr_static(cls, name)
        if not name.startswith("_") and inspect.isfunction(value) and _ours(value):
            methods[name] = value
    return methods


def surface(cls: type[ClientBase]) -> dict[str, set[str]]:
    """Method name -> the RPCs it calls; "close" calls none."""
    return {name: rpcs_of(method, cls) for name, method in public_methods(cls).items() if name != "close"}


@pytest.mark.parametrize("cls", list(KIND_OF), ids=lambda cls: cls.__name__)
def test_no_method_calls_an_rpc_its_credential_may_not_call(cls: type[ClientBase]) -> None:
    """Goal: a client never offers a call its credential would be refused (PERMISSION_DENIED)."""
    kind = KIND_OF[cls]
    forbidden = {
        (name, rpc)
        for name, rpcs in surface(cls).items()
        for rpc in rpcs
        if kind not in ACCESS.get(rpc, frozenset())
    }
    assert not forbidden, (
        f"{cls.__name__} ({kind}) calls RPCs its credential may not call: {sorted(forbidden)}"
    )


@pytest.mark.parametrize("cls", list(KIND_OF), ids=lambda cls: cls.__name__)
def test_every_rpc_the_credential_may_call_has_a_method(cls: type[ClientBase]) -> None:
    """Goal: a channel reaches everything its credential allows through its typed client, not raw stubs."""
    kind = KIND_OF[cls]
    reached = set().union(*surface(cls).values())
    allowed = {rpc for rpc, kinds in ACCESS.items() if kind in kinds}
    assert sorted(allowed - reached) == [], f"{cls.__name__} ({kind}) has no method for these RPCs"


@pytest.mark.parametrize("cls", list(KIND_OF), ids=lambda cls: cls.__name__)
def test_every_method_reaches_an_rpc_and_shows_an_example(cls: type[ClientBase]) -> None:
    """Goal: no dead method, and each docstring carries one `>>>` example (the issue's documentation bar)."""
    local_only = {"dead_letters", "queued_count"}  # read the till's own offline queue
    for name, rpcs in surface(cls).items():
        assert rpcs or name in local_only, f"{cls.__name__}.{name} calls no RPC"
        doc = inspect.getdoc(getattr(cls, name)) or ""
        assert ">>>" in doc, f"{cls.__name__}.{name} has no example in its docstring"


@pytest.mark.parametrize("blocking_cls", list(TWINS), ids=lambda cls: cls.__name__)
def test_blocking_twin_mirrors_the_async_client(blocking_cls: type[BlockingClient[Any]]) -> None:
    """Goal: the blocking class has exactly its async twin's methods, each running that very method."""
    async_cls = TWINS[blocking_cls]
    expected = set(public_methods(async_cls)) - {"close"}
    wrapped = {
        name: value.__wrapped__
        for name in dir(blocking_cls)
        if not name.startswith("_") and hasattr(value := getattr(blocking_cls, name), "__wrapped__")
    }
    assert sorted(expected - set(wrapped)) == [], f"{blocking_cls.__name__} lacks these methods"
    assert sorted(set(wrapped) - expected) == [], f"{blocking_cls.__name__} has methods its twin lacks"
    for name, target in wrapped.items():
        assert target is inspect.getattr_static(async_cls, name), f"{blocking_cls.__name__}.{name}"
    params = inspect.signature(blocking_cls.__init__).parameters
    assert list(params)[-1] == "options", "connection options come from ConnectionOptions, declared once"
    assert inspect.signature(blocking_cls) == inspect.signature(async_cls), "constructed_like(async twin)"


def test_the_walk_sees_helpers_and_self_calls() -> None:
    """Goal: the source walk itself works (a helper function, a `self` method, a module constant)."""
    assert surface(AsyncMobileAppClient)["watch"] == {"/loyalty.v1.LiveService/WatchMember"}
    assert surface(AsyncPosClient)["sync"] == {"/loyalty.v1.LedgerService/SyncOfflinePurchases"}
    assert surface(AsyncMarketingClient)["export_draw_result"] == {"/loyalty.v1.DrawService/GetDrawResult"}
    assert loyalty_clients.AsyncPosClient is AsyncPosClient

    class TillWithBackOffice(AsyncPosClient, GameOffice):
        """What the first test must catch: a till offering a back-office call."""

    rpcs = surface(TillWithBackOffice)["create_game"]
    assert rpcs == {"/loyalty.v1.ProgramService/CreateGame"}
    assert PrincipalKind.POS not in ACCESS[next(iter(rpcs))]
