"""Scoring of retrieval candidates: fusion, answer-sentence selection, abstention.

Pure functions over numbers the store already has; no I/O, no model, numpy only (plus the
PyStemmer stemmer for `tokenize`, the same one the BM25 index uses, so lexical overlap and BM25
agree on what a term is).

The query pipeline embeds the question once, takes the union of the dense top-N and the BM25
top-N chunks, and builds one `Candidate` per chunk with:

- `bm25`: the BM25 score of the question against title + chunk text (0.0 when BM25 did not
  score it; bm25s can give scores for every document),
- `dense`: cosine of the question vector with the chunk vector,
- `sentence_cos`: cosines of the question vector with each of the chunk's sentence vectors
  (sentences from `rag.sentences.sentence_spans`, embedded at ingest),
- `sentence_texts`: those sentences, in reading order,
- optionally `sentence_tokens` (from `tokenize`, can be precomputed at ingest).

`fuse` ranks them, `select_sentences` picks the answer sentences, `should_abstain` decides
whether anything answers the question at all. All constants were chosen with
`bench/experiments/squad_scoring.py` on a dev split of SQuAD v1.1 dev (questions of its first
10 titles), then checked on the other 38 titles; see that script for the record.
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
    "kind type year years was were is are has have had can could would should".split()
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


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-word-free, snowball-stemmed terms of `text`, in order."""
    words = [w for w in TOKEN_PATTERN.findall(text.lower()) if w not in BM25_STOPWORDS]
    return list(_stemmer().stemWords(words)) if words else []


def question_terms(question: str) -> list[str]:
    """Distinct stemmed terms of a question that matter for overlap (question words dropped)."""
    stem_q = set(_stemmer().stemWords(sorted(QUESTION_WORDS)))
    seen: dict[str, None] = {}
    for t in tokenize(question):
        if t not in stem_q and t not in QUESTION_WORDS:
            seen.setdefault(t, None)
    return list(seen)


# --------------------------------------------------------------------------------------------
# Candidates and their features


@dataclass
class Candidate:
    """One retrieved chunk with the signals the scorer needs.

    chunk_id:        the store's id (opaque here).
    bm25:            BM25 score of the question against title + chunk (0.0 if unscored).
    dense:           cosine(question vector, chunk vector).
    sentence_cos:    cosine(question vector, sentence vector) for each sentence, shape (n,).
    sentence_texts:  the n sentences in reading order (only used for tokens if none given).
    sentence_tokens: optional n sets of `tokenize` terms; computed from the texts if None.
    payload:         anything the caller wants carried along (metadata, offsets, ...).
    """

    chunk_id: str
    bm25: float
    dense: float
    sentence_cos: np.ndarray
    sentence_texts: list[str]
    sentence_tokens: list[frozenset[str]] | None = None
    payload: Any = field(default=None, repr=False, compare=False)

    def tokens(self) -> list[frozenset[str]]:
        if self.sentence_tokens is None:
            self.sentence_tokens = [frozenset(tokenize(s)) for s in self.sentence_texts]
        return self.sentence_tokens


FEATURES = ("bm25", "dense", "sent1", "sent2", "lex")


@dataclass(frozen=True)
class FusionWeights:
    """Weights of the z-scored features; a weight of 0 drops the feature."""

    bm25: float = 1.0
    dense: float = 0.5
    sent1: float = 1.0  # best sentence's cosine
    sent2: float = 0.0  # second-best sentence's cosine
    lex: float = 0.0  # best sentence's idf-weighted overlap with the question terms

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, f) for f in FEATURES], dtype=np.float64)


DEFAULT_WEIGHTS = FusionWeights()
RRF_K = 60  # the usual reciprocal-rank-fusion constant
ZSCORE_STD_FLOOR = 1e-6


def term_weights(terms: Sequence[str], idf: Mapping[str, float] | None) -> np.ndarray:
    """idf of each term (1.0 for all when no idf is given; unknown terms get the max seen)."""
    if idf is None or not terms:
        return np.ones(len(terms), dtype=np.float64)
    known = [idf[t] for t in terms if t in idf]
    default = max(known) if known else 1.0
    return np.array([idf.get(t, default) for t in terms], dtype=np.float64)


def sentence_overlap(
    candidates: Sequence[Candidate], terms: Sequence[str], weights: np.ndarray
) -> list[np.ndarray]:
    """For each candidate, the share of question-term weight each of its sentences contains."""
    total = float(weights.sum())
    out: list[np.ndarray] = []
    for c in candidates:
        toks = c.tokens()
        if not terms or total <= 0:
            out.append(np.zeros(len(toks)))
            continue
        hit = np.array([[t in s for t in terms] for s in toks], dtype=np.float64).reshape(
            len(toks), len(terms)
        )
        out.append(hit @ weights / total)
    return out


def candidate_features(
    candidates: Sequence[Candidate],
    terms: Sequence[str] = (),
    *,
    idf: Mapping[str, float] | None = None,
    overlaps: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Raw features, shape (len(candidates), len(FEATURES)), columns in FEATURES order."""
    if overlaps is None:
        overlaps = sentence_overlap(candidates, terms, term_weights(terms, idf))
    feats = np.zeros((len(candidates), len(FEATURES)), dtype=np.float64)
    for i, c in enumerate(candidates):
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


def fusion_scores(
    feats: np.ndarray,
    weights: FusionWeights = DEFAULT_WEIGHTS,
    method: Literal["zscore", "minmax", "rrf"] = "zscore",
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
    *,
    terms: Sequence[str] = (),
    idf: Mapping[str, float] | None = None,
    weights: FusionWeights = DEFAULT_WEIGHTS,
    method: Literal["zscore", "minmax", "rrf"] = "zscore",
) -> list[tuple[Candidate, float]]:
    """Candidates with their fused score, best first.

    `zscore` (the default) standardizes each feature over the candidate set and adds them with
    `weights`; `rrf` is reciprocal rank fusion of BM25 and chunk cosine, kept as the baseline.
    `terms` (from `question_terms`) and `idf` are only needed when `weights.lex` is non-zero.
    """
    feats = candidate_features(candidates, terms if weights.lex else (), idf=idf)
    scores = fusion_scores(feats, weights, method)
    order = np.argsort(-scores, kind="stable")
    return [(candidates[i], float(scores[i])) for i in order]


# --------------------------------------------------------------------------------------------
# Answer sentences


@dataclass(frozen=True)
class SentenceWeights:
    """score(sentence) = cos + lex * overlap + passage * (passage z-score - best passage's)."""

    lex: float = 0.3
    passage: float = 0.05


DEFAULT_SENTENCE_WEIGHTS = SentenceWeights()
ANSWER_PASSAGES = 3  # sentences are taken from this many top passages


def sentence_scores(
    ranked: Sequence[tuple[Candidate, float]],
    terms: Sequence[str] = (),
    *,
    idf: Mapping[str, float] | None = None,
    top_passages: int = ANSWER_PASSAGES,
    weights: SentenceWeights = DEFAULT_SENTENCE_WEIGHTS,
) -> list[np.ndarray]:
    """Score of every sentence of the first `top_passages` ranked candidates."""
    head = list(ranked[:top_passages])
    if not head:
        return []
    cands = [c for c, _ in head]
    overlaps = sentence_overlap(cands, terms, term_weights(terms, idf)) if weights.lex else None
    best = head[0][1]
    out = []
    for i, (c, s) in enumerate(head):
        sc = np.asarray(c.sentence_cos, dtype=np.float64).copy()
        if overlaps is not None:
            sc += weights.lex * overlaps[i]
        sc += weights.passage * (s - best)
        out.append(sc)
    return out


def select_sentences(
    ranked: Sequence[tuple[Candidate, float]],
    terms: Sequence[str] = (),
    *,
    max_sentences: int = 2,
    idf: Mapping[str, float] | None = None,
    top_passages: int = ANSWER_PASSAGES,
    weights: SentenceWeights = DEFAULT_SENTENCE_WEIGHTS,
) -> list[tuple[int, int, float]]:
    """Up to `max_sentences` (candidate index in `ranked`, sentence index, score).

    The best-scoring sentences of the top passages, returned in reading order: passages in
    ranked order, sentences in text order within a passage.
    """
    scores = sentence_scores(ranked, terms, idf=idf, top_passages=top_passages, weights=weights)
    flat = [(ci, si, float(v)) for ci, sc in enumerate(scores) for si, v in enumerate(sc)]
    flat.sort(key=lambda t: -t[2])
    chosen = flat[: max(0, max_sentences)]
    chosen.sort(key=lambda t: (t[0], t[1]))
    return chosen


# --------------------------------------------------------------------------------------------
# Abstention

ABSTAIN_THRESHOLD = 0.0  # placeholder until calibrated
ABSTAIN_LEX_WEIGHT = 0.3


def confidence(
    ranked: Sequence[tuple[Candidate, float]],
    terms: Sequence[str] = (),
    *,
    idf: Mapping[str, float] | None = None,
    top_passages: int = ANSWER_PASSAGES,
    lex_weight: float = ABSTAIN_LEX_WEIGHT,
) -> float:
    """How well the best sentence of the top passages matches the question, in absolute terms.

    max over sentences of (cosine + lex_weight * idf-weighted term overlap); unlike the fused
    score it does not depend on the other candidates, so one threshold fits every question.
    """
    head = [c for c, _ in ranked[:top_passages]]
    if not head:
        return -math.inf
    overlaps = sentence_overlap(head, terms, term_weights(terms, idf))
    best = -math.inf
    for c, ov in zip(head, overlaps):
        cos = np.asarray(c.sentence_cos, dtype=np.float64)
        if cos.size:
            best = max(best, float((cos + lex_weight * ov).max()))
        else:
            best = max(best, c.dense)
    return best


def should_abstain(
    ranked: Sequence[tuple[Candidate, float]],
    terms: Sequence[str] = (),
    *,
    idf: Mapping[str, float] | None = None,
    threshold: float = ABSTAIN_THRESHOLD,
) -> bool:
    """True when nothing retrieved answers the question well enough."""
    return confidence(ranked, terms, idf=idf) < threshold


def bm25_idf(doc_freq: Mapping[str, int], n_docs: int) -> dict[str, float]:
    """The BM25 (Lucene) idf of each term, from document frequencies of the index."""
    return {t: math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5)) for t, df in doc_freq.items()}


def doc_frequencies(docs: Iterable[Iterable[str]]) -> dict[str, int]:
    df: dict[str, int] = {}
    for d in docs:
        for t in set(d):
            df[t] = df.get(t, 0) + 1
    return df
