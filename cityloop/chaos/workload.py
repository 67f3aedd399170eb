"""The events a chaos run submits: every category, spread far enough apart that the
duplicate judge has nothing to merge, a tenth without a location, a tenth no rule routes."""

from __future__ import annotations

import random

# Riverton's four districts cover lat 41.55-41.65, lon -93.70 to -93.50. The duplicate
# judge looks 150 m around a sighting (0.00135 deg of latitude, 0.0018 deg of longitude
# here); cells 0.0015 x 0.0021 deg apart are further than that in both directions.
LAT_RANGE = (41.551, 41.649)
LON_RANGE = (-93.699, -93.501)
LAT_STEP = 0.0015
LON_STEP = 0.0021

TEMPLATES: tuple[str, ...] = (
    "A tree fell across the road outside house number {n} and blocks one lane.",
    "Shared bikes knocked over across the sidewalk in front of shop {n}.",
    "Garbage bags dumped at the corner next to building {n}, they smell.",
    "The street is flooded with standing water near block {n} after the rain.",
    "Deep pothole in the right lane in front of number {n}, cars swerve around it.",
    "Fresh graffiti sprayed on the wall of warehouse {n}.",
    "The streetlight in front of number {n} is out, the corner is completely dark.",
    "Abandoned car with flat tires parked in front of number {n} for two weeks.",
)
UNROUTABLE = "A strange humming sound comes from behind building {n}, not sure who to call."


def grid_cells(seed: int = 7) -> list[tuple[float, float]]:
    rows = int((LAT_RANGE[1] - LAT_RANGE[0]) / LAT_STEP) + 1
    cols = int((LON_RANGE[1] - LON_RANGE[0]) / LON_STEP) + 1
    cells = [(round(LAT_RANGE[0] + r * LAT_STEP, 6), round(LON_RANGE[0] + c * LON_STEP, 6))
             for r in range(rows) for c in range(cols)]
    random.Random(seed).shuffle(cells)
    return cells


def event_bodies(count: int, run_tag: str) -> list[dict[str, object]]:
    """``count`` POST /api/events bodies, each with its own ``external_id``.

    Located events take distinct grid cells while cells last; past that (more than about
    6,000 events) cells repeat and the judge may merge, which the checks count per incident.
    """
    cells = grid_cells()
    bodies: list[dict[str, object]] = []
    located = 0
    for i in range(count):
        body: dict[str, object] = {"source": "web", "external_id": f"chaos-{run_tag}-{i}"}
        if i % 10 == 9:
            body["description"] = UNROUTABLE.format(n=i)
        else:
            body["description"] = TEMPLATES[i % len(TEMPLATES)].format(n=i)
        if i % 10 != 5:
            body["lat"], body["lon"] = cells[located % len(cells)]
            located += 1
        bodies.append(body)
    return bodies
