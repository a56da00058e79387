"""Prize draws for the channel clients: reading draws and results (any credential), entering (the mobile
app for its member, the web shop and app back end for a member they name), creating, running and exporting
(the back office).

Answers are the frozen dataclasses of `_challenge_draw_models.py`; `export_draw_result` returns the JSON
document of docs/draws.md that `python -m loyalty_clients.verify_draw` checks.
"""

from __future__ import annotations

from loyalty.v1 import draws_pb2

from loyalty_clients import _convert_draws as convert
from loyalty_clients._base import ClientBase
from loyalty_clients._challenge_draw_models import (
    Draw,
    DrawDetails,
    DrawResult,
    DrawResultReport,
    DrawSpec,
    EnteredDraw,
)
from loyalty_clients._transport import Transport, new_idempotency_key

__all__ = ["DrawEntryForMembers", "DrawOffice", "DrawReading", "MemberDraws", "export_document"]

DRAWS = "/loyalty.v1.DrawService/"
PROGRAM = "/loyalty.v1.ProgramService/"


def export_document(result: DrawResult) -> dict[str, object]:
    """A result fetched with its entries, as the export JSON (exactly the eight documented keys)."""
    return {
        "draw_id": result.draw_id,
        "commitment": result.commitment,
        "seed": result.seed,
        "beacon": result.beacon,
        "entries": [
            {"position": e.position, "entry_id": e.entry_id, "member_ref": e.member_ref}
            for e in result.entries
        ],
        "entries_digest": result.entries_digest,
        "slots": [{"slot": s.slot, "prize_id": s.prize_id} for s in result.slots],
        "winners": [
            {"slot": w.slot, "entry_id": w.entry_id, "member_ref": w.member_ref} for w in result.winners
        ],
    }


class DrawReading(ClientBase):
    async def list_draws(self) -> tuple[Draw, ...]:
        """Draws that have opened (open, closed or drawn), newest first.

        >>> draws = await client.list_draws()
        """
        answer = await self._transport.call(
            DRAWS + "ListDraws", draws_pb2.ListDrawsRequest(), draws_pb2.ListDrawsResponse
        )
        return tuple(convert.draw(d) for d in answer.draws)

    async def get_draw(self, *, draw_id: str) -> DrawDetails:
        """The draw (its commitment; once closed its entries digest) and, for a member, their entry count.

        >>> draw = (await client.get_draw(draw_id="drw_01J...")).draw
        """
        request = draws_pb2.GetDrawRequest(draw_id=draw_id)
        return convert.draw_details(
            await self._transport.call(DRAWS + "GetDraw", request, draws_pb2.GetDrawResponse)
        )

    async def draw_result(self, *, draw_id: str, include_entries: bool = False) -> DrawResultReport:
        """The public result after the run; with a member token also `my_outcome` (won? own member_ref).

        >>> outcome = (await app.draw_result(draw_id=draw.draw_id)).my_outcome
        """
        request = draws_pb2.GetDrawResultRequest(draw_id=draw_id, include_entries=include_entries)
        answer = await self._transport.call(DRAWS + "GetDrawResult", request, draws_pb2.GetDrawResultResponse)
        return convert.draw_result_report(answer)


async def enter(t: Transport, member_id: str, draw_id: str, entries: int, key: str | None) -> EnteredDraw:
    request = draws_pb2.EnterDrawRequest(
        idempotency_key=key or new_idempotency_key(), draw_id=draw_id, member_id=member_id, entries=entries
    )
    return convert.entered_draw(await t.call(DRAWS + "EnterDraw", request, draws_pb2.EnterDrawResponse))


class MemberDraws(DrawReading):
    async def enter_draw(
        self, *, draw_id: str, entries: int = 1, idempotency_key: str | None = None
    ) -> EnteredDraw:
        """Enter the draw directly (may cost points; a per-member maximum applies).

        >>> entered = await app.enter_draw(draw_id=draw.draw_id, entries=2)
        """
        return await enter(self._transport, "", draw_id, entries, idempotency_key)


class DrawEntryForMembers(DrawReading):
    async def enter_draw(
        self, *, member_id: str, draw_id: str, entries: int = 1, idempotency_key: str | None = None
    ) -> EnteredDraw:
        """Enter a member in the draw directly (may cost them points; a per-member maximum applies).

        >>> entered = await shop.enter_draw(member_id="mem_01J...", draw_id=draw.draw_id)
        """
        return await enter(self._transport, member_id, draw_id, entries, idempotency_key)


class DrawOffice(DrawReading):
    async def create_draw(self, *, spec: DrawSpec, idempotency_key: str | None = None) -> Draw:
        """Create a draw; its commitment is in the answer at once.

        >>> draw = await office.create_draw(spec=DrawSpec(name="Summer", opens_at=start, closes_at=end,
        ...     prizes=(DrawPrize(prize_id="p", name="100 points", quantity=1, points=100),),
        ...     sources=DrawEntrySources(direct=DirectEntrySource())))
        """
        request = draws_pb2.CreateDrawRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), spec=convert.draw_spec_message(spec)
        )
        answer = await self._transport.call(PROGRAM + "CreateDraw", request, draws_pb2.CreateDrawResponse)
        return convert.draw(answer.draw)

    async def update_draw(self, *, draw_id: str, spec: DrawSpec, idempotency_key: str | None = None) -> Draw:
        """Replace a draw's spec before its window opens (the commitment stays).

        >>> draw = await office.update_draw(draw_id=draw.draw_id, spec=spec)
        """
        request = draws_pb2.UpdateDrawRequest(
            idempotency_key=idempotency_key or new_idempotency_key(),
            draw_id=draw_id,
            spec=convert.draw_spec_message(spec),
        )
        answer = await self._transport.call(PROGRAM + "UpdateDraw", request, draws_pb2.UpdateDrawResponse)
        return convert.draw(answer.draw)

    async def list_all_draws(self) -> tuple[Draw, ...]:
        """Every draw, scheduled ones included.

        >>> draws = await office.list_all_draws()
        """
        answer = await self._transport.call(
            PROGRAM + "ListAllDraws", draws_pb2.ListAllDrawsRequest(), draws_pb2.ListAllDrawsResponse
        )
        return tuple(convert.draw(d) for d in answer.draws)

    async def run_draw(
        self, *, draw_id: str, beacon: str | None = None, idempotency_key: str | None = None
    ) -> DrawResult:
        """Run the draw after its close (once: any later call returns the same result).

        >>> result = await office.run_draw(draw_id=draw.draw_id, beacon="drand round 4242")
        """
        request = draws_pb2.RunDrawRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), draw_id=draw_id
        )
        if beacon is not None:
            request.beacon = beacon
        answer = await self._transport.call(DRAWS + "RunDraw", request, draws_pb2.RunDrawResponse)
        return convert.draw_result(answer.result)

    async def export_draw_result(self, *, draw_id: str) -> dict[str, object]:
        """The result as the export JSON of docs/draws.md (what `loyalty-service draws export` writes).

        >>> json.dump(await office.export_draw_result(draw_id=draw.draw_id), open("result.json", "w"))
        """
        answer = await self.draw_result(draw_id=draw_id, include_entries=True)
        return export_document(answer.result)
