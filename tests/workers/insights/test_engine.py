"""The insights step inside a run: a sentence model that cannot be had gives one warning,
lexicon-only figures, and a complete transcript; insights off stores none."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from callscribe.models import CallInsight, Recording, RecordingStatus
from callscribe.models.db import make_engine, session_factory
from callscribe.run import transcribe_source
from callscribe.settings import Settings
from callscribe.workers.insights import engine
from tests.support.audio import Turn, make_call


@pytest.fixture(autouse=True)
def fresh_models() -> Iterator[None]:
    engine.reset()
    yield
    engine.reset()


def _call(folder: Path) -> None:
    folder.mkdir()
    make_call(
        folder / "a.wav",
        [Turn(0, "Hello, thanks for calling, how can I help?"),
         Turn(1, "Hi, my parcel has not arrived and I have waited two weeks."),
         Turn(0, "I am sorry, let me check that for you.")],
    )  # fmt: skip


def _stored(url: str) -> list[tuple[RecordingStatus, CallInsight | None]]:
    factory = session_factory(make_engine(url))
    with factory.begin() as session:
        recs = session.scalars(select(Recording)).all()
        out = [(r.status, session.get(CallInsight, r.id)) for r in recs]
        for _status, row in out:
            if row is not None:
                session.expunge(row)
        return out


def test_a_missing_sentence_model_leaves_lexicon_only_insights(
    make_settings: Callable[..., Settings], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the model cache should be")
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    _call(tmp_path / "calls")
    settings = make_settings(url, insights={"model_dir": str(blocked)})
    with caplog.at_level(logging.WARNING):
        summary = transcribe_source(settings, str(tmp_path / "calls"))
    assert summary.done == 1 and not summary.failed
    ((status, row),) = _stored(url)
    assert status == RecordingStatus.DONE
    assert row is not None and row.models == "lexicons" and row.embedding is None
    warnings = [r.getMessage() for r in caplog.records if "sentence model" in r.getMessage()]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert str(blocked) in warnings[0]


def test_insights_off_stores_none(
    make_settings: Callable[..., Settings], tmp_path: Path, sentence_model: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    _call(tmp_path / "calls")
    summary = transcribe_source(make_settings(url, insights={"enabled": False}),
                                str(tmp_path / "calls"))  # fmt: skip
    assert summary.done == 1
    ((status, row),) = _stored(url)
    assert status == RecordingStatus.DONE and row is None


def test_a_call_gets_full_insights_with_the_model(
    make_settings: Callable[..., Settings], tmp_path: Path, sentence_model: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    _call(tmp_path / "calls")
    assert transcribe_source(make_settings(url), str(tmp_path / "calls")).done == 1
    ((_status, row),) = _stored(url)
    assert row is not None and row.models == "minilm+lexicons"
    assert row.embedding is not None and len(row.embedding) == 768
