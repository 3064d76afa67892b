"""The mission-protocol state machines driven by scripted vehicle messages (no sockets)."""

from __future__ import annotations

import pytest

from mission.items import Cmd, Frame, MissionItem, MissionType, home_item
from mission.link._mavlink import mavlink
from mission.link.errors import LinkTimeout, MissionRejected, VerifyFailed
from mission.link.transfer import (
    ACCEPTED,
    DENIED,
    ERROR,
    INVALID_SEQUENCE,
    NO_SPACE,
    ClearMachine,
    DownloadMachine,
    Out,
    UploadMachine,
    compare,
    item_fields,
    item_from_msg,
)

LAT, LON = 29.2485, 115.7740


def mission(n: int) -> list[MissionItem]:
    items = [home_item(LAT, LON, 20.0), MissionItem(Cmd.NAV_TAKEOFF, z=30.0)]
    for i in range(n - 2):
        items.append(MissionItem.at(Cmd.NAV_WAYPOINT, LAT + i * 1e-4, LON - i * 1e-4, 30.0))
    return items


def request(seq: int, mtype: int = 0, plain: bool = True) -> object:
    cls = (
        mavlink.MAVLink_mission_request_message
        if plain
        else mavlink.MAVLink_mission_request_int_message
    )
    return cls(255, 190, seq, mtype)


def ack(result: int, mtype: int = 0) -> object:
    return mavlink.MAVLink_mission_ack_message(255, 190, result, mtype)


def count(n: int, mtype: int = 0) -> object:
    return mavlink.MAVLink_mission_count_message(255, 190, n, mtype)


def item_msg(out: Out) -> object:
    """What the vehicle sends back for an item: the MISSION_ITEM_INT we sent, as a message."""
    f = dict(out.fields)
    return mavlink.MAVLink_mission_item_int_message(target_system=255, target_component=190, **f)


def vehicle_item(item: MissionItem, seq: int) -> object:
    return mavlink.MAVLink_mission_item_int_message(
        target_system=255, target_component=190, **item_fields(item, seq)
    )


def sent_seqs(outs: list[Out]) -> list[int]:
    return [o.fields["seq"] for o in outs if o.name == "mission_item_int"]


def test_upload_answers_plain_mission_request_in_order_and_finishes_on_ack() -> None:
    items = mission(5)
    m = UploadMachine(items, MissionType.MISSION)
    outs = m.start(0.0)
    assert [o.name for o in outs] == ["mission_count"]
    assert outs[0].fields == {"count": 5, "mission_type": 0}
    for seq in range(5):
        outs = m.on_message(request(seq), 0.1 * seq)
        assert sent_seqs(outs) == [seq]
        assert (
            outs[0].fields["x"] == items[seq].x and outs[0].fields["command"] == items[seq].command
        )
    assert not m.finished
    m.on_message(ack(ACCEPTED), 1.0)
    assert m.finished and m.error is None and m.stats.confirmed


def test_upload_handles_duplicate_and_out_of_order_requests() -> None:
    items = mission(4)
    m = UploadMachine(items, MissionType.MISSION)
    m.start(0.0)
    assert sent_seqs(m.on_message(request(0, plain=False), 0.0)) == [0]
    assert sent_seqs(m.on_message(request(0), 0.1)) == [0]  # re-request (our item was slow)
    # the duplicate item is NACKed INVALID_SEQUENCE by ArduPilot, which carries on
    assert m.on_message(ack(INVALID_SEQUENCE), 0.1) == [] and not m.finished
    assert sent_seqs(m.on_message(request(2), 0.2)) == [2]  # out of order
    assert sent_seqs(m.on_message(request(1), 0.3)) == [1]
    assert sent_seqs(m.on_message(request(3), 0.4)) == [3]
    m.on_message(ack(ACCEPTED), 0.5)
    assert m.finished and m.error is None
    assert m.stats.repeated_requests == 1
    assert m.stats.out_of_order >= 2
    assert m.stats.ignored_acks == 1


def test_upload_resends_count_then_item_on_timeout_and_gives_up_when_stalled() -> None:
    m = UploadMachine(mission(3), MissionType.MISSION, timeout_s=1.0, stall_s=3.0)
    m.start(0.0)
    assert m.deadline == 1.0
    outs = m.on_timeout(1.0)
    assert [o.name for o in outs] == ["mission_count"] and m.stats.resends == 1
    m.on_message(request(0), 1.1)
    outs = m.on_timeout(2.2)
    assert sent_seqs(outs) == [0]
    assert sent_seqs(m.on_timeout(3.3)) == [0]
    assert m.on_timeout(4.2) == [] and m.finished  # 3.1 s since the request for item 0
    assert isinstance(m.error, LinkTimeout)
    assert "item 0 of 3" in str(m.error)


def test_upload_resend_interval_follows_the_measured_round_trip() -> None:
    m = UploadMachine(mission(10), MissionType.MISSION, timeout_s=1.0)
    m.start(0.0)
    for seq in range(6):
        m.on_message(request(seq), seq * 0.01)  # the vehicle answers every 10 ms
    assert m.rtt_s == pytest.approx(0.01)
    assert m.resend_after == pytest.approx(0.05)  # four round trips, but not below 0.05 s
    assert m.deadline == pytest.approx(0.05 + 0.05)
    assert sent_seqs(m.on_timeout(0.1)) == [5]  # item 5 was lost: sent again early


def test_upload_nack_names_the_result_and_item() -> None:
    m = UploadMachine(mission(4), MissionType.FENCE)
    m.start(0.0)
    m.on_message(request(0, mtype=1), 0.0)
    m.on_message(request(1, mtype=1), 0.0)
    m.on_message(ack(6, mtype=1), 0.1)  # MAV_MISSION_INVALID_PARAM1
    assert m.finished
    assert isinstance(m.error, MissionRejected)
    assert m.error.result == "INVALID_PARAM1" and m.error.seq == 1
    assert "fence upload at item 1" in str(m.error)


def test_upload_no_space_after_count_is_rejected() -> None:
    m = UploadMachine(mission(700), MissionType.MISSION)
    m.start(0.0)
    m.on_message(ack(NO_SPACE), 0.01)
    assert isinstance(m.error, MissionRejected) and m.error.result == "NO_SPACE"


def test_upload_ignores_other_mission_types_and_stale_accept() -> None:
    m = UploadMachine(mission(3), MissionType.MISSION)
    m.start(0.0)
    assert m.on_message(request(0, mtype=1), 0.0) == []  # a fence request is not ours
    m.on_message(ack(ACCEPTED), 0.0)  # stale ACK of an earlier clear
    assert not m.finished and m.stats.ignored_acks == 1


def test_upload_lost_final_ack_leaves_it_to_the_read_back() -> None:
    m = UploadMachine(mission(2), MissionType.MISSION, timeout_s=1.0, final_ack_wait_s=2.0)
    m.start(0.0)
    m.on_message(request(0), 0.0)
    m.on_message(request(1), 0.1)
    assert sent_seqs(m.on_timeout(1.1)) == [1]  # the last item again, in case it was lost
    assert m.on_timeout(2.1) == []
    assert m.finished and m.error is None and not m.stats.confirmed


def test_upload_error_for_a_duplicate_last_item_is_not_fatal_but_unconfirmed() -> None:
    m = UploadMachine(mission(2), MissionType.MISSION)
    m.start(0.0)
    m.on_message(request(0), 0.0)
    m.on_message(request(1), 0.1)
    m.on_message(request(1), 1.1)  # vehicle re-requested; its ACCEPTED for the first copy is lost
    m.on_message(ack(ERROR), 1.2)  # the second copy arrived after the vehicle finished
    assert m.finished and m.error is None and not m.stats.confirmed


def test_upload_error_on_last_item_sent_once_is_a_rejection() -> None:
    m = UploadMachine(mission(2), MissionType.FENCE)
    m.start(0.0)
    m.on_message(request(0, 1), 0.0)
    m.on_message(request(1, 1), 0.1)
    m.on_message(ack(ERROR, 1), 0.2)  # "Fence validation failed"
    assert isinstance(m.error, MissionRejected) and m.error.result == "ERROR"


def test_upload_of_nothing_finishes_on_ack() -> None:
    m = UploadMachine([], MissionType.RALLY)
    assert m.start(0.0)[0].fields["count"] == 0
    m.on_message(ack(ACCEPTED, 2), 0.0)
    assert m.finished and m.error is None


def test_download_keeps_a_window_of_requests_and_acks_at_the_end() -> None:
    items = mission(12)
    m = DownloadMachine(MissionType.MISSION, window=5)
    assert [o.name for o in m.start(0.0)] == ["mission_request_list"]
    outs = m.on_message(count(12), 0.0)
    assert [o.fields["seq"] for o in outs] == [0, 1, 2, 3, 4]
    assert all(o.name == "mission_request_int" for o in outs)
    # 1 answered before 0: 0 is taken as lost and asked again at once, and the window moves on
    outs = m.on_message(vehicle_item(items[1], 1), 0.01)
    assert [o.fields["seq"] for o in outs] == [0, 5]
    outs = m.on_message(vehicle_item(items[0], 0), 0.02)
    assert [o.fields["seq"] for o in outs] == [6]
    assert m.stats.resends == 1
    for seq in range(2, 12):
        outs = m.on_message(vehicle_item(items[seq], seq), 0.03)
        assert len(m.outstanding) <= 5
    assert m.finished and outs[-1].name == "mission_ack" and outs[-1].fields["type"] == ACCEPTED
    assert m.result == items
    assert m.stats.out_of_order == 1


def test_download_rerequests_missing_items_on_timeout() -> None:
    items = mission(3)
    m = DownloadMachine(MissionType.MISSION, window=5, timeout_s=1.0, stall_s=2.0)
    m.start(0.0)
    m.on_timeout(1.0)  # MISSION_COUNT lost
    m.on_message(count(3), 1.1)
    m.on_message(vehicle_item(items[0], 0), 1.2)
    m.on_message(vehicle_item(items[0], 0), 1.2)  # duplicate: ignored
    outs = m.on_timeout(2.3)
    assert sorted(o.fields["seq"] for o in outs) == [1, 2]
    m.on_message(vehicle_item(items[2], 2), 2.4)
    m.on_message(vehicle_item(items[1], 1), 2.5)
    assert m.finished and m.result == items
    stuck = DownloadMachine(MissionType.MISSION, timeout_s=1.0, stall_s=2.0)
    stuck.start(0.0)
    stuck.on_timeout(1.0)
    assert stuck.on_timeout(2.0) == [] and isinstance(stuck.error, LinkTimeout)


def test_download_waits_while_the_vehicle_is_busy_receiving() -> None:
    m = DownloadMachine(MissionType.FENCE, timeout_s=1.0, busy_retries=1)
    m.start(0.0)
    m.on_message(ack(DENIED, 1), 0.1)
    assert not m.finished
    assert [o.name for o in m.on_timeout(1.2)] == ["mission_request_list"]
    m.on_message(ack(DENIED, 1), 1.3)
    assert isinstance(m.error, MissionRejected) and m.error.result == "DENIED"


def test_download_of_empty_list() -> None:
    m = DownloadMachine(MissionType.RALLY)
    m.start(0.0)
    outs = m.on_message(count(0, 2), 0.0)
    assert m.finished and m.result == [] and outs[0].name == "mission_ack"


def test_clear_retries_then_times_out() -> None:
    m = ClearMachine(MissionType.FENCE, timeout_s=1.0, stall_s=2.0)
    assert m.start(0.0)[0].fields == {"mission_type": 1}
    assert m.on_timeout(1.0)[0].name == "mission_clear_all"
    assert m.on_timeout(2.0) == [] and isinstance(m.error, LinkTimeout)


def test_item_from_float_mission_item_rounds_degrees() -> None:
    msg = mavlink.MAVLink_mission_item_message(
        255,
        190,
        3,
        Frame.GLOBAL_RELATIVE_ALT,
        Cmd.NAV_WAYPOINT,
        0,
        1,
        0,
        0,
        0,
        0,
        LAT,
        LON,
        30.0,
        0,
    )
    item = item_from_msg(msg)
    assert (item.x, item.y) == (292485000, 1157740000)


def test_compare_ignores_home_and_normalised_frames_but_not_positions() -> None:
    sent = [*mission(4), MissionItem(Cmd.NAV_RETURN_TO_LAUNCH)]
    rtl_back = MissionItem(Cmd.NAV_RETURN_TO_LAUNCH, frame=0)
    back = [home_item(LAT + 0.01, LON, 0.0), *sent[1:-1], rtl_back]
    compare(sent, back, MissionType.MISSION)
    moved = list(back)
    moved[2] = MissionItem.at(Cmd.NAV_WAYPOINT, LAT + 1e-6, LON, 30.0)
    with pytest.raises(VerifyFailed, match="item 2"):
        compare(sent, moved, MissionType.MISSION)
    with pytest.raises(VerifyFailed, match="3 items, 5 were uploaded"):
        compare(sent, back[:3], MissionType.MISSION)
