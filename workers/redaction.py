"""PII redaction at word level: card numbers, SSNs, phone numbers, e-mail addresses and
named custom patterns become typed tags ("[CARD]") that keep the times of the words they
replace, so the same spans can be silenced in the audio (``workers.redacted_audio``).
Nothing here keeps the original text: the outputs are the redacted words and
:class:`Redaction` records (kind, times, word indices).

Words are the model's: text with its leading space (" four", " 4111,"), start and end in
seconds; any object with ``text`` (or ``word``) and ``start``/``end`` (or ``start_s``/
``end_s``) will do (``workers.decoding.Word``, rows of ``words``). An entity spread over
several words becomes ONE tag from the start of its first word to the end of its last,
with the first one's leading space and the last one's trailing punctuation.

Policy
------
Digits come from written numbers ("4111", "555-123-4567", "(555)", "+1") and from spoken
digit words (zero/oh/o … nine, "double four", "triple five"); "dash"/"hyphen" may join
them. A *run* of such words ends at any other word and after . ? ! or ;, and is
classified whole ("Oh," opening it is an interjection):

* ``CARD``: 13–19 digits passing the Luhn check; or 13 digits or more within five words
  after "card" (a misheard digit breaks Luhn: "the card number is 4-1-1-1-…"). A word that
  sounds like a digit just before a run ("for" 4, "to"/"too" 2, "won" 1, "ate" 8) counts
  when only so the run passes Luhn ("for 111, 1111, 1111, 1111"). Digits the model glued
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True)
class TimedWord:
    """A word: its text as the model wrote it (leading space included), times in s."""

    text: str
    start: float
    end: float
    probability: float | None = None


@dataclass(frozen=True, kw_only=True)
class Redaction:
    """One redacted entity: its kind, and the times and input indices of its words."""

    kind: str
    start_s: float
    end_s: float
    word_index_first: int
    word_index_last: int


@dataclass(frozen=True)
class Redacted:
    """Redacted words (a tag in place of each entity) and what was redacted."""

    words: tuple[TimedWord, ...]
    redactions: tuple[Redaction, ...]

    @property
    def text(self) -> str:
        """The segment text rebuilt from the redacted words."""
        return "".join(w.text for w in self.words).strip()


Patterns = Mapping[str, str | re.Pattern[str]]

_DIGITS = {"oh": "0", "o": "0", "niner": "9"} | {
    w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine".split())}
_REPEAT = {"double": 2, "triple": 3}
_JOINERS = {"dash", "hyphen", "-", "–", "—"}
_WRITTEN = re.compile(r"\+?\(?\d+\)?(?:[-.]?\(?\d+\)?)*")
_LEAD, _TRAIL, _SENTENCE = "\"'“‘¿¡([{<", "\"'”’)]}>.,!?;:…", ".?!;"  # around words; ends a run
_PRIORITY = {"EMAIL": 3, "CARD": 2, "SSN": 1, "PHONE": 0}


class _Tok(NamedTuple):
    lead: str
    core: str
    tail: str
    low: str


def _tok(text: str) -> _Tok:
    """A word's leading space, its core (and in lower case), its trailing punctuation."""
    stripped = text.lstrip()
    core = stripped.lstrip(_LEAD)
    body = core.rstrip(_TRAIL + " \t\n\r")
    return _Tok(text[: len(text) - len(stripped)], body, core[len(body):], body.lower())


class _Span(NamedTuple):
    first: int
    last: int
    kind: str


class _Elem(NamedTuple):
    """Digits of one or two words of a run (a repeat word and its digit)."""
    first: int
    last: int
    chunks: tuple[str, ...]
    plus: bool = False


def as_timed(word: object) -> TimedWord:
    """Any word-like object as a :class:`TimedWord`."""
    if isinstance(word, TimedWord):
        return word
    def field(name: str, other: str) -> Any:
        value = getattr(word, name, None)
        return getattr(word, other) if value is None else value

    return TimedWord(str(field("text", "word")), float(field("start", "start_s")),
                     float(field("end", "end_s")), getattr(word, "probability", None))


def redact_words(words: Iterable[object], patterns: Patterns | None = None) -> Redacted:
    """One segment's (or one channel's) words, redacted."""
    timed = [as_timed(w) for w in words]
    return _apply(timed, _detect(timed, patterns or {}), 0)


def redact_segments(segments: Sequence[Iterable[object]],
                    patterns: Patterns | None = None) -> list[Redacted]:
    """The segments of one channel, in time order, redacted together (a card number read
    across two segments is found) and cut back into segments: an entity crossing a
    segment boundary becomes one tag in each. Word indices are per segment."""
    lists = [[as_timed(w) for w in words] for words in segments]
    flat = [w for words in lists for w in words]
    spans = _detect(flat, patterns or {})
    out, offset = [], 0
    for words in lists:
        end = offset + len(words) - 1
        mine = [_Span(max(s.first, offset), min(s.last, end), s.kind) for s in spans
                if s.first <= end and s.last >= offset]
        out.append(_apply(words, mine, offset))
        offset = end + 1
    return out


def redact_text(text: str, patterns: Patterns | None = None) -> str:
    """A plain string (a segment's text), redacted as its words would be."""
    pieces = re.findall(r"\s*\S+", text)
    if not pieces:
        return text
    pieces[-1] += text[len("".join(pieces)):]
    words = [TimedWord(piece, 0.0, 0.0) for piece in pieces]
    return "".join(w.text for w in _apply(words, _detect(words, patterns or {}), 0).words)


def _detect(words: list[TimedWord], patterns: Patterns) -> list[_Span]:
    toks = [_tok(w.text) for w in words]
    spans = _number_spans(toks) + _email_spans(toks) + _custom_spans(
        [w.text for w in words], toks, patterns)
    return _merge(spans)


def _merge(spans: list[_Span]) -> list[_Span]:
    """Overlapping candidates become one span, of the kind of the longest."""
    def weight(s: _Span) -> tuple[int, int]:
        return s.last - s.first, _PRIORITY.get(s.kind, 4)

    out: list[_Span] = []
    for span in sorted(spans, key=lambda s: (s.first, -s.last)):
        if out and span.first <= out[-1].last:
            best = max(out[-1], span, key=weight)
            out[-1] = _Span(out[-1].first, max(out[-1].last, span.last), best.kind)
        else:
            out.append(span)
    return out


def _apply(words: list[TimedWord], spans: list[_Span], offset: int) -> Redacted:
    """Each span's words replaced by one tag; ``offset``: index of ``words[0]`` in what
    the spans index."""
    out: list[TimedWord] = []
    found: list[Redaction] = []
    i = 0
    for span in spans:
        first, last = span.first - offset, span.last - offset
        covered = words[first:last + 1]
        out += words[i:first]
        start, end = min(w.start for w in covered), max(w.end for w in covered)
        tail = "".join(c for c in _tok(covered[-1].text).tail if c in ".,!?;: \t\n\r")
        probs = [w.probability for w in covered]
        out.append(TimedWord(f"{_tok(covered[0].text).lead}[{span.kind}]{tail}", start, end,
                             None if None in probs else min(p for p in probs if p is not None)))
        found.append(Redaction(kind=span.kind, start_s=start, end_s=end,
                               word_index_first=first, word_index_last=last))
        i = last + 1
    return Redacted(tuple(out + words[i:]), tuple(found))


# --- numbers -----------------------------------------------------------------------------

def _number_spans(toks: list[_Tok]) -> list[_Span]:
    spans = []
    for run in (_with_homophone(toks, r) for r in _runs(toks)):
        if _count(run) >= 13 and _after_card_words(toks, run[0].first):
            spans.append(_Span(run[0].first, run[-1].last, "CARD"))  # misheard digit: no Luhn
            continue
        spans += [_Span(run[a].first, run[b].last, kind) for a, b, kind in _classify_run(run)]
    return spans


def _after_card_words(toks: list[_Tok], first: int) -> bool:
    """Whether "card" was said just before (within five words): "the card number is …"."""
    return any(t.low in ("card", "cards") for t in toks[max(0, first - 5):first])


#: Words a model writes for a digit it heard ("the card number is for one one one …").
_HOMOPHONES = {"for": "4", "to": "2", "too": "2", "won": "1", "ate": "8"}


def _with_homophone(toks: list[_Tok], run: list[_Elem]) -> list[_Elem]:
    """The run with the word just before it read as a digit, when that word sounds like
    one and only so the run is a valid card number (Luhn): "for 1111 1111 1111 1111"."""
    at = run[0].first - 1
    if at < 0 or toks[at].low not in _HOMOPHONES or toks[at].tail:
        return run
    longer = [_Elem(at, at, (_HOMOPHONES[toks[at].low],)), *run]
    if _classify(run, strong=False) != "CARD" and _classify(longer, strong=True) == "CARD":
        return longer
    return run


def _runs(toks: list[_Tok]) -> list[list[_Elem]]:
    """Stretches of consecutive number words, without joiners at their ends; "Oh,"
    opening a stretch is an interjection, not a zero."""
    runs: list[list[_Elem]] = [[]]
    i = 0
    while i < len(toks):
        elem = _element(toks, i)
        if elem is None or (elem.plus and runs[-1]):
            runs.append([])
        interjection = toks[i].low in ("oh", "o") and bool(toks[i].tail) and not runs[-1]
        if elem is not None and not interjection:
            runs[-1].append(elem)
        i = elem.last + 1 if elem is not None else i + 1
        if any(c in _SENTENCE for c in toks[i - 1].tail):
            runs.append([])
    return [_trim(run) for run in runs if any(e.chunks for e in run)]


def _trim(run: list[_Elem]) -> list[_Elem]:
    """Without joiners at either end."""
    first = next(i for i, e in enumerate(run) if e.chunks or e.plus)
    return run[first:max(i for i, e in enumerate(run) if e.chunks) + 1]


def _element(toks: list[_Tok], i: int) -> _Elem | None:
    low = toks[i].low.strip("-–—") or toks[i].low  # " 5", "-5", "-5" (a model's "5-5-5")
    nxt = toks[i + 1].low if i + 1 < len(toks) else ""
    parts = low.split("-")
    if low in _REPEAT and nxt in _DIGITS:
        return _Elem(i, i + 1, (_DIGITS[nxt],) * _REPEAT[low])
    if low in _JOINERS or low == "plus":
        return _Elem(i, i, (), plus=low == "plus")
    if all(p in _DIGITS for p in parts):  # "four", "four-one-one-one"
        return _Elem(i, i, tuple(_DIGITS[p] for p in parts))
    if _WRITTEN.fullmatch(low) and not re.fullmatch(r"\d+\.\d+", low):
        return _Elem(i, i, tuple(re.findall(r"\d+", low)), plus=low.startswith("+"))
    return None


def _classify_run(run: list[_Elem]) -> list[tuple[int, int, str]]:
    """(first element, last element, kind) of each entity in a run."""
    kind = _classify(run, strong=False)
    if kind is not None or _count(run) <= 19:
        return [] if kind is None else [(0, len(run) - 1, kind)]
    found: list[tuple[int, int, str]] = []
    gap = 0
    for a, b, strong in _best_split(run):
        found += [*_leftover(run, gap, a), (a, b, strong)]
        gap = b + 1
    found += _leftover(run, gap, len(run))
    return _covering(found, len(run))


def _covering(found: list[tuple[int, int, str]], size: int) -> list[tuple[int, int, str]]:
    """The entities of a long run stretched over the digits between them and at its ends,
    so no stray digit of it is left in the clear."""
    if not found:
        return []
    stretched: list[tuple[int, int, str]] = []
    for i, (_a, _b, kind) in enumerate(found):
        start = 0 if i == 0 else stretched[-1][1] + 1
        end = size - 1 if i == len(found) - 1 else found[i + 1][0] - 1
        stretched.append((start, end, kind))
    return stretched


def _best_split(run: list[_Elem]) -> list[tuple[int, int, str]]:
    """The cards, SSNs and complete phone numbers in a long run that cover the most
    digits (dynamic programming over where each one starts and ends)."""
    best: list[tuple[int, list[tuple[int, int, str]]]] = [(0, [])] * (len(run) + 1)
    for a in range(len(run) - 1, -1, -1):
        best[a] = best[a + 1]
        for b in range(a, len(run)):
            kind = _classify(run[a:b + 1], strong=True)
            score = _count(run[a:b + 1]) + best[b + 1][0]
            if kind is not None and score > best[a][0]:
                best[a] = (score, [(a, b, kind), *best[b + 1][1]])
    return best[0][1]


def _leftover(run: list[_Elem], a: int, b: int) -> list[tuple[int, int, str]]:
    """What is left between two entities of a long run, classified on its own."""
    kind = _classify(run[a:b], strong=False) if b > a else None
    return [(a, b - 1, kind)] if kind is not None else []


def _count(elems: list[_Elem]) -> int:
    return sum(len(c) for e in elems for c in e.chunks)


def _classify(elems: list[_Elem], *, strong: bool) -> str | None:
    chunks = [c for e in elems for c in e.chunks]
    digits = "".join(chunks)
    if not digits or not (elems[0].chunks or elems[0].plus) or not elems[-1].chunks:
        return None
    if 13 <= len(digits) <= 19 and _luhn(digits):
        return "CARD"
    shape = [len(c) for c in chunks]
    if len(digits) == 9 and (shape == [3, 2, 4] or max(shape) == 1) and \
            digits[:3] not in ("000", "666") and digits[0] != "9" and \
            digits[3:5] != "00" and digits[5:] != "0000":
        return "SSN"
    return "PHONE" if _phone(chunks, elems[0].plus, strong) else None


def _phone(chunks: list[str], plus: bool, strong: bool) -> bool:
    digits = "".join(chunks)
    n = len(digits)
    if plus or ((n == 10 or (n == 11 and digits[0] == "1")) and digits[n - 10] not in "01"):
        return 7 <= n <= 15
    return not strong and 7 <= n <= 15 and len(chunks) > 1 and \
        not _date_like([int(c) for c in chunks])


def _date_like(groups: list[int]) -> bool:
    """2024-12-25, 12 25 2024, 25.12.2024, or a year range such as 1999-2000."""
    years = [1900 <= g <= 2099 for g in groups]
    if len(groups) == 2:
        return all(years)
    day_month = groups[1:] if years[0] else groups[:2]
    return len(groups) == 3 and (years[0] or years[2]) and 1 <= min(day_month) <= 12 and \
        max(day_month) <= 31


def _luhn(digits: str) -> bool:
    doubled = [int(d) * (1 + i % 2) for i, d in enumerate(reversed(digits))]
    return sum(n - 9 if n > 9 else n for n in doubled) % 10 == 0


# --- e-mail addresses and custom patterns: regular expressions over a form of the text ---

_SYMBOLS = {"at": "@", "dot": ".", "period": ".", "point": ".", "underscore": "_",
            "dash": "-", "hyphen": "-"}
_TLDS = ("com net org edu gov mil int io co uk us ca au de fr es it nl be ch at se no dk fi "
         "ie nz in jp cn br mx info biz me tv ai app dev email online store shop tech xyz")
_NOT_LOCAL = frozenset(
    "look looking looked me us you him her them it is am are was were be been i'm we're you're "
    "they're he's she's it's here there that this arrive arrived stay stayed work working live "
    "living shop shopping order ordered buy bought find found go going check site website "
    "online again just call called email emailed available log login in up on out visit "
    "sign register page portal app link store account".split())
_AT = re.compile(r"\S*[^\W_]@[^\W_]\S*")  # a written @ between letters: an address
_EMAIL = re.compile(r"(?<![\w.%+-])[^\W_](?:[\w.%+-]*[^\W_])?@(?:[^\W_](?:[\w-]*[^\W_])?\.)+"
                    rf"(?:{'|'.join(_TLDS.split())})(?![\w-])")
#: A host name of three or more labels ("pat.smithexample.com"): an address whose spoken
#: "at" the model did not write. "www." and two-label sites ("example.com") stay.
_HOSTLIKE = re.compile(r"(?<![\w.%+@-])(?!www\.)[^\W_][\w-]*(?:\.[^\W_][\w-]*)+"
                       rf"\.(?:{'|'.join(_TLDS.split())})(?![\w@.-])")


def _email_spans(toks: list[_Tok]) -> list[_Span]:
    """Spoken symbols become symbols ("at" → "@", unless after a common word) and join
    their neighbours, as do spelled characters ("p a t dot uk" → "pat.uk"). A written @
    is an address even without a known domain ("pat@example. com")."""
    pieces = [_SYMBOLS[t.low] if t.low in _SYMBOLS and not (
        t.low == "at" and i and toks[i - 1].low in _NOT_LOCAL) else t.low
        for i, t in enumerate(toks)]
    joined = [bool(i) and not any(c in ".,!?;" for c in toks[i - 1].tail) and (
        {p, pieces[i - 1]} & set(_SYMBOLS.values()) != set() or p.startswith(".") or
        (len(p) == 1 == len(pieces[i - 1]) and (p + pieces[i - 1]).isalnum()))
        for i, p in enumerate(pieces)]
    layout = _layout(pieces, joined)
    return _matches(_EMAIL, "EMAIL", *layout) + _matches(_HOSTLIKE, "EMAIL", *layout) + \
        _matches(_AT, "EMAIL", *_layout([t.low for t in toks], [False] * len(toks)))


def _custom_spans(texts: list[str], toks: list[_Tok], patterns: Patterns) -> list[_Span]:
    """Each pattern over the words as written, and over a form with spoken digits as
    numerals and single characters joined ("A C one two" → "AC12")."""
    normal = [_DIGITS.get(t.low, t.core) for t in toks]
    forms = [_layout(texts, [True] * len(texts)), _layout(normal, [
        bool(i) and len(p) == 1 == len(normal[i - 1]) for i, p in enumerate(normal)])]
    return [span for name, pattern in patterns.items() for form in forms
            for span in _matches(re.compile(pattern), name, *form)]


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


def _matches(regex: re.Pattern[str], kind: str, text: str, owners: list[int]) -> list[_Span]:
    spans = []
    for match in regex.finditer(text):
        hit = [o for o in owners[match.start():match.end()] if o >= 0]
        if hit:
            spans.append(_Span(min(hit), max(hit), kind))
    return spans
