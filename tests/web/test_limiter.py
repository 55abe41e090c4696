"""The login rate limit: in one process, and shared by every replica of the app through
the real Redis (``web.limiter_url``, else the broker), with the process's own count while
Redis cannot be reached."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from callscribe.broker import redis_client
from callscribe.settings import Settings
from callscribe.web.app import create_app, login_limiter
from callscribe.web.security import REDIS_ACL, Limiter, LoginLimiter, SharedLoginLimiter

from .conftest import Archive, login

MakeLimiter = Callable[[int, float], Limiter]


@pytest.fixture(params=["process", "redis"])
def make_limiter(request: pytest.FixtureRequest) -> Iterator[MakeLimiter]:
    if request.param == "process":
        yield LoginLimiter
        return
    url = request.getfixturevalue("redis_url")
    client = redis_client(url, Settings())
    yield lambda failures, window_s: SharedLoginLimiter(client, failures, window_s)
    client.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_limiter_counts_attempts_per_key_and_forgets_after_the_window(
    make_limiter: MakeLimiter,
) -> None:
    limiter = make_limiter(3, 0.3)
    keys = ["user:a", "addr:1.2.3.4"]
    assert [limiter.attempt(keys) for _ in range(3)] == [0, 0, 0]  # three wrong guesses
    assert 0 < limiter.attempt(keys) <= 0.3  # the fourth waits, even a right one
    assert limiter.attempt(["user:b", "addr:1.2.3.4"]) > 0  # the address is blocked too
    assert limiter.attempt(["user:a", "addr:5.6.7.8"]) > 0  # and the name elsewhere
    assert limiter.attempt(["user:b", "addr:5.6.7.8"]) == 0
    time.sleep(0.35)
    assert limiter.attempt(keys) == 0


def test_a_right_attempt_is_taken_back(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(2, 60)
    keys = ["user:a", "addr:1.2.3.4"]
    for _ in range(5):
        assert limiter.attempt(keys) == 0
        limiter.succeeded(keys)


def test_parallel_guesses_cannot_pass_the_limit(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(5, 60)
    with ThreadPoolExecutor(16) as pool:
        waits = list(pool.map(lambda _: limiter.attempt(["user:a", "addr:x"]), range(64)))
    assert sum(1 for w in waits if w == 0) == 5


def test_replicas_count_failures_together_and_redis_keeps_no_more_than_the_limit(
    redis_url: str,
) -> None:
    one, two = (SharedLoginLimiter(redis_client(redis_url, Settings()), 4, 60) for _ in "12")
    keys = ["user:dana", "addr:10.0.0.9"]
    assert [one.attempt(keys), two.attempt(keys), one.attempt(keys), two.attempt(keys)] == [0] * 4
    assert 59 < one.attempt(keys) <= 60 and 59 < two.attempt(keys) <= 60
    client = redis_client(redis_url, Settings())
    stored = sorted(k.decode() for k in client.keys("*"))
    assert stored == [SharedLoginLimiter.PREFIX + k for k in sorted(keys)]
    assert all(client.zcard(k) == 4 and 0 < client.pttl(k) <= 60_000 for k in stored)


def test_a_redis_that_is_down_leaves_the_process_counting_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://:hunter2secret@127.0.0.1:{_closed_port()}/0"
    limiter = SharedLoginLimiter(redis_client(url, Settings()), 2, 60)
    keys = ["user:a", "addr:x"]
    with caplog.at_level(logging.WARNING, logger="callscribe.web.security"):
        assert [limiter.attempt(keys) for _ in range(3)][:2] == [0, 0]
        assert limiter.attempt(keys) > 0  # still limited, in this process
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "cannot be used" in lines[0]
    assert "hunter2secret" not in caplog.text


def test_the_app_shares_through_the_broker_unless_told_otherwise(redis_url: str) -> None:
    assert isinstance(login_limiter(Settings()), LoginLimiter)
    assert isinstance(login_limiter(Settings(broker_url=redis_url)), SharedLoginLimiter)
    limiter = login_limiter(Settings(web={"limiter_url": redis_url}))
    assert isinstance(limiter, SharedLoginLimiter)
    with pytest.raises(ValidationError, match=r"web\.limiter_url must be a redis://"):
        Settings(web={"limiter_url": "http://127.0.0.1:6379"})


def test_two_app_replicas_refuse_a_name_that_failed_on_the_other(
    archive: Archive, redis_url: str
) -> None:
    settings = archive.settings.model_copy(
        update={
            "web": archive.settings.web.model_copy(update={"limiter_url": SecretStr(redis_url)})
        }
    )
    failures = settings.web.login_failures
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        for i in range(failures):
            replica = (one, two)[i % 2]
            assert login(replica, password="wrong wrong wrong").status_code == 401
        for replica in (one, two):
            blocked = login(replica)  # the right password, on either replica, too soon
            assert blocked.status_code == 429
            assert int(blocked.headers["retry-after"]) > 0
            assert replica.get("/calls", follow_redirects=False).status_code == 303


def test_a_redis_user_with_only_the_documented_rights_is_enough(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The ACL of docs/review.md: the limiter works through it, and that login can touch
    nothing else (not the broker's queue)."""
    import redis

    admin = redis_client(redis_url, Settings())
    name, password = f"callscribe-web-test-{socket.gethostname()}-{time.time_ns()}", "s3cret-pw"
    admin.execute_command("ACL", "SETUSER", name, "on", f">{password}", *REDIS_ACL.split())
    try:
        url = redis_url.replace("redis://", f"redis://{name}:{password}@")
        limited = redis_client(url, Settings())
        admin.script_flush()  # the first call loads the scripts through this login
        limiter = SharedLoginLimiter(limited, 2, 60)
        keys = ["user:a", "addr:x"]
        with caplog.at_level(logging.WARNING, logger="callscribe.web.security"):
            assert [limiter.attempt(keys), limiter.attempt(keys)] == [0, 0]
            assert limiter.attempt(keys) > 0
            limiter.succeeded(["user:b", "addr:y"])
        assert not caplog.records  # no fallback: Redis answered every call
        assert admin.zcard(SharedLoginLimiter.PREFIX + "addr:x") == 2
        with pytest.raises(redis.exceptions.NoPermissionError):
            limited.lpush("callscribe", "{}")
        with pytest.raises(redis.exceptions.NoPermissionError):
            limited.get("callscribe:web:login:user:a")  # its keys, but not other commands
    finally:
        admin.execute_command("ACL", "DELUSER", name)
        admin.close()
