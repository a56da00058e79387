"""The member's own data (GDPR) for the mobile app: export it, erase it.

`export_my_data` returns the export document (format `loyalty.member-export.v1`) as parsed JSON;
`erase_me` removes the member's personal data for good and ends its tokens (this client stops working).
"""

from __future__ import annotations

import json
from typing import Any

from loyalty.v1 import members_pb2

from loyalty_clients._base import ClientBase
from loyalty_clients._transport import new_idempotency_key

__all__ = ["MemberPrivacy"]

MEMBERS = "/loyalty.v1.MemberService/"


class MemberPrivacy(ClientBase):
    member_id: str

    async def export_my_data(self) -> dict[str, Any]:
        """Everything the programme holds about the member, as one JSON document.

        >>> document = await app.export_my_data()
        """
        request = members_pb2.ExportMemberDataRequest(member_id=self.member_id)
        answer = await self._transport.call(
            MEMBERS + "ExportMemberData", request, members_pb2.ExportMemberDataResponse
        )
        document: dict[str, Any] = json.loads(answer.document)
        return document

    async def erase_me(self, *, idempotency_key: str | None = None) -> members_pb2.EraseMemberResponse:
        """Erase the member's personal data (identifiers, name); points history stays under a pseudonym.

        >>> await app.erase_me()
        """
        request = members_pb2.EraseMemberRequest(
            idempotency_key=idempotency_key or new_idempotency_key(), member_id=self.member_id
        )
        return await self._transport.call(MEMBERS + "EraseMember", request, members_pb2.EraseMemberResponse)
