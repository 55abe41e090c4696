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
Backoff: ``jobs.retry_delay_s × 2^(attempts − 1)``, at most ``jobs.retry_max_delay_s``,
less up to ``JITTER`` of it at random, so jobs that failed together do not all come back in
the same second. The delay is decided here once: the ``Outcome`` carries it to the runner's
``reschedule`` (the embedded run's wait, the Celery task's countdown).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .errors import PermanentError, UnexpectedError, outage
from .settings import JobSection


def backoff(first_s: float, longest_s: float, failures: int) -> float:
    """The pause after the ``failures``-th failure in a row: ``first_s``, doubled after each
    further one, at most ``longest_s`` (0 when ``first_s`` is)."""
    if first_s <= 0:
        return 0.0
    return min(longest_s, first_s * 2 ** max(0, failures - 1))


#: The share of a retry delay taken off at random (the delay is never longer than the
#: backoff's, so ``retry_max_delay_s`` still bounds it).
JITTER = 0.2


def retry_delay(jobs: JobSection, attempts: int) -> float:
    """Seconds to wait before attempt ``attempts + 1``, without jitter."""
    return backoff(jobs.retry_delay_s, jobs.retry_max_delay_s, attempts)


def jittered(delay_s: float, rng: random.Random | None = None) -> float:
    """``delay_s`` less up to ``JITTER`` of it, at random."""
    return delay_s * (1.0 - JITTER * (rng or random).random())


def gave_up(attempts: int, reason: str) -> str:
    """The reason a job that ran out of attempts fails with."""
    return f"gave up after {attempts} attempts: {reason}"


@dataclass(frozen=True)
class Outcome:
    """What to do after a failure: retry after ``delay_s``, or fail with ``reason``."""

    retry: bool
    delay_s: float
    reason: str
    hand_back: bool = False
    """Not the job's fault (the database went away): re-queued without spending the
    attempt, once the database answers."""


def classify(
    exc: BaseException, attempts: int, jobs: JobSection, rng: random.Random | None = None
) -> Outcome:
    """The outcome of ``exc`` raised by the ``attempts``-th attempt of a job."""
    away = outage(exc, only="database")
    if away is not None:
        return Outcome(True, 0.0, f"handed back: {away}", hand_back=True)
    error = UnexpectedError.wrap(exc)
    reason = error.one_line()
    if isinstance(error, PermanentError):
        return Outcome(False, 0.0, reason)
    if attempts < jobs.max_attempts:
        return Outcome(True, jittered(retry_delay(jobs, attempts), rng), reason)
    return Outcome(False, 0.0, gave_up(attempts, reason))
