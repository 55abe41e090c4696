"""Customer sentiment on a labelled set of support-call sentences written apart from the
model's prototypes (sentiment_set.tsv: explicit and implicit complaints, neutral requests,
thanks): the issue's bar is 85 % overall and 70 % on implicit complaints."""

from __future__ import annotations

from pathlib import Path

import pytest

from callscribe.workers.insights import sentiment
from callscribe.workers.insights.encoder import SentenceEncoder
from callscribe.workers.insights.sentiment import SentimentModel, SentimentModelError, polarity

SET = Path(__file__).with_name("sentiment_set.tsv")
EXPECTED = {"complaint": "negative", "implicit": "negative", "request": "neutral",
            "thanks": "positive"}  # fmt: skip


def labelled() -> list[tuple[str, str]]:
    rows = [tuple(line.split("\t")) for line in SET.read_text().splitlines()]
    return [(label, text) for label, text in rows]


def accuracy(model: SentimentModel) -> dict[str, float]:
    rows = labelled()
    scores = model.scores([text for _, text in rows])
    right: dict[str, list[bool]] = {label: [] for label in EXPECTED}
    for (label, _), score in zip(rows, scores, strict=True):
        right[label].append(polarity(score) == EXPECTED[label])
    out = {label: sum(v) / len(v) for label, v in right.items()}
    out["overall"] = sum(sum(v) for v in right.values()) / len(rows)
    return out


@pytest.fixture(scope="module")
def model(sentence_model: Path) -> SentimentModel:
    return SentimentModel(SentenceEncoder(sentence_model))


def test_the_set_is_large_and_apart_from_the_prototypes(model: SentimentModel) -> None:
    rows = labelled()
    assert len(rows) >= 150 and {label for label, _ in rows} == set(EXPECTED)
    prototypes = {p.text.lower() for p in model.prototypes}
    assert not prototypes & {text.lower() for _, text in rows}


def test_sentiment_meets_the_bar_and_the_model_is_what_finds_implicit_complaints(
    model: SentimentModel,
) -> None:
    combined = accuracy(model)
    assert combined["overall"] >= 0.85, combined
    assert combined["implicit"] >= 0.70, combined
    assert min(combined.values()) >= 0.7, combined
    lexicons = accuracy(SentimentModel(None))
    assert lexicons["implicit"] < 0.3, lexicons  # what the lexicons alone miss
    assert combined["overall"] > lexicons["overall"] + 0.1


def test_scores_are_in_range_and_ordered(model: SentimentModel) -> None:
    angry, neutral, happy = model.scores(
        ["I am absolutely livid, this is a disgrace.", "I would like to update my address.",
         "Wonderful, thank you, that's perfect."]
    )  # fmt: skip
    assert -1 <= angry < neutral < happy <= 1


def test_a_changed_lexicon_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    changed = dict(sentiment.LEXICONS)
    changed[("vaderSentiment", "vader_lexicon.txt")] = "0" * 64
    monkeypatch.setattr(sentiment, "LEXICONS", changed)
    with pytest.raises(SentimentModelError, match=r"vader_lexicon\.txt"):
        SentimentModel(None)
