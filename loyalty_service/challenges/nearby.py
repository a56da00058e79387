"""ListNearbyChallenges: open challenges with places within a distance, nearest first.

The search is two steps: `geo.bounding_box` turns the circle into one or two latitude/longitude boxes
that the (lat, lon) index of `places` answers (a range scan on latitude, longitude filtered from the same
index entries), then the exact great-circle distance drops the box corners. No scan of all places.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from loyalty.v1 import challenges_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty_service.challenges import member_store, store
from loyalty_service.challenges.geo import bounding_box, distance_m
from loyalty_service.challenges.messages import challenge_message, progress_message
from loyalty_service.challenges.rules import Period, is_open_at, period_at
from loyalty_service.challenges.store import ChallengeRow, PlaceRow

__all__ = ["NEARBY_DEFAULT_M", "NEARBY_MAX_M", "list_nearby"]

NEARBY_DEFAULT_M = 5000
NEARBY_MAX_M = 50_000


@dataclass
class _Found:
    challenge: ChallengeRow
    period: Period
    places: list[tuple[float, PlaceRow]] = field(default_factory=list)

    def nearest_m(self) -> float:
        return min(d for d, _ in self.places)


async def list_nearby(
    conn: AsyncConnection,
    *,
    member_id: str,
    lat: float,
    lon: float,
    within_m: int,
    max_challenges: int,
    now: datetime,
) -> challenges_pb2.ListNearbyChallengesResponse:
    found: dict[str, _Found] = {}
    distances: dict[str, float] = {}
    for place, challenge in await store.nearby(conn, boxes=bounding_box(lat, lon, within_m), now=now):
        distance = distances.get(place.place_id)
        if distance is None:
            distance = distances[place.place_id] = distance_m(lat, lon, place.spec.lat, place.spec.lon)
        if distance > within_m:
            continue
        entry = found.get(challenge.challenge_id)
        if entry is None:
            period = period_at(challenge.spec, now)
            if period is None:
                continue
            entry = found[challenge.challenge_id] = _Found(challenge=challenge, period=period)
        entry.places.append((distance, place))
    nearest = sorted(found.values(), key=lambda f: (f.nearest_m(), f.challenge.challenge_id))[:max_challenges]
    keys = [(f.challenge.challenge_id, f.period.index) for f in nearest]
    visited = await member_store.visited_places(conn, member_id, keys)
    progress = await member_store.progress_rows(conn, member_id, keys)
    response = challenges_pb2.ListNearbyChallengesResponse()
    for entry, key in zip(nearest, keys, strict=True):
        seen = set(visited[key])
        response.challenges.append(
            challenges_pb2.NearbyChallenge(
                challenge=challenge_message(entry.challenge),
                places=[
                    _place(distance, place, seen, now)
                    for distance, place in sorted(entry.places, key=_by_distance)
                ],
                progress=progress_message(entry.challenge, entry.period, progress.get(key), visited[key]),
            )
        )
    return response


def _by_distance(item: tuple[float, PlaceRow]) -> tuple[float, str]:
    return item[0], item[1].place_id


def _place(distance: float, place: PlaceRow, visited: set[str], now: datetime) -> challenges_pb2.NearbyPlace:
    return challenges_pb2.NearbyPlace(
        place_id=place.place_id,
        name=place.spec.name,
        latitude=place.spec.lat,
        longitude=place.spec.lon,
        radius_m=place.spec.radius_m,
        distance_m=round(distance),
        visited=place.place_id in visited,
        open_now=is_open_at(place.spec, now),
    )
