"""Running a suspect job alone.

On the threads pool several jobs share one process, so a crash inside it (a native fault
in a decoder, in onnxruntime or in CTranslate2) loses every job in flight and counts an
attempt against each, innocent or not; a file that crashes the process every time could
take its neighbours to ``max_attempts`` with it. So a job whose last attempt ended with its
worker lost (lease expired) runs *alone* in its process: it waits until the jobs in flight
have finished, and no other job starts until it is done. If it crashes the process again,
only its own attempt is counted; its innocent neighbours, suspects too after the first
crash, each get a solo run and complete.
"""

from __future__ import annotations

import threading


class SoloGate:
    """A readers-writer gate over the jobs of one process: ordinary jobs share it, a suspect
    job holds it alone. A waiting suspect goes first: jobs arriving after it wait."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._solo_waiting = 0
        self._solo = False

    def enter(self, solo: bool) -> Slot:
        """Block until this job may run; returns the slot to release when it is over."""
        with self._cond:
            if solo:
                self._solo_waiting += 1
                self._cond.wait_for(lambda: self._shared == 0 and not self._solo)
                self._solo_waiting -= 1
                self._solo = True
            else:
                self._cond.wait_for(lambda: not self._solo and not self._solo_waiting)
                self._shared += 1
        return Slot(self, solo)

    def _leave(self, solo: bool) -> None:
        with self._cond:
            if solo:
                self._solo = False
            else:
                self._shared -= 1
            self._cond.notify_all()

    @property
    def running(self) -> tuple[int, bool]:
        """(ordinary jobs inside, whether a suspect is inside)."""
        with self._cond:
            return self._shared, self._solo


class Slot:
    """One job's place in the gate; releasing it twice is harmless."""

    def __init__(self, gate: SoloGate, solo: bool) -> None:
        self._gate = gate
        self.solo = solo
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._gate._leave(self.solo)
