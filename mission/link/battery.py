"""Battery before each sortie: what the vehicle reports against what the sortie needs.

A sortie needs its estimated flight time as a share of the aircraft's endurance,
plus the reserve the key water keeps (``vehicle.reserve_pct``). ``need_pct`` and
``launch_verdict`` are pure; ``read_battery_pct`` and ``reset_battery`` talk to
the vehicle. ArduPilot reports the remaining charge in SYS_STATUS and
BATTERY_STATUS; MAV_CMD_BATTERY_RESET sets it (a SITL's "swap", or a real
pack's monitor after a swap it could not see).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mission.link.commands import MAV_RESULT_ACCEPTED, command_long, result_name
from mission.link.connection import Connection
from mission.link.errors import BatteryTooLow, CommandRejected, LinkTimeout

MAV_CMD_BATTERY_RESET = 42651
ALL_BATTERIES = 0xFF  # param1 of BATTERY_RESET: a bitmask of monitor instances
READING_STEP_PCT = 1.0  # the resolution of the vehicle's battery_remaining


@dataclass(frozen=True)
class Endurance:
    """The aircraft's battery as the plan assumed it."""

    endurance_s: float  # a full pack, hovering and cruising
    reserve_pct: float  # kept for the unexpected: never planned into a sortie


def need_pct(est_flight_s: float, endurance: Endurance) -> float:
    """Battery (% of a full pack) a sortie of ``est_flight_s`` uses, reserve not included."""
    return 100.0 * est_flight_s / endurance.endurance_s


def launch_verdict(
    sortie: int, remaining_pct: float | None, est_flight_s: float, endurance: Endurance
) -> str | None:
    """Why the sortie must not launch on this battery, or None when it may."""
    if remaining_pct is None:
        return (
            f"sortie {sortie}: the vehicle reports no battery level (BATT_MONITOR off?); "
            "a sortie never launches on a battery nobody can read"
        )
    need = need_pct(est_flight_s, endurance)
    # SYS_STATUS reports whole percent, and the planner fills a sortie up to the
    # reserve line: a full pack that reads 99 % after a minute on the ground flies it.
    if remaining_pct + READING_STEP_PCT >= need + endurance.reserve_pct:
        return None
    return (
        f"sortie {sortie}: the battery reads {remaining_pct:.0f} %, the sortie needs about "
        f"{need:.0f} % ({est_flight_s / 60:.1f} of {endurance.endurance_s / 60:.0f} min) plus "
        f"the {endurance.reserve_pct:.0f} % reserve = {need + endurance.reserve_pct:.0f} %: "
        "swap or charge the battery, then fly it with --sortie"
    )


def check_launch(
    sortie: int, remaining_pct: float | None, est_flight_s: float, endurance: Endurance
) -> None:
    """Raise BatteryTooLow unless the battery can fly the sortie and keep the reserve."""
    verdict = launch_verdict(sortie, remaining_pct, est_flight_s, endurance)
    if verdict is not None:
        raise BatteryTooLow(verdict)


def read_battery_pct(conn: Connection, *, timeout_s: float = 5.0) -> float | None:
    """The remaining charge from a battery report that arrives from now on (None: not reported).

    A fresh report, not the last snapshot: after a swap the old reading is stale.
    """
    deadline = time.monotonic() + timeout_s
    with conn.subscribe("SYS_STATUS", "BATTERY_STATUS") as sub:
        while (left := deadline - time.monotonic()) > 0:
            msg = sub.get(min(left, 0.5))
            if msg is None:
                continue
            pct = getattr(msg, "battery_remaining", -1)
            if pct is not None and pct >= 0:
                return float(pct)
    return None


def reset_battery(conn: Connection, remaining_pct: float = 100.0) -> None:
    """MAV_CMD_BATTERY_RESET: the vehicle's battery monitor restarts at ``remaining_pct``."""
    result = command_long(conn, MAV_CMD_BATTERY_RESET, ALL_BATTERIES, remaining_pct)
    if result != MAV_RESULT_ACCEPTED:
        raise CommandRejected(
            f"the vehicle refused to reset its battery monitor ({result_name(result)})"
        )


def wait_for_charge(
    conn: Connection,
    sortie: int,
    est_flight_s: float,
    endurance: Endurance,
    *,
    timeout_s: float,
    poll_s: float = 5.0,
) -> float:
    """A docked vehicle charges itself: wait until its battery can fly the sortie."""
    deadline = time.monotonic() + timeout_s
    pct = None
    while time.monotonic() < deadline:
        pct = read_battery_pct(conn, timeout_s=poll_s)
        if launch_verdict(sortie, pct, est_flight_s, endurance) is None:
            return float(pct)  # type: ignore[arg-type]
    verdict = launch_verdict(sortie, pct, est_flight_s, endurance)
    raise LinkTimeout(f"waited {timeout_s:.0f} s at the dock and still: {verdict}")


def between_sorties(
    conn: Connection,
    sortie: int,
    est_flight_s: float,
    endurance: Endurance,
    *,
    docked: bool,
    charge_timeout_s: float,
    confirm_swap: Callable[[str], None] | None,
    say: Callable[[str], None] = lambda _text: None,
) -> None:
    """Before a later sortie: the dock charges the pack, or the operator swaps it.

    ``confirm_swap(text)`` asks the operator and returns once they confirm; None
    (no terminal) skips the question, and the launch check then refuses a pack
    that is too low.
    """
    if docked:
        say(f"sortie {sortie}: waiting for the dock to charge the battery")
        pct = wait_for_charge(conn, sortie, est_flight_s, endurance, timeout_s=charge_timeout_s)
        say(f"sortie {sortie}: battery {pct:.0f} %, enough to fly")
    elif confirm_swap is not None:
        need = need_pct(est_flight_s, endurance) + endurance.reserve_pct
        confirm_swap(
            f"sortie {sortie}: swap the battery (it needs {need:.0f} % with the reserve), "
            "then press Enter to fly"
        )
