"""Short windows of a job read as one clip (``workers.transcription.fusion``): the packing, the way
words
go back to their windows, and, with the real model, that a fused stereo call is transcribed
as well as faster-whisper transcribes each channel, with every word on its own channel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callscribe.demo.calls import make_real_call
from callscribe.demo.scoring import (
    channel_pairs,
    corpus_wer,
    stored_segments,
    words_outside_speech,
)
from callscribe.run import transcribe_source
from callscribe.workers import job
from callscribe.workers.audio.decode import SAMPLE_RATE
from callscribe.workers.records import Word
from callscribe.workers.transcription.decoding import Decoded
from callscribe.workers.transcription.fusion import GAP_S, fuse, split


def audio_of(seconds: float, level: float = 0.1) -> np.ndarray:
    return np.full(round(seconds * SAMPLE_RATE), level, dtype=np.float32)


def test_short_windows_share_clips_longest_first() -> None:
    windows = [
        ((0, 0), audio_of(28.0)),
        ((0, 1), audio_of(17.5)),
        ((1, 0), audio_of(27.0)),
        ((1, 1), audio_of(8.0)),
        ((1, 2), audio_of(3.0)),
    ]
    clips = fuse(windows, 30.0)
    assert sorted(p.key for c in clips for p in c.parts) == sorted(k for k, _a in windows)
    assert [[p.key for p in c.parts] for c in clips] == [
        [(0, 0)],
        [(0, 1), (1, 1), (1, 2)],
        [(1, 0)],
    ]
    for clip in clips:
        assert clip.audio.size / SAMPLE_RATE <= 30.0 + 1e-6
        gaps = len(clip.parts) - 1
        total = sum(p.length_s for p in clip.parts) + gaps * GAP_S
        assert clip.audio.size == pytest.approx(total * SAMPLE_RATE, abs=gaps + 1)
    fused = clips[1]
    second = fused.parts[1]
    assert second.offset_s == pytest.approx(17.5 + GAP_S)
    start = round(second.offset_s * SAMPLE_RATE)
    assert not fused.audio[round(17.5 * SAMPLE_RATE) : start].any(), "silence between parts"
    assert fuse(windows, 30.0)[1].parts == fused.parts, "the same windows fuse the same way"


def test_a_window_alone_is_not_touched() -> None:
    (clip,) = fuse([("a", audio_of(29.0))], 30.0)
    decoded = Decoded(
        text="hello",
        words=(Word(0.1, 0.5, " hello", 0.9),),
        avg_logprob=-0.2,
        no_speech_prob=0.01,
        compression_ratio=0.5,
        temperature=0.0,
    )
    assert split(clip, decoded) == {"a": decoded}


def test_words_go_back_to_the_window_their_middle_is_in() -> None:
    clip = fuse([("agent", audio_of(5.0)), ("customer", audio_of(4.0))], 30.0)[0]
    assert [p.key for p in clip.parts] == ["agent", "customer"]
    offset = 5.0 + GAP_S
    words = (
        Word(0.2, 0.6, " Thanks", 0.9),
        Word(4.7, 5.05, " for", 0.8),  # runs into gap
        Word(5.1, offset + 0.3, " calling.", 0.7),  # middle past the gap's middle
        Word(offset + 0.5, offset + 1.0, " Hi", 0.9),
        Word(offset + 3.8, offset + 4.6, " there.", 0.6),
    )  # past the clip's end
    decoded = Decoded(
        text="".join(w.word for w in words).strip(),
        words=words,
        avg_logprob=-0.3,
        no_speech_prob=0.02,
        compression_ratio=0.9,
        temperature=0.2,
    )
    parts = split(clip, decoded)
    agent, customer = parts["agent"], parts["customer"]
    assert agent.text == "Thanks for"
    assert [(w.start, w.end) for w in agent.words] == [(0.2, 0.6), (4.7, 5.0)]
    assert customer.text == "calling. Hi there."
    assert [(w.start, w.end) for w in customer.words] == [(0.0, 0.3), (0.5, 1.0), (3.8, 4.0)]
    for part in (agent, customer):
        assert (part.avg_logprob, part.temperature) == (-0.3, 0.2)


@pytest.mark.parametrize("fused", [True, False])
def test_fused_stereo_call_matches_faster_whisper(
    fused: bool, tiny_en: Path, whisper: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real model, real-voice stereo call: with fusing on, fewer clips reach the model than
    the job has windows, no word lands on the wrong channel (none during the other party's
    turns, hold or silence) and the WER is within 0.5 pt of faster-whisper's sequential
    ``transcribe`` on each channel; with it off, every window is read alone."""
    from tests.test_real_speech import sequential, settings_for

    read: list[tuple[int, int]] = []  # (windows, clips) per job, as the pipeline made them
    real_job_clips = job.job_clips

    def counting(ctx: Any, job: Any) -> Any:
        clips = real_job_clips(ctx, job)
        read.append((sum(len(c.windows) for c in job.channels), len(clips)))
        return clips

    monkeypatch.setattr(job, "job_clips", counting)
    folder = tmp_path / "calls"
    folder.mkdir()
    call = make_real_call(folder / "call.wav", seed=7, minutes=2.0)
    settings = settings_for(
        tiny_en, f"sqlite:///{tmp_path / 'cs.db'}", tmp_path / "out", vad={"fuse": fused}
    )
    summary = transcribe_source(settings, str(folder))
    assert summary.done == 1 and not summary.failed
    ((windows, clips),) = read
    assert clips < windows if fused else clips == windows
    found = stored_segments(settings.database_url, [call])[call.name]
    assert {s.channel for s in found} == {0, 1}
    assert words_outside_speech(call, found) == 0
    ours = corpus_wer(channel_pairs(call, found))
    theirs = corpus_wer(channel_pairs(call, sequential(whisper, call)))
    assert ours <= theirs + 0.005, (ours, theirs)
