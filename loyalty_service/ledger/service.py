"""LedgerService (shell: the ledger work replaces this file)."""

from __future__ import annotations

from loyalty.v1 import ledger_pb2_grpc

from loyalty_service.runtime import Runtime


class LedgerServicer(ledger_pb2_grpc.LedgerServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
