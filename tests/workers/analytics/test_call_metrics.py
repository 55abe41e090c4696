"""Per-call metrics: the span algebra, channel activity on synthetic audio, each metric's
definition on hand-made spans, the generator's deliberate overtalk, and (slow) the whole
chain on real TTS calls transcribed by Whisper tiny.en, against the generator's exact truth."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callscribe.demo.calls import RealCall, make_real_call, render_speech
from callscribe.demo.matrix import reference_metrics
from callscribe.workers.analytics.activity import (
    ChannelActivity,
    Span,
    channel_activity,
    intersect_spans,
    merge_activity,
    merge_spans,
    split_talk,
    subtract_spans,
    total_s,
)
from callscribe.workers.analytics.call_metrics import (
    CallMetrics,
    MetricOptions,
    compute_metrics,
)

RATE = 16000
MERGE_GAP_S = 0.8
TOLERANCE_S = 0.3

# ----------------------------------------------------------------- span algebra


def test_span_algebra() -> None:
    assert merge_spans([(5, 6), (0, 1), (1, 2), (2.5, 3), (9, 9)]) == ((0, 2), (2.5, 3), (5, 6))
    assert merge_spans([(0, 1), (1.5, 2), (3, 4)], gap_s=0.8) == ((0, 2), (3, 4))
    assert intersect_spans([(0, 5), (6, 9)], [(4, 7), (8, 10)]) == ((4, 5), (6, 7), (8, 9))
    assert subtract_spans([(0, 10)], [(2, 3), (5, 6), (9, 12)]) == ((0, 2), (3, 5), (6, 9))
    assert subtract_spans([(0, 1)], []) == ((0, 1),)
    assert total_s([(0, 2), (1, 3), (5, 6)]) == 4.0
    assert total_s([]) == 0.0


def test_talk_on_one_channel_is_shared_out_by_who_spoke() -> None:
    """``split_talk``: a talk span's edges go to its first and last party; a pause between
    two parties' runs is nobody's; turns of two parties that overlap stay overtalk; a span
    with no named turn in it is nobody's; other names are ignored."""
    talk = [(1.0, 9.0), (12.0, 14.0), (20.0, 21.0)]
    turns = [
        (1.2, 3.0, "agent"),
        (3.2, 4.0, "agent"),
        (4.6, 8.5, "customer"),
        (12.1, 13.5, "agent"),
        (13.0, 13.9, "customer"),
        (20.2, 20.8, "speaker_3"),
    ]
    got = split_talk(talk, turns, ("agent", "customer"))
    assert got == {
        "agent": ((1.0, 4.0), (12.0, 13.5)),
        "customer": ((4.6, 9.0), (13.0, 14.0)),
    }
    assert intersect_spans(got["agent"], got["customer"]) == ((13.0, 13.5),)
    assert split_talk(talk, [], ("agent", "customer")) == {"agent": (), "customer": ()}


# ----------------------------------------------------------------- channel activity


def _audio(
    seconds: float, speech: Sequence[Span] = (), music: Sequence[Span] = (), seed: int = 0
) -> np.ndarray:
    """-48 dBFS white line noise, speech-like bursts (noise at a syllable-rate level) and
    music (a chord at 0.05 peak)."""
    rng = np.random.default_rng(seed)
    out = rng.standard_normal(round(seconds * RATE)) * 10 ** (-48 / 20)
    t = np.arange(out.size) / RATE
    for start, end in speech:
        part = (t >= start) & (t < end)
        level = 0.08 * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t[part]))
        out[part] += rng.standard_normal(int(part.sum())) * level
    for start, end in music:
        part = (t >= start) & (t < end)
        out[part] += 0.02 * sum(np.sin(2 * np.pi * f * t[part]) for f in (262.0, 330.0, 392.0))
    return out.astype(np.float32)


def _close(got: Sequence[Span], want: Sequence[Span], tolerance: float = 0.04) -> bool:
    return len(got) == len(want) and all(
        abs(g[0] - w[0]) <= tolerance and abs(g[1] - w[1]) <= tolerance
        for g, w in zip(got, want, strict=True)
    )


def test_talk_edges_come_from_energy_and_music_is_sound() -> None:
    audio = _audio(18.0, speech=[(1.0, 3.0), (3.5, 5.0), (7.0, 9.0)], music=[(10.0, 14.0)])
    words = [
        (0.7, 1.4),  # starts 0.3 s early, as Whisper does at the start of a turn
        (1.4, 2.9), (3.6, 4.9),
        (8.5, 10.8),  # the last word runs on into the music
        (16.0, 16.5),  # said into silence: a hallucination
    ]  # fmt: skip
    activity = channel_activity(audio, 100.0, [(a + 100, b + 100) for a, b in words])
    assert _close(activity.talk, [(101.0, 105.0), (107.0, 109.0)]), activity
    assert _close(activity.sound, [(110.0, 114.0)]), activity


def test_merge_gap_is_a_keyword() -> None:
    audio = _audio(8.0, speech=[(1.0, 3.0), (3.5, 5.0)])
    words = [(1.1, 2.9), (3.6, 4.9)]
    assert len(channel_activity(audio, 0.0, words).talk) == 1
    assert len(channel_activity(audio, 0.0, words, merge_gap_s=0.3).talk) == 2


def test_line_noise_alone_is_neither_talk_nor_sound() -> None:
    assert channel_activity(_audio(10.0), 0.0, []) == ChannelActivity()
    assert channel_activity(_audio(10.0), 0.0, [(2.0, 2.4)]) == ChannelActivity()
    assert channel_activity(np.zeros(0, np.float32), 0.0, [(0.0, 1.0)]) == ChannelActivity()


def test_loud_run_without_words_is_sound_and_late_word_claims_the_run_before() -> None:
    audio = _audio(8.0, speech=[(1.0, 2.0), (4.0, 6.0)])
    activity = channel_activity(audio, 0.0, [(2.15, 2.5)])  # starts just after the run
    assert _close(activity.talk, [(1.0, 2.0)])
    assert _close(activity.sound, [(4.0, 6.0)])


def test_word_timed_into_a_gap_keeps_its_run_and_music_next_to_speech_stays_sound() -> None:
    # "Maybe." (1.0-1.4 s) got a zero-length time in the pause after it, which then claims
    # the next run; the short run before joins the span all the same.
    audio = _audio(12.0, speech=[(1.0, 1.4), (1.7, 3.0)], music=[(3.3, 9.0)])
    activity = channel_activity(audio, 0.0, [(1.55, 1.55), (1.8, 3.2)])
    assert _close(activity.talk, [(1.0, 3.0)]), activity
    assert _close(activity.sound, [(3.3, 9.0)]), activity  # 0.3 s after, but 5.7 s long


def test_merge_activity_joins_spans_across_jobs() -> None:
    first = ChannelActivity(talk=((1.0, 5.0), (8.0, 10.0)), sound=())
    second = ChannelActivity(talk=((10.03, 12.0), (12.5, 13.0)), sound=((20.0, 25.0),))
    merged = merge_activity([second, first])
    assert merged == ChannelActivity(talk=((1.0, 5.0), (8.0, 12.0), (12.5, 13.0)),
                                     sound=((20.0, 25.0),))  # fmt: skip
    assert merge_activity([first, second], gap_s=0.8).talk == ((1.0, 5.0), (8.0, 13.0))
    assert merge_activity([]) == ChannelActivity()


# ----------------------------------------------------------------- metric definitions


def _stereo(
    agent: Sequence[Span],
    customer: Sequence[Span],
    *,
    duration: float = 60.0,
    hold: Sequence[Span] = (),
    words: tuple[int, int] = (0, 0),
    **options: Any,
) -> CallMetrics:
    return compute_metrics(
        duration_s=duration,
        channels=[
            ChannelActivity(talk=tuple(agent), sound=tuple(hold)),
            ChannelActivity(talk=tuple(customer)),
        ],
        words=words,
        options=MetricOptions(**options),
    )


def test_talk_silence_and_ratio() -> None:
    m = _stereo([(2.0, 10.0), (30.0, 40.0)], [(11.0, 20.0)], duration=50.0, words=(54, 27))
    assert (m.duration_s, m.channels) == (50.0, 2)
    assert (m.agent_talk_s, m.customer_talk_s, m.talk_s) == (18.0, 9.0, 27.0)
    assert m.talk_ratio == 2.0
    assert m.non_talk_s == 23.0
    assert m.longest_silence_s == 10.0  # 20 -> 30; the lead-out 40 -> 50 ties it
    assert (m.agent_wpm, m.customer_wpm, m.words_per_minute) == (180.0, 180.0, 180.0)
    assert _stereo([(0.0, 1.0)], [], duration=30.0).longest_silence_s == 29.0  # lead-out


def test_overtalk_and_interruptions_are_attributed_to_who_starts() -> None:
    m = _stereo(
        agent=[(0.0, 5.0), (12.0, 16.0), (20.0, 25.0)],
        customer=[
            (4.0, 8.0),  # the customer interrupts the agent (who goes on for 1 s)
            (9.0, 14.0),  # the agent interrupts the customer at 12 (2 s left)
            (16.1, 18.0),  # after the agent's end: a turn, not an interruption
            (24.95, 27.0),  # 0.05 s of overlap: too short to be overtalk or interruption
        ],
    )
    assert m.overtalk_count == 2
    assert m.overtalk_s == 3.0
    assert (m.agent_interruptions, m.customer_interruptions) == (1, 1)
    # the overlap is long enough to count with a lower threshold, still no interruption
    low = _stereo([(20.0, 25.0)], [(24.95, 27.0)], min_overtalk_s=0.01)
    assert (low.overtalk_count, low.overtalk_s, low.customer_interruptions) == (1, 0.05, 0)


def test_interruption_margin() -> None:
    # the customer starts 0.1 s after the agent: the agent had not really started
    assert _stereo([(10.0, 15.0)], [(10.1, 12.0)]).customer_interruptions == 0
    assert _stereo([(10.0, 15.0)], [(10.1, 12.0)],
                   interruption_margin_s=0.05).customer_interruptions == 1  # fmt: skip
    # the agent has 0.1 s to go: that is the end of its turn
    assert _stereo([(10.0, 15.0)], [(14.9, 17.0)]).customer_interruptions == 0


def test_hold_is_agent_sound_while_the_customer_is_silent() -> None:
    m = _stereo(
        [(0.0, 5.0), (31.0, 35.0)], [(6.0, 9.0), (25.0, 26.0)], hold=[(20.0, 30.0)], duration=40.0
    )
    assert m.hold_s == 9.0  # 10 s of music, 1 s of which the customer talks over
    assert m.longest_silence_s == 16.0  # 9 -> 25: the hold is not talk
    assert _stereo([(0.0, 5.0)], [(6.0, 9.0)]).hold_s == 0.0


def test_response_gaps_and_first_wait() -> None:
    m = _stereo(
        agent=[(0.0, 2.0), (4.5, 6.0), (8.0, 9.0), (10.5, 11.0), (30.0, 31.0), (33.5, 36.0)],
        customer=[
            (2.5, 4.0),  # answered after 0.5 s (first wait 0.5)
            (6.5, 7.0), (7.5, 7.8),  # answered 0.2 s after the second span only
            (11.5, 12.0),  # answered 18 s later (a hold): not a response
            (33.0, 34.0),  # the agent talks over its end: not counted
        ],
    )  # fmt: skip
    assert m.customer_first_wait_s == 0.5
    assert m.agent_response_gap_s == pytest.approx((0.5 + 0.2) / 2, abs=1e-3)
    assert _stereo([(0.0, 2.0), (3.0, 5.0)], [(1.0, 4.0)]).customer_first_wait_s == 0.0
    assert _stereo([(0.0, 2.0)], [(3.0, 4.0)]).customer_first_wait_s is None
    late = ([(0.0, 2.0), (5.5, 6.0)], [(3.0, 4.0)])
    assert _stereo(*late).agent_response_gap_s == 1.5
    assert _stereo(*late, max_response_gap_s=1.0).agent_response_gap_s is None


def test_no_customer_speech() -> None:
    m = _stereo([(1.0, 4.0)], [], duration=10.0, words=(10, 0))
    assert (m.customer_talk_s, m.talk_ratio, m.customer_wpm) == (0.0, None, None)
    assert (m.customer_first_wait_s, m.agent_response_gap_s) == (None, None)
    assert (m.overtalk_count, m.agent_interruptions, m.customer_interruptions) == (0, 0, 0)
    assert m.agent_wpm == 200.0


def test_empty_call() -> None:
    m = _stereo([], [], duration=0.0)
    assert (m.talk_s, m.non_talk_s, m.longest_silence_s, m.hold_s) == (0.0, 0.0, 0.0, 0.0)
    assert (m.words_per_minute, m.agent_wpm, m.talk_ratio) == (None, None, None)
    silent = _stereo([], [], duration=12.5)
    assert (silent.non_talk_s, silent.longest_silence_s) == (12.5, 12.5)


def test_spans_are_clipped_to_the_call() -> None:
    m = _stereo([(-1.0, 2.0), (9.0, 12.0)], [], duration=10.0)
    assert (m.agent_talk_s, m.non_talk_s) == (3.0, 7.0)


def test_mono_gives_only_what_one_channel_allows() -> None:
    mixed = ChannelActivity(talk=((1.0, 5.0), (4.0, 9.0), (20.0, 26.0)), sound=((10.0, 19.0),))
    m = compute_metrics(duration_s=30.0, channels=[mixed], words=[70])
    assert (m.channels, m.talk_s, m.non_talk_s, m.longest_silence_s) == (1, 14.0, 16.0, 11.0)
    assert m.words_per_minute == 300.0
    two_channel = ["agent_talk_s", "customer_talk_s", "talk_ratio", "hold_s", "overtalk_count",
                   "overtalk_s", "agent_interruptions", "customer_interruptions", "agent_wpm",
                   "customer_wpm", "customer_first_wait_s", "agent_response_gap_s"]  # fmt: skip
    assert all(m.to_json()[name] is None for name in two_channel)


def test_to_json_and_bad_arguments() -> None:
    m = _stereo([(0.0, 1.0)], [(2.0, 3.0)], duration=5.0)
    data = m.to_json()
    assert CallMetrics(**data) == m
    assert data["talk_s"] == 2.0 and data["channels"] == 2
    with pytest.raises(ValueError, match="channels"):
        compute_metrics(duration_s=1.0, channels=[], words=[])
    with pytest.raises(ValueError, match="channels"):
        compute_metrics(duration_s=1.0, channels=[ChannelActivity()], words=[1, 2])


def test_reference_metrics_from_turns() -> None:
    class Turn:
        def __init__(self, speaker: str, start: float, end: float, text: str) -> None:
            self.speaker, self.start, self.end, self.text = speaker, start, end, text

    turns = [
        Turn("agent", 1.0, 4.0, "hello how can I help"),
        Turn("customer", 3.5, 6.0, "hi"),
        Turn("customer", 6.5, 7.0, "there"),
        Turn("agent", 8.0, 9.0, "one moment"),
    ]
    m = reference_metrics(duration_s=30.0, turns=turns, holds=[(10.0, 20.0)])
    assert (m.agent_talk_s, m.customer_talk_s, m.hold_s) == (4.0, 3.5, 10.0)  # 6 -> 6.5 joined
    assert (m.overtalk_s, m.customer_interruptions, m.agent_interruptions) == (0.5, 1, 0)
    assert m.agent_wpm == pytest.approx(7 * 60 / 4.0, abs=0.1)
    mono = reference_metrics(duration_s=30.0, turns=turns, holds=[(10.0, 20.0)], mono=True)
    assert (mono.channels, mono.talk_s, mono.hold_s) == (1, 7.0, None)


# ----------------------------------------------------------------- the generator's overtalk


@pytest.mark.slow
def test_generator_overtalk(tmp_path: Path) -> None:
    plain = make_real_call(tmp_path / "plain.wav", seed=5, fmt="wav", noise=False)
    call = make_real_call(tmp_path / "over.wav", seed=5, fmt="wav", noise=False, overtalk=True)
    assert not _overlaps(plain)
    overlaps = _overlaps(call)
    assert 2 <= len(overlaps) <= 4
    assert {speaker for speaker, _ in overlaps} == {"agent", "customer"}
    assert all(0.5 <= seconds <= 1.5 for _, seconds in overlaps)
    # the same call otherwise: voices, lines and holds (moved earlier by the overlaps)
    assert call.voices == plain.voices
    assert [t.text for t in call.turns] == [t.text for t in plain.turns]
    assert len(call.holds) == len(plain.holds) == 1
    # every reference turn is exactly where its clip is in its channel
    from faster_whisper import decode_audio

    channels = decode_audio(str(call.path), split_stereo=True)
    for turn in call.turns:
        clip = render_speech(call.voices[turn.speaker], turn.text)
        first = round(turn.start * RATE)
        assert round(turn.end * RATE) - first == clip.size
        heard = channels[turn.channel][first : first + clip.size]
        assert float(np.abs(heard - clip).max()) < 2e-3, turn


def _overlaps(call: RealCall) -> list[tuple[str, float]]:
    """(speaker who starts, seconds) of each turn that starts before the previous one ends."""
    return [(b.speaker, a.end - b.start)
            for a, b in itertools.pairwise(call.turns) if b.start < a.end]  # fmt: skip


# ----------------------------------------------------------------- real speech (slow)


@pytest.fixture(scope="module")
def metric_calls(tmp_path_factory: pytest.TempPathFactory) -> list[RealCall]:
    """Two 1-minute stereo 8-kHz μ-law calls with hold music and overtalk, and a mono one.
    Seeds are chosen so that both parties interrupt in the stereo calls."""
    folder = tmp_path_factory.mktemp("metric-calls")
    return [
        make_real_call(folder / "stereo_5.wav", seed=5, minutes=1.0, overtalk=True),
        make_real_call(folder / "stereo_7.wav", seed=7, minutes=1.0, overtalk=True),
        make_real_call(
            folder / "mono_4.wav", seed=4, minutes=0.75, layout="mono", fmt="wav", overtalk=True
        ),
    ]


def measured_metrics(whisper: Any, call: RealCall) -> CallMetrics:
    """Words from tiny.en on each channel, then :func:`channel_activity` per channel and
    :func:`compute_metrics`. The model reads Silero's speech regions (``vad_filter``), as the
    pipeline's workers do: on a whole channel tiny.en sometimes leaves out a sentence right
    after the hold music, which then has no words and counts as sound."""
    from faster_whisper import decode_audio

    audio = decode_audio(str(call.path), split_stereo=call.channels == 2)
    channels = list(audio) if isinstance(audio, tuple) else [audio]
    activities, counts = [], []
    for samples in channels:
        segments, _ = whisper.transcribe(samples, word_timestamps=True, language="en",
                                         vad_filter=True)  # fmt: skip
        words = [(w.start, w.end) for s in segments for w in (s.words or [])]
        activities.append(channel_activity(samples, 0.0, words, merge_gap_s=MERGE_GAP_S))
        counts.append(len(words))
    return compute_metrics(duration_s=call.duration, channels=activities, words=counts)


def true_metrics(call: RealCall) -> CallMetrics:
    return reference_metrics(duration_s=call.duration, turns=call.turns, holds=call.holds,
                             mono=call.layout == "mono", merge_gap_s=MERGE_GAP_S)  # fmt: skip


def _clear_of_merge_gap(call: RealCall) -> bool:
    """No pause between two turns on one channel is within 0.15 s of the merge gap: one that
    is may be joined in the truth and not in the measure (edges are right to ~0.1 s), which
    would move a whole pause from talk to non-talk."""
    for channel in {t.channel for t in call.turns}:
        turns = [t for t in call.turns if t.channel == channel]
        if any(abs(b.start - a.end - MERGE_GAP_S) < 0.15 for a, b in itertools.pairwise(turns)):
            return False
    return True


SECONDS = (
    "talk_s",
    "agent_talk_s",
    "customer_talk_s",
    "non_talk_s",
    "longest_silence_s",
    "hold_s",
    "overtalk_s",
    "customer_first_wait_s",
    "agent_response_gap_s",
)


def test_metrics_on_real_stereo_calls(whisper: Any, metric_calls: list[RealCall]) -> None:
    for call in metric_calls[:2]:
        assert _clear_of_merge_gap(call), call.name
        want, got = true_metrics(call), measured_metrics(whisper, call)
        assert want.agent_interruptions and want.customer_interruptions, call.name
        assert want.hold_s and want.hold_s > 4.0
        errors = {name: abs(getattr(got, name) - getattr(want, name)) for name in SECONDS}
        assert max(errors.values()) <= TOLERANCE_S, (call.name, errors, got, want)
        assert got.overtalk_count == want.overtalk_count, (call.name, got, want)
        assert (got.agent_interruptions, got.customer_interruptions) == (
            want.agent_interruptions,
            want.customer_interruptions,
        ), (call.name, got, want)
        assert got.talk_ratio == pytest.approx(want.talk_ratio, rel=0.05)


def test_metrics_on_a_real_mono_call(whisper: Any, metric_calls: list[RealCall]) -> None:
    call = metric_calls[2]
    assert _clear_of_merge_gap(call)
    want, got = true_metrics(call), measured_metrics(whisper, call)
    assert got.channels == 1
    for name in ("talk_s", "non_talk_s", "longest_silence_s"):
        assert abs(getattr(got, name) - getattr(want, name)) <= TOLERANCE_S, (name, got, want)
    assert got.words_per_minute is not None
    assert all(value is None for name, value in got.to_json().items()
               if name.startswith(("agent_", "customer_", "overtalk", "hold"))
               or name == "talk_ratio")  # fmt: skip
