"""Abstention: does anything retrieved answer the question at all?"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rag.scoring.fusion import Candidate
from rag.scoring.selection import _Q_DATE, _Q_NUMBER, _Q_PERSON, answer_type_bonus
from rag.text import tokenize

# --------------------------------------------------------------------------------------------
# Abstention
#
# A logistic model over absolute signals of the top passages (the fused score is relative to
# the candidate set, so it cannot tell "nothing fits" from "everything fits"). Fitted by
# bench/experiments/squad_scoring.py --tune-abstain on the questions of the first 24 SQuAD
# titles: positives are the questions, negatives the same questions with their gold passage
# removed from the pool (and whose answer no remaining candidate contains). The threshold lets
# 2.5% of those positives abstain. Checked on the other 24 titles, on tests/unanswerable.jsonl
# and on bench/data/unanswerable-heldout.jsonl (written before these features were chosen).

ABSTAIN_FEATURES = (
    "sent1",
    "coverage",
    "number_missing",
    "name_missing",
    "margin",
    "missing3",
    "typed_evidence",
)
MISSING_CAP = 8.0  # idf cap for the "rarest missing term" signal (terms unknown to the index)
_DIGIT = re.compile(r"\d")
_WORD = re.compile(r"\b\w[\w'-]*\b")


@dataclass(frozen=True)
class AbstainModel:
    """confidence = weights . features + bias (features in ABSTAIN_FEATURES order); abstain
    when confidence < threshold."""

    weights: tuple[float, ...] = (5.113, 2.466, -0.413, -0.12, 0.136, 0.031, 2.063)
    bias: float = -5.81
    threshold: float = -1.354

    def confidence(self, feats: np.ndarray) -> float:
        return float(np.dot(self.weights, feats) + self.bias)


DEFAULT_ABSTAIN = AbstainModel()


def term_weights(terms: Sequence[str], idf: Mapping[str, float] | None) -> np.ndarray:
    """Global idf of each term, capped at MISSING_CAP; terms unknown to the index get the cap.
    All 1.0 when no idf is given."""
    if idf is None:
        return np.ones(len(terms), dtype=np.float64)
    return np.array([min(idf.get(t, MISSING_CAP), MISSING_CAP) for t in terms], dtype=np.float64)


def name_terms(question: str) -> frozenset[str]:
    """Stems of the question's names and numbers: capitalized words past the first, and any
    word with a digit. A passage that answers a question about "Super Bowl 51" names 51."""
    out: set[str] = set()
    for i, word in enumerate(_WORD.findall(question)):
        if (i > 0 and word[0].isupper()) or _DIGIT.search(word):
            out.update(tokenize(word))
    return frozenset(out)


def _present(c: Candidate) -> set[str]:
    return set(c.title_tokens()).union(*c.tokens())


def abstain_features(
    ranked: Sequence[tuple[Candidate, float]],
    terms: Sequence[str] = (),
    *,
    idf: Mapping[str, float] | None = None,
    question: str = "",
) -> np.ndarray:
    """The ABSTAIN_FEATURES of a ranking:

    sent1:          the top candidate's best sentence cosine;
    coverage:       share of the question terms' global idf found in its title or text;
    number_missing: 1 if a question term with a digit (a year, "51") is absent from it;
    name_missing:   the largest idf among the question's names and numbers absent from it;
    margin:         its fused score minus the runner-up's (a clear winner vs. a shrug);
    missing3:       the largest idf among question terms absent from all of the top three;
    typed_evidence: the largest share of the question's non-title term idf that one sentence of
                    the top candidate holds, among its sentences holding the kind of answer
                    asked for (`answer_type_bonus`: a number for "how many", a date for
                    "when", a name for "who"); any sentence for other questions.
    """
    if not ranked:
        return np.array([-1.0, 0.0, 0.0, MISSING_CAP, 0.0, MISSING_CAP, 0.0])
    c = ranked[0][0]
    cos = np.asarray(c.sentence_cos, dtype=np.float64)
    s1 = float(cos.max()) if cos.size else float(c.dense)
    margin = float(ranked[0][1] - ranked[1][1]) if len(ranked) > 1 else 0.0
    if not terms:
        return np.array([s1, 0.0, 0.0, 0.0, margin, 0.0, 0.0])
    present = _present(c)
    w = term_weights(terms, idf)
    hit = np.array([t in present for t in terms], dtype=np.float64)
    cov = float(hit @ w / w.sum()) if w.sum() > 0 else 0.0
    names = name_terms(question)
    absent = [i for i, t in enumerate(terms) if t not in present]
    number_missing = float(any(_DIGIT.search(terms[i]) for i in absent))
    name_missing = max((float(w[i]) for i in absent if terms[i] in names), default=0.0)
    top3 = set().union(*(_present(rc) for rc, _ in ranked[:3]))
    missing3 = max((float(w[i]) for i, t in enumerate(terms) if t not in top3), default=0.0)
    typed = typed_evidence(c, terms, w, question)
    return np.array([s1, cov, number_missing, name_missing, margin, missing3, typed])


def typed_evidence(c: Candidate, terms: Sequence[str], w: np.ndarray, question: str) -> float:
    """See `abstain_features`: does one sentence hold both the question's specifics and an
    answer of the right kind? Near-topic questions ("how many patents did Tesla file in
    Japan?") find sentences on the topic, but rarely one with the specifics and a number."""
    title = c.title_tokens()
    focus = w * np.array([t not in title for t in terms], dtype=np.float64)
    if focus.sum() <= 0:
        focus = w
    if focus.sum() <= 0 or not c.tokens():
        return 0.0
    shares = [float(np.array([t in s for t in terms]) @ focus / focus.sum()) for s in c.tokens()]
    if question and (
        _Q_NUMBER.search(question) or _Q_DATE.search(question) or _Q_PERSON.search(question)
    ):
        bonus = answer_type_bonus(question, c.sentence_texts)
        shares = [sh for sh, b in zip(shares, bonus, strict=False) if b > 0]
    return max(shares, default=0.0)


def confidence(
    ranked: Sequence[tuple[Candidate, float]],
    terms: Sequence[str] = (),
    *,
    idf: Mapping[str, float] | None = None,
    question: str = "",
    model: AbstainModel = DEFAULT_ABSTAIN,
) -> float:
    """How sure we are that the top passage answers the question (higher is surer)."""
    return model.confidence(abstain_features(ranked, terms, idf=idf, question=question))


def should_abstain(
    ranked: Sequence[tuple[Candidate, float]],
    terms: Sequence[str] = (),
    *,
    idf: Mapping[str, float] | None = None,
    question: str = "",
    model: AbstainModel = DEFAULT_ABSTAIN,
) -> bool:
    """True when nothing retrieved answers the question well enough.

    `idf` is the global idf of the BM25 index (`idf_from_bm25s`); without it every term
    weighs the same, which the threshold was not calibrated for.
    """
    return confidence(ranked, terms, idf=idf, question=question, model=model) < model.threshold
