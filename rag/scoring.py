"""Scoring of retrieval candidates: fusion, answer-sentence selection, abstention.

Pure functions over numbers the store already has; no I/O, no model, numpy only (plus the
PyStemmer stemmer for `tokenize`, the same one the BM25 index uses, so lexical overlap and BM25
agree on what a term is).

The query pipeline embeds the question once, takes the union of the dense top-N and the BM25
top-N chunks (N = 30 measured best), and builds one `Candidate` per chunk with:

- `bm25`: the BM25 score of the question against title + chunk text (0.0 when BM25 did not
  score it; bm25s can give scores for every document),
- `dense`: cosine of the question vector with the chunk vector,
- `sentence_cos`: cosines of the question vector with each of the chunk's sentence vectors
  (sentences from `rag.sentences.sentence_spans`, embedded at ingest),
- `sentence_texts`: those sentences, in reading order,
- `title`: the article's title,
- optionally `sentence_tokens` (ordered `tokenize` output per sentence, can be stored at ingest;
  otherwise computed here, ~2-5 ms per query).

`fuse` ranks them, `select_sentences` picks the answer sentences, `should_abstain` decides
whether anything answers the question at all. All constants were chosen with
`bench/experiments/squad_scoring.py` on a dev split of SQuAD v1.1 dev (questions of its first
10 titles), then checked on the other 38 titles; see that script for the record.

Fused score (method "zscore"): each feature is standardized over the candidate set, then
    score = 1.0 z(bm25) + 2.0 z(dense) + 1.5 z(sent1) + 1.5 z(lex)
where sent1 is the best sentence cosine and lex the best sentence's lexical evidence:
    lex(s) = share of the question terms' local idf found in s (terms in the title not counted)
             + 0.5 * share of the question's adjacent term pairs found adjacent in s.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Tokens (the same pipeline as bm25s.tokenize with stopwords="en" and a snowball stemmer)

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
# bm25s's English stop words, so that BM25 and overlap see the same terms.
BM25_STOPWORDS: frozenset[str] = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)
# Words that say what kind of answer is wanted but never occur in the answer's sentence; they
# are dropped from the question's terms for overlap (not from BM25).
QUESTION_WORDS: frozenset[str] = frozenset(
    "what which who whom whose when where why how did do does doe done many much name named "
    "kind type year years was were is are has have had can could would should "
    # framing words of news questions ("what did X say about Y"): never the evidence itself
    "about say says tell".split()
)


_local = threading.local()


def _stemmer() -> Any:
    """One stemmer per thread: a PyStemmer instance has state and must not be shared by
    concurrent callers (queries run in many threads)."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import Stemmer  # PyStemmer, the stemmer of the BM25 index

        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


_STEMS: dict[str, str] = {}  # word -> stem; stemming is deterministic, so a shared cache is safe
_STEMS_MAX = 500_000


def _stem_all(words: list[str]) -> list[str]:
    todo = [w for w in set(words) if w not in _STEMS]
    if todo:
        if len(_STEMS) > _STEMS_MAX:
            _STEMS.clear()
        _STEMS.update(zip(todo, _stemmer().stemWords(todo), strict=True))
    return [_STEMS[w] for w in words]


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-word-free, snowball-stemmed terms of `text`, in order."""
    words = [w for w in TOKEN_PATTERN.findall(text.lower()) if w not in BM25_STOPWORDS]
    return _stem_all(words) if words else []


_QUESTION_STEMS: frozenset[str] | None = None


def question_terms(question: str) -> list[str]:
    """Distinct stemmed terms of a question that matter for overlap (question words dropped),
    in question order (adjacent pairs of them are the question's bigrams)."""
    global _QUESTION_STEMS
    if _QUESTION_STEMS is None:
        _QUESTION_STEMS = frozenset(_stem_all(sorted(QUESTION_WORDS))) | QUESTION_WORDS
    return list(dict.fromkeys(t for t in tokenize(question) if t not in _QUESTION_STEMS))


def bigrams(tokens: Sequence[str]) -> frozenset[tuple[str, str]]:
    return frozenset(zip(tokens, tokens[1:], strict=False))


# --------------------------------------------------------------------------------------------
# Candidates and their features


@dataclass
class Candidate:
    """One retrieved chunk with the signals the scorer needs.

    chunk_id:        the store's id (opaque here).
    bm25:            BM25 score of the question against title + chunk (0.0 if unscored).
    dense:           cosine(question vector, chunk vector).
    sentence_cos:    cosine(question vector, sentence vector) for each sentence, shape (n,).
    sentence_texts:  the n sentences in reading order (tokenized here if no tokens are given).
    title:           the article's title; question terms found in it do not count as
                     sentence-level evidence (every sentence of the article "has" them).
    sentence_tokens: optional: for each sentence its `tokenize` output, in order (a store can
                     keep them from ingest); computed from the texts when None.
    payload:         anything the caller wants carried along (metadata, offsets, ...).
    sentence_lex:    filled by `fuse`: each sentence's lexical evidence (see `lex_scores`).
    """

    chunk_id: str
    bm25: float
    dense: float
    sentence_cos: np.ndarray
    sentence_texts: list[str]
    title: str = ""
    sentence_tokens: list[Sequence[str]] | None = None
    payload: Any = field(default=None, repr=False, compare=False)
    sentence_lex: np.ndarray | None = field(default=None, repr=False, compare=False)
    _sets: list[frozenset[str]] | None = field(default=None, repr=False, compare=False)
    _pairs: dict[int, frozenset[tuple[str, str]]] | None = field(
        default=None, repr=False, compare=False
    )
    _title_tokens: frozenset[str] | None = field(default=None, repr=False, compare=False)

    def _ordered(self) -> list[Sequence[str]]:
        if self.sentence_tokens is None:
            self.sentence_tokens = [tokenize(s) for s in self.sentence_texts]
        return self.sentence_tokens

    def tokens(self) -> list[frozenset[str]]:
        """The set of terms of each sentence."""
        if self._sets is None:
            self._sets = [frozenset(t) for t in self._ordered()]
        return self._sets

    def token_pairs(self, i: int) -> frozenset[tuple[str, str]]:
        """The adjacent term pairs of sentence i."""
        if self._pairs is None:
            self._pairs = {}
        pairs = self._pairs.get(i)
        if pairs is None:
            pairs = self._pairs[i] = bigrams(list(self._ordered()[i]))
        return pairs

    def title_tokens(self) -> frozenset[str]:
        if self._title_tokens is None:
            self._title_tokens = frozenset(tokenize(self.title)) if self.title else frozenset()
        return self._title_tokens


FEATURES = ("bm25", "dense", "sent1", "sent2", "lex")


@dataclass(frozen=True)
class FusionWeights:
    """Weights of the z-scored features (see `candidate_features`); 0 drops a feature.

    Chosen by coordinate ascent on MRR@10 over the SQuAD dev split (bench/experiments/
    squad_scoring.py --tune), BM25 fixed at 1 as the scale; a grid of 0-3 in steps of .25-1.
    """

    bm25: float = 1.0
    dense: float = 2.0
    sent1: float = 1.5  # best sentence's cosine
    sent2: float = 0.0  # second-best sentence's cosine (measured: no gain)
    lex: float = 1.5  # best sentence's lexical evidence (`lex_scores`)

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, f) for f in FEATURES], dtype=np.float64)


DEFAULT_WEIGHTS = FusionWeights()
RRF_K = 60  # the usual reciprocal-rank-fusion constant
ZSCORE_STD_FLOOR = 1e-6
BIGRAM_WEIGHT = 0.5  # of the bigram share in `lex_scores` (dev grid .25/.5/1: .5 best)


def local_idf(hit: np.ndarray) -> np.ndarray:
    """BM25-style idf of each term (column) over the sentences (rows) of the candidate set.

    Terms found in many candidate sentences (the topic of the question, usually) weigh little;
    the rare ones that pin down the sentence weigh most. (Measured better than global idf.)
    """
    n = hit.shape[0]
    df = hit.sum(axis=0)
    return np.log1p((n - df + 0.5) / (df + 0.5))


def lex_scores(candidates: Sequence[Candidate], terms: Sequence[str]) -> list[np.ndarray]:
    """For each candidate, the lexical evidence of each of its sentences:

    share of the question's term weight the sentence contains, the weight of a term being its
    idf over all sentences of `candidates` and 0 when the term is in the candidate's title,
    plus BIGRAM_WEIGHT * share of the question's adjacent term pairs found in the sentence.
    """
    sizes = [len(c.sentence_cos) for c in candidates]
    if not terms or sum(sizes) == 0:
        return [np.zeros(n) for n in sizes]
    sets = [s for c in candidates for s in c.tokens()]
    if len(sets) != sum(sizes):
        raise ValueError("each candidate needs one token set per sentence cosine")
    hit = np.array([[t in s for t in terms] for s in sets], dtype=np.float64)
    idf = local_idf(hit)
    q_pairs = bigrams(list(terms))
    out: list[np.ndarray] = []
    start = 0
    for c, n in zip(candidates, sizes, strict=True):
        title = c.title_tokens()
        w = idf * np.array([t not in title for t in terms], dtype=np.float64)
        total = w.sum()
        block = hit[start : start + n]
        start += n
        lex = block @ w / total if total > 0 else np.zeros(n)
        if q_pairs and BIGRAM_WEIGHT:
            # only sentences holding two or more question terms can hold a pair of them
            for i in np.nonzero(block.sum(axis=1) >= 2)[0]:
                found = len(q_pairs & c.token_pairs(int(i)))
                lex[i] += BIGRAM_WEIGHT * found / len(q_pairs)
        out.append(lex)
    return out


def sentence_overlap(candidates: Sequence[Candidate], terms: Sequence[str]) -> list[np.ndarray]:
    """Alias of `lex_scores` (the earlier name)."""
    return lex_scores(candidates, terms)


def candidate_features(
    candidates: Sequence[Candidate],
    terms: Sequence[str] = (),
    *,
    overlaps: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Raw features, shape (len(candidates), len(FEATURES)), columns in FEATURES order.

    Also stores each candidate's sentence evidence in `candidate.sentence_lex`.
    """
    if overlaps is None:
        overlaps = lex_scores(candidates, terms)
    feats = np.zeros((len(candidates), len(FEATURES)), dtype=np.float64)
    for i, c in enumerate(candidates):
        c.sentence_lex = overlaps[i]
        cos = np.asarray(c.sentence_cos, dtype=np.float64)
        feats[i, 0] = c.bm25
        feats[i, 1] = c.dense
        if cos.size:
            top = np.sort(cos)[::-1]
            feats[i, 2] = top[0]
            feats[i, 3] = top[1] if cos.size > 1 else top[0]
        else:  # a chunk without sentences: fall back on the chunk cosine
            feats[i, 2] = feats[i, 3] = c.dense
        feats[i, 4] = overlaps[i].max() if overlaps[i].size else 0.0
    return feats


def zscore(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """(x - mean) / std along `axis`, with a floor on std so constant columns give 0."""
    mu = x.mean(axis=axis, keepdims=True)
    sd = x.std(axis=axis, keepdims=True)
    return (x - mu) / np.maximum(sd, ZSCORE_STD_FLOOR)


def minmax(x: np.ndarray, axis: int = 0) -> np.ndarray:
    lo = x.min(axis=axis, keepdims=True)
    hi = x.max(axis=axis, keepdims=True)
    return (x - lo) / np.maximum(hi - lo, ZSCORE_STD_FLOOR)


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based rank of each value, highest first (ties by position)."""
    order = np.argsort(-x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    return ranks


Method = Literal["zscore", "minmax", "rrf"]


def fusion_scores(
    feats: np.ndarray, weights: FusionWeights = DEFAULT_WEIGHTS, method: Method = "zscore"
) -> np.ndarray:
    """One score per row of `candidate_features` output."""
    if feats.shape[0] == 0:
        return np.zeros(0)
    if method == "rrf":  # the baseline: chunk-level BM25 and dense ranks only
        return 1.0 / (RRF_K + _ranks(feats[:, 0])) + 1.0 / (RRF_K + _ranks(feats[:, 1]))
    norm = zscore(feats) if method == "zscore" else minmax(feats)
    return norm @ weights.vector()


def fuse(
    candidates: Sequence[Candidate],
    terms: Sequence[str] = (),
    *,
    idf: Mapping[str, float] | None = None,
    weights: FusionWeights = DEFAULT_WEIGHTS,
    method: Method = "zscore",
) -> list[tuple[Candidate, float]]:
    """Candidates with their fused score, best first.

    `zscore` (the default) standardizes each feature over the candidate set and adds them with
    `weights`; `minmax` rescales to [0, 1] instead (measured slightly worse); `rrf` is
    reciprocal rank fusion of BM25 and chunk cosine, kept as the baseline. `terms` are the
    question's `question_terms`. `idf` (global) is not needed here: the lexical feature uses an
    idf local to the candidate set; it is accepted so callers can pass one signature around.
    """
    del idf
    feats = candidate_features(candidates, terms)
    scores = fusion_scores(feats, weights, method)
    order = np.argsort(-scores, kind="stable")
    return [(candidates[i], float(scores[i])) for i in order]


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


# --------------------------------------------------------------------------------------------
# Global idf, as the BM25 index has it


def bm25_idf(doc_freq: Mapping[str, int], n_docs: int) -> dict[str, float]:
    """The BM25 (Lucene) idf of each term, from document frequencies."""
    return {t: math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5)) for t, df in doc_freq.items()}


def idf_from_bm25s(vocab: Mapping[str, int], indptr: np.ndarray, n_docs: int) -> dict[str, float]:
    """idf from a bm25s index: `retriever.vocab_dict`, `retriever.scores["indptr"]`,
    `retriever.scores["num_docs"]` (the score matrix is CSC by term, so df = column sizes)."""
    df = np.diff(np.asarray(indptr))
    return bm25_idf({t: int(df[i]) for t, i in vocab.items() if t and i < len(df)}, n_docs)


def doc_frequencies(docs: Iterable[Iterable[str]]) -> dict[str, int]:
    """Number of docs (token lists) containing each term."""
    df: dict[str, int] = {}
    for d in docs:
        for t in set(d):
            df[t] = df.get(t, 0) + 1
    return df
