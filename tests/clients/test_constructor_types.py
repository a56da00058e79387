"""Blocking constructors take exactly their async twins' arguments, as mypy sees them (`constructed_like`).

The arguments are declared once, on the async class; this checks that mypy still gives every blocking class
that explicit signature (not `Any`), so a wrong or missing argument is a type error for users too.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import loyalty_clients
from mypy import api

TWINS = {
    "PosClient": "AsyncPosClient",
    "WebShopClient": "AsyncWebShopClient",
    "AppBackendClient": "AsyncAppBackendClient",
    "MobileAppClient": "AsyncMobileAppClient",
    "MarketingClient": "AsyncMarketingClient",
}
ROOT = Path(__file__).resolve().parents[2]


def test_blocking_constructors_type_like_their_async_twins(tmp_path: Path) -> None:
    """Goal: `PosClient(...)` is typed with `AsyncPosClient(...)`'s keyword arguments; mistakes are caught."""
    names = ", ".join([*TWINS, *TWINS.values()])
    reveals = "".join(f"reveal_type({b})\nreveal_type({a})\n" for b, a in TWINS.items())
    source = tmp_path / "use_clients.py"
    mistakes = (
        'PosClient(api_key="k", target="t")\nMarketingClient(api_key="k", target="t", timeout_seconds="9")\n'
    )
    source.write_text(f"from loyalty_clients import {names}\n{reveals}{mistakes}")
    out, _, _ = api.run(
        ["--strict", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path), str(source)]
    )
    revealed = [
        line.split('Revealed type is "', 1)[1] for line in out.splitlines() if "Revealed type" in line
    ]
    assert len(revealed) == 2 * len(TWINS), out
    for (blocking_name, async_name), blocking_type in zip(TWINS.items(), revealed[::2], strict=True):
        assert blocking_type.startswith("def (*, "), blocking_type
        arguments = inspect.signature(getattr(loyalty_clients, async_name)).parameters
        for name, argument in arguments.items():
            if argument.kind is inspect.Parameter.KEYWORD_ONLY:
                default = "" if argument.default is inspect.Parameter.empty else " ="
                assert f"{name}: {argument.annotation}{default}" in blocking_type.replace("pathlib.", "")
        assert "timeout_seconds: float =" in blocking_type, f"{blocking_name}: connection options"
    assert 'Missing named argument "store_id" for "PosClient"' in out
    assert 'Argument "timeout_seconds" to "MarketingClient" has incompatible type "str"' in out
