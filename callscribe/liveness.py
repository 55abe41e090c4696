"""A worker's liveness, from the worker itself: its Celery consumer, while it runs, writes
the time to a file every ``ALIVE_EVERY_S`` (a consumer bootstep, timed by the consumer's
own timer); ``callscribe worker --alive`` says whether that time is recent. Nothing here
asks the database or the broker: an outage of either makes a worker unready
(``callscribe worker --check``), not dead, so a liveness probe does not restart every pod
(and kill their running jobs) while PostgreSQL or Redis is down. A process whose consumer
shut down, or that is stuck as a whole (the timer cannot run), goes stale."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from celery import bootsteps

#: How often the consumer writes its time.
ALIVE_EVERY_S = 15.0
#: Older than this, the worker is not alive (several missed writes, not one slow one).
ALIVE_MAX_AGE_S = 120.0
#: The Celery setting that carries the file's path to the bootstep.
CONF_KEY = "callscribe_alive_file"


def default_alive_file() -> Path:
    return Path(tempfile.gettempdir()) / "callscribe-worker.alive"


def write_alive(path: Path, now: float | None = None) -> None:
    """Write ``now`` (epoch seconds) to ``path`` whole (a reader never sees half of it)."""
    part = path.with_name(f".{path.name}.{os.getpid()}")
    part.write_text(f"{time.time() if now is None else now:.3f}\n")
    os.replace(part, path)


def alive_age(path: Path, now: float | None = None) -> float | None:
    """Seconds since the worker last wrote ``path``; None when it never did."""
    try:
        written = float(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return (time.time() if now is None else now) - written


def alive_line(path: Path, max_age_s: float = ALIVE_MAX_AGE_S) -> tuple[bool, str]:
    """(alive, one line) for ``callscribe worker --alive``."""
    age = alive_age(path)
    if age is None:
        return False, f"not alive: no worker has written {path} (not started yet, or gone)"
    if age > max_age_s:
        return (
            False,
            f"not alive: the worker last wrote {path} {age:.0f} s ago (> {max_age_s:.0f} s)",
        )
    return True, f"alive: the worker's consumer wrote {age:.0f} s ago"


class AliveStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """Consumer bootstep: writes the time to ``app.conf.callscribe_alive_file`` every
    ``ALIVE_EVERY_S`` from the consumer's start to the worker's shutdown, when it removes
    the file. A consumer that restarts (the broker went away) keeps writing: reconnecting
    is being alive; the worker's timer thread writes, so a process stuck as a whole stops."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.path = Path(parent.app.conf.get(CONF_KEY) or default_alive_file())
        self.entry: Any = None

    def start(self, parent: Any) -> None:
        write_alive(self.path)
        if self.entry is None:  # once, not again on every restart of the consumer
            self.entry = parent.timer.call_repeatedly(ALIVE_EVERY_S, write_alive, (self.path,))

    def shutdown(self, parent: Any) -> None:
        if self.entry is not None:
            self.entry.cancel()
            self.entry = None
        self.path.unlink(missing_ok=True)
