"""The whole schema: the core tables plus every feature's table module, on one MetaData.

Features keep their tables in `loyalty_service/db/tables_<feature>.py` and list the module here, so that
migrations and the schema test see all of them.
"""

from __future__ import annotations

from loyalty_service.db import (
    tables,
    tables_audit,
    tables_challenges,
    tables_draws,
    tables_games,
    tables_journeys,
    tables_live,
    tables_rewards,
    tables_tiers,
)
from loyalty_service.db.tables import metadata

__all__ = ["FEATURE_TABLE_MODULES", "metadata"]

FEATURE_TABLE_MODULES: tuple[object, ...] = (
    tables,
    tables_audit,
    tables_challenges,
    tables_draws,
    tables_games,
    tables_journeys,
    tables_live,
    tables_rewards,
    tables_tiers,
)
