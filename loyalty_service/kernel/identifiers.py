"""Member identifiers (cards, e-mails, phones, web-shop ids): their kinds and normal forms.

Shared by every channel: a till identifies a member by card or phone, the web shop by e-mail or its own id.
"""

from __future__ import annotations

import enum
import re

__all__ = ["IdentifierKind", "normalise_identifier"]


class IdentifierKind(enum.StrEnum):
    CARD = "card"
    EMAIL = "email"
    PHONE = "phone"
    WEBSHOP_CUSTOMER_ID = "webshop_customer_id"


_CARD = re.compile(r"^[0-9A-Z]{6,32}$")
# A pragmatic address check: one @, a dotted domain, no spaces; the mailbox is the real test.
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_CUSTOMER = re.compile(r"^[\x21-\x7e]{1,128}$")


def normalise_identifier(kind: IdentifierKind, raw: str) -> str:
    """The stored form of an identifier, or ValueError saying what is wrong with it.

    Cards drop spaces and dashes and are upper-cased; e-mails are lower-cased; phones must carry their
    country code (+33 6 12 34 56 78, 0033 6...) and are stored as E.164 (+33612345678).
    """
    value = raw.strip()
    if len(value) > 256:
        raise ValueError("at most 256 characters")
    if kind is IdentifierKind.CARD:
        card = re.sub(r"[\s-]", "", value).upper()
        if not _CARD.match(card):
            raise ValueError("a card number is 6-32 digits or letters")
        return card
    if kind is IdentifierKind.EMAIL:
        email = value.lower()
        if len(email) > 254 or not _EMAIL.match(email):
            raise ValueError("not a valid e-mail address")
        return email
    if kind is IdentifierKind.PHONE:
        phone = re.sub(r"[\s().-]", "", value)
        if phone.startswith("00"):
            phone = "+" + phone[2:]
        if not _E164.match(phone):
            raise ValueError("a phone number needs its country code, e.g. +33612345678")
        return phone
    if not _CUSTOMER.match(value):
        raise ValueError("1-128 printable characters without spaces")
    return value
