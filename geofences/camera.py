"""Pinhole camera model: footprint, ground sample distance, intrinsics.

Pure computation. Lengths in the names: ``_mm`` on the sensor, ``_px`` in the
image, ``_m`` on the ground.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Camera:
    sensor_width_mm: float
    sensor_height_mm: float
    focal_length_mm: float
    image_width_px: int
    image_height_px: int
    name: str = "custom"

    @property
    def fx_px(self) -> float:
        """Focal length in pixels along the image x axis."""
        return self.focal_length_mm * self.image_width_px / self.sensor_width_mm

    @property
    def fy_px(self) -> float:
        return self.focal_length_mm * self.image_height_px / self.sensor_height_mm

    def footprint_m(self, altitude_m: float) -> tuple[float, float]:
        """Ground footprint (across-track width, along-track height) looking straight down.

        The image's long side is mounted across the track.
        """
        width = altitude_m * self.sensor_width_mm / self.focal_length_mm
        height = altitude_m * self.sensor_height_mm / self.focal_length_mm
        return width, height

    def gsd_m(self, altitude_m: float) -> float:
        """Ground sample distance (metres per pixel), the coarser of the two axes."""
        width, height = self.footprint_m(altitude_m)
        return max(width / self.image_width_px, height / self.image_height_px)

    def line_spacing_m(self, altitude_m: float, side_overlap: float) -> float:
        """Distance between survey lanes for the given side overlap (0..1)."""
        return self.footprint_m(altitude_m)[0] * (1.0 - side_overlap)

    def trigger_distance_m(self, altitude_m: float, front_overlap: float) -> float:
        """Distance between photos along a lane for the given front overlap (0..1)."""
        return self.footprint_m(altitude_m)[1] * (1.0 - front_overlap)

    def person_height_px(self, altitude_m: float, person_m: float = 1.7) -> float:
        """How tall a standing person's image is, seen from ``altitude_m`` at nadir.

        From straight above a person is mostly seen as a shoulders-and-head
        blob; the body length (lying/swimming) is the useful size.
        """
        return person_m / self.gsd_m(altitude_m)


# Common patrol-drone video cameras (video mode, 16:9). Values from the makers'
# published sensor sizes and focal lengths.
PRESETS: dict[str, Camera] = {
    "dji-m30t-wide": Camera(6.4, 3.6, 4.5, 1920, 1080, "dji-m30t-wide"),
    "dji-mavic3-wide": Camera(17.3, 9.73, 12.3, 3840, 2160, "dji-mavic3-wide"),
    "siyi-a8-mini": Camera(5.6, 3.15, 4.0, 1920, 1080, "siyi-a8-mini"),
    "generic-1080p": Camera(6.17, 3.47, 4.5, 1920, 1080, "generic-1080p"),
}
DEFAULT_PRESET = "generic-1080p"
