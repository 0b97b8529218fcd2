"""Short answers: the name, number, date or phrase inside the answering sentences.

No licensed reader model installs here, so the span is found by rules a reader can check:
candidate spans (numbers, dates, capitalised names) are cut from the best answer sentences,
kept only when they are of the type the question asks for ("how many" → a number, "when" → a
date, "who"/"which team"/"where" → a name), dropped when the question already says them, and
scored by how good their sentence is, how close they sit to the question's own terms in it and
how many independent articles state the same span. The winner must beat the runner-up by a
margin; otherwise the short answer stays empty, because a wrong short answer shown in bold is
worse than none.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rag.text import TOKEN_PATTERN, tokenize

# --------------------------------------------------------------------------------------------
# What the question asks for

NUMBER, MONEY, DATE, NAME, ANY = "number", "money", "date", "name", "any"
PHRASE = "phrase"  # a run of content words: the fallback candidate of a "what" question

_Q_NUMBER = re.compile(
    r"\b(how (many|much|long|far|old|big|large|tall|high|often|fast|deep|wide|heavy)|"
    r"what (percent(age)?|number|amount|proportion|share|size|price|cost|population|rate)|"
    r"which (number|percentage)|"
    r"what (is|was|were|are|will be) the (\w+ )?(price|cost|population|number|amount|rate|"
    r"percentage|size|value|length|height|total|age|budget|salary|score|margin))\b",
    re.IGNORECASE,
)
# "when", "who" and "where" ask for a date or a name only where a clause starts: "What happens
# when ...?" and "the people who ..." do not (a "when" anywhere cost SQuAD 2.0's answerable
# questions 2% abstention in bench/experiments/squad2_rules.py).
_CLAUSE = r"(?:^|[.?!;:,]\s*|\b(?:and|but|so|then|since|until|by) )\W*"
_Q_DATE = re.compile(
    _CLAUSE + r"when\b|\b(what (year|date|day|month|decade|century|time period)|"
    r"(which|in what) (year|month|decade|century))\b",
    re.IGNORECASE,
)
_Q_NAME = re.compile(
    _CLAUSE + r"(who|whom|whose|where)\b|"
    r"\b(which|what) (\w+ )?(team|company|firm|country|city|state|nation|town|club|party|"
    r"person|player|man|woman|group|organi[sz]ation|agency|university|college|band|network|"
    r"airline|brand|province|region|county|island|river|language|newspaper|court|league|"
    r"school|church|author|president|leader|king|queen|actor|singer|artist|writer|official|"
    r"candidate|senator|governor|minister|coach|director|ceo|ship|planet|continent|street)\b|"
    r"\bwhat is the name\b|\bwhat was the name\b",
    re.IGNORECASE,
)


_Q_MONEY = re.compile(
    r"\b(pay|paid|pays|cost|costs|spend|spent|worth|price|priced|raise|raised|earn|earned|"
    r"fund|funding|budget|salary|fined?|fee|money|dollars|euros|pounds|invest|invested|sell for|"
    r"sold for|bought for|valued?)\b",
    re.IGNORECASE,
)


def question_type(question: str) -> str:
    """MONEY, NUMBER, DATE or NAME when the question's wording asks for one, else ANY."""
    if _Q_NUMBER.search(question):
        return MONEY if _Q_MONEY.search(question) else NUMBER
    if _Q_DATE.search(question):
        return DATE
    if _Q_NAME.search(question):
        return NAME
    return ANY


# --------------------------------------------------------------------------------------------
# Candidate spans

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan\.|Feb\.|Mar\.|Apr\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)"
)
_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_DATE_SPAN = re.compile(
    rf"\b(?:(?:early|late|mid-?) )?{_MONTH}(?: \d{{1,2}}(?:st|nd|rd|th)?)?(?:,? \d{{4}})?(?![\w])"
    rf"|\b\d{{1,2}} {_MONTH}(?: \d{{4}})?\b"
    r"|\b(?:the )?(?:1[0-9]|20|twenty-first|nineteenth|eighteenth|twentieth)(?:th|st)? century\b"
    r"|\b(?:1[0-9]{3}|20[0-9]{2})s?\b(?:(?: |–|-|to )(?:1[0-9]{3}|20[0-9]{2})\b)?"
    rf"|\b{_DAY}\b"
)
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    r"eighty|ninety|hundred|thousand|dozen|half|a dozen|hundreds|thousands|millions)"
)
_MAGNITUDE = r"(?: (?:hundred|thousand|million|billion|trillion)s?)?"
_CURRENCY = r"(?: (?:pounds|euros|dollars|yen|francs|rupees|yuan|pesos|cents|pence|marks))"
_CURRENCY_SYMBOL = r"(?:(?:US|A|C|HK)?[$£€¥] ?)"
_NUMBER_SPAN = re.compile(
    _CURRENCY_SYMBOL + r"?\d[\d,]*(?:\.\d+)?" + _MAGNITUDE + _CURRENCY + "?"
    r"(?: ?(?:%|percent|per cent))?"
    rf"|\b{_NUMBER_WORD}(?:[ -]{_NUMBER_WORD})*" + _MAGNITUDE + _CURRENCY + "?"
    r"(?: (?:percent|per cent))?\b",
    re.IGNORECASE,
)
_MONEY_SPAN = re.compile(_CURRENCY_SYMBOL + "|" + _CURRENCY + "$")
# Capitalised words joined by single spaces, with the lower-case particles names contain.
_NAME_SPAN = re.compile(
    r"(?<![\w'’-])(?:[A-Z][\w'’.&-]*|\d+[A-Za-z]*)"
    r"(?:(?: (?:of|de|du|da|del|der|van|von|la|le|and|&|the))* (?:[A-Z][\w'’.&-]*))*"
)
# Capitalised at a sentence start only because they start it; never a name by themselves.
_STARTERS = frozenset(
    "after although as at before but by despite during for from here however if in it its "
    "meanwhile more most much no not now on once one since so some that the their then there "
    "these they this those though thus today under until we what when where which while who "
    "with yet also according many other another each every both after earlier later last "
    "next officials experts police critics he she i you his her him our my your us them "
    "an a".split()
)


@dataclass(frozen=True)
class Span:
    """A candidate short answer: `text` is `sentence[start:end]` of answer sentence `sentence`."""

    sentence: int
    start: int
    end: int
    text: str
    kind: str


def _trim(text: str, start: int) -> tuple[str, int]:
    """Drop a leading article and trailing punctuation (SQuAD's answers rarely keep them)."""
    m = re.match(r"(?:the|a|an) ", text, re.IGNORECASE)
    if m and len(text) > m.end():
        text, start = text[m.end() :], start + m.end()
    stripped = text.rstrip(".,;:'’\"-")
    return stripped, start


def candidate_spans(sentence: str, index: int) -> list[Span]:
    """Every number, date and capitalised name in `sentence` (offsets into it)."""
    out: list[Span] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in ((DATE, _DATE_SPAN), (NUMBER, _NUMBER_SPAN), (NAME, _NAME_SPAN)):
        for m in pattern.finditer(sentence):
            text, start = _trim(m.group(0), m.start())
            end = start + len(text)
            if not text.strip() or any(s < end and start < e for s, e in taken):
                continue
            if kind == NAME:
                words = text.split()
                at_start = sentence[:start].strip() == "" or sentence[:start].rstrip()[-1:] in '"“('
                if words[0].lower() in _STARTERS and (at_start or len(words) == 1):
                    if len(words) == 1:
                        continue
                    cut = len(words[0]) + 1
                    text, start = text[cut:], start + cut
                    words = words[1:]
                if words[-1].lower() in {"of", "and", "the", "&"} or not TOKEN_PATTERN.search(text):
                    continue
            if kind == NUMBER and _MONEY_SPAN.search(text):
                kind = MONEY
            taken.append((start, end))
            out.append(Span(index, start, start + len(text), text, kind))
    return out


@lru_cache(maxsize=65536)
def _stem(word: str) -> tuple[str, ...]:
    """The stemmed term of one word (empty for a stop word), cached: spans look at every
    word of the answer sentences for every candidate."""
    return tuple(tokenize(word))


# Words that end a phrase candidate: function words, auxiliaries, relative pronouns.
_PHRASE_BREAK = frozenset(
    "a an and are as at be been being but by for from had has have he her his if in into is "
    "it its no not of on or she such that the their them then there these they this those to "
    "was we were which while who whom whose will with would can could may might should also "
    "after before during about over under than when where how what why because although "
    "said says one".split()
)
_WORD = re.compile(r"[\w'’.-]*\w|[^\w\s]")
PHRASE_MAX_WORDS = 4


def phrase_spans(sentence: str, index: int, question_stems: frozenset[str]) -> list[Span]:
    """Maximal runs of content words the question does not contain (at most
    PHRASE_MAX_WORDS): a crude noun phrase, since no tagger ships with a licence here."""
    out: list[Span] = []
    run: list[re.Match[str]] = []

    def close() -> None:
        if 0 < len(run) <= PHRASE_MAX_WORDS:
            start, end = run[0].start(), run[-1].end()
            out.append(Span(index, start, end, sentence[start:end], PHRASE))
        run.clear()

    for m in _WORD.finditer(sentence):
        word = m.group(0)
        stem = _stem(word)
        if (
            not word[0].isalnum()
            or word.lower() in _PHRASE_BREAK
            or (stem and stem[0] in question_stems)
        ):
            close()
        else:
            run.append(m)
    close()
    return out


# --------------------------------------------------------------------------------------------
# Scoring


@dataclass(frozen=True)
class SpanWeights:
    """score = sentence + proximity * closeness + agreement * log(articles) - untyped.

    `sentence` is the answer sentence's score relative to the best one; `closeness` is
    1 / (1 + words between the span and the nearest question term); `articles` counts the
    distinct articles whose answer sentences hold the same span. Chosen on the questions of
    the first half of the titles of 3,000 SQuAD v1.1 dev questions (short F1), see
    bench/experiments/squad_short.py.
    """

    sentence: float = 1.0
    proximity: float = 0.3
    agreement: float = 0.15
    untyped: float = 0.15  # penalty for a span of another kind than the question asks
    phrase: float = 0.3  # penalty for a mere run of content words (no name, number or date)
    # Any strict win: SQuAD short F1 rises further if ties are broken by guessing (0.27 →
    # 0.29 on the fit half) but a tie shown in bold would be a guess.
    min_margin: float = 0.01


DEFAULT_SPAN_WEIGHTS = SpanWeights()


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    score: float
    doc_id: str


def _norm(text: str) -> str:
    return " ".join(TOKEN_PATTERN.findall(text.lower()))


@dataclass(frozen=True)
class _Words:
    """Where the words of one sentence start, and which of them are question terms."""

    starts: list[int]
    terms: list[int]

    @classmethod
    def of(cls, sentence: str, terms: frozenset[str]) -> _Words:
        starts, hits = [], []
        for i, m in enumerate(TOKEN_PATTERN.finditer(sentence)):
            starts.append(m.start())
            stem = _stem(m.group(0))
            if stem and stem[0] in terms:
                hits.append(i)
        return cls(starts, hits)

    def closeness(self, span: Span) -> float:
        """1 / (1 + words between the span and the nearest question term outside it)."""
        inside = [i for i, pos in enumerate(self.starts) if span.start <= pos < span.end]
        if not inside:
            return 0.0
        lo, hi = inside[0], inside[-1]
        gaps = [lo - i - 1 if i < lo else i - hi - 1 for i in self.terms if not lo <= i <= hi]
        return 1.0 / (1.0 + min(gaps)) if gaps else 0.0


def answer_spans(question: str, sentences: Sequence[AnswerSentence]) -> list[Span]:
    """The spans of the answer sentences that could answer the question: of the kind it asks
    for (a number question accepts amounts of money too) and not already said by it."""
    wanted = question_type(question)
    q_tokens = set(tokenize(question)) | {w.lower() for w in TOKEN_PATTERN.findall(question)}
    out = []
    for i, s in enumerate(sentences):
        extra = phrase_spans(s.text, i, frozenset(q_tokens)) if wanted == ANY else []
        found = candidate_spans(s.text, i)
        taken = [(c.start, c.end) for c in found]
        found += [p for p in extra if not any(a < p.end and p.start < b for a, b in taken)]
        for sp in found:
            content = tokenize(sp.text) or [w.lower() for w in TOKEN_PATTERN.findall(sp.text)]
            if content and all(t in q_tokens for t in content):
                continue  # the question already says it: not an answer
            if wanted == ANY or sp.kind == wanted or (wanted == NUMBER and sp.kind == MONEY):
                out.append(sp)
    return out


def lacks_typed_evidence(question: str, sentences: Sequence[AnswerSentence]) -> bool:
    """True when the question asks for a number, an amount or a date and none of the answer
    sentences holds one: the corpus speaks of the subject but not of the fact asked."""
    if question_type(question) not in (NUMBER, MONEY, DATE):
        return False
    return not answer_spans(question, sentences)


def best_span(
    question: str,
    sentences: Sequence[AnswerSentence],
    terms: Sequence[str],
    weights: SpanWeights = DEFAULT_SPAN_WEIGHTS,
) -> Span | None:
    """The confident short answer among the answer sentences (best first), or None."""
    if not sentences:
        return None
    wanted = question_type(question)
    term_set = frozenset(terms)
    top = max(s.score for s in sentences)
    spans = answer_spans(question, sentences)
    docs: dict[str, set[str]] = {}
    for sp in spans:
        docs.setdefault(_norm(sp.text), set()).add(sentences[sp.sentence].doc_id)
    scored: dict[str, tuple[float, Span]] = {}
    words = [_Words.of(s.text, term_set) for s in sentences]
    for sp in spans:
        score = (
            weights.sentence * (sentences[sp.sentence].score - top)
            + weights.proximity * words[sp.sentence].closeness(sp)
            + weights.agreement * math.log(len(docs[_norm(sp.text)]))
        )
        if wanted == ANY and sp.kind != NAME:
            score -= weights.phrase if sp.kind == PHRASE else weights.untyped
        key = _norm(sp.text)
        if key not in scored or score > scored[key][0]:
            scored[key] = (score, sp)
    if not scored:
        return None
    ranked = sorted(scored.values(), key=lambda t: -t[0])
    if len(ranked) > 1 and ranked[0][0] - ranked[1][0] < weights.min_margin:
        return None
    return ranked[0][1]
