"""The synthetic aerial camera: what the drone would see, as frames and as a stream.

``build_scene(keywater, seed)`` places people around a key water (the ground
truth); ``render(scene, camera, pose)`` draws the frame the camera sees from a
vehicle pose and says who is in it where; ``SyntheticCamera`` follows a pose
callback (the vehicle's telemetry) in time; ``frames`` iterates it in-process,
``SyntheticCameraSource`` feeds it to the detection pipeline as a live source,
and ``UdpCameraStream`` publishes it as H.264 MPEG-TS over UDP on loopback.

People in the water are drawn "composed" (upright photographed people, the
default for now) or "real" (swimmers cut out of the train split of
../shared/data/aerial-people: ``build_scene(..., swimmer_look="real"|"auto")``,
``waterpatrol sitl camera|scene --swimmers``); see ``sitl.camera.scene``.

Conventions (position, altitude above the water, attitude, gimbal) are those of
``detection.pose.Pose`` and ``detection.georef``.
"""

from sitl.camera.errors import AssetError, CameraError, SceneError, StreamError
from sitl.camera.render import (
    Assets,
    RenderedFrame,
    VisiblePerson,
    default_assets,
    ground_homography,
    pixel_of,
    render,
)
from sitl.camera.scene import IN_WATER, KINDS, Person, Scene, build_scene, coverage_of
from sitl.camera.stream import (
    CapturedFrame,
    StreamStats,
    SyntheticCamera,
    SyntheticCameraSource,
    UdpCameraStream,
    frames,
    parse_udp,
)

__all__ = [
    "IN_WATER",
    "KINDS",
    "AssetError",
    "Assets",
    "CameraError",
    "CapturedFrame",
    "Person",
    "RenderedFrame",
    "Scene",
    "SceneError",
    "StreamError",
    "StreamStats",
    "SyntheticCamera",
    "SyntheticCameraSource",
    "UdpCameraStream",
    "VisiblePerson",
    "build_scene",
    "coverage_of",
    "default_assets",
    "frames",
    "ground_homography",
    "parse_udp",
    "pixel_of",
    "render",
]
