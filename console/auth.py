"""Who may use the console: password hashes, the login rate limit, and the permissions table
that every view consults through :func:`allowed` (one check, in one place)."""

from __future__ import annotations

import threading
import time
from collections import deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# What each role may do; views name the permission they need.
PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"view"}),
    "dispatcher": frozenset({"view", "act"}),
}
MIN_PASSWORD = 8

_hasher = PasswordHasher()  # argon2id with the library's current defaults
# verified against when the name is unknown, so a wrong name costs as long as a wrong password
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def allowed(role: str | None, permission: str) -> bool:
    return role is not None and permission in PERMISSIONS.get(role, frozenset())


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password needs at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


class LoginLimiter:
    """Failed logins allowed per name and per client address in a sliding window; past that,
    logins from there are refused until the window has room (even with the right password)."""

    def __init__(self, per_name: int = 5, per_address: int = 20, window_s: float = 300.0) -> None:
        self.limits = {"name": per_name, "address": per_address}
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, name: str, address: str, now: float | None = None) -> float:
        """Seconds until a login from ``address`` as ``name`` may be tried (0: now)."""
        now = time.monotonic() if now is None else now
        wait = 0.0
        with self._lock:
            for key in (("name", name), ("address", address)):
                times = self._prune(key, now)
                if len(times) >= self.limits[key[0]]:
                    wait = max(wait, times[0] + self.window_s - now)
        return wait

    def failed(self, name: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            for key in (("name", name), ("address", address)):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(("name", name), None)

    def _prune(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times
