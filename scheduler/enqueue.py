"""Sending jobs to the queue, and finding out which jobs the broker still holds.

Tasks carry job ids only. The scheduler sends them by task name, so it never imports the
worker code (or any CUDA library)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Enqueuer(Protocol):
    """Something that can deliver job ids to workers."""

    def send(self, job_ids: Iterable[int], delay_s: float = 0.0) -> int:
        """Send each job id once; returns how many were sent."""
        ...

    def queued_job_ids(self) -> set[int] | None:
        """Job ids the broker holds (waiting or delivered but unacknowledged), or None when
        that cannot be known."""
        ...


class CeleryEnqueuer:
    """Sends ``callscribe.transcribe_job(job_id)`` messages through a Celery app."""

    def __init__(self, app: Any, queue: str) -> None:
        self.app = app
        self.queue = queue

    def send(self, job_ids: Iterable[int], delay_s: float = 0.0) -> int:
        from workers.celery_app import TRANSCRIBE_TASK

        sent = 0
        with self.app.producer_or_acquire() as producer:
            for job_id in job_ids:
                self.app.send_task(TRANSCRIBE_TASK, args=[int(job_id)], queue=self.queue,
                                   countdown=delay_s or None, producer=producer)
                sent += 1
        return sent

    def queued_job_ids(self) -> set[int] | None:
        """Read the Redis list of the queue and kombu's ``unacked`` hash."""
        try:
            with self.app.connection_for_write() as conn:
                client = conn.default_channel.client
                waiting = client.lrange(self.queue, 0, -1)
                unacked = client.hvals("unacked")
        except Exception as exc:  # not Redis, or unreachable: the caller falls back
            log.warning("cannot inspect the broker: %s", exc)
            return None
        found: set[int] = set()
        for raw in waiting:
            found |= _job_ids(_loads(raw))
        for raw in unacked:
            entry = _loads(raw)
            if isinstance(entry, list) and entry:
                found |= _job_ids(entry[0])
        return found


def _loads(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, TypeError):
        return None


def _job_ids(message: Any) -> set[int]:
    """Job ids in one kombu message (JSON body, possibly base64-encoded)."""
    if not isinstance(message, dict):
        return set()
    headers = message.get("headers") or {}
    if not str(headers.get("task", "")).startswith("callscribe.transcribe_job"):
        return set()
    body = message.get("body")
    if message.get("properties", {}).get("body_encoding") == "base64" and isinstance(body, str):
        body = base64.b64decode(body).decode("utf-8", "replace")
    payload = _loads(body) if isinstance(body, str) else body
    if isinstance(payload, list) and payload and isinstance(payload[0], list):
        return {int(a) for a in payload[0][:1] if isinstance(a, int)}
    return set()
