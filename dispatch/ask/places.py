""""Near a layer" as SQL on the incidents' latitude and longitude, without PostGIS.

Each place of the layer gives one clause, ORed: a bounding box first (cheap, and what an
index on the coordinates can answer), then the exact test — the haversine distance to a
point, or, for a polygon, PostgreSQL's own point-in-polygon (``<@``) against the polygon
grown by the radius (computed here with shapely in a local metric projection). A polygon's
holes are not kept: a point in a park's pond counts as in the park.
"""

from __future__ import annotations

import math
from typing import Any

from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import transform
from sqlalchemy import ColumnElement, and_, false, func, literal_column, or_

from dispatch.city.layers import Layer

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = 111_320.0
SIMPLIFY_M = 2.0


def _box(lat: Any, lon: Any, south: float, west: float, north: float,
         east: float) -> ColumnElement[bool]:
    return and_(lat.between(south, north), lon.between(west, east))


def haversine_m(lat: Any, lon: Any, to_lat: float, to_lon: float) -> ColumnElement[float]:
    """The great-circle distance in metres from the columns to a point, in SQL."""
    half_dlat = func.radians(lat - to_lat) / 2
    half_dlon = func.radians(lon - to_lon) / 2
    a = (func.power(func.sin(half_dlat), 2)
         + func.cos(func.radians(lat)) * math.cos(math.radians(to_lat))
         * func.power(func.sin(half_dlon), 2))
    return 2 * EARTH_RADIUS_M * func.asin(func.sqrt(func.least(1.0, a)))


def _degrees(radius_m: float, at_lat: float) -> tuple[float, float]:
    """The radius in degrees of latitude and of longitude at ``at_lat``."""
    cos_lat = max(math.cos(math.radians(at_lat)), 0.01)
    return radius_m / METRES_PER_DEGREE, radius_m / (METRES_PER_DEGREE * cos_lat)


def grown(polygon: BaseGeometry, radius_m: float) -> BaseGeometry:
    """The polygon (lon/lat) grown by ``radius_m`` metres, in lon/lat again."""
    lon0, lat0 = polygon.centroid.x, polygon.centroid.y
    kx = METRES_PER_DEGREE * math.cos(math.radians(lat0))
    ky = METRES_PER_DEGREE

    def to_m(x: Any, y: Any, z: Any = None) -> tuple[Any, Any]:
        return (x - lon0) * kx, (y - lat0) * ky

    def to_deg(x: Any, y: Any, z: Any = None) -> tuple[Any, Any]:
        return x / kx + lon0, y / ky + lat0

    metric = transform(to_m, polygon).buffer(radius_m, quad_segs=8).simplify(SIMPLIFY_M)
    return transform(to_deg, metric)


def _polygon_literal(polygon: Polygon) -> ColumnElement[Any]:
    """A PostgreSQL ``polygon`` constant (numbers only, formatted here: nothing to inject)."""
    points = ",".join(f"({x:.7f},{y:.7f})" for x, y in polygon.exterior.coords[:-1])
    return literal_column(f"'({points})'::polygon")


def _parts(geometry: BaseGeometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [geometry]
    if isinstance(geometry, MultiPolygon):
        return list(geometry.geoms)
    return []


def _point_clauses(lat: Any, lon: Any, geometry: BaseGeometry,
                   radius_m: float) -> list[ColumnElement[bool]]:
    points = list(getattr(geometry, "geoms", [geometry]))
    out = []
    for point in points:
        dlat, dlon = _degrees(radius_m, point.y)
        out.append(and_(_box(lat, lon, point.y - dlat, point.x - dlon, point.y + dlat,
                             point.x + dlon),
                        haversine_m(lat, lon, point.y, point.x) <= radius_m))
    return out


def _polygon_clauses(lat: Any, lon: Any, geometry: BaseGeometry,
                     radius_m: float) -> list[ColumnElement[bool]]:
    out = []
    for part in _parts(grown(geometry, radius_m)):
        west, south, east, north = part.bounds
        inside = func.point(lon, lat).op("<@")(_polygon_literal(part))
        out.append(and_(_box(lat, lon, south, west, north, east), inside))
    return out


def near_clause(layer: Layer, radius_m: float, *, lat: Any, lon: Any) -> ColumnElement[bool]:
    """Whether (lat, lon) lies within ``radius_m`` of any place of the layer."""
    clauses: list[ColumnElement[bool]] = []
    for _place, geometry in layer.places:
        if layer.kind == "point":
            clauses.extend(_point_clauses(lat, lon, geometry, radius_m))
        else:
            clauses.extend(_polygon_clauses(lat, lon, geometry, radius_m))
    return or_(*clauses) if clauses else false()


def layer_geojson(layer: Layer) -> dict[str, Any]:
    """The layer's places for a map: name and geometry of each."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": place.name, "names": place.names},
         "geometry": place.geometry} for place, _geometry in layer.places]}
