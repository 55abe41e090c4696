"""The one failure policy: what an error means for a job that raised it.

``classify(exc, attempts, jobs)`` is the only place that decides between "try again,
after this delay" and "fail the job and its recording, with this reason". Every path that
records a failure goes through it: the worker pipeline (embedded run and Celery, both
pools), and the delay it returns is the one the embedded run waits and the Celery task
re-sends with.

=================================  =========================================
error                              outcome
=================================  =========================================
``PermanentError`` (bad input)     fail now; attempts are not spent
``RetryableError``                 retry after a backoff while attempts are
                                   left, then fail "gave up after N attempts"
``ConfigurationError`` (worker)    as retryable: another worker may do it
the database away (``outage``)     hand the job back once it answers; the
                                   attempt is not spent
anything else                      wrapped as ``UnexpectedError``: retryable
=================================  =========================================

A job past its soft time limit raises ``JobTimeoutError`` on both pools (the Celery
``SoftTimeLimitExceeded`` of the prefork pool is translated at the task boundary, so
nothing below the entry points imports Celery): it is retried like any retryable error.
Backoff: ``jobs.retry_delay_s × 2^(attempts − 1)``, at most ``jobs.retry_max_delay_s``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PermanentError, UnexpectedError, outage
from .settings import JobSection


def backoff(first_s: float, longest_s: float, failures: int) -> float:
    """The pause after the ``failures``-th failure in a row: ``first_s``, doubled after each
    further one, at most ``longest_s`` (0 when ``first_s`` is)."""
    if first_s <= 0:
        return 0.0
    return min(longest_s, first_s * 2 ** max(0, failures - 1))


def retry_delay(jobs: JobSection, attempts: int) -> float:
    """Seconds to wait before attempt ``attempts + 1``."""
    return backoff(jobs.retry_delay_s, jobs.retry_max_delay_s, attempts)


@dataclass(frozen=True)
class Outcome:
    """What to do after a failure: retry after ``delay_s``, or fail with ``reason``."""

    retry: bool
    delay_s: float
    reason: str
    hand_back: bool = False
    """Not the job's fault (the database went away): re-queued without spending the
    attempt, once the database answers."""


def classify(exc: BaseException, attempts: int, jobs: JobSection) -> Outcome:
    """The outcome of ``exc`` raised by the ``attempts``-th attempt of a job."""
    away = outage(exc, only="database")
    if away is not None:
        return Outcome(True, 0.0, f"handed back: {away}", hand_back=True)
    error = UnexpectedError.wrap(exc)
    reason = error.one_line()
    if isinstance(error, PermanentError):
        return Outcome(False, 0.0, reason)
    if attempts < jobs.max_attempts:
        return Outcome(True, retry_delay(jobs, attempts), reason)
    return Outcome(False, 0.0, f"gave up after {attempts} attempts: {reason}")
