"""Score a transcript of a :class:`~callscribe.demo.calls.RealCall` against its reference.

Hypotheses are the transcript records (``callscribe.workers.records``: :class:`Segment` with
optional :class:`Word` timings), so any transcriber's output can be converted and scored.
Text is compared after Whisper's English normaliser (``whisper_normalizer``), with digit
strings split into single digits so that "4111 1111" and "four one one one one one one one"
compare equal; word error rates come from ``jiwer``. Both libraries are imported lazily
(they are dev dependencies).

The measures:

* :func:`wer`, :func:`corpus_wer`: word error rate of one pair / pooled over many pairs;
* :func:`channel_pairs`: (reference, hypothesis) per speaker channel (stereo) or per call;
* :func:`dialogue_wer`: WER of the whole conversation in time order (catches scrambled turns);
* :func:`segments_in_turn`: share of segments that sit inside one true turn of their speaker;
* :func:`words_outside_speech`: words emitted during hold music or silence;
* :func:`turn_recall`: per reference turn, the share of its words found near it in time;
* :func:`repetition_loops`: segments with a token or short n-gram repeated over and over;
* :func:`summary`: all of the above as one dict;
* :func:`speaker_time`, :func:`best_naming`, :func:`diarization_error_rate`: who spoke
  (segment time on the right speaker, the best naming of a meeting's speakers, DER).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from callscribe.workers.records import Segment, Word

from .calls import RealCall, RefTurn

__all__ = [
    "best_naming",
    "channel_pairs",
    "corpus_wer",
    "dialogue_wer",
    "diarization_error_rate",
    "from_faster_whisper",
    "normalize",
    "repetition_loops",
    "segments_in_turn",
    "speaker_time",
    "summary",
    "turn_recall",
    "wer",
    "words_outside_speech",
]


# --------------------------------------------------------------------------- text


@functools.lru_cache(maxsize=1)
def _normalizer() -> Callable[[str], str]:
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()  # type: ignore[no-any-return]


_DIGIT_RUN = re.compile(r"(?<![\d.,])\d{2,}(?![\d.,])")


@functools.lru_cache(maxsize=8192)
def normalize(text: str) -> str:
    """Whisper's English normalisation, then standalone digit strings split into digits."""
    normal = _normalizer()(text)
    normal = _DIGIT_RUN.sub(lambda m: " ".join(m.group(0)), normal)
    return " ".join(normal.split())


def _errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference words) after normalisation."""
    ref, hyp = normalize(reference).split(), normalize(hypothesis).split()
    if not ref or not hyp:
        return max(len(ref), len(hyp)), len(ref)
    import jiwer

    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    return out.substitutions + out.deletions + out.insertions, len(ref)


def corpus_wer(pairs: Iterable[tuple[str, str]]) -> float:
    """Pooled WER of (reference, hypothesis) pairs: all errors / all reference words.

    With no reference words at all it is 0.0 when there are no hypothesis words either,
    else 1.0.
    """
    errors = words = 0
    for reference, hypothesis in pairs:
        e, n = _errors(reference, hypothesis)
        errors, words = errors + e, words + n
    if words == 0:
        return 0.0 if errors == 0 else 1.0
    return errors / words


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` (see :func:`corpus_wer`)."""
    return corpus_wer([(reference, hypothesis)])


# --------------------------------------------------------------------------- helpers


def _by_start(segments: Iterable[Segment]) -> list[Segment]:
    return sorted(segments, key=lambda s: (s.start, s.channel))


def _joined(segments: Iterable[Segment]) -> str:
    return " ".join(s.text.strip() for s in _by_start(segments))


def _speakers(call: RealCall) -> list[str]:
    return list(dict.fromkeys(t.speaker for t in call.turns))


def _turns_on(call: RealCall, channel: int) -> list[RefTurn]:
    """The turns a segment on ``channel`` may belong to (stereo: that channel's; else all)."""
    if call.layout != "stereo":
        return list(call.turns)
    return [t for t in call.turns if t.channel == channel]


def _words(segment: Segment) -> list[Word]:
    """The segment's timed words, or its text spread evenly over its span."""
    if segment.words:
        return list(segment.words)
    tokens = segment.text.split()
    step = (segment.end - segment.start) / max(len(tokens), 1)
    return [
        Word(segment.start + i * step, segment.start + (i + 1) * step, token)
        for i, token in enumerate(tokens)
    ]


def _mid(word: Word) -> float:
    return (word.start + word.end) / 2


def _near(turn: RefTurn, t: float, margin: float) -> bool:
    return turn.start - margin <= t <= turn.end + margin


# --------------------------------------------------------------------------- measures


def channel_pairs(call: RealCall, segments: Sequence[Segment]) -> list[tuple[str, str]]:
    """(reference, hypothesis) pairs to score.

    Stereo: one pair per speaker, the speaker's turns against the text of the segments on the
    speaker's channel, in start-time order. Mono and dual-mono: one pair, the whole reference
    against all segments (any channel) in start-time order.
    """
    if call.layout != "stereo":
        return [(call.reference(), _joined(segments))]
    pairs = []
    for speaker in _speakers(call):
        channel = next(t.channel for t in call.turns if t.speaker == speaker)
        hyp = _joined(s for s in segments if s.channel == channel)
        pairs.append((call.reference(speaker), hyp))
    return pairs


def dialogue_wer(call: RealCall, segments: Sequence[Segment]) -> float:
    """WER of the conversation: all turns in time order against all segments (every channel)
    sorted by start time, so turns put in the wrong order cost errors."""
    return wer(call.reference(), _joined(segments))


def segments_in_turn(call: RealCall, segments: Sequence[Segment], tolerance: float = 1.0) -> float:
    """Share of segments lying inside one true turn of their channel's speaker (any turn for
    mono/dual-mono), that turn widened by ``tolerance`` seconds each side. 1.0 for no
    segments."""
    if not segments:
        return 1.0
    inside = sum(
        any(t.start - tolerance <= s.start and s.end <= t.end + tolerance
            for t in _turns_on(call, s.channel))
        for s in segments
    )  # fmt: skip
    return inside / len(segments)


def words_outside_speech(call: RealCall, segments: Sequence[Segment], margin: float = 1.0) -> int:
    """Hypothesis words whose midpoint is farther than ``margin`` from every turn of their
    channel's speaker (any turn for mono/dual-mono): words made up during hold music or
    silence. Words that normalise to nothing (punctuation) are not counted."""
    count = 0
    for segment in segments:
        turns = _turns_on(call, segment.channel)
        for word in _words(segment):
            if normalize(word.word) and not any(_near(t, _mid(word), margin) for t in turns):
                count += 1
    return count


def _turn_words(call: RealCall, turn: RefTurn, segments: Sequence[Segment], margin: float) -> str:
    words = [
        w
        for s in segments
        if call.layout != "stereo" or s.channel == turn.channel
        for w in _words(s)
        if _near(turn, _mid(w), margin)
    ]
    return " ".join(w.word for w in sorted(words, key=_mid))


def _hits(reference: str, hypothesis: str) -> int:
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref or not hyp:
        return 0
    import jiwer

    return int(jiwer.process_words(ref, hyp).hits)


def turn_recall(
    call: RealCall, segments: Sequence[Segment], margin: float = 1.0
) -> list[tuple[RefTurn, float]]:
    """Per reference turn, the share of its normalised words that the alignment finds among
    the hypothesis words (same channel; any channel for mono/dual-mono) whose midpoints lie
    within the turn +- ``margin``. A turn that normalises to no words scores 1.0."""
    out: list[tuple[RefTurn, float]] = []
    for turn in call.turns:
        n_ref = len(normalize(turn.text).split())
        hits = _hits(turn.text, _turn_words(call, turn, segments, margin))
        out.append((turn, hits / n_ref if n_ref else 1.0))
    return out


def _longest_run(tokens: Sequence[str], n: int) -> int:
    """The most times any n-gram repeats back to back in ``tokens``."""
    best = 0
    for i in range(len(tokens) - n + 1):
        gram, count, j = tokens[i : i + n], 1, i + n
        while tokens[j : j + n] == gram:
            count, j = count + 1, j + n
        best = max(best, count)
    return best


def _tokens(text: str) -> list[str]:
    """Normalised tokens, digit strings kept whole (a read-out "4111 1111 1111 1111" is no
    loop, "1-1-1-1-1-1-1-1" is)."""
    return re.findall(r"[\w$%']+", _normalizer()(text.replace("-", " ")))


def _has_loop(tokens: Sequence[str], max_repeats: int) -> bool:
    if any(len(set(t)) == 1 and len(t) > max_repeats for t in tokens):  # "11111111"
        return True
    return any(_longest_run(tokens, n) > max_repeats for n in (1, 2, 3))


_DIGIT_WORDS = {
    w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine".split())
}


def _digits_joined(tokens: Sequence[str]) -> list[str]:
    """Neighbouring digit tokens as one: a number read digit by digit, however the model
    grouped it ("4-11-11-…", "4111 1111 …", "4, 1, 1, …" are all "41111…")."""
    out: list[str] = []
    for word in tokens:
        token = _DIGIT_WORDS.get(word, word)  # the normaliser leaves a lone "1" as "one"
        if token.isdigit() and out and out[-1].isdigit():
            out[-1] += token
        else:
            out.append(token)
    return out


def _char_runs(token: str) -> list[tuple[str, int]]:
    """Each run of one character in ``token``: (character, length)."""
    return [(m.group()[0], len(m.group())) for m in re.finditer(r"(.)\1*", token)]


def _says_more_than(tokens: Sequence[str], said: Sequence[str], max_repeats: int) -> bool:
    """A loop measured against what was said: a digit repeated, or an n-gram repeated back
    to back, more than ``max_repeats`` times and more than two beyond the most the speech
    itself repeats it (a digit: that digit; the card number "4111 1111 1111 1111" says
    fifteen ones)."""
    hyp, ref = _digits_joined(tokens), _digits_joined(said)
    said_runs: dict[str, int] = {}
    for token in (t for t in ref if t.isdigit()):
        for digit, run in _char_runs(token):
            said_runs[digit] = max(said_runs.get(digit, 0), run)
    for token in (t for t in hyp if t.isdigit()):
        if any(run > max(max_repeats, said_runs.get(d, 0) + 2) for d, run in _char_runs(token)):
            return True
    return any(_longest_run(hyp, n) > max(max_repeats, _longest_run(ref, n) + 2) for n in (1, 2, 3))


def repetition_loops(
    segments: Sequence[Segment], max_repeats: int = 6, said: str | None = None
) -> list[Segment]:
    """Segments in which one token, or an n-gram of up to 3 tokens, occurs more than
    ``max_repeats`` times in a row after normalisation ("1-1-1-1-1-1-1-1", "thank you thank
    you ..."), or with a token that is one character repeated more than ``max_repeats`` times
    (the normaliser turns "one one one one one one one one" into "11111111"). With ``said``
    (the reference text of the call), repeats are measured against it
    (:func:`_says_more_than`): reading out a number with many equal digits, grouped in any
    way, is not a loop; saying more of them than the speaker did is."""
    if said is None:
        return [s for s in segments if _has_loop(_tokens(s.text), max_repeats)]
    reference = _tokens(said)
    return [s for s in segments if _says_more_than(_tokens(s.text), reference, max_repeats)]


def summary(call: RealCall, segments: Sequence[Segment]) -> dict[str, Any]:
    """Every measure of this module for one call, JSON-ready."""
    pairs = channel_pairs(call, segments)
    recall = turn_recall(call, segments)
    tagged = {t.tag: round(r, 3) for t, r in recall if t.tag}
    out: dict[str, Any] = {
        "name": call.name,
        "layout": call.layout,
        "wer": round(corpus_wer(pairs), 4),
        "dialogue_wer": round(dialogue_wer(call, segments), 4),
        "segments": len(segments),
        "segments_in_turn": round(segments_in_turn(call, segments), 4),
        "words_outside_speech": words_outside_speech(call, segments),
        "turn_recall_mean": round(sum(r for _, r in recall) / max(len(recall), 1), 4),
        "turns_missed": sum(r < 0.5 for _, r in recall),
        "repetition_loops": len(repetition_loops(segments, said=call.reference())),
        "tagged_turn_recall": tagged,
    }
    if call.layout == "stereo":
        out["wer_by_speaker"] = {
            speaker: round(wer(ref, hyp), 4)
            for speaker, (ref, hyp) in zip(_speakers(call), pairs, strict=True)
        }
    return out


# --------------------------------------------------------------------------- speakers

_GRID_S = 0.01


def speaker_time(segments: Sequence[Segment], turns: Sequence[RefTurn]) -> float:
    """Of the segment time when somebody speaks, the share when the speaker the segment is
    labelled with speaks (an instant both speak counts for either); on a 10-ms grid."""
    right = total = 0
    for segment in segments:
        grid = np.arange(segment.start, segment.end, _GRID_S)
        anyone = np.zeros(len(grid), bool)
        labelled = np.zeros(len(grid), bool)
        for turn in turns:
            inside = (grid >= turn.start) & (grid < turn.end)
            anyone |= inside
            if turn.speaker == segment.speaker:
                labelled |= inside
        total += int(anyone.sum())
        right += int((labelled & anyone).sum())
    return right / total if total else 0.0


def best_naming(segments: Sequence[Segment], turns: Sequence[RefTurn]) -> dict[str, str]:
    """The one-to-one naming of the segments' speakers as the reference's speakers that
    makes :func:`speaker_time` largest (a meeting's ``speaker_1`` … are arbitrary)."""
    found = sorted({s.speaker for s in segments})
    true = sorted({t.speaker for t in turns})
    best: tuple[float, dict[str, str]] = (-1.0, {})
    for chosen in itertools.permutations(true, min(len(found), len(true))):
        naming = dict(zip(found, chosen, strict=False))
        share = speaker_time(renamed(segments, naming), turns)
        if share > best[0]:
            best = (share, naming)
    return best[1]


def renamed(segments: Sequence[Segment], naming: dict[str, str]) -> list[Segment]:
    return [dataclasses.replace(s, speaker=naming.get(s.speaker, "?")) for s in segments]


def diarization_error_rate(
    segments: Sequence[Segment], turns: Sequence[RefTurn], collar_s: float = 0.25
) -> dict[str, float]:
    """DER and its parts (``missed`` speech, ``false_alarm``, speaker ``confusion``), each
    over the reference's speech, on a 10-ms grid, leaving out ``collar_s`` either side of
    every reference turn's edges, with the hypothesis's speakers named as the reference's
    by :func:`best_naming`. Segments span their words, so missed speech includes the pauses
    inside a turn and the second voice of an overtalk."""
    naming = best_naming(segments, turns)
    end = max([t.end for t in turns] + [s.end for s in segments] + [0.0])
    grid = np.arange(0.0, end + _GRID_S, _GRID_S)
    names = sorted(
        {t.speaker for t in turns} | {naming.get(s.speaker, s.speaker) for s in segments}
    )
    ref = np.zeros((len(names), len(grid)), bool)
    hyp = np.zeros_like(ref)
    scored = np.ones(len(grid), bool)
    for turn in turns:
        ref[names.index(turn.speaker)] |= (grid >= turn.start) & (grid < turn.end)
        for edge in (turn.start, turn.end):
            scored &= np.abs(grid - edge) > collar_s
    for segment in segments:
        name = naming.get(segment.speaker, segment.speaker)
        hyp[names.index(name)] |= (grid >= segment.start) & (grid < segment.end)
    n_ref, n_hyp = ref.sum(0)[scored], hyp.sum(0)[scored]
    correct = (ref & hyp).sum(0)[scored]
    total = max(int(n_ref.sum()), 1)
    parts = {
        "missed": float(np.maximum(n_ref - n_hyp, 0).sum() / total),
        "false_alarm": float(np.maximum(n_hyp - n_ref, 0).sum() / total),
        "confusion": float((np.minimum(n_ref, n_hyp) - correct).sum() / total),
    }
    return {"der": sum(parts.values()), **parts}


def speaker_turns(segments: Sequence[Segment], gap_s: float = 0.8) -> list[Segment]:
    """Who spoke when, as turns: each speaker's consecutive segments joined across pauses
    shorter than ``gap_s`` (the merge gap the call metrics join talk spans with), words and
    text dropped. What a "who spoke when" (RTTM) output holds, for DER against reference
    turns that run across a speaker's pauses too."""
    out: list[Segment] = []
    for segment in _by_start(segments):
        last = out[-1] if out else None
        if last and last.speaker == segment.speaker and segment.start - last.end < gap_s:
            out[-1] = dataclasses.replace(last, end=max(last.end, segment.end))
        else:
            out.append(dataclasses.replace(segment, text="", words=()))
    return out


def from_faster_whisper(segments: Iterable[Any], channel: int, speaker: str) -> list[Segment]:
    """faster-whisper's segments of one channel (a baseline) as records, with their words
    when it timed them; segments without text are left out."""
    return [
        Segment(
            channel=channel,
            speaker=speaker,
            start=float(s.start),
            end=float(s.end),
            text=s.text.strip(),
            words=tuple(
                Word(float(w.start), float(w.end), w.word, float(w.probability))
                for w in (s.words or ())
            ),
        )
        for s in segments
        if s.text.strip()
    ]


def stored_segments(database_url: str, calls: Sequence[RealCall]) -> dict[str, list[Segment]]:
    """What callscribe stored for each call (by call name, the recording's key being the
    file name): segments in time order, each with its words, read from the database."""
    from sqlalchemy import select

    from callscribe.models import Recording
    from callscribe.models.db import make_engine, session_factory
    from callscribe.workers.results.recordings import load_transcript

    factory = session_factory(make_engine(database_url))
    with factory.begin() as session:
        ids = {key: id_ for key, id_ in session.execute(select(Recording.key, Recording.id))}
    found: dict[str, list[Segment]] = {}
    for call in calls:
        if call.path.name not in ids:
            continue
        _rec, found[call.name] = load_transcript(factory, ids[call.path.name])
    return found
