"""The redaction step of a job: between the model and the database. Each channel's
segments of the job are redacted together, in time order (a card number read across two
segments is found), so what ``persist_segments`` writes, and everything read from it later
(exports, search, dashboards), holds typed tags ([CARD] …), never the words. What was
redacted is kept as spans (channel, kind, times) without text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from ..records import RedactionSpan, Segment, StoredWindow, segment_text
from .redaction import Redacted, redact_segments


def redact_windows(
    windows: Sequence[StoredWindow], patterns: Mapping[str, str]
) -> tuple[list[StoredWindow], list[RedactionSpan]]:
    """The job's windows with every segment's text and words redacted, and the spans."""
    refs = sorted(
        ((w, s) for w, window in enumerate(windows) for s in range(len(window.segments))),
        key=lambda ws: (windows[ws[0]].channel, windows[ws[0]].segments[ws[1]].start),
    )
    new = [list(window.segments) for window in windows]
    spans: list[RedactionSpan] = []
    for channel in sorted({windows[w].channel for w, _s in refs}):
        mine = [(w, s) for w, s in refs if windows[w].channel == channel]
        segments = [windows[w].segments[s] for w, s in mine]
        results = redact_segments([segment.words for segment in segments], dict(patterns))
        for (w, s), segment, result in zip(mine, segments, results, strict=True):
            new[w][s] = _redacted_segment(segment, result)
        spans += _spans(channel, segments, results)
    return ([replace(window, segments=tuple(new[w])) for w, window in enumerate(windows)], spans)


def _redacted_segment(segment: Segment, result: Redacted) -> Segment:
    if not result.entities:
        return segment
    words = tuple(
        w if w.probability is not None else replace(w, probability=0.0) for w in result.words
    )
    return replace(segment, words=words, text=segment_text(words))


def _spans(
    channel: int, segments: Sequence[Segment], results: Sequence[Redacted]
) -> list[RedactionSpan]:
    """One span per entity: an entity cut by a segment boundary (a tag at the end of one
    segment and at the start of the next, of one kind) is one span."""
    spans: list[RedactionSpan] = []
    open_tail = False  # the last span ended on its segment's last word
    for segment, result in zip(segments, results, strict=True):
        for item in result.entities:
            continues = (
                open_tail and item.word_index_first == 0 and spans and spans[-1].kind == item.kind
            )
            if continues:
                spans[-1] = replace(spans[-1], end=item.end)
            else:
                spans.append(
                    RedactionSpan(kind=item.kind, channel=channel, start=item.start, end=item.end)
                )
            open_tail = item.word_index_last == len(segment.words) - 1
        if not result.entities:
            open_tail = False
    return spans
