"""Key-water loading time: the samples, and large generated outlines (as a QGIS trace might be).

    python -m benchmarks.bench_geofences_load [--repeat N]

Prints the median wall time of ``geofences.load`` per file; for the large
outlines also the time to find a self-crossing (the slow path of the checks)
and the same outline as GeoJSON (YAML parsing with the pure-Python
``yaml.safe_load`` dominates large YAML files).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import geofences
from geofences import KeyWaterFileError, LocalProjection

LAT0, LON0 = 29.30, 115.85


def outline(vertices: int, radius_m: float = 1500.0) -> list[list[float]]:
    """A wavy closed ring of ``vertices`` positions around (LAT0, LON0)."""
    proj = LocalProjection.around(LAT0, LON0)
    x0, y0 = proj.to_xy(LON0, LAT0)
    ring = []
    for k in range(vertices):
        t = 2 * math.pi * k / vertices
        r = radius_m * (1 + 0.2 * math.sin(7 * t) + 0.05 * math.sin(61 * t))
        lon, lat = proj.to_lonlat(x0 + r * math.cos(t), y0 + r * math.sin(t))
        ring.append([round(lon, 7), round(lat, 7)])
    return [*ring, ring[0]]


def yaml_doc(ring: list[list[float]]) -> str:
    proj = LocalProjection.around(LAT0, LON0)
    x0, y0 = proj.to_xy(LON0, LAT0)
    lon, lat = proj.to_lonlat(x0, y0 - 1900.0)  # the ring reaches 1725 m south
    rows = "\n".join(f"      - [{p[0]}, {p[1]}]" for p in ring)
    return (
        f"launch: {{lat: {lat}, lon: {lon}}}\n"
        f"water:\n  type: Polygon\n  coordinates:\n    -\n{rows}\n"
    )


def geojson_doc(ring: list[list[float]]) -> str:
    proj = LocalProjection.around(LAT0, LON0)
    x0, y0 = proj.to_xy(LON0, LAT0)
    launch = list(proj.to_lonlat(x0, y0 - 1900.0))

    def feature(role: str, geometry: dict) -> dict:
        return {"type": "Feature", "properties": {"role": role}, "geometry": geometry}

    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                feature("water", {"type": "Polygon", "coordinates": [ring]}),
                feature("launch", {"type": "Point", "coordinates": launch}),
            ],
        }
    )


def timed(path: Path, repeat: int) -> tuple[float, str]:
    times, outcome = [], "ok"
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            geofences.load(path)
        except KeyWaterFileError as err:
            outcome = f"error: {err.problem[:50]}..."
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    geofences.load(geofences.sample_paths()[0])  # warm imports and pyproj's database
    print(f"{'file':<36} {'median ms':>10}  outcome")
    for path in geofences.sample_paths():
        ms, outcome = timed(path, args.repeat)
        print(f"{path.name:<36} {ms:>10.1f}  {outcome}")
    with tempfile.TemporaryDirectory() as tmp:
        for vertices in (1_000, 10_000, 50_000):
            ring = outline(vertices)
            good = Path(tmp) / f"outline-{vertices}.yaml"
            good.write_text(yaml_doc(ring))
            crossed = ring.copy()
            i, j = vertices // 3, 2 * vertices // 3
            crossed[i], crossed[j] = crossed[j], crossed[i]
            bad = Path(tmp) / f"outline-{vertices}-crossed.yaml"
            bad.write_text(yaml_doc(crossed))
            as_geojson = Path(tmp) / f"trace-{vertices}.geojson"  # no outline-N.yaml sidecar
            as_geojson.write_text(geojson_doc(ring))
            for path in (good, bad, as_geojson):
                ms, outcome = timed(path, max(1, args.repeat // 2))
                print(f"{path.name:<36} {ms:>10.1f}  {outcome}")


if __name__ == "__main__":
    main()
