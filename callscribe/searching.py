"""``callscribe search``: what the command prints, from ``callscribe.models.search``."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from .models.search import Hit, context, search


def parse_where(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` options as a dict; a pair without ``=`` is a usage error."""
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--where needs KEY=VALUE, got {pair!r}")
        found[key] = value
    return found


def run_search(
    factory: sessionmaker[Session], query: str, *, context_turns: int = 0, **filters: Any
) -> list[dict[str, Any]]:
    """The hits as plain records (JSON-ready), each with its neighbouring turns when
    ``context_turns`` > 0."""
    with factory.begin() as session:
        hits = search(session, query, **filters)
        return [_record(session, hit, context_turns) for hit in hits]


def _record(session: Session, hit: Hit, turns: int) -> dict[str, Any]:
    record = asdict(hit)
    if turns > 0:
        record["context"] = [
            {
                "speaker": s.speaker,
                "channel": s.channel,
                "start_s": s.start_s,
                "end_s": s.end_s,
                "text": s.text,
                "hit": s.id == hit.segment_id,
            }
            for s in context(session, hit, turns)
        ]
    return record


def as_json(records: list[dict[str, Any]]) -> str:
    return json.dumps(records, ensure_ascii=False, indent=1, default=_default)


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes:02d}:{rest:02d}"
