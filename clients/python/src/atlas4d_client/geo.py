"""Results as GeoJSON, shapely and GeoPandas. Anything with `__geo_interface__` (our Observation, Entity,
Track, GridCell, Position; shapely geometries) goes in; GeoPandas is imported only when asked for (the
`atlas4d-client[geopandas]` extra)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from atlas4d_client.filters import GeoInterface

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry


def feature(item: GeoInterface | Mapping[str, Any]) -> dict[str, Any]:
    """A GeoJSON Feature (a geometry becomes a Feature with no properties)."""
    geo = dict(item) if isinstance(item, Mapping) else dict(item.__geo_interface__)
    if geo.get("type") == "Feature":
        return geo
    return {"type": "Feature", "geometry": geo, "properties": {}}


def feature_collection(items: Iterable[GeoInterface | Mapping[str, Any]]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the items, in order (items without a position keep a null geometry,
    as RFC 7946 allows)."""
    return {"type": "FeatureCollection", "features": [feature(i) for i in items]}


def to_shapely(item: GeoInterface | Mapping[str, Any]) -> BaseGeometry | None:
    """The item's geometry as a shapely geometry; None when it has none (e.g. a track asked without its
    line). Features and FeatureCollections' members are unwrapped."""
    from shapely.geometry import shape

    geo = feature(item)["geometry"]
    return None if geo is None else shape(geo)


def to_geodataframe(items: Iterable[GeoInterface | Mapping[str, Any]]) -> Any:
    """A `geopandas.GeoDataFrame` in EPSG:4326 with one row per item, its properties as columns and its id
    as the index. Needs the `geopandas` extra: `pip install 'atlas4d-client[geopandas]'`."""
    try:
        import geopandas
    except ImportError as exc:  # pragma: no cover - the message is the point
        raise ImportError("to_geodataframe needs GeoPandas: pip install 'atlas4d-client[geopandas]'") from exc
    features = feature_collection(items)["features"]
    frame = geopandas.GeoDataFrame.from_features(features, crs="EPSG:4326")
    ids = [f.get("id") for f in features]
    if features and all(i is not None for i in ids):
        frame.index = ids
        frame.index.name = "id"
    return frame
