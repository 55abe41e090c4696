"""PII redaction at word level: card numbers, SSNs, phone numbers, e-mail addresses and
named custom patterns become typed tags ("[CARD]") that keep the times of the words they
replace, so the same spans can be silenced in the audio (``workers.protection.redacted_audio``).
Nothing here keeps the original text: the outputs are the redacted words and
:class:`Entity` records (kind, times, word indices).

Words are the model's :class:`~callscribe.workers.records.Word`: text with its leading
space (" four", " 4111,"), start and end in seconds. An entity spread over several words
becomes ONE tag from the start of its first word to the end of its last, with the first
one's leading space and the last one's trailing punctuation.

Policy
------
Digits come from written numbers ("4111", "555-123-4567", "(555)", "+1") and from spoken
digit words (zero/oh/o … nine, "double four", "triple five"); "dash"/"hyphen" may join
them. A *run* of such words ends at any other word and after . ? ! or ;, and is
classified whole ("Oh," opening it is an interjection):

* ``CARD``: 13–19 digits passing the Luhn check; or 12 digits or more within five words
  after "card" (a misheard digit breaks Luhn, a dropped one shortens the number: "the card
  number is 4-1-1-1-…"). A word that sounds like a digit just before a run ("for" 4,
  "to"/"too" 2, "won" 1, "ate" 8) counts when only so the run passes Luhn ("for 111,
  1111, 1111, 1111"). Digits the model glued
  with dashes (" 5", "-5", "-5") are one number.
* ``SSN``: 9 digits written 3-2-4 ("123-45-6789", "123 45 6789") or read digit by digit,
  with a valid area (not 000, 666, 9xx), group (not 00) and serial (not 0000).
* ``PHONE``: "+" and 7–15 digits; 10 digits starting 2–9 (NANP), or 11 starting 1; or
  7–15 digits in more than one group (separators, or read digit by digit), unless the
  groups are a date (2024-12-25, 12 25 2024) or a year range (1999-2000).
* ``EMAIL``: "pat@example.com", or said: "pat at example dot com", "p a t at example dot
  co dot uk", "pat dot smith at …". The last label must be a known top-level domain; a
  spoken "at" after a common word ("look at google dot com") is not an @. A written host
  name of three labels or more ("pat.smithheadexample.com": the model lost the "at") is
  taken for an address too; "www." names and two-label sites ("example.com") are not.
* custom ``{name: regex}``: matched against the words as written and against a normal
  form with spoken digits as numerals and spelled characters joined ("A C one two" →
  "AC12"); write patterns tolerant of spacing (``AC[- ]?\\d{6}``).

Not PII, never redacted: amounts ("$49.99", "49.99", "1,299", "forty nine ninety nine":
tens, teens and "hundred" are not digit words), times ("10:30"), dates ("12/25/2024"),
numbers under 7 digits (order numbers, zip codes), one unseparated number of 7–9 or 12
digits (an order or reference number). A 16–19 digit number failing Luhn is no card and
longer than any phone number (E.164: 15 digits): left alone, as tracking and reference
numbers are that long. A run over 19 digits (a phone number and a card read back to back)
is cut into the cards, SSNs and complete phone numbers covering most of its digits, each
stretched over the digits between them so none is left in the clear.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..records import Word, segment_text
from .numbers import DIGIT_WORDS, number_spans
from .tokens import Span, Tok, tok


@dataclass(frozen=True, kw_only=True)
class Entity:
    """One redacted entity: its kind, and the times and input indices of its words."""

    kind: str
    start: float
    end: float
    word_index_first: int
    word_index_last: int


@dataclass(frozen=True)
class Redacted:
    """Redacted words (a tag in place of each entity) and what was redacted."""

    words: tuple[Word, ...]
    entities: tuple[Entity, ...]

    @property
    def text(self) -> str:
        """The segment text rebuilt from the redacted words."""
        return segment_text(self.words)


Patterns = Mapping[str, str | re.Pattern[str]]

_PRIORITY = {"EMAIL": 3, "CARD": 2, "SSN": 1, "PHONE": 0}


def redact_segments(
    segments: Sequence[Sequence[Word]], patterns: Patterns | None = None
) -> list[Redacted]:
    """The segments of one channel, in time order, redacted together (a card number read
    across two segments is found) and cut back into segments: an entity crossing a
    segment boundary becomes one tag in each. Word indices are per segment."""
    lists = [list(words) for words in segments]
    flat = [w for words in lists for w in words]
    spans = _detect(flat, patterns or {})
    out, offset = [], 0
    for words in lists:
        end = offset + len(words) - 1
        mine = [
            Span(max(s.first, offset), min(s.last, end), s.kind)
            for s in spans
            if s.first <= end and s.last >= offset
        ]
        out.append(_apply(words, mine, offset))
        offset = end + 1
    return out


def redact_text(text: str, patterns: Patterns | None = None) -> str:
    """A plain string (a segment's text), redacted as its words would be."""
    pieces = re.findall(r"\s*\S+", text)
    if not pieces:
        return text
    pieces[-1] += text[len("".join(pieces)) :]
    words = [Word(0.0, 0.0, piece) for piece in pieces]
    return "".join(w.word for w in _apply(words, _detect(words, patterns or {}), 0).words)


def _detect(words: list[Word], patterns: Patterns) -> list[Span]:
    toks = [tok(w.word) for w in words]
    spans = (
        number_spans(toks)
        + _email_spans(toks)
        + _custom_spans([w.word for w in words], toks, patterns)
    )
    return _merge(spans)


def _merge(spans: list[Span]) -> list[Span]:
    """Overlapping candidates become one span, of the kind of the longest."""

    def weight(s: Span) -> tuple[int, int]:
        return s.last - s.first, _PRIORITY.get(s.kind, 4)

    out: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.first, -s.last)):
        if out and span.first <= out[-1].last:
            best = max(out[-1], span, key=weight)
            out[-1] = Span(out[-1].first, max(out[-1].last, span.last), best.kind)
        else:
            out.append(span)
    return out


def _apply(words: list[Word], spans: list[Span], offset: int) -> Redacted:
    """Each span's words replaced by one tag; ``offset``: index of ``words[0]`` in what
    the spans index."""
    out: list[Word] = []
    found: list[Entity] = []
    i = 0
    for span in spans:
        first, last = span.first - offset, span.last - offset
        covered = words[first : last + 1]
        out += words[i:first]
        start, end = min(w.start for w in covered), max(w.end for w in covered)
        tail = "".join(c for c in tok(covered[-1].word).tail if c in ".,!?;: \t\n\r")
        probs = [w.probability for w in covered]
        out.append(
            Word(
                start,
                end,
                f"{tok(covered[0].word).lead}[{span.kind}]{tail}",
                None if None in probs else min(p for p in probs if p is not None),
            )
        )
        found.append(
            Entity(
                kind=span.kind,
                start=start,
                end=end,
                word_index_first=first,
                word_index_last=last,
            )
        )
        i = last + 1
    return Redacted(tuple(out + words[i:]), tuple(found))


# --- numbers -----------------------------------------------------------------------------

_SYMBOLS = {
    "at": "@",
    "dot": ".",
    "period": ".",
    "point": ".",
    "underscore": "_",
    "dash": "-",
    "hyphen": "-",
}
_TLDS = (
    "com net org edu gov mil int io co uk us ca au de fr es it nl be ch at se no dk fi "
    "ie nz in jp cn br mx info biz me tv ai app dev email online store shop tech xyz"
)
_NOT_LOCAL = frozenset(
    "look looking looked me us you him her them it is am are was were be been i'm we're you're "
    "they're he's she's it's here there that this arrive arrived stay stayed work working live "
    "living shop shopping order ordered buy bought find found go going check site website "
    "online again just call called email emailed available log login in up on out visit "
    "sign register page portal app link store account".split()
)
_AT = re.compile(r"\S*[^\W_]@[^\W_]\S*")  # a written @ between letters: an address
_EMAIL = re.compile(
    r"(?<![\w.%+-])[^\W_](?:[\w.%+-]*[^\W_])?@(?:[^\W_](?:[\w-]*[^\W_])?\.)+"
    rf"(?:{'|'.join(_TLDS.split())})(?![\w-])"
)
#: A host name of three or more labels ("pat.smithexample.com"): an address whose spoken
#: "at" the model did not write. "www." and two-label sites ("example.com") stay.
_HOSTLIKE = re.compile(
    r"(?<![\w.%+@-])(?!www\.)[^\W_][\w-]*(?:\.[^\W_][\w-]*)+"
    rf"\.(?:{'|'.join(_TLDS.split())})(?![\w@.-])"
)


def _email_spans(toks: list[Tok]) -> list[Span]:
    """Spoken symbols become symbols ("at" → "@", unless after a common word) and join
    their neighbours, as do spelled characters ("p a t dot uk" → "pat.uk"). A written @
    is an address even without a known domain ("pat@example. com")."""
    pieces = [
        _SYMBOLS[t.low]
        if t.low in _SYMBOLS and not (t.low == "at" and i and toks[i - 1].low in _NOT_LOCAL)
        else t.low
        for i, t in enumerate(toks)
    ]
    joined = [
        bool(i)
        and not any(c in ".,!?;" for c in toks[i - 1].tail)
        and (
            {p, pieces[i - 1]} & set(_SYMBOLS.values()) != set()
            or p.startswith(".")
            or (len(p) == 1 == len(pieces[i - 1]) and (p + pieces[i - 1]).isalnum())
        )
        for i, p in enumerate(pieces)
    ]
    layout = _layout(pieces, joined)
    return (
        _matches(_EMAIL, "EMAIL", *layout)
        + _matches(_HOSTLIKE, "EMAIL", *layout)
        + _matches(_AT, "EMAIL", *_layout([t.low for t in toks], [False] * len(toks)))
    )


def _custom_spans(texts: list[str], toks: list[Tok], patterns: Patterns) -> list[Span]:
    """Each pattern over the words as written, and over a form with spoken digits as
    numerals and single characters joined ("A C one two" → "AC12")."""
    normal = [DIGIT_WORDS.get(t.low, t.core) for t in toks]
    forms = [
        _layout(texts, [True] * len(texts)),
        _layout(
            normal, [bool(i) and len(p) == 1 == len(normal[i - 1]) for i, p in enumerate(normal)]
        ),
    ]
    return [
        span
        for name, pattern in patterns.items()
        for form in forms
        for span in _matches(re.compile(pattern), name, *form)
    ]


def _layout(pieces: list[str], joined: list[bool]) -> tuple[str, list[int]]:
    """The pieces as one text (a space before each one not ``joined``), and for each
    character the index of its piece (-1 for those spaces)."""
    text: list[str] = []
    owners: list[int] = []
    for i, piece in enumerate(pieces):
        if not joined[i]:
            text.append(" ")
            owners.append(-1)
        text.append(piece)
        owners += [i] * len(piece)
    return "".join(text), owners


def _matches(regex: re.Pattern[str], kind: str, text: str, owners: list[int]) -> list[Span]:
    spans = []
    for match in regex.finditer(text):
        hit = [o for o in owners[match.start() : match.end()] if o >= 0]
        if hit:
            spans.append(Span(min(hit), max(hit), kind))
    return spans
