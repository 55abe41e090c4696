"""Named locks that hold across processes, kept where the data is: a PostgreSQL advisory
lock on PostgreSQL, an ``flock`` on a file beside the database on SQLite. Used so that two
runs migrating one fresh database, or discovering one source, take turns instead of
racing (``duplicate column``, ``UNIQUE recordings.source_id, key``, ``IllegalTransition``)."""

from __future__ import annotations

import fcntl
import hashlib
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from .db import make_engine


def lock_key(name: str) -> int:
    """A stable positive 31-bit key for a named advisory lock."""
    return zlib.crc32(f"callscribe:{name}".encode()) & 0x7FFFFFFF


def _lock_file(url: str, name: str) -> Path | None:
    """The ``flock`` file of the lock ``name`` beside a SQLite database; None where one
    process owns the database (in memory, or not SQLite and not PostgreSQL)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return Path(database).with_name(f".{Path(database).name}.{digest}.lock")


def _is_postgresql(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


@contextmanager
def exclusive(url: str, name: str) -> Iterator[None]:
    """Hold the lock ``name`` of the database at ``url`` for the block, waiting for it."""
    if _is_postgresql(url):
        with _advisory(url, lock_key(name)):
            yield
        return
    path = _lock_file(url, name)
    if path is None:
        yield  # one process owns such a database
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def try_exclusive(url: str, name: str) -> Iterator[bool]:
    """Hold the lock ``name`` for the block if nobody else holds it: yields True when this
    process holds it, False (at once, without waiting) when another does. A holder that
    dies or loses its connection releases it."""
    if _is_postgresql(url):
        with _try_advisory(url, lock_key(name)) as held:
            yield held
        return
    path = _lock_file(url, name)
    if path is None:
        yield True
        return
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _try_advisory(url: str, key: int) -> Iterator[bool]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
    finally:
        engine.dispose()


@contextmanager
def _advisory(url: str, key: int) -> Iterator[None]:
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
    finally:
        engine.dispose()
