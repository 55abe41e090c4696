"""One model batch of windows → complete text with word timings.

Every window is decoded **without timestamp tokens**, so the model writes the whole window's
speech (faster-whisper's batched path with timestamps keeps only what comes before the last
timestamp the model emits, and drops the rest of the window). Word times come from the
model's cross-attention alignment (the same ``align`` faster-whisper's ``word_timestamps``
uses). A window whose text looks wrong (compression ratio above the threshold: a repetition
loop; average log-probability below it) is decoded again, alone with the other failures, at
the next temperature, as sequential ``WhisperModel.transcribe`` does.

The model sometimes stops early, or loops to the token limit, and the rest of the window is
lost: sequential ``transcribe`` gets past that by seeking to its last timestamp, which a
window decoded without timestamps cannot. Here the word alignment says where the text ends:
audio left after the last word (``tail_s`` or more) is decoded on its own and
appended; a window that looped and still fails the checks after the last temperature is cut
in two at its quietest moment near the middle and each half decoded on its own (down to
halves of :data:`MIN_SPLIT_S`). The loop stays in the part read digit by digit, and what
was said after it is kept; in a window that looped, a repeated word that the alignment
gives no audio of its own is dropped.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from callscribe.settings import DecodeSection

from ..records import Word, segment_text

#: A failing window is not cut into parts shorter than this (seconds).
MIN_SPLIT_S = 4.0
#: How many times a part of a window is cut again.
MAX_DEPTH = 3
#: A window that looped and was decoded at a temperature above this is cut in two.
SPLIT_ABOVE_T = 0.5
#: A word repeated in a loop with less audio than this (seconds) is dropped.
MIN_WORD_S = 0.05
#: More consecutive repeats of one token, or of a run of two or three, than this is a loop
#: (a 16-digit card number read digit by digit repeats a digit at most 15 times).
MAX_REPEATS = 20


def longest_repeat(text: str) -> int:
    """How many times the most repeated run of 1–3 tokens (words, numbers, punctuation)
    occurs back to back in ``text``: 36 for "1-1-1-…" with 36 ones."""
    tokens = re.findall(r"\w+|[^\w\s]", text.lower())
    best = 1 if tokens else 0
    for n in (1, 2, 3):
        for start in range(n):
            run = 1
            for i in range(start + n, len(tokens) - n + 1, n):
                run = run + 1 if tokens[i : i + n] == tokens[i - n : i] else 1
                best = max(best, run)
    return best


_FRAMES_PER_S = 100

#: Punctuation merged into the neighbouring word (faster-whisper's defaults).
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True, kw_only=True)
class Decoded:
    """What the model made of one window: its whole text, its words, how sure it was, and
    the temperature that produced it (0 unless the first decode failed the checks)."""

    text: str
    words: tuple[Word, ...]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float

    @property
    def silent(self) -> bool:
        return not self.words

    def with_words(self, words: tuple[Word, ...]) -> Decoded:
        """The same decode with only these words: its text and compression ratio follow
        them; the scores and temperature stay."""
        text = segment_text(words)
        return replace(self, text=text, words=words, compression_ratio=compression_ratio(text))


def compression_ratio(text: str) -> float:
    """How well the text compresses: a repetition loop compresses very well."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


@dataclass(frozen=True)
class _Attempt:
    tokens: list[int]
    avg_logprob: float
    no_speech_prob: float
    temperature: float


def decode_batch(
    model: Any,
    tokenizer: Any,
    features: Sequence[np.ndarray],
    frames: Sequence[int],
    options: DecodeSection,
) -> list[Decoded]:
    """Decode windows (log-mel features padded to 30 s; ``frames``: each window's real
    length in mel frames) with temperature fallback and word alignment."""
    from faster_whisper.transcribe import get_suppressed_tokens

    prompt = model.get_prompt(
        tokenizer,
        previous_tokens=tokenizer.encode(options.initial_prompt) if options.initial_prompt else [],
        without_timestamps=True,
        hotwords=options.hotwords,
    )
    suppress = list(get_suppressed_tokens(tokenizer, [-1]))
    run = _Run(model, tokenizer, prompt, suppress, options)
    return [
        _drop_unvoiced_repeats(d) if looped else d
        for d, looped in run.complete(list(features), list(frames))
    ]


class _Run:
    """One call of :func:`decode_batch`: what every temperature round shares."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        prompt: list[int],
        suppress: list[int],
        options: DecodeSection,
    ) -> None:
        self.model, self.tokenizer, self.prompt = model, tokenizer, prompt
        self.suppress, self.options = suppress, options

    def complete(
        self, features: list[np.ndarray], frames: list[int], depth: int = 0
    ) -> list[tuple[Decoded, bool]]:
        """Every temperature round; then what a window-wide decode missed, decoded on its
        own: the rest of a window whose words end early (the model stopped), and both
        halves of one that looped and still fails the checks."""
        results = self.decode(features, frames, 0)
        if depth >= MAX_DEPTH:
            return results
        todo = [
            (i, *plan)
            for i, (d, looped) in enumerate(results)
            if (plan := self._plan(d, looped, features[i], frames[i])) is not None
        ]
        if not todo:
            return results
        parts: list[np.ndarray] = []
        lengths: list[int] = []
        for i, kind, cut in todo:
            starts = [0, cut] if kind == "split" else [cut]
            ends = [cut, frames[i]] if kind == "split" else [frames[i]]
            parts += [_pad(features[i][:, a:b]) for a, b in zip(starts, ends, strict=True)]
            lengths += [b - a for a, b in zip(starts, ends, strict=True)]
        done = iter(self.complete(parts, lengths, depth + 1))
        for i, kind, cut in todo:
            head = next(done)[0] if kind == "split" else results[i][0]
            results[i] = (_join(head, next(done)[0], cut / _FRAMES_PER_S), results[i][1])
        return results

    def _plan(
        self, d: Decoded, looped: bool, features: np.ndarray, frames: int
    ) -> tuple[str, int] | None:
        """``("split", frame)``, ``("tail", frame)`` or None (the result stands). A window
        whose attempts looped is cut in two when its best is still failing, is silence (the
        only attempt that did not loop said nothing: not the same as hearing nothing), or
        was only found by sampling hot (above :data:`SPLIT_ABOVE_T`: a guess, often a
        misheard one); each half is decoded afresh, from temperature 0."""
        if looped and (self._fails(d) or d.silent or d.temperature > SPLIT_ABOVE_T):
            if frames >= 2 * MIN_SPLIT_S * _FRAMES_PER_S:
                return "split", _quiet_frame(features, frames)
            return None
        if d.words and self.options.tail_s > 0:
            said_until = round(d.words[-1].end * _FRAMES_PER_S)
            if frames - said_until >= self.options.tail_s * _FRAMES_PER_S:
                return "tail", said_until
        return None

    def decode(
        self, features: list[np.ndarray], frames: list[int], round_: int
    ) -> list[tuple[Decoded, bool]]:
        """One temperature round over these windows; the failures go to the next round.
        Each result says whether any of its attempts looped."""
        encoded = encode_windows(self.model, features)
        attempts = self._generate(encoded, len(features), self.options.temperatures[round_])
        results = [(d, self._looped(d)) for d in self._align(encoded, attempts, frames)]
        if round_ + 1 < len(self.options.temperatures):
            redo = [i for i, (d, _looped) in enumerate(results) if self._fails(d)]
            if redo:
                again = self.decode(
                    [features[i] for i in redo], [frames[i] for i in redo], round_ + 1
                )
                for i, (later, looped) in zip(redo, again, strict=True):
                    results[i] = (self._better(results[i][0], later), results[i][1] or looped)
        return results

    def _generate(self, encoded: Any, size: int, temperature: float) -> list[_Attempt]:
        s = self.options
        if temperature > 0:
            # CTranslate2 seeds each of its threads once, at its first sampling, from the
            # seed set then: a fresh model fed the same batches samples the same text on every
            # run (one job in flight); later rounds continue that thread's sequence.
            import ctranslate2

            ctranslate2.set_random_seed(round(temperature * 1000))
        sampling = (
            {
                "beam_size": 1,
                "num_hypotheses": s.best_of,
                "sampling_temperature": temperature,
                "sampling_topk": 0,
            }
            if temperature > 0
            else {"beam_size": s.beam_size, "patience": 1.0}
        )
        results = self.model.model.generate(
            encoded,
            [list(self.prompt) for _ in range(size)],
            length_penalty=1.0,
            max_length=self.model.max_length,
            suppress_blank=True,
            suppress_tokens=self.suppress,
            return_scores=True,
            return_no_speech_prob=True,
            **sampling,
        )
        attempts = []
        for result in results:
            sequence = result.sequences_ids[0]
            tokens = [t for t in sequence if t < self.tokenizer.eot]
            logprob = result.scores[0] * len(sequence) / (len(sequence) + 1)
            attempts.append(
                _Attempt(tokens, float(logprob), float(result.no_speech_prob), temperature)
            )
        return attempts

    def _silent(self, a: _Attempt) -> bool:
        s = self.options
        return a.no_speech_prob > s.no_speech_threshold and a.avg_logprob < s.log_prob_threshold

    def _looped(self, d: Decoded) -> bool:
        """The text repeats itself: it compresses too well as a whole, or one stretch of it
        (a token, or two or three) runs on more than :data:`MAX_REPEATS` times in a row.
        The second catches a loop that the rest of a long window dilutes."""
        return (
            d.compression_ratio > self.options.compression_ratio_threshold
            or longest_repeat(d.text) > MAX_REPEATS
        )

    def _fails(self, d: Decoded) -> bool:
        """Too repetitive, or too unsure (and not silence): decode again, hotter."""
        return not d.silent and (self._looped(d) or d.avg_logprob < self.options.log_prob_threshold)

    def _better(self, first: Decoded, later: Decoded) -> Decoded:
        """Among a window's attempts, the most likely of those that pass the repetition
        check, else the most likely of all (faster-whisper's choice)."""
        passing = [d for d in (first, later) if d.silent or not self._looped(d)]
        return max(passing or [first, later], key=lambda d: d.avg_logprob)

    def _align(self, encoded: Any, attempts: list[_Attempt], frames: list[int]) -> list[Decoded]:
        speaking = [a.tokens if a.tokens and not self._silent(a) else [] for a in attempts]
        aligned = self.model.find_alignment(self.tokenizer, speaking, encoded, frames)
        return [
            _decoded(a, _words(alignment) if tokens else ())
            for a, tokens, alignment in zip(attempts, speaking, aligned, strict=True)
        ]


def encode_windows(model: Any, features: Sequence[np.ndarray]) -> Any:
    """The encoder's output for windows of 30-s features, as one batch. On a GPU in one
    call; on a CPU one window at a time: a batch's attention buffers are too large for the
    heap to keep between calls (``workers.transcription.allocator``), and every call would fault
    them in
    afresh. Same values either way (tested)."""
    if model.model.device != "cpu" or len(features) == 1:
        return model.encode(np.stack(features))
    import ctranslate2

    outputs = [np.asarray(model.encode(item[np.newaxis])) for item in features]
    return ctranslate2.StorageView.from_array(np.concatenate(outputs))


def _drop_unvoiced_repeats(d: Decoded) -> Decoded:
    """In a window that looped: a word repeating the one before it that the alignment gives
    (next to) no audio of its own is the loop's, not the speaker's."""
    words: list[Word] = []
    for word in d.words:
        repeat = words and word.word.strip() == words[-1].word.strip()
        if not (repeat and word.end - word.start < MIN_WORD_S):
            words.append(word)
    if len(words) == len(d.words):
        return d
    return d.with_words(tuple(words))


def _pad(features: np.ndarray) -> np.ndarray:
    from faster_whisper.transcribe import pad_or_trim

    padded: np.ndarray = pad_or_trim(features)
    return padded


def _quiet_frame(features: np.ndarray, frames: int) -> int:
    """The quietest moment (log-mel level, smoothed over 100 ms) in the middle third."""
    level = features[:, :frames].mean(axis=0)
    smooth = np.convolve(level, np.ones(10) / 10, mode="same")
    low, high = frames // 3, 2 * frames // 3
    return low + int(np.argmin(smooth[low:high]))


def _join(first: Decoded, second: Decoded, offset: float) -> Decoded:
    """Two halves of a window as one result (the second half's words shifted)."""
    words = first.words + tuple(
        Word(round(w.start + offset, 3), round(w.end + offset, 3), w.word, w.probability)
        for w in second.words
    )
    text = segment_text(words)
    sizes = [max(1, len(first.words)), max(1, len(second.words))]
    logprob = (first.avg_logprob * sizes[0] + second.avg_logprob * sizes[1]) / sum(sizes)
    return Decoded(
        text=text,
        words=words,
        avg_logprob=logprob,
        no_speech_prob=min(first.no_speech_prob, second.no_speech_prob),
        compression_ratio=compression_ratio(text),
        temperature=max(first.temperature, second.temperature),
    )


def _decoded(attempt: _Attempt, words: tuple[Word, ...]) -> Decoded:
    text = segment_text(words)
    return Decoded(
        text=text,
        words=words,
        avg_logprob=attempt.avg_logprob,
        no_speech_prob=attempt.no_speech_prob,
        compression_ratio=compression_ratio(text),
        temperature=attempt.temperature,
    )


def _words(alignment: list[dict[str, Any]]) -> tuple[Word, ...]:
    from faster_whisper.transcribe import merge_punctuations

    merge_punctuations(alignment, PREPEND_PUNCTUATIONS, APPEND_PUNCTUATIONS)
    return tuple(
        Word(
            round(float(w["start"]), 3),
            round(float(w["end"]), 3),
            w["word"],
            round(float(w["probability"]), 4),
        )
        for w in alignment
        if w["word"].strip()
    )
