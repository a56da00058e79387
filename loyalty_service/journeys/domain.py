"""Pure rules of the omnichannel journeys: referral codes, self-referral, periods, pickup deadlines.

No I/O, no clock: time and randomness come in as arguments.

- Referral codes: 8 characters of Crockford's base 32 (`0-9A-Z` without I, L, O, U), shown as
  `K7QX-M2PA`; 40 bits from a CSPRNG. Reading ignores case, spaces and dashes, and reads I and L as 1,
  O as 0. Codes are unique (the database's primary key; a clash draws again).
- Self-referral: two members are "the same person" when they share an identity key: a card number, a
  web-shop customer id, a phone number (E.164), or an e-mail address with the `+tag` dropped from the
  mailbox and, for Gmail, its dots (`j.doe+x@gmail.com` and `jdoe@googlemail.com` are one person).
- Periods: a calendar month or year in UTC ("2026-03", "2026"); once-per-member claims use `ONCE`.
- The referral limit counts a referrer's referrals enrolled in the calendar year (UTC) of the new one.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

__all__ = [
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "ONCE",
    "format_code",
    "identity_keys",
    "month_key",
    "month_start",
    "new_code",
    "parse_code",
    "pickup_deadline",
    "same_person",
    "under_referral_limit",
    "year_start",
]

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8
ONCE = "once"
"""The period of a once-per-member claim (first purchase in a second channel)."""
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
_SEPARATORS = re.compile(r"[\s-]")
_GMAIL = frozenset({"gmail.com", "googlemail.com"})


def new_code(choice: Callable[[str], str] = secrets.choice) -> str:
    """A fresh code, normalised (no dash); `choice` is the CSPRNG (`secrets.choice`)."""
    return "".join(choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def format_code(code: str) -> str:
    """`K7QXM2PA` -> `K7QX-M2PA`, as shown to members."""
    assert len(code) == CODE_LENGTH, "a normalised code"
    return f"{code[:4]}-{code[4:]}"


def parse_code(text: str) -> str | None:
    """The normalised code a member typed, or None if it cannot be one."""
    code = _SEPARATORS.sub("", text).upper().translate(_READ_AS)
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def _email_key(email: str) -> str:
    mailbox, _, domain = email.lower().partition("@")
    mailbox = mailbox.split("+", 1)[0]
    if domain in _GMAIL:
        mailbox, domain = mailbox.replace(".", ""), "gmail.com"
    return f"email:{mailbox}@{domain}"


def identity_keys(identifiers: Iterable[tuple[str, str]]) -> frozenset[str]:
    """The identity keys of stored identifiers, given as (kind value, normalised value)."""
    keys = set()
    for kind, value in identifiers:
        keys.add(_email_key(value) if kind == "email" else f"{kind}:{value}")
    return frozenset(keys)


def same_person(a: Iterable[tuple[str, str]], b: Iterable[tuple[str, str]]) -> bool:
    """Whether two members' identifiers share an identity key (self-referral)."""
    return bool(identity_keys(a) & identity_keys(b))


def under_referral_limit(referrals_this_year: int, maximum: int) -> bool:
    """Whether one more referral this year still earns a bonus (maximum 0: no limit)."""
    assert referrals_this_year >= 0, "a count"
    assert maximum >= 0, "a count"
    return maximum == 0 or referrals_this_year < maximum


def month_start(at: datetime) -> datetime:
    """The first instant of `at`'s calendar month, UTC."""
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def month_key(at: datetime) -> str:
    at = at.astimezone(UTC)
    return f"{at.year:04d}-{at.month:02d}"


def year_start(at: datetime) -> datetime:
    return datetime(at.astimezone(UTC).year, 1, 1, tzinfo=UTC)


def pickup_deadline(occurred_at: datetime, deadline_days: int) -> datetime:
    """When an uncollected click-and-collect order is cancelled."""
    assert deadline_days > 0, "a deadline in the future"
    return occurred_at + timedelta(days=deadline_days)
