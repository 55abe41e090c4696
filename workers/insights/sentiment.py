"""How a customer sounds: a sentiment score in [-1, 1] per turn, from two lexicons and the
sentence model together.

Lexicons (``vaderSentiment`` 3.3.2 and ``textblob`` 0.20.1's pattern lexicon, MIT, both in
their wheels, their lexicon files checked by SHA-256) read explicit words ("terrible",
"thank you") but score an implicit complaint ("I've been waiting two weeks and it still
hasn't arrived") neutral. The sentence model closes that gap: each turn's embedding is
compared with labelled prototype sentences (``prototypes.tsv``: explicit complaints,
implicit complaints, neutral requests, thanks): a softmax regression over the embedding
and the two lexicon scores, fitted on the prototypes when the model loads (a fraction of a
second, the same every time), gives each class's probability, and the score is the
expected class value mixed with the lexicons. Without the sentence model, the lexicons
alone. Measured on a separate labelled set in ``bench/insights.py``.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from callscribe.errors import CallscribeError
from callscribe.weights import file_sha256

from .encoder import SentenceEncoder

#: Lexicon files, checked before the analysers load them.
LEXICONS = {
    ("vaderSentiment", "vader_lexicon.txt"): (
        "1ec9c6e9ee19aade328f8beb393a6afa71a5bb3acf7d3cc22d4ef568df374bf5"
    ),
    ("textblob", "en/en-sentiment.xml"): (
        "0ca603db55570bab9b2865716a3696ede01e3da02b570c47628a9dbcc3b37d1e"
    ),
}
#: Each prototype class's sentiment.
CLASS_VALUE = {"complaint": -1.0, "implicit": -0.8, "request": 0.0, "thanks": 0.9}
CLASSES = tuple(CLASS_VALUE)
#: The regression: embedding scale (against the two lexicon features), L2 weight, steps
#: of gradient descent and their size (chosen by leave-one-out over the prototypes).
EMBEDDING_SCALE = 3.0
L2 = 0.01
STEPS = 300
STEP_SIZE = 0.5
#: Share of the regression's expected class value in the score (the lexicons have the rest).
PROTOTYPE_WEIGHT = 0.8
#: A score within this of zero is neutral.
NEUTRAL_BAND = 0.25


class SentimentModelError(CallscribeError):
    """A lexicon is missing or not the expected file."""


@dataclass(frozen=True)
class Prototype:
    label: str
    text: str


def load_prototypes() -> tuple[Prototype, ...]:
    text = importlib.resources.files(__package__).joinpath("prototypes.tsv").read_text()
    out = []
    for line in text.splitlines():
        label, _, sentence = line.partition("\t")
        if label not in CLASS_VALUE or not sentence:
            raise SentimentModelError(f"prototypes.tsv: bad line {line[:60]!r}")
        out.append(Prototype(label, sentence))
    return tuple(out)


def polarity(score: float) -> str:
    """``negative``, ``neutral`` or ``positive``."""
    if score <= -NEUTRAL_BAND:
        return "negative"
    return "positive" if score >= NEUTRAL_BAND else "neutral"


class SentimentModel:
    """Scores texts; with ``encoder`` None, from the lexicons alone."""

    def __init__(self, encoder: SentenceEncoder | None) -> None:
        self._vader, self._pattern = _lexicons()
        self.encoder = encoder
        self.prototypes = load_prototypes()
        labels = np.array([CLASSES.index(p.label) for p in self.prototypes])
        self._fit: tuple[np.ndarray, np.ndarray] | None = None
        if encoder is not None:
            texts = [p.text for p in self.prototypes]
            features = self._features(texts, encoder.embed(texts))
            self._fit = fit_softmax(features, labels, len(CLASSES))

    def lexicon_score(self, text: str) -> float:
        vader = float(self._vader.polarity_scores(text)["compound"])
        pattern = float(self._pattern.analyze(text)[0])
        return (vader + pattern) / 2

    def _features(self, texts: list[str], embeddings: np.ndarray) -> np.ndarray:
        lexical = [
            (self._vader.polarity_scores(t)["compound"], self._pattern.analyze(t)[0]) for t in texts
        ]
        return np.hstack([embeddings * EMBEDDING_SCALE, np.array(lexical).reshape(-1, 2)])

    def probabilities(self, texts: list[str], embeddings: np.ndarray) -> np.ndarray:
        """``(n, len(CLASSES))``: how likely each text is of each prototype class."""
        assert self._fit is not None
        weights, bias = self._fit
        return softmax(self._features(texts, embeddings) @ weights + bias)

    def scores(self, texts: list[str], embeddings: np.ndarray | None = None) -> list[float]:
        """One score in [-1, 1] per text; ``embeddings`` (the texts', from this model's
        encoder) saves embedding them again."""
        lexical = np.array([self.lexicon_score(t) for t in texts])
        if self._fit is None or not texts:
            return [float(v) for v in np.clip(lexical, -1, 1)]
        if embeddings is None:
            assert self.encoder is not None
            embeddings = self.encoder.embed(texts)
        expected = self.probabilities(texts, embeddings) @ np.array(list(CLASS_VALUE.values()))
        mixed = PROTOTYPE_WEIGHT * expected + (1 - PROTOTYPE_WEIGHT) * lexical
        return [float(v) for v in np.clip(mixed, -1, 1)]


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def fit_softmax(x: np.ndarray, labels: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by full-batch gradient descent from zero (so the
    same data give the same weights): ``(weights, bias)``."""
    weights = np.zeros((x.shape[1], classes))
    bias = np.zeros(classes)
    target = np.eye(classes)[labels]
    for _ in range(STEPS):
        error = softmax(x @ weights + bias) - target
        weights -= STEP_SIZE * (x.T @ error / len(x) + L2 * weights)
        bias -= STEP_SIZE * error.mean(axis=0)
    return weights, bias


def _lexicons() -> tuple[Any, Any]:
    try:
        import textblob
        import vaderSentiment
        from textblob.en.sentiments import PatternAnalyzer
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as exc:
        raise SentimentModelError(
            f"the sentiment lexicons need textblob and vaderSentiment: {exc}"
        ) from exc
    packages = {"vaderSentiment": vaderSentiment, "textblob": textblob}
    for (package, name), want in LEXICONS.items():
        path = Path(packages[package].__file__ or "").parent / name
        if not path.is_file() or file_sha256(path) != want:
            raise SentimentModelError(f"{package}: {name} is missing or not the expected file")
    return SentimentIntensityAnalyzer(), PatternAnalyzer()
