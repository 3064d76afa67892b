"""The geofences exception family."""


class GeofenceError(Exception):
    """A key-water file that cannot be used; the message says what to fix."""


class KeyWaterFileError(GeofenceError):
    """A key-water file is invalid.

    Carries the file, the field (a dotted path such as ``patrol.altitude_m``)
    and what is wrong, so the operator can fix it without a traceback.
    """

    def __init__(self, path: str, field: str, problem: str) -> None:
        self.path = path
        self.field = field
        self.problem = problem
        where = f"{path}: {field}" if field else path
        super().__init__(f"{where}: {problem}")
