"""The gate that runs a suspect job alone in its process (``workers.runtime.isolation``)."""

from __future__ import annotations

import threading
import time

from callscribe.workers.runtime.isolation import SoloGate


def _enter_on_thread(
    gate: SoloGate, solo: bool, log: list[str], name: str
) -> tuple[threading.Thread, list[object]]:
    slot: list[object] = []

    def run() -> None:
        slot.append(gate.enter(solo))
        log.append(name)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, slot


def test_a_suspect_waits_for_the_jobs_in_flight_and_runs_alone() -> None:
    gate = SoloGate()
    log: list[str] = []
    a, b = gate.enter(False), gate.enter(False)  # two ordinary jobs in flight
    suspect, suspect_slot = _enter_on_thread(gate, True, log, "suspect")
    time.sleep(0.2)
    assert log == [] and gate.running == (2, False)  # it waits for both
    late, late_slot = _enter_on_thread(gate, False, log, "late")
    time.sleep(0.2)
    assert log == []  # a job arriving after a waiting suspect waits too
    a.release()
    time.sleep(0.1)
    assert log == []
    b.release()
    suspect.join(5)
    assert log == ["suspect"] and gate.running == (0, True)
    time.sleep(0.2)
    assert log == ["suspect"]  # nothing starts beside it
    suspect_slot[0].release()  # type: ignore[attr-defined]
    late.join(5)
    assert log == ["suspect", "late"] and gate.running == (1, False)
    late_slot[0].release()  # type: ignore[attr-defined]
    late_slot[0].release()  # type: ignore[attr-defined]  # twice is harmless
    assert gate.running == (0, False)


def test_ordinary_jobs_share_the_gate_and_suspects_take_turns() -> None:
    gate = SoloGate()
    slots = [gate.enter(False) for _ in range(8)]
    assert gate.running == (8, False)
    for slot in slots:
        slot.release()
    log: list[str] = []
    first = gate.enter(True)
    second, second_slot = _enter_on_thread(gate, True, log, "second")
    time.sleep(0.2)
    assert log == [] and gate.running == (0, True)  # one suspect at a time
    first.release()
    second.join(5)
    assert log == ["second"]
    second_slot[0].release()  # type: ignore[attr-defined]
    assert gate.running == (0, False)
