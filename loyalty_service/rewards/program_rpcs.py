"""The rewards catalogue RPCs of ProgramService (back office): create, update, archive, list all.

Mixed into `program.service.ProgramServicer`; every change writes its audit row in its transaction.
"""

from __future__ import annotations

from google.protobuf.message import Message
from loyalty.v1 import program_pb2_grpc, rewards_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service import audit
from loyalty_service.auth.principal import current_principal
from loyalty_service.grpc_types import Context
from loyalty_service.rewards import catalogue, requests, store
from loyalty_service.rewards.messages import reward_message
from loyalty_service.runtime import Runtime
from loyalty_service.validation import Checks

__all__ = ["RewardCatalogueRpcs"]


async def _audit(
    conn: AsyncConnection, action: str, before: Message | None, after: rewards_pb2.Reward, rt: Runtime
) -> None:
    await audit.record(
        conn,
        principal=current_principal(),
        action=action,
        subject_type="reward",
        subject_id=after.reward_id,
        before=None if before is None else audit.message_dict(before),
        after=audit.message_dict(after),
        now=rt.now(),
    )


class RewardCatalogueRpcs(program_pb2_grpc.ProgramServiceServicer):
    _rt: Runtime

    async def CreateReward(
        self, request: rewards_pb2.CreateRewardRequest, context: Context
    ) -> rewards_pb2.CreateRewardResponse:
        checks = Checks()
        checks.idempotency_key(request.idempotency_key)
        definition = requests.read_definition(checks, request.reward, update=False)
        checks.done()

        async def work(conn: AsyncConnection) -> rewards_pb2.CreateRewardResponse:
            reward = await catalogue.create_reward(conn, definition, now=self._rt.now())
            await _audit(conn, "reward.create", None, reward, self._rt)
            return rewards_pb2.CreateRewardResponse(reward=reward)

        return await self._rt.write(
            method="CreateReward",
            request=request,
            key=request.idempotency_key,
            response_type=rewards_pb2.CreateRewardResponse,
            work=work,
        )

    async def UpdateReward(
        self, request: rewards_pb2.UpdateRewardRequest, context: Context
    ) -> rewards_pb2.UpdateRewardResponse:
        checks = Checks()
        checks.idempotency_key(request.idempotency_key)
        reward_id = checks.entity_id("reward_id", request.reward_id, "rwd")
        definition = requests.read_definition(checks, request.reward, update=True)
        checks.done()

        async def work(conn: AsyncConnection) -> rewards_pb2.UpdateRewardResponse:
            before, after = await catalogue.update_reward(conn, reward_id, definition, now=self._rt.now())
            await _audit(conn, "reward.update", before, after, self._rt)
            return rewards_pb2.UpdateRewardResponse(reward=after)

        return await self._rt.write(
            method="UpdateReward",
            request=request,
            key=request.idempotency_key,
            response_type=rewards_pb2.UpdateRewardResponse,
            work=work,
        )

    async def ArchiveReward(
        self, request: rewards_pb2.ArchiveRewardRequest, context: Context
    ) -> rewards_pb2.ArchiveRewardResponse:
        checks = Checks()
        checks.idempotency_key(request.idempotency_key)
        reward_id = checks.entity_id("reward_id", request.reward_id, "rwd")
        checks.done()

        async def work(conn: AsyncConnection) -> rewards_pb2.ArchiveRewardResponse:
            before, after = await catalogue.archive_reward(conn, reward_id, now=self._rt.now())
            await _audit(conn, "reward.archive", before, after, self._rt)
            return rewards_pb2.ArchiveRewardResponse(reward=after)

        return await self._rt.write(
            method="ArchiveReward",
            request=request,
            key=request.idempotency_key,
            response_type=rewards_pb2.ArchiveRewardResponse,
            work=work,
        )

    async def ListRewardCatalogue(
        self, request: rewards_pb2.ListRewardCatalogueRequest, context: Context
    ) -> rewards_pb2.ListRewardCatalogueResponse:
        async def work(conn: AsyncConnection) -> rewards_pb2.ListRewardCatalogueResponse:
            rows = await store.list_rewards(conn, include_archived=request.include_archived)
            return rewards_pb2.ListRewardCatalogueResponse(rewards=[reward_message(r) for r in rows])

        return await self._rt.read(work)
