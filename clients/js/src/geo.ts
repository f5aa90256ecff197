// GeoJSON from query results: points from nodes with lon/lat, lines from nodes with a `geometry`.
import type { Feature, FeatureCollection, Geometry } from "geojson";

export interface Located {
  id?: string | null;
  lon?: number | null;
  lat?: number | null;
  altitude?: number | null;
  geometry?: unknown;
}

/** One Feature per node: its `geometry` when it has one (tracks, grid cells), else a Point from lon/lat
 * (altitude as third coordinate when known); the node's other scalar fields become properties. */
export function toFeatureCollection<T extends Located>(nodes: readonly T[]): FeatureCollection<Geometry | null> {
  return { type: "FeatureCollection", features: nodes.map(toFeature) };
}

export function toFeature<T extends Located>(node: T): Feature<Geometry | null> {
  const { id, geometry, ...rest } = node;
  const properties: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rest)) {
    if (value === null || typeof value !== "object") properties[key] = value;
  }
  let geom: Geometry | null = null;
  if (geometry !== undefined && geometry !== null) geom = geometry as Geometry;
  else if (typeof node.lon === "number" && typeof node.lat === "number") {
    geom = {
      type: "Point",
      coordinates: typeof node.altitude === "number" ? [node.lon, node.lat, node.altitude] : [node.lon, node.lat],
    };
  }
  return { type: "Feature", ...(id ? { id } : {}), geometry: geom, properties };
}
