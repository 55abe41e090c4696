"""Headers that lie about a recording's duration (issue 10, item 1): the audio that
decodes decides what is planned, transcribed, stored and metered; never the header."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callscribe.media.probe import probe
from callscribe.models import Job, RecordingStatus
from callscribe.models.db import make_engine, session_factory
from callscribe.run import transcribe_source
from callscribe.settings import Settings
from callscribe.workers.results.recordings import load_transcript
from tests.support.audio import CallInfo, Turn, make_call
from tests.support.dbcheck import recordings_by_key, rows, windows_of
from tests.support.hostile import MAX_FLAC_SAMPLES, flac_streaminfo, lying_flac, lying_wav

SettingsFactory = Callable[..., Settings]
LINES = [
    "Thank you for calling, how can I help?",
    "My order has not arrived yet.",
    "Let me look that up for you.",
    "It was sent on Monday.",
    "Can you give me the tracking number?",
    "Sure, one moment please.",
]


@pytest.fixture(scope="module")
def long_call(tmp_path_factory: pytest.TempPathFactory) -> CallInfo:
    """A stereo FLAC call of about 70 s with speech to its end."""
    out = tmp_path_factory.mktemp("lies") / "honest.flac"
    turns = [Turn(i % 2, LINES[i % len(LINES)]) for i in range(16)]
    return make_call(out, turns, gap=2.0, fmt="flac", sample_rate=16000)


def _lie(call: CallInfo, folder: Path, name: str, **claim: int) -> Path:
    folder.mkdir(exist_ok=True)
    return lying_flac(call.path, folder / name, **claim)


def _audio_seconds(url: str, key: str) -> tuple[float, int]:
    """Audio seconds metered over the recording's jobs, and how many jobs."""
    factory = session_factory(make_engine(url))
    with factory.begin() as s:
        rec_id = recordings_by_key(url)[key].id
        total, jobs = s.execute(
            select(func.sum(Job.audio_seconds), func.count(Job.id)).where(
                Job.recording_id == rec_id
            )
        ).one()
    factory.kw["bind"].dispose()
    return float(total or 0.0), int(jobs)


def test_probe_decodes_where_a_header_is_implausible(long_call: CallInfo, tmp_path: Path) -> None:
    rate = flac_streaminfo(long_call.path)[0]
    cases = {
        "huge.flac": {"total_samples": MAX_FLAC_SAMPLES},
        "huge_rate1.flac": {"total_samples": MAX_FLAC_SAMPLES, "sample_rate": 1},
        "tiny.flac": {"total_samples": rate // 2},
    }
    for name, claim in cases.items():
        path = _lie(long_call, tmp_path, name, **claim)
        found = probe(str(path), path.stat().st_size)
        assert found.duration_s == pytest.approx(long_call.duration, abs=0.05), name
        assert found.header_duration_s is not None and found.warning, name
    honest = probe(str(long_call.path), long_call.path.stat().st_size)
    assert honest.header_duration_s is None and honest.warning is None
    assert honest.duration_s == pytest.approx(long_call.duration, abs=0.05)


@pytest.mark.parametrize(
    "claim",
    ["2^36 samples", "2^36 samples at 1 Hz", "0.5 s", "twice its length", "half its length"],
)
def test_a_lying_header_never_decides_what_is_transcribed(
    claim: str, long_call: CallInfo, db_url: str, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    rate, *_rest = flac_streaminfo(long_call.path)
    real = round(long_call.duration * rate)
    claims = {
        "2^36 samples": {"total_samples": MAX_FLAC_SAMPLES},
        "2^36 samples at 1 Hz": {"total_samples": MAX_FLAC_SAMPLES, "sample_rate": 1},
        "0.5 s": {"total_samples": rate // 2},
        # plausible for the file's size: the probe believes these, the workers do not
        "twice its length": {"total_samples": 2 * real},
        "half its length": {"total_samples": real // 2},
    }
    folder = tmp_path / "calls"
    _lie(long_call, folder, "call.flac", **claims[claim])
    settings = make_settings(db_url, planning={"job_max_s": 31})
    summary = transcribe_source(settings, str(folder))
    rec = recordings_by_key(db_url)["call.flac"]
    assert rec.status == RecordingStatus.DONE, rec.error
    assert rec.duration_s == pytest.approx(long_call.duration, rel=0.01)
    assert any("header claimed" in w for w in rec.meta.get("warnings", [])), rec.meta
    metered, jobs = _audio_seconds(db_url, "call.flac")
    assert metered == pytest.approx(long_call.duration, rel=0.01)
    assert jobs <= int(2 * long_call.duration / 31) + 1  # never thousands of jobs
    assert summary.audio_seconds == pytest.approx(long_call.duration, rel=0.01)
    windows = windows_of(db_url, "call.flac")
    for span in long_call.speech:  # speech past the header's claim is transcribed too
        assert any(
            c == span.channel and a <= span.end and b >= span.start for c, a, b in windows
        ), (claim, span)
    exported = Path(settings.storage.output) / "call.flac.json"
    assert exported.exists()


def test_a_recording_longer_than_the_limit_fails_alone(
    long_call: CallInfo, db_url: str, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    (folder / "long.flac").write_bytes(long_call.path.read_bytes())
    make_call(folder / "short.wav", [Turn(0, "Hello there.")])
    summary = transcribe_source(
        make_settings(db_url, planning={"max_recording_hours": 0.01}), str(folder)
    )
    recs = recordings_by_key(db_url)
    assert recs["short.wav"].status == RecordingStatus.DONE
    assert recs["long.flac"].status == RecordingStatus.FAILED
    assert "more than max_recording_hours" in (recs["long.flac"].error or "")
    assert "\n" not in (recs["long.flac"].error or "")
    assert _audio_seconds(db_url, "long.flac")[1] == 0
    assert [f.key for f in summary.failed] == ["long.flac"]


def test_a_wav_whose_data_size_lies_is_read_as_far_as_it_goes(
    db_url: str, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    src = tmp_path / "src.wav"
    call = make_call(
        src, [Turn(0, "Thank you for calling."), Turn(1, "Hello, I need help.")], sample_rate=16000
    )
    folder = tmp_path / "calls"
    folder.mkdir()
    lying_wav(src, folder / "huge.wav", data_bytes=0xFFFFFFF0)
    transcribe_source(make_settings(db_url), str(folder))
    rec = recordings_by_key(db_url)["huge.wav"]
    assert rec.status == RecordingStatus.DONE, rec.error
    assert rec.duration_s == pytest.approx(call.duration, rel=0.01)


def _exports(settings: Settings) -> dict[str, bytes]:
    out = Path(settings.storage.output)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def test_a_changed_recording_keeps_its_transcript_until_the_new_one_is_done(
    db_url: str, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """Issue 10 item 5: overwriting a done recording with a corrupt copy keeps the old
    segments, words and exports (the failure says so); a good copy then replaces them
    whole, leaving no row of the old version."""
    folder = tmp_path / "calls"
    folder.mkdir()
    v1 = folder / "a.wav"
    make_call(v1, [Turn(0, "Good morning."), Turn(1, "Hi, I have a question.")])
    settings = make_settings(db_url)
    transcribe_source(settings, str(folder))
    before = rows(db_url)
    exports = _exports(settings)
    assert before["segments"] and exports

    v1.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all" * 10)  # a corrupt copy
    summary = transcribe_source(settings, str(folder))
    rec = recordings_by_key(db_url)["a.wav"]
    assert rec.status == RecordingStatus.FAILED and rec.version == 2
    assert "the transcript of version 1 is kept" in (rec.error or "")
    assert [f.key for f in summary.failed] == ["a.wav"]
    after = rows(db_url)
    assert after["segments"] == before["segments"]
    assert _exports(settings) == exports
    factory = session_factory(make_engine(db_url))
    _rec, kept = load_transcript(factory, rec.id)
    old = sorted((g[3], g[5], g[6], g[7]) for g in before["segments"])
    assert sorted((s.channel, s.start, s.end, s.text) for s in kept) == old
    assert all(s.words for s in kept)

    make_call(v1, [Turn(1, "Now the customer speaks first."), Turn(0, "And the agent answers.")])
    transcribe_source(settings, str(folder))
    rec = recordings_by_key(db_url)["a.wav"]
    assert rec.status == RecordingStatus.DONE and rec.version == 3
    assert rec.transcript_version == 3
    final = rows(db_url)
    old_ids = {s[0] for s in before["segments"]}
    assert final["segments"] and not old_ids & {s[0] for s in final["segments"]}
    assert all(seq >= 0 for _id, _rec, seq, *_rest in final["jobs"])
    assert _exports(settings) != exports
