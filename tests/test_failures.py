"""One failure policy (issue 11 item 3): ``callscribe.failures.classify`` decides retry or
fail for every path, and a job past its soft time limit means the same on the prefork pool
(Celery's ``SoftTimeLimitExceeded``) as on the threads pool (callscribe's own check)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from celery.exceptions import WorkerShutdown, WorkerTerminate

from callscribe.errors import (
    BadAudioError,
    CallscribeError,
    ConfigurationError,
    IllegalTransition,
    JobTimeoutError,
    RetryableError,
    StorageUnavailableError,
    UnexpectedError,
)
from callscribe.failures import JITTER, classify, retry_delay
from callscribe.settings import JobSection
from tests.support.cluster import Cluster, poison_corpus, poison_ffmpeg

POLICY = JobSection(max_attempts=3, retry_delay_s=5.0, retry_max_delay_s=12.0)


def test_permanent_errors_fail_at_once_without_spending_attempts() -> None:
    outcome = classify(BadAudioError("cannot decode audio:\n  Invalid data"), 1, POLICY)
    assert not outcome.retry and outcome.reason == "cannot decode audio: Invalid data"


@pytest.mark.parametrize(
    "exc",
    [
        StorageUnavailableError("S3 503"),
        JobTimeoutError("slow"),
        ConfigurationError("no GPU here"),
        IllegalTransition("race"),
        KeyError("surprise"),
        OSError(28, "No space left on device"),
    ],
)
def test_everything_else_is_retried_with_backoff_then_given_up(exc: Exception) -> None:
    for attempts, backoff in ((1, 5.0), (2, 10.0)):
        outcome = classify(exc, attempts, POLICY)
        assert outcome.retry, exc
        assert backoff * (1 - JITTER) <= outcome.delay_s <= backoff
    assert retry_delay(POLICY, 3) == 12.0  # capped
    final = classify(exc, 3, POLICY)
    assert not final.retry and final.reason.startswith("gave up after 3 attempts: ")
    assert "\n" not in final.reason


def test_retry_delays_are_jittered_within_the_backoff() -> None:
    """Jobs that failed together come back spread out, never later than the backoff (so
    ``retry_max_delay_s`` still bounds every wait)."""
    rng = random.Random(20)
    delays = [classify(KeyError("x"), 2, POLICY, rng).delay_s for _ in range(50)]
    assert all(10.0 * (1 - JITTER) <= d <= 10.0 for d in delays)
    assert max(delays) - min(delays) > 10.0 * JITTER / 2  # spread, not one value
    assert all(
        classify(
            KeyError("x"),
            2,
            JobSection(max_attempts=3, retry_delay_s=50.0, retry_max_delay_s=60.0),
            rng,
        ).delay_s
        <= 60.0
        for _ in range(20)
    )


def test_every_error_belongs_to_the_hierarchy() -> None:
    wrapped = UnexpectedError.wrap(KeyError("surprise"))
    assert isinstance(wrapped, RetryableError) and wrapped.one_line() == "KeyError: 'surprise'"
    assert isinstance(wrapped.__cause__, KeyError)
    assert issubclass(IllegalTransition, CallscribeError)
    error = BadAudioError("x")
    assert UnexpectedError.wrap(error) is error
    assert retry_delay(JobSection(retry_delay_s=0.0), 2) == 0.0


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_soft_time_limit_means_the_same_on_both_pools(
    pool: str, cluster: Cluster, tmp_path: Path
) -> None:
    """A job whose decoding takes 8 s under a 3-s soft limit: on prefork Celery interrupts
    it, on threads callscribe stops it after the step; either way the attempt is retried
    and, after ``max_attempts``, the job and its recording fail with the same reason. The
    other recordings are done (with room to spare on a loaded 2-core machine: a partial
    batch does not wait for more windows)."""
    cluster.set(
        queue={"worker_pool": pool, "time_limit_s": 30},
        execution={"jobs_in_flight": 2, "batch_wait_ms": 0},
        jobs={"soft_time_limit_s": 3, "max_attempts": 2, "retry_delay_s": 0.2},
    )
    cluster.ingest(poison_corpus(tmp_path, 2))
    slow = 'sleep 8; PATH=/usr/bin:/bin exec ffmpeg "$@"'  # then decodes
    worker = cluster.worker("w", path_prefix=poison_ffmpeg(tmp_path, slow))
    cluster.wait_settled(timeout=180)
    recordings = cluster.db.recordings()
    assert {k: v for k, v in recordings.items() if k != "poison.wav"} == {
        "ok0.wav": ("done", None),
        "ok1.wav": ("done", None),
    }
    status, reason = recordings["poison.wav"]
    assert status == "failed"
    assert reason == "gave up after 2 attempts: job ran past its soft time limit of 3 s"
    assert worker.proc.poll() is None


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (WorkerShutdown(), "interrupted: warm shutdown (SIGTERM)"),
        (WorkerTerminate(1), "interrupted: cold shutdown (SIGQUIT)"),
        (SystemExit(-241), "interrupted: the worker process is exiting (SIGTERM)"),
        (SystemExit(-9), "interrupted: the worker process is exiting (SIGKILL)"),
        (SystemExit(3), "interrupted: the worker process is exiting (code 3)"),
        (KeyboardInterrupt(), "interrupted: keyboard interrupt (SIGINT)"),
    ],
)
def test_an_interrupted_job_says_why(exc: BaseException, reason: str) -> None:
    """Issue 28, item 7: a stopped job's reason says what stopped it, not 'SystemExit: -241'."""
    outcome = classify(exc, 1, JobSection())
    assert outcome.retry and outcome.reason == reason
