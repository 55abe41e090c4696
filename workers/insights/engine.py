"""The models a process scores calls with, loaded once on first use and shared: the
sentence model (when it can be fetched and loaded) and the sentiment lexicons. A model that
cannot be had gives one warning and is tried again later; the transcript still completes
(with lexicon-only figures without the sentence model, none without the lexicons)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from callscribe.errors import one_line
from callscribe.settings import InsightsSection

from ..records import Segment
from .call import CallInsights, call_insights
from .encoder import SentenceEncoder, SentenceModelError, sentence_model_dir
from .sentiment import SentimentModel, SentimentModelError

log = logging.getLogger(__name__)

#: After a model failed to load, a process tries again this much later.
RETRY_S = 300.0


class _Shared:
    lock = threading.Lock()
    model: SentimentModel | None = None
    full = False  # with the sentence model
    retry_at = 0.0


def sentiment_model(section: InsightsSection) -> SentimentModel | None:
    """This process's models (None: not even the lexicons load; one warning)."""
    with _Shared.lock:
        if _Shared.model is not None and (_Shared.full or time.monotonic() < _Shared.retry_at):
            return _Shared.model
        if _Shared.model is None and time.monotonic() < _Shared.retry_at:
            return None
        encoder: SentenceEncoder | None = None
        try:
            encoder = SentenceEncoder(
                sentence_model_dir(Path(section.model_dir) if section.model_dir else None)
            )
        except SentenceModelError as exc:
            log.warning(
                "sentence model unavailable, insights from the lexicons alone and no topics: %s",
                one_line(exc, 300),
            )
        try:
            _Shared.model = SentimentModel(encoder)
        except SentimentModelError as exc:
            log.warning("sentiment lexicons unavailable, no insights: %s", one_line(exc, 300))
            _Shared.model = None
        _Shared.full = encoder is not None and _Shared.model is not None
        if not _Shared.full:
            _Shared.retry_at = time.monotonic() + RETRY_S
        return _Shared.model


def insights_for(
    section: InsightsSection,
    segments: Sequence[Segment],
    labels: tuple[str, ...],
) -> CallInsights | None:
    """The call's insights, when it is on and a party is the customer (``labels``: the
    agent's and the customer's speaker labels); None otherwise."""
    if not section.enabled:
        return None
    agent, customer = (*labels, "agent", "customer")[:2]
    if not any(s.speaker == customer for s in segments):
        return None
    model = sentiment_model(section)
    if model is None:
        return None
    return call_insights(segments, customer, agent, model)


def reset() -> None:
    """Forget the loaded models (tests)."""
    with _Shared.lock:
        _Shared.model, _Shared.full, _Shared.retry_at = None, False, 0.0
