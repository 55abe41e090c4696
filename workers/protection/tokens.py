"""Words as redaction reads them: leading space, core, trailing punctuation; and the span
of words one entity covers."""

from __future__ import annotations

from typing import NamedTuple

_LEAD, _TRAIL, SENTENCE_END = "\"'“‘¿¡([{<", "\"'”’)]}>.,!?;:…", ".?!;"  # around words; ends a run


class Tok(NamedTuple):
    lead: str
    core: str
    tail: str
    low: str


def tok(text: str) -> Tok:
    """A word's leading space, its core (and in lower case), its trailing punctuation."""
    stripped = text.lstrip()
    core = stripped.lstrip(_LEAD)
    body = core.rstrip(_TRAIL + " \t\n\r")
    return Tok(text[: len(text) - len(stripped)], body, core[len(body) :], body.lower())


class Span(NamedTuple):
    first: int
    last: int
    kind: str
