"""The vehicle side of the MAVLink mission protocol for mission, fence and rally.

A state machine with no I/O: handlers take decoded fields and the simulated
time and return the messages to send as ``(name, fields)`` pairs, where
``name`` is the pymavlink encoder without ``_encode``. It follows ArduPilot's
MissionItemProtocol:

- MISSION_COUNT is answered with plain MISSION_REQUEST (never _INT); a request
  is repeated after 1 s without an item and the upload is cancelled after 8 s
  (MISSION_ACK OPERATION_CANCELLED plus a "... upload timeout" text). Times are
  simulated seconds, as ArduPilot's millis() are in SITL.
- Items are accepted only from the sysid/compid that sent MISSION_COUNT
  (others get DENIED), only in sequence (others get INVALID_SEQUENCE and the
  upload goes on); a refused item ends the upload with its result.
- A second MISSION_COUNT from the uploader restarts; from anyone else: DENIED.
  Downloads of a type being uploaded are DENIED.
- Mission uploads write through (not atomic: a failed upload leaves old and
  new items mixed); fence and rally are buffered and committed at the end.
  The fence is validated as a whole (``fence.validate_fence``).
- Mission item 0 is home: validated, then ignored; it reads back as the real
  home. Counts above capacity, and any upload before start-up has finished,
  get NO_SPACE.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from mission.items import MissionItem, MissionType
from sitl.sim.fence import FENCE_STORAGE_BYTES, FenceZones, validate_fence
from sitl.sim.storage import Result, home_readback, store_item

Out = tuple[str, dict]

RESEND_S = 1.0
CANCEL_S = 8.0
MISSION_CAPACITY = 650  # 9758 bytes of copter mission storage in a 16 KB SITL / 15 bytes
RALLY_CAPACITY = 46  # 690 bytes / 15

_TYPE_NAMES = {
    MissionType.MISSION: "Mission",
    MissionType.FENCE: "Fence",
    MissionType.RALLY: "Rally",
}
_SEV_WARNING, _SEV_INFO = 4, 6


def _f32(v: float) -> float:
    return struct.unpack("<f", struct.pack("<f", v))[0]


def _text(severity: int, text: str) -> Out:
    return ("statustext", {"severity": severity, "text": text})


@dataclass
class _Upload:
    count: int
    src: tuple[int, int]
    next_seq: int
    last_receive_s: float
    last_request_s: float
    buffer: list[MissionItem] = field(default_factory=list)


@dataclass
class Stores:
    """What the vehicle holds. ``mission[0]`` is a placeholder: home reads back from the vehicle."""

    mission: list[MissionItem | None] = field(default_factory=lambda: [None])
    fence: list[MissionItem] = field(default_factory=list)
    rally: list[MissionItem] = field(default_factory=list)
    fence_zones: FenceZones = field(default_factory=FenceZones)


class MissionServer:
    """Mission/fence/rally transfers for one vehicle (sysid/compid ``me``)."""

    def __init__(
        self,
        home: Callable[[], tuple[float, float, float]],
        *,
        mission_capacity: int = MISSION_CAPACITY,
        fence_storage_bytes: int = FENCE_STORAGE_BYTES,
        rally_capacity: int = RALLY_CAPACITY,
    ) -> None:
        self.home = home
        self.stores = Stores()
        self.capacity = {
            MissionType.MISSION: mission_capacity,
            MissionType.FENCE: fence_storage_bytes // 8,
            MissionType.RALLY: rally_capacity,
        }
        self.fence_storage_bytes = fence_storage_bytes
        self.ready = False  # start-up finished
        self.mission_running = False  # a running mission cannot be cleared
        self.uploads: dict[int, _Upload] = {}
        self.rejects: dict[tuple[int, int], Result] = {}  # (mission_type, seq) -> result, once
        self.changed: set[int] = set()  # mission types committed since the vehicle last looked

    # --- helpers -------------------------------------------------------------------------
    def count(self, mission_type: int) -> int:
        if mission_type == MissionType.MISSION:
            return len(self.stores.mission)
        return len(self.stores.fence if mission_type == MissionType.FENCE else self.stores.rally)

    def mission_items(self) -> list[MissionItem]:
        """The stored mission with item 0 = current home."""
        return [self.read(MissionType.MISSION, i) for i in range(len(self.stores.mission))]

    def read(self, mission_type: int, seq: int) -> MissionItem:
        if mission_type == MissionType.MISSION:
            item = self.stores.mission[seq]
            return home_readback(*self.home()) if item is None or seq == 0 else item
        return (self.stores.fence if mission_type == MissionType.FENCE else self.stores.rally)[seq]

    @staticmethod
    def _ack(src: tuple[int, int], result: int, mission_type: int) -> Out:
        return (
            "mission_ack",
            {
                "target_system": src[0],
                "target_component": src[1],
                "type": int(result),
                "mission_type": mission_type,
            },
        )

    @staticmethod
    def _request(up: _Upload, mission_type: int) -> Out:
        return (
            "mission_request",
            {
                "target_system": up.src[0],
                "target_component": up.src[1],
                "seq": up.next_seq,
                "mission_type": mission_type,
            },
        )

    # --- upload --------------------------------------------------------------------------
    def on_count(
        self, src: tuple[int, int], count: int, mission_type: int, now: float
    ) -> list[Out]:
        if mission_type not in _TYPE_NAMES:
            return [self._ack(src, Result.UNSUPPORTED, mission_type)]
        up = self.uploads.get(mission_type)
        if up is not None and up.src != src:
            return [self._ack(src, Result.DENIED, mission_type)]
        self.uploads.pop(mission_type, None)
        if not self.ready:
            return [self._ack(src, Result.NO_SPACE, mission_type)]
        if count > self.capacity[mission_type]:
            return [
                self._ack(src, Result.NO_SPACE, mission_type),
                _text(_SEV_WARNING, f"Only {self.capacity[mission_type]} items are supported"),
            ]
        if mission_type == MissionType.MISSION:
            del self.stores.mission[max(count, 1) :]  # truncate now, as ArduPilot does
        if count == 0:
            return self._complete(src, mission_type, [])
        up = _Upload(count=count, src=src, next_seq=0, last_receive_s=now, last_request_s=now)
        self.uploads[mission_type] = up
        return [self._request(up, mission_type)]

    def on_item(self, src: tuple[int, int], item: MissionItem, seq: int, now: float) -> list[Out]:
        mission_type = item.mission_type
        up = self.uploads.get(mission_type)
        if up is None:
            return []  # ArduPilot only handles items while receiving
        if seq != up.next_seq:
            return [self._ack(src, Result.INVALID_SEQUENCE, mission_type)]
        if src != up.src:
            return [self._ack(src, Result.DENIED, mission_type)]
        result, stored = store_item(item)
        injected = self.rejects.pop((mission_type, seq), None)
        if injected is not None:
            result, stored = injected, None
        if result != Result.ACCEPTED or stored is None:
            del self.uploads[mission_type]
            return [self._ack(src, result, mission_type)]
        if mission_type == MissionType.MISSION:
            store = self.stores.mission
            if seq == 0:
                pass  # home: validated, then ignored
            elif seq < len(store):
                store[seq] = stored
            elif seq == len(store):
                store.append(stored)
            else:
                del self.uploads[mission_type]
                return [self._ack(src, Result.ERROR, mission_type)]
            self.changed.add(mission_type)
        else:
            up.buffer.append(stored)
        up.next_seq += 1
        up.last_receive_s = now
        if up.next_seq >= up.count:
            del self.uploads[mission_type]
            return self._complete(src, mission_type, up.buffer)
        up.last_request_s = now
        return [self._request(up, mission_type)]

    def _complete(
        self, src: tuple[int, int], mission_type: int, buffer: list[MissionItem]
    ) -> list[Out]:
        self.changed.add(mission_type)
        if mission_type == MissionType.MISSION:
            return [
                _text(_SEV_INFO, "Flight plan received"),
                self._ack(src, Result.ACCEPTED, mission_type),
            ]
        if mission_type == MissionType.RALLY:
            self.stores.rally = list(buffer)
            return [self._ack(src, Result.ACCEPTED, mission_type)]
        zones, texts = validate_fence(buffer, self.fence_storage_bytes)
        out = [_text(_SEV_WARNING, t) for t in texts]
        if zones is None:
            return [*out, self._ack(src, Result.ERROR, mission_type)]
        self.stores.fence = list(buffer)
        self.stores.fence_zones = zones
        return [*out, self._ack(src, Result.ACCEPTED, mission_type)]

    def update(self, now: float) -> list[Out]:
        """Re-request after 1 s of silence; cancel after 8 s."""
        out: list[Out] = []
        for mission_type, up in list(self.uploads.items()):
            if now - up.last_receive_s > CANCEL_S:
                del self.uploads[mission_type]
                out.append(_text(_SEV_WARNING, f"{_TYPE_NAMES[mission_type]} upload timeout"))
                out.append(self._ack(up.src, Result.OPERATION_CANCELLED, mission_type))
            elif now - up.last_request_s > RESEND_S:
                up.last_request_s = now
                out.append(self._request(up, mission_type))
        return out

    # --- download and clear --------------------------------------------------------------
    def on_request_list(self, src: tuple[int, int], mission_type: int) -> list[Out]:
        if mission_type not in _TYPE_NAMES:
            return [self._ack(src, Result.UNSUPPORTED, mission_type)]
        if mission_type in self.uploads:
            return [self._ack(src, Result.DENIED, mission_type)]
        return [
            (
                "mission_count",
                {
                    "target_system": src[0],
                    "target_component": src[1],
                    "count": self.count(mission_type),
                    "mission_type": mission_type,
                },
            )
        ]

    def on_request(
        self, src: tuple[int, int], seq: int, mission_type: int, as_int: bool
    ) -> list[Out]:
        if mission_type not in _TYPE_NAMES:
            return [self._ack(src, Result.UNSUPPORTED, mission_type)]
        if mission_type in self.uploads:
            return [self._ack(src, Result.DENIED, mission_type)]
        n = self.count(mission_type)
        if seq >= n and not (mission_type == MissionType.MISSION and seq == 0):
            if mission_type == MissionType.MISSION:
                return [
                    (
                        "mission_count",
                        {
                            "target_system": src[0],
                            "target_component": src[1],
                            "count": n,
                            "mission_type": mission_type,
                        },
                    ),
                    self._ack(src, Result.ERROR, mission_type),
                ]
            return [self._ack(src, Result.INVALID_SEQUENCE, mission_type)]
        item = self.read(mission_type, seq)
        fields = {
            "target_system": src[0],
            "target_component": src[1],
            "seq": seq,
            "frame": int(item.frame),
            "command": int(item.command),
            "current": 0,
            "autocontinue": 1,
            "param1": item.param1,
            "param2": item.param2,
            "param3": item.param3,
            "param4": item.param4,
            "x": item.x,
            "y": item.y,
            "z": item.z,
            "mission_type": mission_type,
        }
        if as_int:
            return [("mission_item_int", fields)]
        fields["x"], fields["y"] = _f32(item.x * 1e-7), _f32(item.y * 1e-7)
        return [("mission_item", fields)]

    def on_clear_all(self, src: tuple[int, int], mission_type: int) -> list[Out]:
        if mission_type not in _TYPE_NAMES:
            return [self._ack(src, Result.UNSUPPORTED, mission_type)]
        if mission_type in self.uploads or (
            mission_type == MissionType.MISSION and self.mission_running
        ):
            return [self._ack(src, Result.ERROR, mission_type)]
        if mission_type == MissionType.MISSION:
            self.stores.mission = [None]
        elif mission_type == MissionType.FENCE:
            self.stores.fence, self.stores.fence_zones = [], FenceZones()
        else:
            self.stores.rally = []
        self.changed.add(mission_type)
        return [self._ack(src, Result.ACCEPTED, mission_type)]
