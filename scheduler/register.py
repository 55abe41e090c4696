"""Idempotent registration: list a source and record each object once. Re-listing an
unchanged object does nothing; a changed one (etag, size or mtime) starts over."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from models import Job, Recording, RecordingStatus, Source, SourceKind
from models.base import utcnow
from models.state import recording_changed
from scheduler.sources import ObjectInfo

BATCH = 1000


@dataclass(frozen=True)
class Registration:
    """What one listing found."""

    source_id: int
    discovered: int
    new: int
    changed: int
    unchanged: int


def ensure_source(factory: sessionmaker[Session], uri: str, kind: SourceKind) -> int:
    """The id of the source row for ``uri``, created if missing (safe under concurrency)."""
    with factory.begin() as session:
        found = session.scalar(select(Source.id).where(Source.uri == uri))
        if found is not None:
            return found
    try:
        with factory.begin() as session:
            source = Source(uri=uri, kind=kind)
            session.add(source)
            session.flush()
            return source.id
    except Exception:  # lost a race with another scheduler: read the winner's row
        with factory.begin() as session:
            return session.execute(select(Source.id).where(Source.uri == uri)).scalar_one()


def register(factory: sessionmaker[Session], source_id: int,
             objects: Iterable[ObjectInfo]) -> Registration:
    """Record every listed object of one source; returns the counts."""
    new = changed = unchanged = discovered = 0
    for batch in _batches(objects, BATCH):
        discovered += len(batch)
        with factory.begin() as session:
            n_new, n_changed = _register_batch(session, source_id, batch)
        new += n_new
        changed += n_changed
        unchanged += len(batch) - n_new - n_changed
    with factory.begin() as session:
        session.get_one(Source, source_id).last_scanned_at = utcnow()
    return Registration(source_id, discovered, new, changed, unchanged)


def _register_batch(session: Session, source_id: int, batch: list[ObjectInfo]) -> tuple[int, int]:
    keys = [item.key for item in batch]
    existing = {
        rec.key: rec
        for rec in session.scalars(
            select(Recording).where(Recording.source_id == source_id, Recording.key.in_(keys))
        )
    }
    fresh = [item for item in batch if item.key not in existing]
    if fresh:
        session.execute(insert(Recording), [_new_row(source_id, item) for item in fresh])
    changed = [
        (existing[item.key], item)
        for item in batch
        if item.key in existing and _differs(existing[item.key], item)
    ]
    if changed:
        session.execute(delete(Job).where(Job.recording_id.in_([rec.id for rec, _ in changed])))
        for rec, item in changed:
            recording_changed(rec, item.etag, item.size, item.mtime)
    return len(fresh), len(changed)


def _new_row(source_id: int, item: ObjectInfo) -> dict[str, object]:
    now = utcnow()
    return {
        "source_id": source_id, "key": item.key, "uri": item.uri, "etag": item.etag,
        "size_bytes": item.size, "mtime": item.mtime, "version": 1,
        "status": RecordingStatus.PENDING, "meta": {}, "discovered_at": now, "updated_at": now,
    }


def _differs(rec: Recording, item: ObjectInfo) -> bool:
    if rec.size_bytes != item.size:
        return True
    if rec.etag and item.etag:
        return rec.etag != item.etag
    return _epoch(rec.mtime) != _epoch(item.mtime)


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp(), 3)


def _batches(items: Iterable[ObjectInfo], size: int) -> Iterator[list[ObjectInfo]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
