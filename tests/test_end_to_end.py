"""The embedded product end to end, on SQLite and on the real PostgreSQL: generated calls,
the random-weight model through faster-whisper, exports on disk."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from callscribe.models import RecordingStatus
from callscribe.models.db import open_database
from callscribe.run import transcribe_source
from callscribe.settings import Settings
from tests.support.audio import (
    CorpusItem,
    Turn,
    corrupt_empty,
    corrupt_no_audio_stream,
    corrupt_text_as_wav,
    corrupt_truncated_mp3,
    corrupt_unsupported_codec,
    corrupt_zero_length_wav,
    make_call,
    make_demo_corpus,
    place,
    speak,
)
from tests.support.dbcheck import (
    covering,
    pieces_of,
    recordings_by_key,
    rows,
    segments_of,
    touching,
    windows_of,
)
from tests.support.model import expected_text

SettingsFactory = Callable[..., Settings]
TEXT = expected_text().strip()


def texts_by_window(segments: list[Any]) -> dict[int, str]:
    """Each window's segments joined: the random-weight model says TEXT in every window
    (its word times are random, so where segments split is not the point here)."""
    by_window: dict[int, list[str]] = {}
    for segment in sorted(segments, key=lambda s: (s.window_id, s.start_s, s.id)):
        by_window.setdefault(segment.window_id, []).append(segment.text)
    return {w: " ".join(texts) for w, texts in by_window.items()}


def inside_one_piece(segment: Any, pieces: list[list[float]]) -> bool:
    return any(a - 1e-3 <= segment.start_s <= segment.end_s <= b + 1e-3 for a, b in pieces)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[CorpusItem]]:
    folder = tmp_path_factory.mktemp("corpus")
    return folder, make_demo_corpus(folder, n=8, corrupt=2, seed=3)


def _copy(folder: Path, dest: Path) -> Path:
    dest.mkdir()
    for f in folder.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())
    return dest


def test_corpus_transcribes_and_bad_files_fail_alone(
    corpus: tuple[Path, list[CorpusItem]],
    db_url: str,
    make_settings: SettingsFactory,
    tmp_path: Path,
) -> None:
    folder, items = corpus
    settings = make_settings(db_url)
    summary = transcribe_source(settings, str(folder))
    good = [i for i in items if i.call is not None]
    bad = {i.path.name: i.defect for i in items if i.call is None}
    assert summary.done == len(good) == 6
    assert {f.key for f in summary.failed} == set(bad)
    assert all(f.reason and "\n" not in f.reason for f in summary.failed)
    for item in good:
        assert item.call is not None
        key = item.path.name
        windows = windows_of(db_url, key)
        pieces = pieces_of(db_url, key)  # also checks each window holds ≤ 30 s of speech
        assert windows and all(end > start for _, start, end in windows)
        for span in item.call.speech:  # every sentence in exactly one piece of one window
            assert len(covering(pieces, span.channel, span.start, span.end)) == 1, (key, span)
            assert len(touching(pieces, span.channel, span.start, span.end)) == 1, (key, span)
            assert len(covering(windows, span.channel, span.start, span.end)) == 1, (key, span)
        segments = segments_of(db_url, key)
        assert segments and set(texts_by_window(segments).values()) == {TEXT}
        speakers = {s.speaker for s in segments}
        assert speakers == ({"agent", "customer"} if item.call.channels == 2 else {"agent"})
        assert all(0 <= s.start_s <= s.end_s <= item.call.duration + 0.01 for s in segments)
        _check_exports(Path(settings.storage.output), key, item.call.channels)


def _check_exports(out: Path, key: str, channels: int) -> None:
    data = json.loads((out / f"{key}.json").read_text())
    assert data["key"] == key and data["segments"]
    assert data["options"]["decode"]["beam_size"] == 1
    assert (out / f"{key}.srt").read_text().startswith("1\n")
    assert (out / f"{key}.vtt").read_text().startswith("WEBVTT")
    assert set(TEXT.split()) == set((out / f"{key}.txt").read_text().split())
    words = json.loads((out / f"{key}.words.json").read_text())["words"]
    assert {w["word"] for w in words} == set(TEXT.split())
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    dialogue = (out / f"{key}.dialogue.txt").read_text()
    assert dialogue.startswith(("Agent: ", "Customer: "))
    if channels == 2:
        assert "Agent: " in dialogue and "Customer: " in dialogue


def test_running_twice_leaves_the_same_rows(
    corpus: tuple[Path, list[CorpusItem]],
    db_url: str,
    make_settings: SettingsFactory,
    tmp_path: Path,
) -> None:
    folder = _copy(corpus[0], tmp_path / "calls")
    settings = make_settings(db_url)
    transcribe_source(settings, str(folder))
    before = rows(db_url)
    second = transcribe_source(settings, str(folder))
    assert second.registration.new == 0 and second.registration.changed == 0
    assert second.processed_audio_seconds == 0
    assert rows(db_url) == before


def test_changed_recording_is_transcribed_again(
    db_url: str, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(folder / "a.wav", [Turn(0, "Hello, thanks for calling."), Turn(1, "Hi there.")])
    make_call(folder / "b.wav", [Turn(0, "Good morning, how can I help?")])
    settings = make_settings(db_url)
    transcribe_source(settings, str(folder))
    old_b = segments_of(db_url, "b.wav")
    old_a = windows_of(db_url, "a.wav")
    new_call = make_call(
        folder / "a.wav",
        [
            Turn(1, seconds=4.0),
            Turn(1, "Now I speak first."),
            Turn(0, "And then the agent answers."),
        ],
    )
    summary = transcribe_source(settings, str(folder))
    assert summary.registration.changed == 1
    recs = recordings_by_key(db_url)
    assert recs["a.wav"].version == 2 and recs["a.wav"].status == RecordingStatus.DONE
    new_a = windows_of(db_url, "a.wav")
    assert new_a != old_a
    assert len(new_a) == len(new_call.speech)
    for span in new_call.speech:
        assert len(covering(new_a, span.channel, span.start, span.end)) == 1
    assert [s.id for s in segments_of(db_url, "b.wav")] == [s.id for s in old_b]


def test_bad_inputs_fail_with_reasons_and_keys_stay_inside_output(
    db_url: str, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "calls"
    (folder / "sub dir").mkdir(parents=True)
    clip = speak("Thank you for calling support.", tmp_path / "clip.wav")
    odd_name = "sub dir/we..ird ü name .. x.wav"
    place(folder / odd_name, 6.0, [(1.0, clip)])
    place(folder / "fine.wav", 6.0, [(1.0, clip)])
    bad = {
        "empty.wav": corrupt_empty(folder / "empty.wav"),
        "truncated.mp3": corrupt_truncated_mp3(clip, folder / "truncated.mp3"),
        "text.wav": corrupt_text_as_wav(folder / "text.wav"),
        "zero.wav": corrupt_zero_length_wav(folder / "zero.wav"),
        "codec.wav": corrupt_unsupported_codec(folder / "codec.wav"),
        "video.m4a": corrupt_no_audio_stream(folder / "video.m4a"),
    }
    settings = make_settings(db_url)
    summary = transcribe_source(settings, str(folder))
    failed = {f.key: f.reason for f in summary.failed}
    assert set(failed) == set(bad)
    assert failed["empty.wav"] == "empty file (0 bytes)"
    assert "zero-length" in failed["zero.wav"]
    assert "codec" in failed["codec.wav"]
    assert "no audio stream" in failed["video.m4a"]
    assert summary.done == 2
    out = Path(settings.storage.output).resolve()
    exported = [p for p in out.rglob("*") if p.is_file()]
    assert len(exported) == 12  # 2 recordings × 6 formats
    assert all(p.resolve().is_relative_to(out) for p in exported)
    assert (out / f"{odd_name}.json").is_file()


def test_file_deleted_after_listing_fails_alone(
    db_url: str, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    from callscribe.run import Progress as RunProgress
    from callscribe.run import execute, queued_jobs
    from callscribe.scheduler.ingest import discover
    from callscribe.storage.sources import open_source
    from callscribe.workers.runtime.context import WorkerContext

    folder = tmp_path / "calls"
    folder.mkdir()
    for name in ("keep.wav", "gone.wav"):
        make_call(folder / name, [Turn(0, "Please hold the line.")], channels=1)
    settings = make_settings(db_url)
    factory = open_database(settings)
    registration = discover(
        settings, factory, open_source(str(folder), settings.storage)
    ).registration
    (folder / "gone.wav").unlink()
    ctx = WorkerContext(settings=settings, factory=factory)
    execute(ctx, queued_jobs(factory, registration.source_id), RunProgress(), in_flight=1)
    recs = recordings_by_key(db_url)
    assert recs["keep.wav"].status == RecordingStatus.DONE
    assert recs["gone.wav"].status == RecordingStatus.FAILED
    assert "no longer exists" in (recs["gone.wav"].error or "")


def test_speech_across_job_and_window_boundaries_is_transcribed_once(
    db_url: str, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    clip = speak(
        "I would like to ask about the charge on my last bill, it looks wrong.", tmp_path / "c.wav"
    )
    folder = tmp_path / "calls"
    folder.mkdir()
    offsets = [2.0, 28.5, 37.5, 60.0, 77.0, 88.0, 110.0]  # across 30 s, 40 s, 80 s, 120 s...
    place(folder / "long.mp3", 125.0, [(o, clip) for o in offsets], fmt="mp3")
    settings = make_settings(db_url, planning={"job_max_s": 40.0})
    summary = transcribe_source(settings, str(folder))
    assert summary.done == 1 and not summary.failed
    data = rows(db_url)
    jobs = sorted(data["jobs"], key=lambda j: j[2])
    assert len(jobs) == 4
    for left, right in pairwise(jobs):
        assert left[7] == pytest.approx(right[6])  # cut_end of one == cut_start of the next
    windows = windows_of(db_url, "long.mp3")
    pieces = pieces_of(db_url, "long.mp3")
    length = len(speak_samples(clip)) / 16000
    for offset in offsets:
        assert len(covering(pieces, 0, offset, offset + length)) == 1, offset
        assert len(touching(pieces, 0, offset, offset + length)) == 1, offset
    said = texts_by_window(segments_of(db_url, "long.mp3"))
    assert len(said) == len(windows) and set(said.values()) == {TEXT}


def speak_samples(clip: Path) -> list[float]:
    from callscribe.workers.audio.decode import decode

    return list(decode(clip, 1).channels[0])


def test_alternating_turns_are_packed_into_few_windows(
    db_url: str, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """A stereo call: each channel is silent while the other party talks. Its turns are
    packed into windows of ≤ 30 s of speech, and segment times map back into the pieces."""
    from tests.support.dbcheck import window_rows

    folder = tmp_path / "calls"
    folder.mkdir()
    lines = [
        "Thanks for calling, how can I help?",
        "My internet keeps dropping.",
        "Let me check the line for you.",
        "It happens every evening.",
        "I see errors on your router.",
        "Can you send a technician?",
    ] * 2
    call = make_call(
        folder / "call.wav",
        [Turn(i % 2, line) for i, line in enumerate(lines)],
        channels=2,
        sample_rate=8000,
        fmt="wav_mulaw",
    )
    counts = {}
    for packing in (True, False):
        url = db_url if packing else f"sqlite:///{tmp_path / 'unpacked.db'}"
        settings = make_settings(
            url,
            vad={"packing": packing, "merge_gap_s": 0.5},
            storage={"output": str(tmp_path / f"out-{packing}")},
        )
        assert transcribe_source(settings, str(folder)).done == 1
        windows = window_rows(url, "call.wav")
        counts[packing] = len(windows)
        for w in windows:
            segments = [s for s in segments_of(url, "call.wav") if s.window_id == w.id]
            assert texts_by_window(segments) == {w.id: TEXT}
            assert all(inside_one_piece(s, w.pieces) for s in segments)
    assert (counts[True], counts[False]) == (2, 12)  # 6 turns per channel
    spoken = pieces_of(db_url, "call.wav")
    for span in call.speech:
        assert len(covering(spoken, span.channel, span.start, span.end)) == 1, span


def test_embedded_run_retries_then_fails_and_never_ends_with_work_left(
    db_url: str, make_settings: SettingsFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10, item 6: a retryable error (storage briefly away) is retried within the
    run; one that persists fails its recording after max_attempts with the reason. Nothing
    is left queued or running, and the summary (so the exit code) says what failed."""
    from callscribe.errors import StorageUnavailableError
    from callscribe.workers import job

    folder = tmp_path / "calls"
    folder.mkdir()
    for name in ("flaky.wav", "down.wav", "fine.wav"):
        make_call(folder / name, [Turn(0, "Thank you for calling.")], channels=1)
    real, seen = job.load_audio, {"flaky.wav": 0}

    def load_audio(ctx: Any, spec: Any, workdir: Path) -> Any:
        if spec.key == "down.wav" or (spec.key == "flaky.wav" and not seen["flaky.wav"]):
            seen["flaky.wav"] += spec.key == "flaky.wav"
            raise StorageUnavailableError("the share is not mounted")
        return real(ctx, spec, workdir)

    monkeypatch.setattr(job, "load_audio", load_audio)
    settings = make_settings(db_url, jobs={"retry_delay_s": 0, "max_attempts": 3})
    summary = transcribe_source(settings, str(folder))
    assert summary.done == 2
    assert [(f.key, f.reason) for f in summary.failed] == [
        ("down.wav", "gave up after 3 attempts: the share is not mounted")
    ]
    recs = recordings_by_key(db_url)
    assert {k: r.status for k, r in recs.items()} == {
        "flaky.wav": RecordingStatus.DONE,
        "down.wav": RecordingStatus.FAILED,
        "fine.wav": RecordingStatus.DONE,
    }
    statuses = {j[5] for j in rows(db_url)["jobs"]}
    assert statuses <= {"done", "failed"}, statuses


def test_the_embedded_run_waits_the_delay_the_failure_policy_chose(
    db_url: str, make_settings: SettingsFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21, item 3: one failure path. The delay ``classify`` picks (jittered backoff)
    is the one handed to the runner's ``reschedule`` and the one the embedded run waits;
    nothing recomputes it from its own round."""
    from callscribe import run
    from callscribe.errors import StorageUnavailableError
    from callscribe.failures import JITTER
    from callscribe.workers import job

    folder = tmp_path / "calls"
    folder.mkdir()
    make_call(folder / "down.wav", [Turn(0, "Thank you for calling.")], channels=1)
    make_call(folder / "fine.wav", [Turn(0, "Thank you for calling.")], channels=1)
    real = job.load_audio

    attempts: list[float] = []

    def load_audio(ctx: Any, spec: Any, workdir: Path) -> Any:
        if spec.key == "down.wav":
            attempts.append(time.monotonic())
            raise StorageUnavailableError("the share is not mounted")
        return real(ctx, spec, workdir)

    monkeypatch.setattr(job, "load_audio", load_audio)
    chosen: list[float] = []
    decide = job.classify
    monkeypatch.setattr(
        job, "classify", lambda *a, **k: (chosen.append((o := decide(*a, **k)).delay_s), o)[1]
    )
    handed: list[tuple[float, float]] = []  # (when, delay)
    schedule = run.Due.__call__
    monkeypatch.setattr(
        run.Due,
        "__call__",
        lambda self, job_id, delay_s: (
            handed.append((time.monotonic(), delay_s)),
            schedule(self, job_id, delay_s),
        )[1],
    )
    settings = make_settings(
        db_url, jobs={"retry_delay_s": 0.4, "retry_max_delay_s": 5.0, "max_attempts": 3}
    )
    summary = transcribe_source(settings, str(folder))
    assert [(f.key, f.reason) for f in summary.failed] == [
        ("down.wav", "gave up after 3 attempts: the share is not mounted")
    ]
    assert summary.done == 1
    delays = [delay for _, delay in handed]
    assert len(delays) == 2 and delays == chosen[:2]  # the third attempt gave up
    for delay, backoff in zip(delays, (0.4, 0.8), strict=True):
        assert backoff * (1 - JITTER) <= delay <= backoff
    assert len(attempts) == 3
    for (when, delay), began in zip(handed, attempts[1:], strict=True):
        assert began - when >= delay  # the next attempt waited the delay it was given


def test_recordings_never_share_exports(
    db_url: str, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """Issue 10, item 3: keys that sanitise alike (`sub/a.wav`, `sub\\a.wav`), the same key
    in two sources into one output, and a 236-character name: every done recording has its
    own complete export set, named in the database, inside the output."""
    first, second = tmp_path / "one", tmp_path / "two"
    (first / "sub").mkdir(parents=True)
    second.mkdir()
    long_name = "x" * 232 + ".wav"
    for folder, name, text in [
        (first, "sub/a.wav", "Hello from a."),
        (first, "sub\\a.wav", "Hello from the backslash."),
        (first, long_name, "A very long name."),
        (first, "same.wav", "First source."),
        (second, "same.wav", "Second source."),
    ]:
        make_call(folder / name, [Turn(0, text)], channels=1)
    out = tmp_path / "out"
    settings = make_settings(db_url, storage={"output": str(out)})
    assert transcribe_source(settings, str(first)).done == 4
    assert transcribe_source(settings, str(second)).done == 1
    factory = open_database(settings)
    from sqlalchemy import select

    from callscribe.models import Recording

    with factory.begin() as session:
        names = {
            uri: name for uri, name in session.execute(select(Recording.uri, Recording.export_name))
        }
    assert len(names) == 5 and len(set(names.values())) == 5 and all(names.values())
    for name in names.values():
        for suffix in (".json", ".words.json", ".srt", ".vtt", ".txt", ".dialogue.txt"):
            path = out / f"{name}{suffix}"
            assert path.is_file() and path.resolve().is_relative_to(out.resolve()), path
    exported = [p for p in out.rglob("*.json") if not p.name.endswith(".words.json")]
    assert len(exported) == 5
    keys = {json.loads(p.read_text())["key"] for p in exported}
    assert keys == {"sub/a.wav", "sub\\a.wav", long_name, "same.wav"}
