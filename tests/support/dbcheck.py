"""Read-back helpers for tests: what the database holds after a run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from callscribe.models import Job, Recording, Segment, Window
from callscribe.models.db import make_engine, session_factory


def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that matters, as comparable tuples (ids included)."""
    factory = session_factory(make_engine(url))
    with factory.begin() as s:
        out = {
            "recordings": [
                (r.id, r.key, r.status.value, r.version, r.error)
                for r in s.scalars(select(Recording).order_by(Recording.id))
            ],
            "jobs": [
                (
                    j.id,
                    j.recording_id,
                    j.seq,
                    j.start_s,
                    j.end_s,
                    j.status.value,
                    j.cut_start_s,
                    j.cut_end_s,
                )
                for j in s.scalars(select(Job).order_by(Job.id))
            ],
            "windows": [
                (w.id, w.job_id, w.channel, w.start_s, w.end_s, w.status.value)
                for w in s.scalars(select(Window).order_by(Window.id))
            ],
            "segments": [
                (
                    g.id,
                    g.recording_id,
                    g.window_id,
                    g.channel,
                    g.speaker,
                    g.start_s,
                    g.end_s,
                    g.text,
                )
                for g in s.scalars(select(Segment).order_by(Segment.id))
            ],
        }
    factory.kw["bind"].dispose()
    return out


def recordings_by_key(url: str) -> dict[str, Recording]:
    factory = session_factory(make_engine(url))
    with factory.begin() as s:
        found = {r.key: r for r in s.scalars(select(Recording))}
        s.expunge_all()
    return found


def windows_of(url: str, key: str) -> list[tuple[int, float, float]]:
    """(channel, start, end) of every window of a recording, in time order."""
    return [(w.channel, w.start_s, w.end_s) for w in window_rows(url, key)]


def window_rows(url: str, key: str) -> list[Window]:
    """Every window row of a recording, by channel and time."""
    factory = session_factory(make_engine(url))
    with factory.begin() as s:
        rec = s.scalars(select(Recording).where(Recording.key == key)).one()
        found = list(
            s.scalars(
                select(Window)
                .where(Window.recording_id == rec.id)
                .order_by(Window.channel, Window.start_s)
            )
        )
        s.expunge_all()
    return found


def pieces_of(url: str, key: str) -> list[tuple[int, float, float]]:
    """(channel, start, end) of every speech piece the model read, over all windows; each
    window's pieces are checked to be in order, inside its span, ≤ 30 s of speech in all."""
    found = []
    for w in window_rows(url, key):
        assert w.pieces[0][0] == w.start_s and w.pieces[-1][1] == w.end_s
        assert all(a < b for a, b in w.pieces)
        assert all(w.pieces[i][1] <= w.pieces[i + 1][0] for i in range(len(w.pieces) - 1))
        assert abs(sum(b - a for a, b in w.pieces) - w.speech_s) < 0.01 and w.speech_s <= 30.0
        found += [(w.channel, a, b) for a, b in w.pieces]
    return found


def segments_of(url: str, key: str) -> list[Segment]:
    factory = session_factory(make_engine(url))
    with factory.begin() as s:
        rec = s.scalars(select(Recording).where(Recording.key == key)).one()
        found = list(
            s.scalars(
                select(Segment).where(Segment.recording_id == rec.id).order_by(Segment.start_s)
            )
        )
        s.expunge_all()
    return found


def covering(
    windows: Sequence[tuple[int, float, float]],
    channel: int,
    start: float,
    end: float,
    slack: float = 0.15,
) -> list[tuple[int, float, float]]:
    """Windows of ``channel`` that contain the (slightly shrunk) span [start, end]."""
    return [w for w in windows if w[0] == channel and w[1] <= start + slack and end - slack <= w[2]]


def touching(
    windows: Sequence[tuple[int, float, float]],
    channel: int,
    start: float,
    end: float,
    slack: float = 0.15,
) -> list[tuple[int, float, float]]:
    """Windows of ``channel`` that overlap the (slightly shrunk) span at all."""
    return [w for w in windows if w[0] == channel and w[1] < end - slack and start + slack < w[2]]
