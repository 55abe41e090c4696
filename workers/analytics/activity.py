"""Who is talking when, on one channel of a call: talk spans placed by the transcribed
words and cut exactly by the channel's energy, and sound spans (music, tones) with no talk.

Whisper's word times say *where* speech is but not exactly where it starts and ends: a
word's start may be a few tenths of a second off and the last word of a sentence often runs
on into the silence after it (by seconds, sometimes). The audio's energy says exactly where
sound starts and ends but not whether it is speech. :func:`channel_activity` uses both:

* the channel is cut into 20-ms frames; its noise floor is a low percentile of the frame
  levels (the line's own hiss while its party listens, as in
  :func:`callscribe.workers.audio.vad.sounding_regions`);
* *loud runs* are stretches of frames more than 3 dB above the floor, with quiet gaps of up
  to 0.2 s inside them bridged, that reach 12 dB above the floor somewhere; their edges are
  then placed to 5 ms (on a line with -50..-45 dBFS of noise a run starts and ends within a
  few hundredths of a second of the speech; noise alone never makes one);
* each word claims one loud run, going by its start, which Whisper places better than its
  end: the run its start lies in; else, if it starts in a quiet gap, the next run if that
  starts within 1 s and before the word's end (+0.3 s): Whisper often starts the first word
  of a turn early; else the run before if that ended less than 0.3 s earlier. A word far
  from any loud run (said into silence: a hallucination) claims nothing;
* a claimed run that goes on more than 2 s past the end of its last word ends 0.3 s after
  it: speech that runs straight into music ("please hold" and the hold music) makes one
  loud run, and the music is not talk (a shorter tail is speech: Whisper often ends the
  last word of a turn early, most of all a number read out);
* talk spans are the claimed runs, joined where less than ``merge_gap_s`` apart (pauses
  between the sentences of one turn), so a span starts where the loud run of its first word
  starts and ends where the loud run of its last word ends, however long Whisper stretched
  that word;
* short loud runs (up to 2 s) that no word claimed but lie less than 0.5 s from a talk span
  join it: a word the model left out or timed into the wrong gap ("Maybe." before a pause);
  a piece the speech mask cut off a long run that holds no talk (the first tenth of a
  second of hold music, taken for speech) is not such a run;
* with a speech mask (where the VAD model heard speech: Silero's spans without their
  padding), a loud run can be talk only where it is speech: music that runs into a turn,
  hiss around it and tones between are cut off it, and a leg whose noise keeps it loud all
  call long gets talk only where somebody speaks;
* sound spans are loud stretches of at least ``min_sound_s`` that no talk span covers and
  that are at least half of the time 4 dB above the floor (:func:`clear_spans`): on a
  noisy leg a loud run that holds speech trails the line's noise, which is not sound (hold
  music that runs on from the agent's "please hold" is).

Speech the model did not transcribe at all (a dropped sentence) has no words to claim it and
counts as sound.

All times are absolute seconds (``offset_s`` is the time of the first sample).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Span = tuple[float, float]

FRAME_S = 0.02
#: The floor is this percentile of the frame levels (the line's noise while its party listens).
FLOOR_PERCENTILE = 10
#: Frames this much above the floor are loud (3 dB); a loud run must reach ``PEAK_RATIO``.
LOUD_RATIO = 1.4
PEAK_RATIO = 4.0  # 12 dB
#: Sound (not talk) must be this far above the floor for at least ``CLEAR_SHARE`` of it
#: (4 dB): the noise a speech run trails is not sound.
CLEAR_RATIO = 1.6
CLEAR_SHARE = 0.5
#: Frame level below which a frame is never loud, whatever the floor (−76 dBFS).
MIN_LEVEL = 1.6e-4
#: The floor is never taken above this level (−26 dBFS): on a leg that is busy nearly all
#: the time the low percentile may fall inside speech. A hissy leg's floor (up to −30 dBFS
#: of noise) stays below it, so its hiss is never taken for sound.
FLOOR_CAP = 0.05
#: Quiet gaps up to this long inside a loud run do not end it (stops, short pauses).
BRIDGE_S = 0.2
#: A word that starts in a quiet gap claims the next loud run if that starts less than
#: ``EARLY_START_S`` after the word's start and ``WORD_SLACK_S`` after its end, else the
#: run before if that ended less than ``LATE_START_S`` before the word's start.
EARLY_START_S = 1.0
WORD_SLACK_S = 0.3
LATE_START_S = 0.3
#: An unclaimed loud run at most ``ORPHAN_MAX_S`` long and less than ``ORPHAN_GAP_S`` from
#: a talk span is talk too (music and tones are longer, and further from speech).
ORPHAN_MAX_S = 2.0
ORPHAN_GAP_S = 0.5
#: A claimed run that goes on more than ``RUN_ON_S`` past the end of the last word that
#: claimed it ends ``END_SLACK_S`` after that word.
END_SLACK_S = 0.3
RUN_ON_S = 2.0
#: Spans of two consecutive jobs this close are one span.
JOIN_S = 0.05


@dataclass(frozen=True)
class ChannelActivity:
    """What one channel carries, as sorted, disjoint (start, end) absolute seconds.

    ``talk``: this channel's party (or, on a mono mix, anybody) is speaking.
    ``sound``: the channel is clearly above its own noise floor but nobody speaks: hold
    music, tones, beeps, noise bursts.
    """

    talk: tuple[Span, ...] = ()
    sound: tuple[Span, ...] = ()

    def to_json(self) -> dict[str, list[list[float]]]:
        return {"talk": [list(s) for s in self.talk], "sound": [list(s) for s in self.sound]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChannelActivity:
        return cls(
            talk=tuple((float(a), float(b)) for a, b in data.get("talk", ())),
            sound=tuple((float(a), float(b)) for a, b in data.get("sound", ())),
        )


# --------------------------------------------------------------------------- span algebra


def merge_spans(spans: Iterable[Span], gap_s: float = 0.0) -> tuple[Span, ...]:
    """Sorted, disjoint spans: those overlapping or less than ``gap_s`` apart joined,
    empty ones dropped."""
    out: list[Span] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if (out and start - out[-1][1] < gap_s) or (out and start <= out[-1][1]):
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


def intersect_spans(a: Iterable[Span], b: Iterable[Span]) -> tuple[Span, ...]:
    """Where both sets of spans are (each set is merged first)."""
    first, second = merge_spans(a), merge_spans(b)
    out: list[Span] = []
    i = j = 0
    while i < len(first) and j < len(second):
        start, end = max(first[i][0], second[j][0]), min(first[i][1], second[j][1])
        if end > start:
            out.append((start, end))
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def subtract_spans(a: Iterable[Span], b: Iterable[Span]) -> tuple[Span, ...]:
    """Where ``a`` is and ``b`` is not."""
    holes = merge_spans(b)
    out: list[Span] = []
    first = 0  # the first hole that does not end before the current span
    for start, end in merge_spans(a):
        while first < len(holes) and holes[first][1] <= start:
            first += 1
        cursor, index = start, first
        while index < len(holes) and holes[index][0] < end:
            if holes[index][0] > cursor:
                out.append((cursor, holes[index][0]))
            cursor = max(cursor, holes[index][1])
            index += 1
        if cursor < end:
            out.append((cursor, end))
    return tuple(out)


def total_s(spans: Iterable[Span]) -> float:
    """Seconds covered (overlaps counted once)."""
    return float(sum(end - start for start, end in merge_spans(spans)))


def split_talk(
    talk: Sequence[Span], turns: Sequence[tuple[float, float, str]], parties: Sequence[str]
) -> dict[str, tuple[Span, ...]]:
    """The talk spans of a channel that carries several voices, shared out by who spoke:
    ``turns`` are (start, end, party) of what was said (a diarized segment's words), and
    each talk span goes to the parties of the turns inside it, in runs: a run of one
    party's turns spans from its first turn's start to its last turn's end, the span's first
    run from the talk span's start and its last run to the talk span's end (the talk
    span's edges come from the sound, which times them better than the words). A pause
    between two parties' runs is nobody's; two parties' turns that overlap are overtalk.
    A talk span with no turn of ``parties`` in it is nobody's. Every party gets an entry."""
    out: dict[str, list[Span]] = {party: [] for party in parties}
    ordered = sorted((t for t in turns if t[2] in out and t[1] > t[0]), key=lambda t: t[0])
    for start, end in merge_spans(talk):
        inside = [(max(a, start), min(b, end), p) for a, b, p in ordered if b > start and a < end]
        runs: list[list[Any]] = []
        for a, b, party in inside:
            if runs and runs[-1][2] == party:
                runs[-1][1] = max(runs[-1][1], b)
            else:
                runs.append([a, b, party])
        if not runs:
            continue
        runs[0][0], runs[-1][1] = start, end
        for a, b, party in runs:
            out[party].append((a, b))
    return {party: merge_spans(spans) for party, spans in out.items()}


# --------------------------------------------------------------------------- energy


def frame_levels(samples: np.ndarray, size: int) -> np.ndarray:
    """RMS of each whole frame of ``size`` samples."""
    usable = samples.size - samples.size % size
    frames = np.asarray(samples[:usable], dtype=np.float64).reshape(-1, size)
    return np.sqrt(np.mean(frames * frames, axis=1))


def loud_runs(samples: np.ndarray, sample_rate: int) -> list[tuple[int, int]]:
    """Sample ranges [first, last) clearly above the channel's noise floor (module
    docstring), their edges placed to 5 ms."""
    frame = max(1, round(FRAME_S * sample_rate))
    levels = frame_levels(samples, frame)
    if levels.size == 0:
        return []
    threshold, peak = _thresholds(levels)
    bridge = round(BRIDGE_S / FRAME_S)
    runs: list[tuple[int, int]] = []
    for index in np.flatnonzero(levels >= threshold).tolist():
        if runs and index - runs[-1][1] <= bridge:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return [_fine_edges(samples, a * frame, b * frame, frame, threshold)
            for a, b in runs if float(levels[a:b].max()) >= peak]  # fmt: skip


def _thresholds(levels: np.ndarray) -> tuple[float, float]:
    """The loud and the peak frame level of a channel (module docstring)."""
    floor = min(float(np.percentile(levels, FLOOR_PERCENTILE)), FLOOR_CAP)
    return max(MIN_LEVEL, floor * LOUD_RATIO), max(MIN_LEVEL, floor * PEAK_RATIO)


def clear_spans(samples: np.ndarray, offset_s: float, sample_rate: int = 16000) -> tuple[Span, ...]:
    """Where a channel is clearly above its floor (``CLEAR_RATIO``: 4 dB), as absolute
    seconds, frames less than ``BRIDGE_S`` apart joined. A loud run that holds speech often
    runs on into the line's noise (a noisy leg's swells keep it 3 dB above the floor): that
    tail is seldom 4 dB above the floor, music and tones mostly are."""
    frame = max(1, round(FRAME_S * sample_rate))
    levels = frame_levels(samples, frame)
    if levels.size == 0:
        return ()
    floor = _thresholds(levels)[0] / LOUD_RATIO
    clear = np.flatnonzero(levels >= max(MIN_LEVEL, floor * CLEAR_RATIO)) * FRAME_S + offset_s
    return merge_spans(((float(t), float(t) + FRAME_S) for t in clear), BRIDGE_S)


def _fine_edges(
    samples: np.ndarray, first: int, last: int, frame: int, threshold: float
) -> tuple[int, int]:
    """A run's edges moved to the first and last loud quarter-frame within a frame of them
    (20-ms frames alone would lengthen each span by a frame on average)."""
    quarter = max(1, frame // 4)
    lead = max(0, first - frame)
    head = np.flatnonzero(frame_levels(samples[lead : first + frame], quarter) >= threshold)
    tail_start = max(lead, last - frame)
    tail = np.flatnonzero(frame_levels(samples[tail_start : last + frame], quarter) >= threshold)
    start = lead + int(head[0]) * quarter if head.size else first
    end = tail_start + (int(tail[-1]) + 1) * quarter if tail.size else last
    return (start, end) if end > start else (first, last)


# --------------------------------------------------------------------------- activity


def _claimed_run(runs: Sequence[Span], starts: Sequence[float], word: Span) -> Span | None:
    """The loud run a word (start, end) belongs to (module docstring), or None."""
    start, end = word
    before = bisect.bisect_right(starts, start) - 1  # the last run that starts by the word
    if before >= 0 and start < runs[before][1]:
        return runs[before]
    after = before + 1
    if after < len(runs) and runs[after][0] < min(end + WORD_SLACK_S, start + EARLY_START_S):
        return runs[after]
    if before >= 0 and runs[before][1] >= start - LATE_START_S:
        return runs[before]
    return None


def _claimed_end(run: Span, last_word_end: float) -> Span:
    """A claimed run, ended ``END_SLACK_S`` after its last word if it goes on more than
    ``RUN_ON_S`` past that word: speech running into something else (the music after
    "please hold"). A shorter tail is the end of the speech: Whisper often ends the last
    word early, most of all a number read out."""
    start, end = run
    if end - last_word_end > RUN_ON_S:
        return start, min(end, max(start, last_word_end) + END_SLACK_S)
    return run


def _with_neighbours(talk: Sequence[Span], runs: Sequence[Span]) -> tuple[Span, ...]:
    """Talk spans grown by the short unclaimed runs right next to them (a word the model
    left out or timed into the wrong gap), until none is left. ``runs`` are the candidates:
    :func:`_orphans`."""
    spans = tuple(talk)
    while True:
        near = [
            r
            for r in subtract_spans(runs, spans)
            if any(r[0] - b < ORPHAN_GAP_S and a - r[1] < ORPHAN_GAP_S for a, b in spans)
        ]
        if not near:
            return spans
        spans = merge_spans([*spans, *near], ORPHAN_GAP_S)


def loud_spans(samples: np.ndarray, offset_s: float, sample_rate: int = 16000) -> tuple[Span, ...]:
    """The loud runs of a channel (module docstring) as absolute seconds: what
    :func:`activity_from_loud` needs of the audio, computed while the audio is at hand (a
    few numbers per spoken phrase, so the samples need not be kept until the words are
    known)."""
    return tuple(
        (offset_s + a / sample_rate, offset_s + b / sample_rate)
        for a, b in loud_runs(samples, sample_rate)
    )


def activity_from_loud(
    loud: Sequence[Span],
    words: Sequence[tuple[float, float]],
    *,
    merge_gap_s: float = 0.8,
    min_sound_s: float = 0.5,
    speech: Sequence[Span] | None = None,
    clear: Sequence[Span] | None = None,
) -> ChannelActivity:
    """Talk and sound spans of one channel from its loud runs (:func:`loud_spans`) and the
    (start, end) absolute seconds of the words transcribed on it; ``merge_gap_s``: talk
    spans of one party less than this far apart are one span (a pause inside a turn);
    ``min_sound_s``: shorter sound is left out; ``speech``: where the VAD heard speech
    (None: anywhere), the only places a loud run can be talk; ``clear``: where the channel
    is clearly above its floor (:func:`clear_spans`; None: not known), which a stretch of
    sound must mostly be (the noise a speech run trails is not sound)."""
    runs = list(loud) if speech is None else list(_speech_runs(loud, speech))
    starts = [run[0] for run in runs]
    ends: dict[Span, float] = {}
    for word in words:
        run = _claimed_run(runs, starts, word)
        if run:
            ends[run] = max(ends.get(run, word[1]), word[1])
    claimed = {_claimed_end(run, ends[run]) for run in ends}
    talk = merge_spans(claimed, merge_gap_s)
    talk = merge_spans(_with_neighbours(talk, _orphans(loud, runs, talk)), merge_gap_s)
    sound = [
        s
        for s in subtract_spans(loud, talk)
        if s[1] - s[0] >= min_sound_s
        and (clear is None or total_s(intersect_spans([s], clear)) >= CLEAR_SHARE * (s[1] - s[0]))
    ]
    return ChannelActivity(talk=_rounded(talk), sound=_rounded(sound))


def _orphans(loud: Sequence[Span], runs: Sequence[Span], talk: Sequence[Span]) -> list[Span]:
    """The runs that may join a talk span next to them: those up to ``ORPHAN_MAX_S`` long
    that are pieces of a short loud run, or of one that holds talk (the mask cut a word off
    it). A piece cut off the start of a long loud run with no talk (the first tenth of a
    second of hold music, taken for speech) is not one."""
    parents = [r for r in loud if r[1] - r[0] <= ORPHAN_MAX_S or intersect_spans([r], talk)]
    return [r for r in intersect_spans(runs, parents) if r[1] - r[0] <= ORPHAN_MAX_S]


def _speech_runs(loud: Sequence[Span], speech: Sequence[Span]) -> tuple[Span, ...]:
    """The parts of loud runs that are speech; pieces of one run less than ``BRIDGE_S``
    apart stay one (a stop inside a word)."""
    return merge_spans(intersect_spans(loud, speech), BRIDGE_S)


def channel_activity(
    samples: np.ndarray,
    offset_s: float,
    words: Sequence[tuple[float, float]],
    *,
    sample_rate: int = 16000,
    merge_gap_s: float = 0.8,
    min_sound_s: float = 0.5,
    speech: Sequence[Span] | None = None,
) -> ChannelActivity:
    """Talk and sound spans of one channel (module docstring): :func:`activity_from_loud`
    of :func:`loud_spans` of ``samples`` (mono float; ``offset_s`` is the absolute time of
    ``samples[0]``)."""
    return activity_from_loud(
        loud_spans(samples, offset_s, sample_rate),
        words,
        merge_gap_s=merge_gap_s,
        min_sound_s=min_sound_s,
        speech=speech,
        clear=clear_spans(samples, offset_s, sample_rate),
    )


def _rounded(spans: Iterable[Span]) -> tuple[Span, ...]:
    return tuple((round(a, 3), round(b, 3)) for a, b in spans)


def merge_activity(parts: Iterable[ChannelActivity], *, gap_s: float = JOIN_S) -> ChannelActivity:
    """One channel's activity from that of its consecutive jobs, in any order: talk spans
    that touch across a job boundary (less than ``gap_s`` apart: 0.05 s) become one; pass the
    ``merge_gap_s`` given to :func:`channel_activity` to also join a pause that a cut between
    two jobs fell into. Sound is what talk then leaves of the jobs' sound."""
    talk: list[Span] = []
    sound: list[Span] = []
    for part in parts:
        talk += part.talk
        sound += part.sound
    merged = merge_spans(talk, gap_s)
    return ChannelActivity(talk=merged, sound=subtract_spans(merge_spans(sound, JOIN_S), merged))
