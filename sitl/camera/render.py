"""What the drone's camera sees from a pose: the frame, and who is in it where.

Same camera and attitude conventions as ``detection.georef`` (its rotation and
intrinsics are used as they are), so georeferencing the foot pixel of a
rendered person gives back their position. Per frame:

1. the ground plane, as east/north metres from the point below the camera
   (along the ellipsoid, as georef goes back), maps to the image by one
   homography ``K R^T M``;
2. the land and water textures (seamless tiles anchored to the ground) are
   warped into the frame with it, the water's polygon is clipped to the visible
   ground, projected and filled as the water mask, a sand strip marks the
   bank; above the horizon is sky;
3. each person near the view is pasted as an upright sprite (a billboard: the
   detector knows upright people) whose bottom centre is their projected
   position, as tall as their body length at the local scale; people in the
   water show their lower body faded through it. When the scene's swimmers
   are "real" (``Scene.swimmers``), people in the water are instead real
   swimmers cut out of drone footage, lying flat on the water, partly under
   it, with wake and splashes (``sitl.camera.swimming``): their box's centre,
   not its bottom, is their position.

Pure computation over ``Assets`` (textures and sprites, made once from the
photographs in ``sitl.camera.people``; real swimmers from ``sitl.camera.swimmers``).
"""

from __future__ import annotations

import collections
import functools
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import shapely
from pyproj import Geod

from detection.georef import camera_to_ned, intrinsics
from detection.pose import Pose
from geofences.camera import Camera
from geofences.projection import LocalProjection
from sitl.camera import people as photos
from sitl.camera import swimmers as footage
from sitl.camera.errors import CameraError
from sitl.camera.scene import Person, Scene
from sitl.camera.swimming import draw as draw_swimmer
from sitl.camera.textures import (
    SAND_BGR,
    SKY_BGR,
    Texture,
    lake_texture,
    land_texture,
    water_texture,
)

_WGS84 = Geod(ellps="WGS84")
HORIZON_EPS = 0.02  # a ray must point this far below the horizon (per unit depth) to hit ground
WATERLINE = 0.38  # of the body from the top: below it a swimmer is seen through the water
_SPRITE_CACHE = 512


@dataclass(frozen=True)
class VisiblePerson:
    """A person in a rendered frame: the ground truth for the detector."""

    id: str
    kind: str
    lat: float
    lon: float
    in_water: bool
    box_xyxy: tuple[float, float, float, float]  # visible pixels (alpha > 0.5), clipped
    foot_px: tuple[float, float]  # their position projected: the box's bottom centre
    # (upright people) or its centre (real swimmers)
    height_px: float  # body length in pixels (raised arms not counted)
    visible_fraction: float  # share of the sprite inside the frame

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "lat": round(self.lat, 8),
            "lon": round(self.lon, 8),
            "in_water": self.in_water,
            "box_xyxy": [round(v, 1) for v in self.box_xyxy],
            "foot_px": [round(v, 1) for v in self.foot_px],
            "height_px": round(self.height_px, 1),
            "visible_fraction": round(self.visible_fraction, 3),
        }


@dataclass(frozen=True)
class RenderedFrame:
    image: np.ndarray  # H x W x 3 BGR uint8
    people: tuple[VisiblePerson, ...]
    pose: Pose
    gsd_m: float  # metres per pixel at the image centre (inf when it shows sky)


class Assets:
    """Ground textures and person sprites; sprites are cached per person and size."""

    def __init__(
        self,
        seed: int = 0,
        *,
        water: Texture | None = None,
        land: Texture | None = None,
        swimmers: tuple[footage.SwimmerCutout, ...] | None = None,
    ) -> None:
        # composed people on the lake texture they were tuned on; real swimmers on
        # water like the footage they were cut from
        self.water: Texture = water or lake_texture(seed)
        self.footage_water: Texture = water or water_texture(seed)
        self.land: Texture = land or land_texture(seed)
        cut = photos.cutouts()
        standing = tuple(c for c in cut if c.full_body)
        self.looks: dict[str, tuple[photos.Cutout, ...]] = {
            "swimmer": cut,
            "swimmer_waving": (photos.waving_cutout(),),
            "shore_group": standing,
            "land_walker": standing,
        }
        self.water_bgr = self.water.levels[-1].reshape(-1, 3).mean(axis=0)
        self._real = swimmers
        self._sprites: collections.OrderedDict[tuple[str, int, bool], np.ndarray] = (
            collections.OrderedDict()
        )

    @property
    def real_swimmers(self) -> tuple[footage.SwimmerCutout, ...]:
        """Swimmers cut out of real footage, loaded at first use (cached on disk)."""
        if self._real is None:
            self._real = footage.default_cutouts()
        return self._real

    def sprite(self, person: Person, height_px: int, mirrored: bool) -> np.ndarray:
        """The person's BGRA sprite, trimmed to alpha > 127, body ``height_px`` rows long."""
        key = (person.id, height_px, mirrored)
        hit = self._sprites.get(key)
        if hit is not None:
            self._sprites.move_to_end(key)
            return hit
        looks = self.looks[person.kind]
        cut = looks[person.look % len(looks)]
        scale = height_px / cut.body_px
        h, w = cut.bgra.shape[:2]
        size = (max(2, round(w * scale)), max(2, round(h * scale)))
        interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        img = cv2.resize(cut.bgra, size, interpolation=interp)
        if mirrored:
            img = img[:, ::-1]
        img = img.astype(np.float32)
        img[..., :3] *= person.gain
        if person.in_water:  # below the waterline: through the water
            body_top = img.shape[0] - height_px  # raised arms sit above the body
            line = max(0, round(body_top + WATERLINE * height_px))
            img[line:, :, :3] = 0.45 * img[line:, :, :3] + 0.55 * self.water_bgr
            img[line:, :, 3] *= 0.75
        out = photos.trim(np.clip(img, 0, 255).astype(np.uint8))
        self._sprites[key] = out
        if len(self._sprites) > _SPRITE_CACHE:
            self._sprites.popitem(last=False)
        return out


@functools.lru_cache(maxsize=2)
def default_assets(seed: int = 0) -> Assets:
    """Assets made once per process (cutting people out takes about a second)."""
    return Assets(seed)


@functools.lru_cache(maxsize=8)
def _projection(lat: float, lon: float) -> LocalProjection:
    return LocalProjection.around(lat, lon)


def _enu(pose: Pose, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """East, north metres from the point below the camera, along the ellipsoid."""
    n = len(lon)
    az, _, dist = _WGS84.inv(np.full(n, pose.lon), np.full(n, pose.lat), lon, lat)
    az = np.radians(az)
    return dist * np.sin(az), dist * np.cos(az)


def ground_homography(camera: Camera, pose: Pose, size: tuple[int, int]) -> np.ndarray:
    """3x3 map from ground (east m, north m, 1) below the camera to image pixels."""
    if not pose.alt_m > 0.0:
        raise CameraError(f"camera altitude {pose.alt_m} m: it must be above the water (> 0)")
    fx, fy, cx, cy = intrinsics(camera, size)
    k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    m = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, pose.alt_m]])  # -> NED
    return k @ camera_to_ned(pose).T @ m


def pixel_of(
    camera: Camera, pose: Pose, lat: float, lon: float, size: tuple[int, int] | None = None
) -> tuple[float, float] | None:
    """Where a point on the water surface appears in the image; None when behind the camera."""
    size = size or (camera.image_width_px, camera.image_height_px)
    e, n = _enu(pose, np.array([lon]), np.array([lat]))
    p = ground_homography(camera, pose, size) @ np.array([e[0], n[0], 1.0])
    if p[2] <= 1e-6:
        return None
    return float(p[0] / p[2]), float(p[1] / p[2])


def _clip_halfplane(poly: np.ndarray, abc: np.ndarray, eps: float) -> np.ndarray:
    """Sutherland-Hodgman: the part of convex ``poly`` (n, 2) where a*u + b*v + c >= eps."""
    out = []
    d = poly @ abc[:2] + abc[2] - eps
    for i in range(len(poly)):
        j = (i + 1) % len(poly)
        if d[i] >= 0:
            out.append(poly[i])
        if (d[i] >= 0) != (d[j] >= 0):
            t = d[i] / (d[i] - d[j])
            out.append(poly[i] + t * (poly[j] - poly[i]))
    return np.array(out).reshape(-1, 2)


def _apply(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.column_stack([pts, np.ones(len(pts))]) @ h.T
    return p[:, :2] / p[:, 2:3]


def _jacobian(g: np.ndarray, e: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The ground->image homography's Jacobian d(u, v)/d(e, n) at each point: (2, 2, N)."""
    p = g @ np.vstack([e, n, np.ones_like(e)])
    u, v, z = p[0] / p[2], p[1] / p[2], p[2]
    return np.array(
        [
            [(g[0, 0] - u * g[2, 0]) / z, (g[0, 1] - u * g[2, 1]) / z],
            [(g[1, 0] - v * g[2, 0]) / z, (g[1, 1] - v * g[2, 1]) / z],
        ]
    )


def _px_per_m(g: np.ndarray, e: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Local scale of the ground->image homography (sqrt of its Jacobian's determinant)."""
    j = _jacobian(g, e, n)
    return np.sqrt(np.abs(j[0, 0] * j[1, 1] - j[0, 1] * j[1, 0]))


def _texture(tex: Texture, gsd_m: float, to_ground: np.ndarray, xy0, size) -> np.ndarray:
    tile, res = tex.level_for(gsd_m)
    period = tile.shape[1] * res
    ox, oy = xy0[0] % period, (-xy0[1]) % period
    to_texel = np.array([[1.0 / res, 0.0, ox / res], [0.0, -1.0 / res, oy / res], [0, 0, 1.0]])
    return cv2.warpPerspective(
        tile,
        to_texel @ to_ground,
        size,
        flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,  # texels ~ pixels: see level_for
        borderMode=cv2.BORDER_WRAP,
    )


def _rings_px(geom: shapely.Geometry, g: np.ndarray) -> list[np.ndarray]:
    """Rings of a (multi)polygon in ground metres, projected, as fillPoly contours (x16)."""
    rings = []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        for ring in (poly.exterior, *poly.interiors):
            px = _apply(g, np.asarray(ring.coords)[:, :2])
            rings.append(np.round(px * 16).astype(np.int32))
    return rings


def _lines_px(geom: shapely.Geometry, g: np.ndarray) -> list[np.ndarray]:
    lines = []
    for part in getattr(geom, "geoms", [geom]):
        if part.is_empty or part.geom_type not in ("LineString", "LinearRing"):
            continue
        lines.append(np.round(_apply(g, np.asarray(part.coords)[:, :2]) * 16).astype(np.int32))
    return lines


def render(
    scene: Scene,
    camera: Camera,
    pose: Pose,
    *,
    size: tuple[int, int] | None = None,
    assets: Assets | None = None,
) -> RenderedFrame:
    """The BGR frame the camera sees at ``pose`` over ``scene``, and who is in it.

    ``size`` (width, height) scales the camera's native image (same field of view).
    """
    w, h = size or (camera.image_width_px, camera.image_height_px)
    if w < 16 or h < 16:
        raise CameraError(f"image size {w}x{h} is too small; give at least 16x16 pixels")
    assets = assets or default_assets()
    g = ground_homography(camera, pose, (w, h))
    to_ground = np.linalg.inv(g)
    # rays below the horizon: the down component of a pixel's ray is linear in (u, v)
    fx, fy, cx, cy = intrinsics(camera, (w, h))
    k_inv = np.array([[1 / fx, 0.0, -cx / fx], [0.0, 1 / fy, -cy / fy], [0.0, 0.0, 1.0]])
    down = camera_to_ned(pose)[2, :] @ k_inv  # (a, b, c): down(u, v) = a*u + b*v + c
    frame_poly = np.array([[-2.0, -2.0], [w + 2.0, -2.0], [w + 2.0, h + 2.0], [-2.0, h + 2.0]])
    ground_poly = _clip_halfplane(frame_poly, down, HORIZON_EPS)
    centre_ok = down @ np.array([w / 2, h / 2, 1.0]) >= HORIZON_EPS
    sky_in_view = len(ground_poly) != 4 or not np.allclose(ground_poly, frame_poly)
    if len(ground_poly) < 3:  # all sky
        image = np.empty((h, w, 3), np.uint8)
        image[:] = SKY_BGR
        return RenderedFrame(image, (), pose, math.inf)

    region = shapely.Polygon(_apply(to_ground, ground_poly))
    probe = np.array([[w / 2, h / 2]]) if centre_ok else ground_poly.mean(axis=0, keepdims=True)
    probe_en = _apply(to_ground, probe)
    gsd = float(1.0 / _px_per_m(g, probe_en[:, 0], probe_en[:, 1])[0])

    # water mask: the scene's polygons around the camera, clipped to what it sees
    water_parts = []
    for rings in scene.rings_lonlat:
        enu = [np.column_stack(_enu(pose, r[:, 0], r[:, 1])) for r in rings]
        water_parts.append(shapely.Polygon(enu[0], enu[1:]))
    water_en = shapely.MultiPolygon(water_parts)
    water_seen = water_en.intersection(region)
    mask = np.zeros((h, w), np.uint8)
    if not water_seen.is_empty:
        cv2.fillPoly(mask, _rings_px(water_seen, g), 255, cv2.LINE_8, shift=4)
    n_water = cv2.countNonZero(mask)

    c = scene.water.centroid
    xy0 = _projection(round(c.y, 3), round(c.x, 3)).to_xy(pose.lon, pose.lat)
    water_tex = assets.footage_water if scene.swimmers == "real" else assets.water
    if n_water == w * h:
        image = _texture(water_tex, gsd, to_ground, xy0, (w, h))
    else:
        image = _texture(assets.land, gsd, to_ground, xy0, (w, h))
        bank = water_en.boundary.intersection(region)
        if not bank.is_empty:
            thick = max(1, round(1.2 / gsd))
            cv2.polylines(image, _lines_px(bank, g), False, SAND_BGR, thick, cv2.LINE_8, shift=4)
        if n_water:
            water = _texture(water_tex, gsd, to_ground, xy0, (w, h))
            cv2.copyTo(water, mask, image)
    if sky_in_view:
        ground = np.zeros((h, w), np.uint8)
        cv2.fillPoly(ground, [np.round(ground_poly * 16).astype(np.int32)], 255, shift=4)
        image[ground == 0] = SKY_BGR

    people = _paste_people(image, scene, pose, g, down, assets)
    return RenderedFrame(image, people, pose, gsd if centre_ok else math.inf)


def _paste_people(
    image: np.ndarray,
    scene: Scene,
    pose: Pose,
    g: np.ndarray,
    down: np.ndarray,
    assets: Assets,
) -> tuple[VisiblePerson, ...]:
    if not scene.people:
        return ()
    h, w = image.shape[:2]
    lon = np.array([p.lon for p in scene.people])
    lat = np.array([p.lat for p in scene.people])
    e, n = _enu(pose, lon, lat)
    p = g @ np.vstack([e, n, np.ones_like(e)])
    z = p[2]
    front = z > 1e-6
    u = np.where(front, p[0] / np.where(front, z, 1.0), -1e9)
    v = np.where(front, p[1] / np.where(front, z, 1.0), -1e9)
    on_ground = front & (down[0] * u + down[1] * v + down[2] >= HORIZON_EPS)
    scale = np.where(on_ground, _px_per_m(g, e, n), 0.0)
    real = scene.swimmers == "real"
    rot = camera_to_ned(pose)
    right_heading = math.degrees(math.atan2(rot[1, 0], rot[0, 0]))  # image-right, from north
    seen = []
    for i in np.argsort(v):  # far (top) first, so nearer people overlap them
        person = scene.people[i]
        body_px = person.height_m * scale[i]
        if not on_ground[i] or body_px < 2.0:
            continue
        reach = 2.5 * body_px  # a sprite with raised arms is about twice its body tall
        if not (-reach < u[i] < w + reach and -reach < v[i] < h + reach):
            continue
        if real and person.in_water:
            cuts = assets.real_swimmers
            cut = cuts[person.variant % len(cuts)]
            jac = _jacobian(g, e[i : i + 1], n[i : i + 1])[..., 0]
            drawn = draw_swimmer(image, cut, person, jac, (u[i], v[i]), pose.t)
            if drawn is not None:
                seen.append(
                    VisiblePerson(
                        id=person.id,
                        kind=person.kind,
                        lat=person.lat,
                        lon=person.lon,
                        in_water=True,
                        box_xyxy=drawn.box_xyxy,
                        foot_px=(float(u[i]), float(v[i])),
                        height_px=float(body_px),
                        visible_fraction=drawn.visible_fraction,
                    )
                )
            continue
        mirrored = math.cos(math.radians(person.heading_deg - right_heading)) < 0
        sprite = assets.sprite(person, max(2, round(body_px)), mirrored)
        sh, sw = sprite.shape[:2]
        x, y = round(u[i] - sw / 2.0), round(v[i] - sh)
        x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + sw, w), min(y + sh, h)
        if x1 >= x2 or y1 >= y2:
            continue
        photos.paste_bgra(image, sprite, x, y)
        seen.append(
            VisiblePerson(
                id=person.id,
                kind=person.kind,
                lat=person.lat,
                lon=person.lon,
                in_water=person.in_water,
                box_xyxy=(float(x1), float(y1), float(x2), float(y2)),
                foot_px=(float(u[i]), float(v[i])),
                height_px=float(body_px),
                visible_fraction=(x2 - x1) * (y2 - y1) / float(sw * sh),
            )
        )
    return tuple(seen)
