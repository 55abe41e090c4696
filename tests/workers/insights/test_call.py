"""One call's insights from its segments: sentences with word times, questions, the
problem statement and the agent's answer, signals, sentiment at the start and the end,
and the topic vector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callscribe.workers.insights.call import call_insights, is_question, sentences
from callscribe.workers.insights.encoder import SentenceEncoder
from callscribe.workers.insights.sentiment import SentimentModel
from callscribe.workers.records import Segment, Word


@pytest.fixture(scope="module")
def model(sentence_model: Path) -> SentimentModel:
    return SentimentModel(SentenceEncoder(sentence_model))


def _segment(speaker: str, start: float, text: str) -> Segment:
    words, t = [], start
    for token in text.split():
        words.append(Word(t, t + 0.3, " " + token))
        t += 0.35
    return Segment(start=start, end=t, channel=0 if speaker == "agent" else 1,
                   speaker=speaker, text=text, words=tuple(words))  # fmt: skip


CALL = [
    ("agent", 0.5, "Thank you for calling, this is Dana. How can I help?"),
    ("customer", 4.0, "Hi. My parcel was due last Tuesday and the tracking page has not moved."),
    ("agent", 9.0, "Can I have your name, please?"),
    ("customer", 11.0, "Sure, my name is Lee Carter."),
    ("agent", 13.5, "I can see the parcel is held at the depot because the label was damaged."),
    ("customer", 18.0, "This is the third time I'm calling about it."),
    ("customer", 20.5, "When will it actually arrive?"),
    ("agent", 23.0, "I have rebooked the delivery for tomorrow morning with a new label."),
    ("customer", 27.0, "Okay, that helps. Thanks a lot, that's great."),
    ("agent", 30.0, "You're welcome, have a good day."),
]


def test_sentences_are_cut_at_end_marks_with_word_times() -> None:
    said = sentences([_segment(*row) for row in CALL])
    first = [s for s in said if s.speaker == "customer"][:2]
    assert [s.text for s in first] == [
        "Hi.",
        "My parcel was due last Tuesday and the tracking page has not moved.",
    ]
    assert first[1].start == pytest.approx(4.35) and first[1].end > first[1].start


def test_questions_and_requests_are_told_from_statements() -> None:
    assert is_question("When will it actually arrive?")
    assert is_question("Could you check my balance")
    assert is_question("I need to change the address on my account.")
    assert not is_question("My name is Lee Carter.")
    assert not is_question("The parcel arrived yesterday.")
    assert not is_question("Yes?")


def test_the_calls_insights(model: SentimentModel) -> None:
    found = call_insights([_segment(*row) for row in CALL], "customer", "agent", model)
    assert found is not None
    assert found.problem and found.problem.startswith("My parcel was due")
    assert found.problem_start_s == pytest.approx(4.35)
    assert found.answer and "held at the depot" in found.answer
    assert found.summary.startswith("Customer: My parcel was due")
    assert "Agent: I have rebooked the delivery" in found.summary or "depot" in found.summary
    assert [q.text for q in found.questions] == ["When will it actually arrive?"]
    assert found.questions[0].start == pytest.approx(20.5)
    assert set(found.signals) == {"repeat_contact", "resolved"}
    assert found.sentiment_end is not None and found.sentiment_start is not None
    assert found.sentiment_end > 0.3 > found.sentiment_start
    assert found.sentiment_min is not None and found.sentiment_min < 0
    assert found.embedding is not None
    assert np.linalg.norm(found.embedding) == pytest.approx(1.0, abs=1e-4)
    assert found.question_embeddings is not None and found.question_embeddings.shape == (1, 384)
    assert found.models == "minilm+lexicons"


def test_without_the_sentence_model_the_lexicons_still_score(model: SentimentModel) -> None:
    lexicons_only = SentimentModel(None)
    found = call_insights([_segment(*row) for row in CALL], "customer", "agent", lexicons_only)
    assert found is not None and found.models == "lexicons"
    assert found.embedding is None and found.sentiment_end is not None
    assert found.sentiment_end > 0


def test_no_customer_no_insights(model: SentimentModel) -> None:
    agent_only = [_segment(*row) for row in CALL if row[0] == "agent"]
    assert call_insights(agent_only, "customer", "agent", model) is None


def test_signals_supervisor_and_cancel(model: SentimentModel) -> None:
    rows = [
        ("agent", 0.0, "Hello, how can I help you today?"),
        ("customer", 3.0, "I want to cancel my contract, and I'd like to speak to a supervisor."),
    ]
    found = call_insights([_segment(*row) for row in rows], "customer", "agent", model)
    assert found is not None
    assert {"cancel_intent", "supervisor"} <= set(found.signals)
    assert "resolved" not in found.signals
