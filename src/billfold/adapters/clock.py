"""The system clock adapter: wall time as Unix seconds."""

from __future__ import annotations

import time


class SystemClock:
    def now(self) -> int:
        return int(time.time())


class FixedClock:
    """A clock that stands still until moved; used by tests and by the demo's seeding."""

    def __init__(self, t: int) -> None:
        self.t = t

    def now(self) -> int:
        return self.t
