"""Checked citations for generated answers: pure functions, no model, no I/O.

A language model is asked to end every sentence with `[n]`, the number of the passage it used.
Small models forget, cite the wrong passage, invent numbers or add sentences of their own.
So whatever the model wrote, each answer sentence is aligned here to the passage sentence that
supports it best:

- content-word overlap: the idf-weighted share of the answer sentence's terms
  (`rag.text.tokenize`, the BM25 terms) found in the passage sentence (plus the passage's
  title, since an answer names its subject where the passage says "it"), blended with the share
  found anywhere in the passage;
- embedding similarity: cosine of the answer sentence's vector with the passage sentence's
  vector, when vectors are given (the caller embeds the answer sentences once, in a batch).

`support` in 0..1 mixes the two. A sentence keeps its own marker when the cited passage
supports it (nearly) as well as the best one; otherwise the marker is fixed to the best
passage; numbers that match no passage are removed; a sentence that no passage supports well
enough is dropped or visibly marked, as the caller asks. Citations are then numbered 1..n in
order of first use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from rag.sentences import split_sentences
from rag.text import tokenize

# Support = LEX_WEIGHT * overlap + (1 - LEX_WEIGHT) * cosine (overlap alone without vectors).
LEX_WEIGHT = 0.5
# Overlap = SENTENCE_SHARE * (terms in the passage sentence + title)
#         + (1 - SENTENCE_SHARE) * (terms anywhere in the passage + title).
SENTENCE_SHARE = 0.7
# A sentence below this support is unsupported. On 60 SQuAD dev questions, garbled copies of a
# passage's sentences (60% of their words, reordered) scored 0.86 or more (5th percentile)
# against that passage and 0.17 or less (99th) against another question's top passage. What
# overlap cannot catch is a false claim made of the passage's own words ("fell" for "rose").
SUPPORT_THRESHOLD = 0.5
# The model's own marker is kept when its passage is this close to the best passage.
CITED_MARGIN = 0.05
# Answer sentences with fewer content terms than this are formatting noise ("Answer:", "[1]").
MIN_TERMS = 1
UNSUPPORTED_MARK = "[unsupported]"

# [1]  [1, 2]  [1][2]  [Passage 1]  [source 2]  [^3]
_MARKER = re.compile(
    r"\[\s*(?:\^|passages?\s*|sources?\s*|doc(?:ument)?s?\s*)?"
    r"(\d{1,3}(?:\s*(?:,|;|and|&)\s*\d{1,3})*)\s*\]",
    re.IGNORECASE,
)
_UNSUPPORTED = re.compile(re.escape(UNSUPPORTED_MARK), re.IGNORECASE)
# Markers written after the full stop ("... in 2027. [2] The ...") belong to the sentence
# before it: move them in front of the stop so the sentence splitter keeps them together.
_TRAILING = re.compile(r"([.!?])((?:\s*\[[^\]\n]{1,20}\])+)")
_PREFIX = re.compile(
    r"^\s*(?:[-*•]+\s+|\d+[.)]\s+|(?:answer|response|passage\s*\d*|source\s*\d*)\s*:\s*"
    r"|the\s+answer(?:\s+to\s+(?:the|your)\s+question)?\s+is\s*:?\s*)",
    re.IGNORECASE,
)
# The prompt writes passages as "[n] Title — text"; small models echo that heading.
_HEADING = re.compile(r"^(.{3,200}?)\s+[—–-]{1,2}\s+(?=\S)")
# An answer sentence whose numbers the supporting sentence does not contain is suspect
# ("a 14-year-old" from "Sixteen-year-old"): its support is multiplied by this.
NUMBER_PENALTY = 0.5
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
} | {
    w: str(10 * i)
    for i, w in enumerate("_ _ _ thirty forty fifty sixty seventy eighty ninety".split())
    if w != "_"
}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
_MARKDOWN = re.compile(r"\*\*|__|`")


@dataclass
class Evidence:
    """What the checker needs of one numbered passage (number = index + 1)."""

    title: str
    sentences: list[str]
    vectors: np.ndarray | None = None  # (len(sentences), dim), unit-normalized, or None

    _tokens: list[frozenset[str]] | None = field(default=None, repr=False)
    _title_tokens: frozenset[str] | None = field(default=None, repr=False)
    _numbers: frozenset[str] | None = field(default=None, repr=False)

    def tokens(self) -> list[frozenset[str]]:
        if self._tokens is None:
            self._tokens = [frozenset(tokenize(s)) for s in self.sentences]
        return self._tokens

    def title_tokens(self) -> frozenset[str]:
        if self._title_tokens is None:
            self._title_tokens = frozenset(tokenize(self.title))
        return self._title_tokens

    def numbers(self) -> frozenset[str]:
        if self._numbers is None:
            self._numbers = numbers_in(" ".join([self.title, *self.sentences]))
        return self._numbers


@dataclass
class DraftSentence:
    """One sentence of the model's answer: its text without markers and what it cited."""

    text: str
    cited: list[int]  # the numbers the model wrote, in order, as written (may be invalid)


@dataclass
class SentenceVerdict:
    text: str
    cited: list[int]
    passage: int | None  # 0-based index of the supporting passage, None when unsupported
    sentence: int | None  # index of the supporting sentence in that passage
    support: float
    status: Literal["kept", "fixed", "added", "unsupported"]
    number: int | None = None  # the citation number in the checked answer


@dataclass
class CheckedAnswer:
    text: str
    # (passage index, sentence index, support) per citation, in citation-number order (1..n).
    citations: list[tuple[int, int, float]]
    sentences: list[SentenceVerdict]
    removed_numbers: int = 0  # markers that matched no passage

    @property
    def supported(self) -> list[SentenceVerdict]:
        return [s for s in self.sentences if s.passage is not None]

    @property
    def unsupported(self) -> list[SentenceVerdict]:
        return [s for s in self.sentences if s.passage is None]


def parse_numbers(group: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", group)]


def strip_markers(text: str) -> tuple[str, list[int]]:
    """The text without `[n]` markers (and without an earlier `[unsupported]` mark), and the
    numbers of the markers in order."""
    numbers: list[int] = []
    for m in _MARKER.finditer(text):
        numbers.extend(parse_numbers(m.group(1)))
    clean = _UNSUPPORTED.sub(" ", _MARKER.sub(" ", text))
    clean = _MARKDOWN.sub("", clean)
    clean = " ".join(clean.split())
    clean = re.sub(r"\s+([.,;:!?])", r"\1", clean)
    return clean, numbers


def split_draft(text: str) -> list[DraftSentence]:
    """The model's answer as sentences, each with the markers it carried."""
    text = _TRAILING.sub(lambda m: f"{m.group(2)}{m.group(1)}", text.strip())
    out: list[DraftSentence] = []
    for raw in split_sentences(text):
        clean, numbers = strip_markers(raw)
        clean = _PREFIX.sub("", clean).strip()
        if clean:
            out.append(DraftSentence(clean, numbers))
    return out


def prepare_draft(draft: str, evidence: Sequence[Evidence]) -> list[DraftSentence]:
    """The sentences `check_answer` judges (embed these, in this order, for its `vectors`)."""
    sentences = split_draft(draft)
    for ds in sentences:
        ds.text = strip_heading(ds.text, evidence)
    return sentences


def numbers_in(text: str) -> frozenset[str]:
    """The numbers a text states, as digit strings ("1,800" → "1800", "forty" → "40")."""
    found = {m.group(0).replace(",", "") for m in _NUMBER.finditer(text)}
    found |= {_NUMBER_WORDS[m.group(1).lower()] for m in _NUMBER_WORD.finditer(text)}
    return frozenset(found)


def strip_heading(text: str, evidence: Sequence[Evidence]) -> str:
    """Drop an echoed passage heading ("Title — ...") from the start of a sentence."""
    m = _HEADING.match(text)
    if not m:
        return text
    head = set(tokenize(m.group(1)))
    if head and any(len(head & ev.title_tokens()) >= 0.6 * len(head) for ev in evidence):
        rest = text[m.end() :].strip()
        return rest[:1].upper() + rest[1:] if rest else text
    return text


# A term unknown to the index weighs as much as the rarest terms, no more.
MISSING_CAP = 8.0


def _weights(terms: Sequence[str], idf: Mapping[str, float] | None) -> np.ndarray:
    """Global idf of each term, capped at MISSING_CAP (all 1.0 without an idf)."""
    if idf is None:
        return np.ones(len(terms), dtype=np.float64)
    return np.array([min(idf.get(t, MISSING_CAP), MISSING_CAP) for t in terms], dtype=np.float64)


def overlap_matrix(terms: Sequence[str], weights: np.ndarray, evidence: Evidence) -> np.ndarray:
    """Idf-weighted share of `terms` found in each sentence of `evidence` (0..1, shape (n,))."""
    toks = evidence.tokens()
    total = float(weights.sum())
    if not terms or total <= 0 or not toks:
        return np.zeros(len(toks))
    title = evidence.title_tokens()
    whole = frozenset().union(*toks) | title
    in_whole = np.array([t in whole for t in terms], dtype=np.float64) @ weights / total
    per_sentence = (
        np.array([[(t in s or t in title) for t in terms] for s in toks], dtype=np.float64)
        @ weights
        / total
    )
    return SENTENCE_SHARE * per_sentence + (1 - SENTENCE_SHARE) * in_whole


def support_matrix(
    sentence: str,
    evidence: Sequence[Evidence],
    *,
    idf: Mapping[str, float] | None = None,
    vector: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Support (0..1) of `sentence` by every sentence of every passage."""
    terms = list(dict.fromkeys(tokenize(sentence)))
    weights = _weights(terms, idf)
    numbers = numbers_in(sentence)
    out: list[np.ndarray] = []
    for ev in evidence:
        lex = overlap_matrix(terms, weights, ev)
        if vector is not None and ev.vectors is not None and len(ev.vectors):
            cos = np.clip(np.asarray(ev.vectors, dtype=np.float64) @ vector, 0.0, 1.0)
            score = LEX_WEIGHT * lex + (1 - LEX_WEIGHT) * cos
        else:
            score = lex
        if numbers and not numbers <= ev.numbers():
            score = score * NUMBER_PENALTY
        out.append(score)
    return out


def check_answer(
    draft: str,
    evidence: Sequence[Evidence],
    *,
    idf: Mapping[str, float] | None = None,
    vectors: np.ndarray | None = None,
    unsupported: Literal["drop", "mark"] = "drop",
    threshold: float = SUPPORT_THRESHOLD,
    max_sentences: int | None = None,
    question: str | None = None,
) -> CheckedAnswer:
    """Align each sentence of `draft` to its best supporting passage sentence.

    `evidence[i]` is passage number i + 1 as the model saw it. `vectors`, if given, holds one
    unit vector per sentence of `prepare_draft(draft, evidence)`, in order. `max_sentences`
    caps how many supported sentences are kept (the rest are dropped). With `question`, a
    sentence that only restates it (no content term the question lacks) is left out: it is
    supported, but it answers nothing.
    """
    sentences = prepare_draft(draft, evidence)
    if vectors is not None and len(vectors) != len(sentences):
        raise ValueError(f"{len(vectors)} vectors for {len(sentences)} answer sentences")
    verdicts: list[SentenceVerdict] = []
    removed = 0
    seen: set[str] = set()
    asked = frozenset(tokenize(question)) if question else frozenset()
    kept = 0
    for i, ds in enumerate(sentences):
        key = " ".join(tokenize(ds.text))
        if len(key.split()) < MIN_TERMS or key in seen:  # noise or a repeated sentence
            continue
        if asked and set(key.split()) <= asked:  # restates the question
            continue
        seen.add(key)
        valid = [n for n in dict.fromkeys(ds.cited) if 1 <= n <= len(evidence)]
        removed += sum(1 for n in ds.cited if not 1 <= n <= len(evidence))
        vec = vectors[i] if vectors is not None else None
        sup = support_matrix(ds.text, evidence, idf=idf, vector=vec)
        best_p = [float(s.max()) if s.size else 0.0 for s in sup]
        verdict = SentenceVerdict(ds.text, ds.cited, None, None, 0.0, "unsupported")
        if best_p:
            overall = int(np.argmax(best_p))
            choice = overall
            status: Literal["kept", "fixed", "added"] = "fixed" if ds.cited else "added"
            if valid:
                cited_best = max(valid, key=lambda n: best_p[n - 1]) - 1
                if best_p[cited_best] >= threshold and (
                    best_p[cited_best] >= best_p[overall] - CITED_MARGIN
                ):
                    choice, status = cited_best, "kept"
            verdict.support = round(best_p[choice], 4)
            if best_p[choice] >= threshold and (max_sentences is None or kept < max_sentences):
                verdict.passage = choice
                verdict.sentence = int(np.argmax(sup[choice]))
                verdict.status = status
                kept += 1
            elif best_p[choice] >= threshold:
                continue  # supported but over the cap: leave it out entirely
        verdicts.append(verdict)

    numbers: dict[tuple[int, int], int] = {}
    citations: list[tuple[int, int, float]] = []
    parts: list[str] = []
    for v in verdicts:
        if v.passage is None:
            if unsupported == "mark":
                parts.append(f"{_ensure_stop(v.text)} {UNSUPPORTED_MARK}")
            continue
        quote = (v.passage, v.sentence or 0)
        if quote not in numbers:
            numbers[quote] = len(citations) + 1
            citations.append((v.passage, v.sentence or 0, v.support))
        else:  # the same quote supports several sentences: report the best support
            j = numbers[quote] - 1
            citations[j] = (citations[j][0], citations[j][1], max(citations[j][2], v.support))
        v.number = numbers[quote]
        parts.append(f"{_ensure_stop(v.text)} [{v.number}]")
    return CheckedAnswer(" ".join(parts), citations, verdicts, removed)


def _ensure_stop(text: str) -> str:
    """The sentence with a final stop (the model may have left it off before its marker)."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?", ":", ";")) else text + "."


def answer_marker_numbers(text: str) -> list[int]:
    """All `[n]` numbers in a text (for validity metrics)."""
    return [n for m in _MARKER.finditer(text) for n in parse_numbers(m.group(1))]
