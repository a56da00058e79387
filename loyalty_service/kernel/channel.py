"""Sales and service channels of one retailer's programme."""

from __future__ import annotations

import enum

__all__ = ["Channel"]


class Channel(enum.StrEnum):
    """Where something happened; the values are stored in the database."""

    POS = "pos"
    WEBSHOP = "webshop"
    APP = "app"
    BACKOFFICE = "backoffice"
