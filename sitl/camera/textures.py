"""Ground textures: a water surface and grassy land, as seamless tiles anchored to the ground.

Each tile repeats every ``TILE_PX * TILE_RES_M`` metres in both directions
(every noise field is periodic by construction: filtered in the Fourier
domain, ripples with a whole number of waves per tile), so the renderer maps
it onto the ground with ``BORDER_WRAP``. A small pyramid (each level half the
resolution) lets a high camera sample a coarser level instead of aliasing.
Deterministic for a seed. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

TILE_PX = 1024
TILE_RES_M = 0.04  # metres per texel at level 0: finer than a 1080p camera at 40 m
LEVELS = 4
SAND_BGR = (128, 165, 188)  # the strip of bank along the waterline
SKY_BGR = (205, 195, 180)  # what shows above the horizon


@dataclass(frozen=True)
class Texture:
    levels: tuple[np.ndarray, ...]  # BGR tiles, level k at TILE_RES_M * 2**k metres per texel
    res_m: float = TILE_RES_M

    def level_for(self, gsd_m: float) -> tuple[np.ndarray, float]:
        """The coarsest level still at least as fine as the frame's GSD, and its metres per
        texel: sampled nearest-neighbour, each pixel then takes one of one to two texels."""
        k = 0
        while k + 1 < len(self.levels) and self.res_m * 2 ** (k + 1) <= gsd_m:
            k += 1
        return self.levels[k], self.res_m * 2**k

    @property
    def period_m(self) -> float:
        return self.levels[0].shape[1] * self.res_m


def _periodic_field(rng: np.random.Generator, n: int, wavelength_px: float) -> np.ndarray:
    """Smooth periodic noise, zero mean, unit std: white noise low-passed in the Fourier domain."""
    white = rng.standard_normal((n, n))
    f = np.fft.fftfreq(n)
    r2 = f[:, None] ** 2 + f[None, :] ** 2
    sigma = 1.0 / wavelength_px
    smooth = np.fft.ifft2(np.fft.fft2(white) * np.exp(-r2 / (2 * sigma**2))).real
    return ((smooth - smooth.mean()) / (smooth.std() + 1e-9)).astype(np.float32)


def _pyramid(tile: np.ndarray) -> Texture:
    levels = [tile]
    for _ in range(LEVELS - 1):
        levels.append(cv2.pyrDown(levels[-1], borderType=cv2.BORDER_WRAP))
    return Texture(tuple(np.ascontiguousarray(t) for t in levels))


def _wind_field(rng: np.random.Generator, n: int, along_px: float, across_px: float) -> np.ndarray:
    """Periodic noise stretched along x (the wind's chop: crests longer than they are apart)."""
    white = rng.standard_normal((n, n))
    f = np.fft.fftfreq(n)
    spectrum = np.exp(-((f[None, :] * along_px) ** 2 + (f[:, None] * across_px) ** 2) * 2.0)
    smooth = np.fft.ifft2(np.fft.fft2(white) * spectrum).real
    return ((smooth - smooth.mean()) / (smooth.std() + 1e-9)).astype(np.float32)


def lake_texture(seed: int = 0, n: int = TILE_PX) -> Texture:
    """A lake seen from above: slow colour drift, wind ripples, fine chop, a few glints.

    The water of the composed look (photographed people), on which the demo and the
    end-to-end tests are tuned; real swimmers get ``water_texture``.
    """
    rng = np.random.default_rng([seed, 1])
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    drift = _periodic_field(rng, n, 160.0)
    warp = _periodic_field(rng, n, 40.0)
    # ripples ~1.3 m long: a whole number of waves across the tile in x and y
    kx, ky = int(rng.integers(24, 34)), int(rng.integers(8, 16))
    phase = 2 * np.pi * (kx * xx + ky * yy) / n
    ripple = np.sin(phase + 2.2 * warp) * (0.65 + 0.35 * _periodic_field(rng, n, 60.0))
    chop = _periodic_field(rng, n, 3.0)
    deep = np.array([98.0, 102.0, 62.0], np.float32)  # BGR: a murky green-grey lake
    shallow = np.array([118.0, 128.0, 92.0], np.float32)
    mix = np.clip(0.5 + 0.3 * drift, 0.0, 1.0)[..., None]
    img = deep * (1.0 - mix) + shallow * mix
    img += (6.0 * ripple + 1.5 * chop)[..., None]
    glint = (ripple > 0.95) & (rng.random((n, n)) < 0.08)
    img[glint] += 55.0
    return _pyramid(np.clip(img, 0, 255).astype(np.uint8))


def water_texture(seed: int = 0, n: int = TILE_PX) -> Texture:
    """Open water seen from above, as drone footage shows it: an even olive green (the
    SeaDronesSee frames' colour), slow drift, faint wind chop with crests a little longer
    than they are apart and a few sparse glints; low contrast, as video compression leaves it."""
    rng = np.random.default_rng([seed, 1])
    drift = _periodic_field(rng, n, 160.0)
    chop = _wind_field(rng, n, 9.0, 5.0)  # texels: about 0.35 m along, 0.2 m across
    swell = _wind_field(rng, n, 40.0, 28.0)
    fine = _periodic_field(rng, n, 1.5)
    deep = np.array([102.0, 136.0, 116.0], np.float32)  # BGR
    shallow = np.array([116.0, 150.0, 128.0], np.float32)
    mix = np.clip(0.5 + 0.3 * drift, 0.0, 1.0)[..., None]
    img = deep * (1.0 - mix) + shallow * mix
    img += (3.0 * chop + 2.0 * swell + 0.8 * fine)[..., None]
    glint = (chop > 2.4) & (rng.random((n, n)) < 0.06)
    img[glint] += 22.0
    return _pyramid(np.clip(img, 0, 255).astype(np.uint8))


def land_texture(seed: int = 0, n: int = TILE_PX) -> Texture:
    """Grass with patches of bare soil and shrubs."""
    rng = np.random.default_rng([seed, 2])
    patches = _periodic_field(rng, n, 120.0)
    shrubs = _periodic_field(rng, n, 18.0)
    blades = _periodic_field(rng, n, 1.5)
    grass = np.array([58.0, 112.0, 88.0], np.float32)  # BGR
    soil = np.array([82.0, 112.0, 140.0], np.float32)
    dark = np.array([40.0, 78.0, 52.0], np.float32)
    soil_mix = np.clip(0.5 * (patches - 0.6), 0.0, 1.0)[..., None]
    shrub_mix = np.clip(shrubs - 1.2, 0.0, 1.0)[..., None]
    img = grass * (1.0 - soil_mix) + soil * soil_mix
    img = img * (1.0 - shrub_mix) + dark * shrub_mix
    img += (5.0 * blades)[..., None]  # mild: video compression smooths grain
    return _pyramid(np.clip(img, 0, 255).astype(np.uint8))
