"""The earning-rule RPCs of ProgramService (filled in by the ledger work)."""

from __future__ import annotations

from loyalty.v1 import program_pb2_grpc

__all__ = ["EarningRuleRpcs"]


class EarningRuleRpcs(program_pb2_grpc.ProgramServiceServicer):
    pass
