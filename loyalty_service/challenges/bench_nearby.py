"""ListNearbyChallenges latency with many places: a script, not a test (the numbers depend on the machine).

    python -m loyalty_service.challenges.bench_nearby [--places 100000] [--queries 500] [--within-m 5000]

Starts an embedded PostgreSQL in a temporary folder (or uses LOYALTY_DATABASE_URL: it then adds the
places to that database), spreads the places uniformly over a France-sized box (42-51 N, 5 W-8 E), makes
one open challenge per 100 places, starts the service in this process and calls ListNearbyChallenges from
random positions in the box with a member token, one call at a time. Prints p50/p90/p99 and what the
planner does with the bounding-box query (it must use the (lat, lon) index, not scan `places`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from loyalty.v1 import challenges_pb2, challenges_pb2_grpc, members_pb2, members_pb2_grpc
from sqlalchemy import text

from loyalty_service.app import start_service
from loyalty_service.auth import credentials
from loyalty_service.auth.principal import PrincipalKind
from loyalty_service.challenges.geo import bounding_box
from loyalty_service.config import Settings
from loyalty_service.db.embedded import start_embedded

__all__ = ["main"]

_LAT = (42.0, 51.0)
_LON = (-5.0, 8.0)
_PLACES_PER_CHALLENGE = 100

_SEED_SQL = """
insert into places (place_id, name, lat, lon, radius_m, store_id, time_zone, opening_hours,
                    created_at, updated_at)
select 'plc_BENCH' || lpad(i::text, 21, '0'), 'Place ' || i,
       cast(:lat0 as float8) + random() * cast(:lat_span as float8),
       cast(:lon0 as float8) + random() * cast(:lon_span as float8),
       100, null, 'UTC', '[]'::jsonb, now(), now()
from generate_series(1, cast(:n as int)) as i
"""
_LINK_SQL = """
insert into challenge_places (challenge_id, place_id)
select 'chl_BENCH' || lpad(((i - 1) / cast(:per as int) + 1)::text, 21, '0'),
       'plc_BENCH' || lpad(i::text, 21, '0')
from generate_series(1, cast(:n as int)) as i
"""


async def _seed(service: Any, places: int) -> str:
    """Places and challenges; returns an app back-end API key (to enrol a member and get a token)."""
    now = datetime.now(UTC)
    spec = {
        "name": "Bench",
        "description": "",
        "place_ids": [],
        "goal_places": 1,
        "requires_purchase": False,
        "repeat_period_days": 0,
        "grant": {"points": 10, "reward_id": "", "stamp": False, "draw_id": ""},
    }
    async with service.engine.begin() as conn:
        bounds = {
            "lat0": _LAT[0],
            "lat_span": _LAT[1] - _LAT[0],
            "lon0": _LON[0],
            "lon_span": _LON[1] - _LON[0],
            "n": places,
        }
        await conn.execute(text(_SEED_SQL), bounds)
        for number in range(1, (places - 1) // _PLACES_PER_CHALLENGE + 2):
            await conn.execute(
                text(
                    "insert into challenges values (:id, cast(:spec as jsonb), :opens, :closes, now(), now())"
                ),
                {
                    "id": f"chl_BENCH{number:021d}",
                    "spec": json.dumps(spec),
                    "opens": now - timedelta(days=1),
                    "closes": now + timedelta(days=30),
                },
            )
        await conn.execute(text(_LINK_SQL), {"per": _PLACES_PER_CHALLENGE, "n": places})
        _row, api_key = await credentials.create(
            conn, kind=PrincipalKind.APP_BACKEND, name="bench nearby", store_id=None
        )
    async with service.engine.begin() as conn:
        for table in ("places", "challenge_places", "challenges"):
            await conn.execute(text(f"analyze {table}"))
    return str(api_key)


async def _plan(service: Any, within_m: int) -> str:
    box = bounding_box(46.5, 1.5, within_m)[0]
    query = text("explain select place_id from places where lat between :a and :b and lon between :c and :d")
    async with service.engine.connect() as conn:
        rows = await conn.execute(
            query, {"a": box.lat_min, "b": box.lat_max, "c": box.lon_min, "d": box.lon_max}
        )
        return "\n".join(f"    {r[0]}" for r in rows.all())


async def _run(url: str, places: int, queries: int, within_m: int, work: Path) -> None:
    settings = Settings(database_url=url, grpc_host="127.0.0.1", grpc_port=0, metrics_port=0, data_dir=work)
    service = await start_service(settings, serve_metrics=False)
    try:
        started = time.perf_counter()
        api_key = await _seed(service, places)
        print(f"seeded {places} places in {time.perf_counter() - started:.1f} s")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            members: Any = members_pb2_grpc.MemberServiceStub(channel)
            backend = (("authorization", f"Bearer {api_key}"),)
            enrolled = await members.EnrollMember(
                members_pb2.EnrollMemberRequest(idempotency_key="bench-member", display_name="Bench"),
                metadata=backend,
            )
            member_id = enrolled.member.member_id
            token = await members.IssueMemberToken(
                members_pb2.IssueMemberTokenRequest(member_id=member_id), metadata=backend
            )
            stub: Any = challenges_pb2_grpc.ChallengeServiceStub(channel)
            metadata = (("authorization", f"Bearer {token.token}"),)
            rng = random.Random(7)
            latencies, found = [], []
            for _ in range(queries):
                request = challenges_pb2.ListNearbyChallengesRequest(
                    latitude=rng.uniform(*_LAT), longitude=rng.uniform(*_LON), within_m=within_m
                )
                began = time.perf_counter()
                answer = await stub.ListNearbyChallenges(request, metadata=metadata)
                latencies.append((time.perf_counter() - began) * 1000)
                found.append(sum(len(c.places) for c in answer.challenges))
        cuts = statistics.quantiles(latencies, n=100)
        print(
            f"ListNearbyChallenges, {places} places, within {within_m} m, {queries} calls: "
            f"p50 {cuts[49]:.1f} ms, p90 {cuts[89]:.1f} ms, p99 {cuts[98]:.1f} ms "
            f"({statistics.mean(found):.1f} places found per call)"
        )
        print("plan of the bounding-box query:\n" + await _plan(service, within_m))
    finally:
        await service.stop(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--places", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--within-m", type=int, default=5000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        url = os.environ.get("LOYALTY_DATABASE_URL")
        embedded = None
        if url is None:
            embedded = start_embedded(work / "db")
            url = embedded.url
        try:
            asyncio.run(_run(url, args.places, args.queries, args.within_m, work))
        finally:
            if embedded is not None:
                embedded.stop()


if __name__ == "__main__":
    main()
