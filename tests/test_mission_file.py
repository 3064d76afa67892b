"""ArduPilot's mission file format (@MISSION/*.dat): encode/decode round trips and refusals."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mission.items import Cmd, Frame, MissionItem, MissionType, home_item, same_item
from mission.link._mavlink import mavlink
from mission.link.mission_file import (
    HEADER,
    ITEM,
    MAGIC,
    MissionFileError,
    decode,
    encode,
    header_length,
    path_for,
)
from mission.link.transfer import item_fields

LAT, LON = 29.2505, 115.7953

f32 = st.floats(-1e6, 1e6, allow_nan=False, width=32)
items_st = st.builds(
    MissionItem,
    command=st.sampled_from([int(c) for c in Cmd]),
    frame=st.sampled_from([int(f) for f in Frame]),
    param1=f32,
    param2=f32,
    param3=f32,
    param4=f32,
    x=st.integers(-900_000_000, 900_000_000),
    y=st.integers(-1_800_000_000, 1_800_000_000),
    z=f32,
    autocontinue=st.integers(0, 1),
)


@given(st.lists(items_st, max_size=40), st.sampled_from(list(MissionType)))
def test_round_trip_is_exact_for_float32_values(items, mtype):
    items = [it.with_type(mtype) for it in items]
    data = encode(items, mtype)
    assert len(data) == HEADER.size + len(items) * ITEM.size == header_length(data)
    assert decode(data, mtype) == items  # float32 inputs survive the float32 fields unchanged


def test_header_and_items_have_ardupilots_layout():
    items = [home_item(LAT, LON, 21.0), MissionItem(Cmd.NAV_TAKEOFF, z=30.0)]
    data = encode(items, MissionType.MISSION)
    assert data[:10] == struct.pack("<HHHHH", MAGIC, 0, 0, 0, 2) and MAGIC == 0x763D
    assert ITEM.size == 38  # MAVLINK_MSG_ID_MISSION_ITEM_INT_LEN with mission_type
    mav = mavlink.MAVLink(None, 255, 190)
    for seq, it in enumerate(items):
        msg = mavlink.MAVLink_mission_item_int_message(
            target_system=0, target_component=0, **item_fields(it, seq)
        )
        frame = msg.pack(mav)
        wire = frame[10 : 10 + frame[1]]  # MAVLink 2 payload, trailing zeros trimmed
        start = HEADER.size + seq * ITEM.size
        assert data[start : start + ITEM.size] == wire.ljust(ITEM.size, b"\0")


def test_decoded_items_compare_semantically_with_what_was_sent():
    sent = [
        home_item(LAT, LON, 21.0),
        MissionItem(Cmd.NAV_TAKEOFF, z=30.0),
        MissionItem.at(Cmd.NAV_WAYPOINT, LAT + 1e-3, LON, 30.123456),
        MissionItem(Cmd.DO_CHANGE_SPEED, frame=Frame.MISSION, param2=7.3),
        MissionItem(Cmd.NAV_RETURN_TO_LAUNCH),
    ]
    got = decode(encode(sent, MissionType.MISSION), MissionType.MISSION)
    assert all(same_item(a, b) for a, b in zip(sent, got, strict=True))
    assert got[2].x == sent[2].x and got[2].y == sent[2].y


def test_fence_and_rally_files_carry_their_type_and_path():
    fence = [MissionItem.at(Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, LAT, LON, 0.0, param1=3.0)] * 3
    fence = [it.with_type(MissionType.FENCE) for it in fence]
    data = encode(fence, MissionType.FENCE)
    assert HEADER.unpack_from(data)[1] == int(MissionType.FENCE)
    assert [it.mission_type for it in decode(data, MissionType.FENCE)] == [1, 1, 1]
    assert path_for(MissionType.FENCE) == "@MISSION/fence.dat"
    assert path_for(MissionType.RALLY) == "@MISSION/rally.dat"
    assert path_for(MissionType.MISSION) == "@MISSION/mission.dat"


def test_empty_list_is_a_bare_header():
    data = encode([], MissionType.RALLY)
    assert len(data) == HEADER.size
    assert decode(data, MissionType.RALLY) == []


def test_items_of_another_list_are_refused():
    wrong = [MissionItem(Cmd.NAV_RALLY_POINT, mission_type=MissionType.RALLY)]
    with pytest.raises(MissionFileError, match="item 0 has mission_type 2, not mission"):
        encode(wrong, MissionType.MISSION)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d[:6], "no complete header"),
        (lambda d: struct.pack("<H", 0x671B) + d[2:], "not a mission file"),
        (lambda d: d[:-1], "header says 2 items"),
        (lambda d: d + b"\0" * ITEM.size, "header says 2 items"),
        (lambda d: d[:2] + struct.pack("<H", 1) + d[4:], "holds mission_type 1"),
        (lambda d: d[:6] + struct.pack("<H", 5) + d[8:], "starts at item 5"),
    ],
)
def test_bad_files_are_refused_with_the_reason(mutate, match):
    good = encode([home_item(LAT, LON), MissionItem(Cmd.NAV_TAKEOFF, z=30.0)], 0)
    with pytest.raises(MissionFileError, match=match):
        decode(mutate(good), MissionType.MISSION)
