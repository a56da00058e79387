"""Members' own data (GDPR): export it, erase it.

- `MemberPrivacy` (mobile app, member token): `export_my_data`, `erase_me` for the token's member.
- `MemberDataRequests` (web shop, app back end, back office): the same for a member named by id, e.g. staff
  handling a request made in writing.

An export is the document of format `loyalty.member-export.v1` as parsed JSON; an erasure removes the
member's personal data for good and ends their tokens (a mobile app client stops working).
"""

from __future__ import annotations

import json
from typing import Any

from loyalty.v1 import members_pb2

from loyalty_clients import _convert as c
from loyalty_clients._base import ClientBase
from loyalty_clients._models import Erasure
from loyalty_clients._transport import Transport, new_idempotency_key

__all__ = ["MemberDataRequests", "MemberPrivacy"]

MEMBERS = "/loyalty.v1.MemberService/"


async def export(t: Transport, member_id: str) -> dict[str, Any]:
    request = members_pb2.ExportMemberDataRequest(member_id=member_id)
    answer = await t.call(MEMBERS + "ExportMemberData", request, members_pb2.ExportMemberDataResponse)
    document: dict[str, Any] = json.loads(answer.document)
    return document


async def erase(t: Transport, member_id: str, key: str | None) -> Erasure:
    request = members_pb2.EraseMemberRequest(
        idempotency_key=key or new_idempotency_key(), member_id=member_id
    )
    return c.erasure(await t.call(MEMBERS + "EraseMember", request, members_pb2.EraseMemberResponse))


class MemberPrivacy(ClientBase):
    member_id: str

    async def export_my_data(self) -> dict[str, Any]:
        """Everything the programme holds about the member, as one JSON document.

        >>> document = await app.export_my_data()
        """
        return await export(self._transport, self.member_id)

    async def erase_me(self, *, idempotency_key: str | None = None) -> Erasure:
        """Erase the member's personal data (identifiers, name); points history stays under a pseudonym.

        >>> await app.erase_me()
        """
        return await erase(self._transport, self.member_id, idempotency_key)


class MemberDataRequests(ClientBase):
    async def export_member_data(self, *, member_id: str) -> dict[str, Any]:
        """Everything the programme holds about a member, as one JSON document.

        >>> document = await office.export_member_data(member_id="mem_01J...")
        """
        return await export(self._transport, member_id)

    async def erase_member(self, *, member_id: str, idempotency_key: str | None = None) -> Erasure:
        """Erase a member's personal data (identifiers, name); points history stays under a pseudonym.

        >>> erased = await office.erase_member(member_id="mem_01J...")
        """
        return await erase(self._transport, member_id, idempotency_key)
