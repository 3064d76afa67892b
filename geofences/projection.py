"""A local metric projection (UTM zone of a point) for planning and georeferencing.

Lon/lat degrees in, metres inside, lon/lat out: the projection is explicit at
the edges (shapely's ``transform`` with pyproj's vectorised functions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import shapely
from pyproj import CRS, Transformer

G = TypeVar("G", bound=shapely.Geometry)


def utm_epsg(lat: float, lon: float) -> int:
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


@dataclass(frozen=True)
class LocalProjection:
    """WGS84 <-> the UTM zone of ``origin`` (metres, x east, y north)."""

    epsg: int
    _fwd: Transformer = field(repr=False, compare=False)
    _inv: Transformer = field(repr=False, compare=False)

    @classmethod
    def around(cls, lat: float, lon: float) -> LocalProjection:
        epsg = utm_epsg(lat, lon)
        crs = CRS.from_epsg(epsg)
        return cls(
            epsg,
            Transformer.from_crs("EPSG:4326", crs, always_xy=True),
            Transformer.from_crs(crs, "EPSG:4326", always_xy=True),
        )

    def to_xy(self, lon: float, lat: float) -> tuple[float, float]:
        x, y = self._fwd.transform(lon, lat)
        return float(x), float(y)

    def to_lonlat(self, x_m: float, y_m: float) -> tuple[float, float]:
        lon, lat = self._inv.transform(x_m, y_m)
        return float(lon), float(lat)

    def geom_to_m(self, geom: G) -> G:
        return shapely.transform(geom, self._coords_fwd)

    def geom_to_lonlat(self, geom: G) -> G:
        return shapely.transform(geom, self._coords_inv)

    def _coords_fwd(self, coords: np.ndarray) -> np.ndarray:
        x, y = self._fwd.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    def _coords_inv(self, coords: np.ndarray) -> np.ndarray:
        lon, lat = self._inv.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])
