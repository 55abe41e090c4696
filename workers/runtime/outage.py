"""A worker process's view of an outage (the database or broker away): one warning when it
starts, one line when it ends, and a growing, jittered pause in between, shared by every
job thread of the process so that a worker that cannot claim stops taking messages instead
of draining the queue."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from callscribe.errors import outage
from callscribe.failures import backoff

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The first pause after a failure, and the longest.
FIRST_PAUSE_S = 1.0
LONGEST_PAUSE_S = 30.0


class Backoff:
    """Tracks whether this process is in an outage, and how long to pause next."""

    def __init__(
        self,
        first_s: float = FIRST_PAUSE_S,
        longest_s: float = LONGEST_PAUSE_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.first_s, self.longest_s = first_s, longest_s
        self._sleep = sleep
        self._lock = threading.Lock()
        self._failures = 0
        self._since: float | None = None

    @property
    def in_outage(self) -> bool:
        return self._failures > 0

    def failed(self, reason: str) -> float:
        """Note a failure; the pause (seconds) to wait before trying again. Logs a warning
        on the first failure of an outage only."""
        with self._lock:
            self._failures += 1
            if self._failures == 1:
                self._since = time.monotonic()
                log.warning("%s; backing off until it is back", reason)
            pause = backoff(self.first_s, self.longest_s, self._failures)
        return pause * random.uniform(0.8, 1.2)

    def succeeded(self) -> None:
        """Note a success: an outage in progress ends (one line)."""
        if not self._failures:
            return
        with self._lock:
            if self._failures and self._since is not None:
                log.warning("reachable again after %.0f s", time.monotonic() - self._since)
            self._failures, self._since = 0, None

    def pause(self, reason: str) -> None:
        """:meth:`failed`, then wait that long."""
        self._sleep(self.failed(reason))

    def until_back(self, call: Callable[[], T], deadline_s: float) -> T | None:
        """``call()`` until it succeeds or raises something that is not an outage (which
        propagates), pausing between tries; None once ``deadline_s`` seconds have passed."""
        end = time.monotonic() + deadline_s
        while True:
            try:
                value = call()
            except Exception as exc:
                reason = outage(exc)
                if reason is None:
                    raise
                if time.monotonic() >= end:
                    return None
                self._sleep(min(self.failed(reason), max(0.0, end - time.monotonic())))
                continue
            self.succeeded()
            return value
