"""Nightly (scheduled) scans: Celery beat fires ``callscribe.scan(source)`` on each source's
cron expression; a scan registers new or changed objects and enqueues their jobs.

Two schedulers firing at once must not enqueue anything twice: a scan runs only while it
holds a per-source lock in the database (a PostgreSQL advisory lock; SQLite serialises
writers anyway). The scan that does not get the lock records nothing and returns."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from callscribe.settings import Settings

from .enqueue import Enqueuer
from .ingest import IngestResult, ingest_with

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanOutcome:
    """A scan either ran (with its ingest result) or was skipped (lock held elsewhere)."""

    source: str
    result: IngestResult | None

    @property
    def skipped(self) -> bool:
        return self.result is None


def lock_key(source_uri: str) -> int:
    """A stable 63-bit key for the source's advisory lock."""
    return zlib.crc32(f"callscribe-scan:{source_uri}".encode()) & 0x7FFFFFFF


@contextmanager
def source_lock(factory: sessionmaker[Session], source_uri: str) -> Iterator[bool]:
    """Hold the scan lock of a source for the block; yields False if another holder has it."""
    engine = factory.kw["bind"]
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = lock_key(source_uri)
    with engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


def scan(
    settings: Settings, factory: sessionmaker[Session], source_uri: str, enqueuer: Enqueuer
) -> ScanOutcome:
    """One scheduled scan of a source, unless another scan of it is running."""
    with source_lock(factory, source_uri) as mine:
        if not mine:
            log.info("scan of %s skipped: another scheduler holds it", source_uri)
            return ScanOutcome(source_uri, None)
        return ScanOutcome(
            source_uri, ingest_with(settings, factory, source_uri, enqueuer, kind="nightly")
        )
