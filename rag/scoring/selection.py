"""Answer-sentence selection: which sentences of the top passages answer the question."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rag.scoring.fusion import Candidate, lex_scores

# --------------------------------------------------------------------------------------------
# Answer sentences


@dataclass(frozen=True)
class SentenceWeights:
    """score(sentence) = cosine + lex * evidence + passage * (passage score - best passage's).

    evidence is `Candidate.sentence_lex` (filled by `fuse`); the passage term keeps sentences
    of clearly worse passages out. Grid on the dev split (containment with 1-3 sentences).
    """

    lex: float = 0.8
    passage: float = 0.05


DEFAULT_SENTENCE_WEIGHTS = SentenceWeights()
ANSWER_PASSAGES = 3  # answer sentences are taken from this many top passages


# --------------------------------------------------------------------------------------------
# Answer type: "how many" wants a number, "when" a date, "who" a name. A small bonus to the
# sentences that contain one breaks ties between sentences that merely restate the question.

ANSWER_TYPE_WEIGHT = 0.1
_Q_NUMBER = re.compile(
    r"\b(how (many|much|long|far|old|big|large|tall|high|often)|what (percent(age)?|number|"
    r"amount|proportion|share|size|price|cost))\b",
    re.IGNORECASE,
)
_Q_DATE = re.compile(r"\b(when|what (year|date|day|month|decade|century)|which year)\b", re.I)
_Q_PERSON = re.compile(r"^\W*(who|whom|whose)\b", re.IGNORECASE)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|sixty|hundred|thousand|million|billion|dozen|half|quarter|percent)\b",
    re.IGNORECASE,
)
_DATE = re.compile(
    r"\b(1[0-9]{3}|20[0-9]{2}|january|february|march|april|may|june|july|august|september|"
    r"october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"yesterday|today|century|decade)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+")


def answer_type_bonus(question: str, sentences: Sequence[str]) -> np.ndarray:
    """1.0 for each sentence holding the kind of thing the question asks for, else 0.0."""
    if _Q_NUMBER.search(question):
        pattern = _NUMBER
    elif _Q_DATE.search(question):
        pattern = _DATE
    elif _Q_PERSON.search(question):
        pattern = _NAME
    else:
        return np.zeros(len(sentences))
    return np.array([1.0 if pattern.search(s) else 0.0 for s in sentences])


def sentence_scores(
    ranked: Sequence[tuple[Candidate, float]],
    terms: Sequence[str] = (),
    *,
    top_passages: int = ANSWER_PASSAGES,
    weights: SentenceWeights = DEFAULT_SENTENCE_WEIGHTS,
    question: str = "",
) -> list[np.ndarray]:
    """Score of every sentence of the first `top_passages` ranked candidates."""
    head = list(ranked[:top_passages])
    if not head:
        return []
    cands = [c for c, _ in head]
    if any(c.sentence_lex is None or len(c.sentence_lex) != len(c.sentence_cos) for c in cands):
        for c, lex in zip(cands, lex_scores(cands, terms), strict=True):
            c.sentence_lex = lex
    best = head[0][1]
    return [
        np.asarray(c.sentence_cos, dtype=np.float64)
        + weights.lex * np.asarray(c.sentence_lex, dtype=np.float64)
        + weights.passage * (s - best)
        + ANSWER_TYPE_WEIGHT * answer_type_bonus(question, c.sentence_texts)
        for c, s in head
    ]


def select_sentences(
    ranked: Sequence[tuple[Candidate, float]],
    terms: Sequence[str] = (),
    *,
    max_sentences: int = 2,
    idf: Mapping[str, float] | None = None,
    top_passages: int = ANSWER_PASSAGES,
    weights: SentenceWeights = DEFAULT_SENTENCE_WEIGHTS,
    question: str = "",
) -> list[tuple[int, int, float]]:
    """Up to `max_sentences` (candidate index in `ranked`, sentence index, score).

    The best-scoring sentences of the top passages, in reading order: passages in ranked
    order, sentences in text order within a passage. `ranked` is (a prefix of) the output of
    `fuse`; `terms` are only used if `fuse` did not fill `sentence_lex`. `idf` is unused.
    """
    del idf
    scores = sentence_scores(
        ranked, terms, top_passages=top_passages, weights=weights, question=question
    )
    flat = [(ci, si, float(v)) for ci, sc in enumerate(scores) for si, v in enumerate(sc)]
    flat.sort(key=lambda t: -t[2])
    chosen = flat[: max(0, max_sentences)]
    chosen.sort(key=lambda t: (t[0], t[1]))
    return chosen
