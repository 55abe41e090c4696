"""Idempotent registration: list a source and record each object once. Re-listing an
unchanged object does nothing; a changed one (etag, size or mtime) is a new version,
transcribed again, while the previous version's transcript stays until the new one is
done. Call metadata (from the source's metadata file or a manifest entry) is stored with a
new recording and, when it differs, written over an existing one's without touching its
versions or transcript (docs/metadata.md)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from callscribe.models import Job, Recording, RecordingStatus, Source, SourceKind
from callscribe.models.base import as_utc, utcnow
from callscribe.models.metering import unmeter_jobs
from callscribe.models.state import recording_changed, recording_probed
from callscribe.storage.metadata import CallMetadata, warn_unknown
from callscribe.storage.sources import ManifestEntry, ObjectInfo

BATCH = 1000


@dataclass(frozen=True, kw_only=True)
class Registration:
    """What one listing found."""

    source_id: int
    discovered: int
    new: int
    changed: int
    unchanged: int
    metadata_updated: int = 0
    """Recordings already registered whose call metadata changed (nothing else did)."""
    metadata_unknown: int = 0
    """Metadata rows whose key names no listed recording (skipped, with a warning)."""


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


Listed = ObjectInfo | ManifestEntry


def register(
    factory: sessionmaker[Session],
    source_id: int,
    objects: Iterable[Listed],
    calls: Mapping[str, CallMetadata] | None = None,
    calls_from: str = "metadata",
) -> Registration:
    """Record every listed object of one source; returns the counts. Manifest entries that
    carry duration, channels and sample rate are registered as already probed. ``calls``:
    key → call metadata from the source's metadata files (``calls_from`` names them in
    warnings); a manifest entry's own metadata counts for it."""
    new = changed = unchanged = discovered = updated = 0
    unseen = set(calls or ())
    for batch in _batches(objects, BATCH):
        discovered += len(batch)
        with factory.begin() as session:
            n_new, n_changed, n_updated = _register_batch(session, source_id, batch, calls or {})
        new += n_new
        changed += n_changed
        updated += n_updated
        unchanged += len(batch) - n_new - n_changed
        unseen.difference_update(_info(item).key for item in batch)
    with factory.begin() as session:
        session.get_one(Source, source_id).last_scanned_at = utcnow()
    return Registration(
        source_id=source_id,
        discovered=discovered,
        new=new,
        changed=changed,
        unchanged=unchanged,
        metadata_updated=updated,
        metadata_unknown=warn_unknown(unseen, calls_from),
    )


def _register_batch(
    session: Session, source_id: int, listed: list[Listed], calls: Mapping[str, CallMetadata]
) -> tuple[int, int, int]:
    known = {_info(item).key: item for item in listed if isinstance(item, ManifestEntry)}
    metadata = {
        _info(item).key: call for item in listed if (call := _call(item, calls)) is not None
    }
    batch = [_info(item) for item in listed]
    keys = [item.key for item in batch]
    existing = {
        rec.key: rec
        for rec in session.scalars(
            select(Recording).where(Recording.source_id == source_id, Recording.key.in_(keys))
        )
    }
    fresh = [item for item in batch if item.key not in existing]
    if fresh:
        session.execute(
            insert(Recording),
            [
                _new_row(source_id, item, known.get(item.key), metadata.get(item.key))
                for item in fresh
            ],
        )
    changed = [
        (existing[item.key], item)
        for item in batch
        if item.key in existing and _differs(existing[item.key], item)
    ]
    if changed:
        _set_aside(session, [rec for rec, _ in changed])
        for rec, item in changed:
            recording_changed(rec, item.etag, item.size, item.mtime)
            rec.uri = item.uri
            entry = known.get(item.key)
            if entry is not None and _probed(entry):
                recording_probed(
                    rec,
                    entry.duration_s or 0.0,
                    entry.channels or 1,
                    entry.sample_rate or 0,
                    entry.codec or "unknown",
                )
    changed_keys = {rec.key for rec, _ in changed}
    updated = 0
    for key, call in metadata.items():
        known_rec = existing.get(key)
        if known_rec is not None and _set_call(known_rec, call) and key not in changed_keys:
            updated += 1
    return len(fresh), len(changed), updated


def _call(item: Listed, calls: Mapping[str, CallMetadata]) -> CallMetadata | None:
    if isinstance(item, ManifestEntry) and item.call is not None:
        return item.call
    return calls.get(_info(item).key)


def _set_call(rec: Recording, call: CallMetadata) -> bool:
    """Write ``call`` over the recording's metadata; True if anything changed."""
    columns = call.columns()
    current = {name: getattr(rec, name) for name in columns}
    if current["started_at"] is not None:
        current["started_at"] = as_utc(current["started_at"])
    if current == columns:
        return False
    for name, value in columns.items():
        setattr(rec, name, value)
    return True


def _set_aside(session: Session, recordings: list[Recording]) -> None:
    """Before a changed object is transcribed again: its complete transcript (the jobs of
    ``transcript_version``) stays, renumbered below zero, until the new version is done;
    any other version's jobs (unfinished work) go, with their share of costs."""
    stale = [rec.id for rec in recordings]
    kept = (
        select(Recording.transcript_version)
        .where(Recording.id == Job.recording_id)
        .scalar_subquery()
    )
    other = Job.recording_id.in_(stale) & ((Job.version != kept) | kept.is_(None))
    unmeter_jobs(session, list(session.scalars(select(Job.id).where(other))))
    session.execute(delete(Job).where(other))
    session.execute(
        update(Job).where(Job.recording_id.in_(stale), Job.seq >= 0).values(seq=-Job.seq - 1)
    )


def _info(item: Listed) -> ObjectInfo:
    return item.info if isinstance(item, ManifestEntry) else item


def _probed(entry: ManifestEntry) -> bool:
    return bool(entry.duration_s and entry.channels and entry.sample_rate)


def _new_row(
    source_id: int, item: ObjectInfo, entry: ManifestEntry | None, call: CallMetadata | None
) -> dict[str, object]:
    now = utcnow()
    row: dict[str, object] = {
        "source_id": source_id,
        "key": item.key,
        "uri": item.uri,
        "etag": item.etag,
        "size_bytes": item.size,
        "mtime": item.mtime,
        "version": 1,
        "status": RecordingStatus.PENDING,
        "meta": {},
        "discovered_at": now,
        "updated_at": now,
        **(call or CallMetadata()).columns(),
    }
    if entry is not None and _probed(entry):
        row.update(
            status=RecordingStatus.PROBED,
            duration_s=entry.duration_s,
            channels=entry.channels,
            sample_rate=entry.sample_rate,
            codec=entry.codec,
        )
    return row


def _differs(rec: Recording, item: ObjectInfo) -> bool:
    if rec.size_bytes != item.size:
        return True
    if rec.etag and item.etag:
        return rec.etag != item.etag
    return _epoch(rec.mtime) != _epoch(item.mtime)


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return round(as_utc(value).timestamp(), 3)


def _batches(items: Iterable[Listed], size: int) -> Iterator[list[Listed]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
