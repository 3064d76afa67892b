"""A PNG preview map of a plan: water, islands, no-fly zones, hotspots, fence, sortie paths,
launch and rally points.

Drawn with matplotlib's Agg canvas (no display, no pyplot state) in the
launch point's UTM zone, in metres from the launch, so distances and angles
on the map are true. The north arrow points to true north, which differs
from the grid's +y by the meridian convergence.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shapely
from shapely import affinity
from shapely.geometry import LineString, Polygon

from geofences.model import KeyWater
from geofences.projection import LocalProjection
from mission.export._fence import fence_shapes
from mission.export._io import write_atomic
from mission.export.summary import as_line
from mission.plan import MissionPlan

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WIDTH_PX = 1600
HEIGHT_PX = 1200
DPI = 100
LAND = "#f2efe6"
WATER = "#a9d3f0"
SHORE = "#3b7fb5"
ISLAND = "#e4dcc4"
NOFLY = "#d7191c"
FENCE = "#222222"
RALLY = "#1a9641"
HOTSPOT = "#f0b400"  # where people swim or crowd: what the patrol must see
RALLY_AT_LAUNCH_M = 5.0  # closer than this, the rally marker sits on the launch marker
# No blue: sortie paths must stand out against the water.
SORTIE_COLOURS = ("#e6550d", "#6a3d9a", "#31a354", "#d6616b", "#8c6d31", "#e7298a", "#636363")
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Zen Hei", "Source Han Sans SC")


def render_preview(
    plan: MissionPlan,
    keywater: KeyWater,
    path: Path,
    width_px: int = WIDTH_PX,
    height_px: int = HEIGHT_PX,
) -> Path:
    """Draw the preview and write it as a ``width_px`` x ``height_px`` PNG."""
    return write_atomic(path, render_png(plan, keywater, width_px, height_px))


def render_png(
    plan: MissionPlan, keywater: KeyWater, width_px: int = WIDTH_PX, height_px: int = HEIGHT_PX
) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    lat0, lon0, _ = plan.home
    proj = LocalProjection.around(lat0, lon0)
    ox, oy = proj.to_xy(lon0, lat0)

    def to_m(geom: shapely.Geometry) -> shapely.Geometry:
        return affinity.translate(proj.geom_to_m(geom), -ox, -oy)

    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.06, top=0.92)
    ax = fig.add_subplot()
    ax.set_facecolor(LAND)
    families = ["DejaVu Sans", *_installed(CJK_FONTS)]

    water = to_m(keywater.water)
    _add_polygons(ax, water.geoms, fc=WATER, ec=SHORE, lw=0.8, label="water", z=1)
    islands = [Polygon(r) for p in water.geoms for r in p.interiors]
    _add_polygons(ax, islands, fc=ISLAND, ec=SHORE, lw=0.8, label="island", z=2)
    nofly = [to_m(z.polygon) for z in keywater.no_fly]
    _add_polygons(
        ax, nofly, fc=(0.84, 0.1, 0.11, 0.15), ec=NOFLY, lw=1.0, label="no-fly", z=3, hatch="//"
    )

    # Water the plan leaves unflown (--allow-partial) is marked, never silently dropped.
    unplanned = [to_m(Polygon(ring)) for u in plan.summary.unplanned for ring in u.outlines_lonlat]
    _add_polygons(
        ax,
        unplanned,
        fc=(0.5, 0.5, 0.5, 0.45),
        ec=NOFLY,
        lw=1.2,
        label="not planned",
        z=3,
        hatch="xx",
    )

    spots = [to_m(h.geometry).buffer(h.radius_m) for h in keywater.hotspots]
    _add_polygons(ax, spots, fc=(0.94, 0.71, 0.0, 0.25), ec=HOTSPOT, lw=1.5, label="hotspot", z=3)
    for spot, h in zip(spots, keywater.hotspots, strict=True):
        c = spot.representative_point()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Glyph .* missing")
            ax.annotate(h.name, (c.x, c.y), fontsize=8, ha="center", zorder=9, family=families)

    polygons, circles = fence_shapes(plan.fence)
    extent = [water, *spots]
    for inclusion in (True, False):
        rings = [
            to_m(LineString([(lon, lat) for lat, lon in p.vertices] + [p.vertices[0][::-1]]))
            for p in polygons
            if p.inclusion == inclusion
        ]
        extent += rings
        for i, ring in enumerate(rings):
            xs, ys = ring.xy
            ax.plot(
                xs,
                ys,
                ls="--",
                lw=1.2,
                color=FENCE if inclusion else NOFLY,
                zorder=4,
                label=None if i else ("fence" if inclusion else "fence exclusion"),
            )
    for c in circles:
        cx, cy = proj.to_xy(c.lon, c.lat)
        ax.add_patch(
            Circle(
                (cx - ox, cy - oy),
                c.radius_m,
                fill=False,
                ls="--",
                ec=FENCE if c.inclusion else NOFLY,
                zorder=4,
            )
        )

    for k, sortie in enumerate(plan.sorties):
        colour = SORTIE_COLOURS[k % len(SORTIE_COLOURS)]
        if len(sortie.path_lonlat) >= 2:
            line = to_m(LineString(sortie.path_lonlat))
            extent.append(line)
            xs, ys = line.xy
            ax.plot(xs, ys, color=colour, lw=1.3, zorder=5, label=f"sortie {sortie.index}")
        pts = [proj.to_xy(it.lon, it.lat) for it in sortie.items[1:] if it.has_position]
        if pts:
            ax.scatter(
                [x - ox for x, _ in pts], [y - oy for _, y in pts], s=5, color=colour, zorder=6
            )

    # The launch is a hollow triangle under the rally markers: the planner's rally point
    # is usually the launch itself, and a filled launch marker would hide it.
    launches = [proj.to_xy(lon, lat) for lat, lon, _ in (plan.launches or (plan.home,))]
    ax.scatter(
        [x - ox for x, _ in launches],
        [y - oy for _, y in launches],
        marker="^",
        s=260,
        facecolors="none",
        edgecolors="black",
        linewidths=2.0,
        zorder=7,
        label="launch" if len(launches) == 1 else "launch points",
    )
    if plan.rally:
        rxy = [(x - ox, y - oy) for x, y in (proj.to_xy(r.lon, r.lat) for r in plan.rally)]
        at_launch = any(math.hypot(x, y) < RALLY_AT_LAUNCH_M for x, y in rxy)
        ax.scatter(
            [x for x, _ in rxy],
            [y for _, y in rxy],
            marker="P",
            s=90,
            color=RALLY,
            edgecolor="white",
            zorder=8,
            label="rally point (at the launch)" if at_launch else "rally point",
        )

    xmin, ymin, xmax, ymax = shapely.GeometryCollection(extent).bounds
    xmin, xmax, ymin, ymax = min(xmin, 0.0), max(xmax, 0.0), min(ymin, 0.0), max(ymax, 0.0)
    pad = 0.06 * max(xmax - xmin, ymax - ymin, 1.0)
    xmin, xmax, ymin, ymax = xmin - pad, xmax + pad, ymin - pad, ymax + pad
    # Widen the shorter side so one metre is as long across as up the whole axes.
    box = ax.get_position()
    box_ratio = (box.height * height_px) / (box.width * width_px)
    if (ymax - ymin) < box_ratio * (xmax - xmin):
        grow = (box_ratio * (xmax - xmin) - (ymax - ymin)) / 2
        ymin, ymax = ymin - grow, ymax + grow
    else:
        grow = ((ymax - ymin) / box_ratio - (xmax - xmin)) / 2
        xmin, xmax = xmin - grow, xmax + grow
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("metres east of launch (UTM grid)")
    ax.set_ylabel("metres north of launch (UTM grid)")
    ax.grid(True, color="white", lw=0.6, zorder=0)

    bar_m = nice_length(0.25 * (xmax - xmin))
    ax.add_artist(
        AnchoredSizeBar(
            ax.transData,
            bar_m,
            f"{bar_m / 1000:g} km" if bar_m >= 1000 else f"{bar_m:g} m",
            loc="lower right",
            pad=0.6,
            sep=4,
            frameon=True,
            size_vertical=0.006 * (ymax - ymin),
        )
    )
    _north_arrow(ax, proj, lat0, lon0)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        ax.set_title(
            f"{plan.key_water_name} ({plan.key_water_id}): {plan.pattern} patrol at "
            f"{plan.altitude_m:g} m\n{as_line(plan)}",
            fontsize=11,
            family=families,
        )
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def nice_length(max_m: float) -> float:
    """The largest 1, 2 or 5 x 10^k metres not above ``max_m`` (scale bar length)."""
    if max_m <= 0:
        return 1.0
    base = 10.0 ** math.floor(math.log10(max_m))
    if base > max_m:  # log10 rounded up just below a power of ten
        base /= 10.0
    return max(m * base for m in (1, 2, 5) if m * base <= max_m)


def _add_polygons(
    ax: Axes,
    polys: Iterable[Polygon],
    fc: Any,
    ec: str,
    lw: float,
    label: str,
    z: int,
    hatch: str | None = None,
) -> None:
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath

    for i, poly in enumerate(polys):
        rings = [poly.exterior, *poly.interiors]
        path = MplPath.make_compound_path(*[MplPath(list(r.coords), closed=True) for r in rings])
        ax.add_patch(
            PathPatch(path, fc=fc, ec=ec, lw=lw, zorder=z, hatch=hatch, label=None if i else label)
        )


def _north_arrow(ax: Axes, proj: LocalProjection, lat: float, lon: float) -> None:
    x0, y0 = proj.to_xy(lon, lat)
    x1, y1 = proj.to_xy(lon, lat + 0.01)
    norm = math.hypot(x1 - x0, y1 - y0)
    dx, dy = (x1 - x0) / norm, (y1 - y0) / norm
    tip = (0.95, 0.88)
    ax.annotate(
        "",
        xy=tip,
        xycoords="axes fraction",
        xytext=(-dx * 45, -dy * 45),
        textcoords="offset points",
        arrowprops={"arrowstyle": "-|>", "lw": 2, "color": "black", "mutation_scale": 20},
        zorder=9,
    )
    ax.annotate(
        "N",
        xy=tip,
        xycoords="axes fraction",
        xytext=(dx * 10, dy * 10),
        textcoords="offset points",
        ha="center",
        va="center",
        fontsize=13,
        fontweight="bold",
        zorder=9,
    )


def _installed(families: Iterable[str]) -> list[str]:
    from matplotlib import font_manager

    have = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in families if f in have]
