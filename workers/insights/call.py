"""One call's insights, from its finished (redacted) transcript: the customer's sentences,
which of them ask something, how the customer sounds at the start, at the end, at worst
and on average, what the call was about (the problem statement and the agent's answer),
signals (supervisor asked for, cancel intent, repeated contact, resolved) and a
two-sentence extractive summary. Needs a speaker named the customer: stereo calls and
diarized mono calls have one; a meeting's ``speaker_N`` do not (no insights)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..records import Segment
from .encoder import SentenceEncoder
from .sentiment import SentimentModel

#: A customer sentence with fewer words than this is a filler ("okay", "yes please"): it
#: is scored but left out of the call's start, end and mean.
MIN_WORDS = 4
#: Turns of one speaker closer than this (seconds) are one turn.
TURN_GAP_S = 1.5
#: Sentences averaged for the start and the end figure.
EDGE_SENTENCES = 2

_QUESTION_START = re.compile(
    r"^(how|what|when|where|why|which|who|whose|can|could|would|will|is|are|am|do|does|did|"
    r"should|shall|may|might|have|has|was|were|isn't|aren't|don't|doesn't|didn't|won't|"
    r"can't|couldn't)\b",
    re.IGNORECASE,
)
_HELP_REQUEST = re.compile(
    r"\b(i need|i'd like|i would like|i want|i wanted|i'm trying to|i am trying to|"
    r"i can't|i cannot|i'm calling to|i am calling to|help me|please help|i'm looking|"
    r"i am looking)\b",
    re.IGNORECASE,
)
_VERIFICATION = re.compile(
    r"\b(my name is|name's|account number|date of birth|postcode|zip code|it's spelled|"
    r"last four digits)\b",
    re.IGNORECASE,
)
SIGNALS: dict[str, re.Pattern[str]] = {
    "supervisor": re.compile(
        r"\b(supervisor|manager|someone senior|somebody senior|escalate|complaints? "
        r"department)\b",
        re.IGNORECASE,
    ),
    "cancel_intent": re.compile(
        r"\b(cancel|cancell?ing|cancellation|close my account|terminate|switch(ing)? "
        r"provider|leave your|end my contract|end the contract)\b",
        re.IGNORECASE,
    ),
    "repeat_contact": re.compile(
        r"\b((second|third|fourth|fifth|sixth) time|called (you )?(before|already|again|last)|"
        r"calling (again|back)|(rang|phoned|spoke to|spoken to|contacted) (you|someone|somebody)"
        r"( already| before| last)|already (called|rang|phoned|spoken|explained)|"
        r"every time i call|keep (having to )?call(ing)?)\b",
        re.IGNORECASE,
    ),
    "resolved": re.compile(
        r"\b(that (helps|helped|works|worked|fixed it|solves|solved|sorts it|is sorted)|"
        r"it works( now)?|it's working|it is working|(problem|issue) (is )?(solved|fixed|"
        r"resolved|sorted)|all sorted|that's sorted|that's perfect|that is perfect)\b",
        re.IGNORECASE,
    ),
}


@dataclass(frozen=True, kw_only=True)
class Sentence:
    """A sentence one party said: its text, its time, and (the customer's) its score."""

    speaker: str
    start: float
    end: float
    text: str
    question: bool = False
    sentiment: float | None = None


@dataclass(frozen=True, kw_only=True)
class CallInsights:
    """What the customer asked and how they felt, for one call. Figures are None when
    the call has no customer speech."""

    customer_sentiment: float | None
    sentiment_start: float | None
    sentiment_end: float | None
    sentiment_min: float | None
    signals: tuple[str, ...]
    problem: str | None
    problem_start_s: float | None
    answer: str | None
    summary: str
    questions: tuple[Sentence, ...]
    """The customer's questions and requests for help, in time order."""
    embedding: np.ndarray | None = None
    """What the call is about (problem statement and questions), unit length; None
    without the sentence model or without customer speech."""
    question_embeddings: np.ndarray | None = None
    """One row per question, same order."""
    models: str = ""
    """Which models gave the figures (``minilm+lexicons`` or ``lexicons``)."""


def sentences(segments: Sequence[Segment]) -> list[Sentence]:
    """The segments' sentences in time order, cut where a word ends a sentence (. ? !) and
    where the speaker changes; times from the words (the segment's without words)."""
    out: list[Sentence] = []
    for seg in sorted(segments, key=lambda s: s.start):
        if not seg.words:
            out += [
                Sentence(speaker=seg.speaker, start=seg.start, end=seg.end, text=part)
                for part in _split_text(seg.text)
            ]
            continue
        words: list[str] = []
        start = seg.words[0].start
        for word in seg.words:
            if not words:
                start = word.start
            words.append(word.word.strip())
            if re.search(r"[.?!][\"')\]]*$", word.word.strip()):
                out.append(_sentence(seg.speaker, start, word.end, words))
                words = []
        if words:
            out.append(_sentence(seg.speaker, start, seg.words[-1].end, words))
    return _merge_turns([s for s in out if s.text])


def _sentence(speaker: str, start: float, end: float, words: list[str]) -> Sentence:
    return Sentence(speaker=speaker, start=start, end=end, text=" ".join(w for w in words if w))


def _split_text(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"(?<=[.?!])\s+", text.strip()) if p.strip()]


def _merge_turns(items: list[Sentence]) -> list[Sentence]:
    """Glue a fragment (no end mark, next sentence of the same speaker within the turn gap)
    to what follows: a segment boundary is not a sentence boundary."""
    out: list[Sentence] = []
    for item in items:
        last = out[-1] if out else None
        if (
            last is not None
            and last.speaker == item.speaker
            and not re.search(r"[.?!][\"')\]]*$", last.text)
            and item.start - last.end < TURN_GAP_S
        ):
            out[-1] = Sentence(
                speaker=last.speaker, start=last.start, end=item.end,
                text=f"{last.text} {item.text}",
            )  # fmt: skip
        else:
            out.append(item)
    return out


def is_question(text: str) -> bool:
    """A question or a request for help (not a verification answer)."""
    stripped = text.strip()
    if _VERIFICATION.search(stripped) or len(stripped.split()) < 3:
        return False
    return (
        stripped.endswith("?")
        or bool(_QUESTION_START.match(stripped))
        or bool(_HELP_REQUEST.search(stripped))
    )


def _word_count(text: str) -> int:
    return len(re.findall(r"[A-Za-z']+", text))


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def call_insights(
    segments: Sequence[Segment],
    customer: str,
    agent: str,
    sentiment: SentimentModel,
) -> CallInsights | None:
    """The call's insights; None when no segment is the ``customer``'s."""
    spoken = sentences(segments)
    said = [s for s in spoken if s.speaker == customer]
    if not said:
        return None
    encoder = sentiment.encoder
    embeddings = encoder.embed([s.text for s in said]) if encoder is not None else None
    scores = sentiment.scores([s.text for s in said], embeddings)
    said = [
        Sentence(speaker=s.speaker, start=s.start, end=s.end, text=s.text,
                 question=is_question(s.text), sentiment=score)
        for s, score in zip(said, scores, strict=True)
    ]  # fmt: skip
    substantive = [s for s in said if _word_count(s.text) >= MIN_WORDS] or said
    values = [float(s.sentiment or 0.0) for s in substantive]
    problem = _problem(said)
    answer = _answer(spoken, agent, problem)
    questions = tuple(s for s in said if s.question)
    text = " ".join(s.text for s in said)
    signals = tuple(name for name, pattern in SIGNALS.items() if pattern.search(text))
    about, question_rows = _topic_vectors(said, embeddings, problem)
    return CallInsights(
        customer_sentiment=_mean(values),
        sentiment_start=_mean(values[:EDGE_SENTENCES]),
        sentiment_end=_mean(values[-EDGE_SENTENCES:]),
        sentiment_min=min(values),
        signals=signals,
        problem=problem.text if problem else None,
        problem_start_s=problem.start if problem else None,
        answer=answer.text if answer else None,
        summary=_summary(spoken, agent, problem, answer, encoder),
        questions=questions,
        embedding=about,
        question_embeddings=question_rows,
        models="minilm+lexicons" if encoder is not None else "lexicons",
    )


def _problem(said: list[Sentence]) -> Sentence | None:
    """The customer's first substantive sentence: a question, a request for help or a
    statement of at least six words, not a greeting or verification answer."""
    for s in said:
        words = _word_count(s.text)
        if _VERIFICATION.search(s.text) or words < 4:
            continue
        if s.question or words >= 6:
            return s
    return None


def _answer(spoken: list[Sentence], agent: str, problem: Sentence | None) -> Sentence | None:
    """The agent's first statement (not a question, at least six words) after the problem."""
    if problem is None:
        return None
    for s in spoken:
        if (
            s.speaker == agent
            and s.start >= problem.end
            and not s.text.endswith("?")
            and _word_count(s.text) >= 6
        ):
            return s
    return None


def _summary(
    spoken: list[Sentence],
    agent: str,
    problem: Sentence | None,
    answer: Sentence | None,
    encoder: SentenceEncoder | None,
) -> str:
    """Two sentences: the customer's problem, and the agent's statement that answers it
    best (closest to the problem, of those after it; the first answer without a model)."""
    if problem is None:
        return ""
    candidates = [
        s for s in spoken
        if s.speaker == agent and s.start >= problem.end and not s.text.endswith("?")
        and _word_count(s.text) >= 6
    ]  # fmt: skip
    best = answer
    if encoder is not None and candidates:
        vectors = encoder.embed([problem.text, *(c.text for c in candidates)])
        best = candidates[int(np.argmax(vectors[1:] @ vectors[0]))]
    parts = [f"Customer: {problem.text}"]
    if best is not None:
        parts.append(f"Agent: {best.text}")
    return " ".join(parts)


def _topic_vectors(
    said: list[Sentence], embeddings: np.ndarray | None, problem: Sentence | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The call's topic vector (the problem statement counted twice, each question once,
    averaged and scaled to unit length) and one vector per question, from the customer's
    sentences' embeddings (``embeddings``, one row per sentence of ``said``)."""
    if embeddings is None:
        return None, None
    asked = [i for i, s in enumerate(said) if s.question]
    question_rows = embeddings[asked] if asked else None
    weights = np.zeros(len(said), np.float32)
    weights[asked] = 1.0
    if problem is not None:
        weights[said.index(problem)] += 2.0
    if not weights.any():
        return None, question_rows
    total = weights @ embeddings
    return (total / max(float(np.linalg.norm(total)), 1e-9)).astype(np.float32), question_rows
