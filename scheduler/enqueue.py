"""Sending jobs to the queue, and finding out which jobs the broker still holds.

Tasks carry job ids only. The scheduler sends them by task name, so it never imports the
worker code (or any CUDA library)."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from callscribe.models.base import as_utc

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)


class Enqueuer(Protocol):
    """Something that can deliver job ids to workers."""

    def send(self, job_ids: Iterable[int], delay_s: float = 0.0) -> int:
        """Send each job id once; returns how many were sent."""
        ...

    def queued_job_ids(self, stale_after_s: float) -> set[int] | None:
        """Job ids the broker holds for a worker: waiting, or delivered and unacknowledged
        for less than ``stale_after_s`` (or until a countdown that has not passed); None
        when that cannot be known."""
        ...


class CeleryEnqueuer:
    """Sends ``callscribe.transcribe_job(job_id)`` messages through a Celery app."""

    def __init__(self, app: Celery, queue: str) -> None:
        self.app = app
        self.queue = queue

    def send(self, job_ids: Iterable[int], delay_s: float = 0.0, *, once: bool = False) -> int:
        """Send each job, after ``delay_s``. ``once``: a single try, no waiting on a broker
        that is away (a job thread re-sending its job; the healing pass does the rest)."""
        from callscribe.broker import TRANSCRIBE_TASK

        job_ids = list(job_ids)
        if not job_ids:
            return 0
        sent = 0
        with self.app.producer_or_acquire() as producer:
            for job_id in job_ids:
                self.app.send_task(
                    TRANSCRIBE_TASK,
                    args=[int(job_id)],
                    queue=self.queue,
                    countdown=delay_s or None,
                    producer=producer,
                    **({"retry": False} if once else {}),
                )
                sent += 1
        return sent

    def queued_job_ids(self, stale_after_s: float) -> set[int] | None:
        """Read the Redis list of the queue and kombu's ``unacked`` hash.

        A delivered message stays in ``unacked`` until it is acknowledged, or until the
        visibility timeout (hours) if its worker died first. A job still queued in the
        database whose message was delivered more than ``stale_after_s`` ago (and whose
        countdown, if any, has passed) was never claimed: its worker is gone, so it does not
        count as held and the reconciler sends it again. A duplicate is harmless.
        """
        try:
            with self.app.connection_for_write() as conn:
                client = conn.default_channel.client
                waiting = client.lrange(self.queue, 0, -1)
                unacked = client.hgetall("unacked")
                delivered = dict(client.zrange("unacked_index", 0, -1, withscores=True))
        except Exception as exc:  # not Redis, or unreachable: the caller falls back
            log.warning("cannot inspect the broker: %s", exc)
            return None
        found: set[int] = set()
        for raw in waiting:
            found |= _job_ids(_loads(raw))
        fresh_after = time.time() - stale_after_s
        for tag, raw in unacked.items():
            entry = _loads(raw)
            if not (isinstance(entry, list) and entry and isinstance(entry[0], dict)):
                continue
            due = max(delivered.get(tag, 0.0), _eta(entry[0]))
            if due > fresh_after:
                found |= _job_ids(entry[0])
        return found


def _loads(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, TypeError):
        return None


def _eta(message: dict[str, Any]) -> float:
    """A message's countdown as a Unix time (0 without one)."""
    eta = (message.get("headers") or {}).get("eta")
    if not isinstance(eta, str):
        return 0.0
    try:
        when = datetime.fromisoformat(eta)
    except ValueError:
        return 0.0
    return as_utc(when).timestamp()


def _job_ids(message: Any) -> set[int]:
    """Job ids in one kombu message (JSON body, possibly base64-encoded)."""
    from callscribe.broker import TRANSCRIBE_TASK

    if not isinstance(message, dict):
        return set()
    headers = message.get("headers") or {}
    if headers.get("task") != TRANSCRIBE_TASK:
        return set()
    body = message.get("body")
    if message.get("properties", {}).get("body_encoding") == "base64" and isinstance(body, str):
        body = base64.b64decode(body).decode("utf-8", "replace")
    payload = _loads(body) if isinstance(body, str) else body
    if isinstance(payload, list) and payload and isinstance(payload[0], list):
        return {int(a) for a in payload[0][:1] if isinstance(a, int)}
    return set()
