"""Fusion of retrieval candidates: one score per retrieved chunk from BM25, dense and
sentence-level evidence.

The query pipeline embeds the question once, takes the union of the dense top-N and the BM25
top-N chunks (N = `Settings.candidates`, 40 by default), and builds one `Candidate` per chunk with:

- `bm25`: the BM25 score of the question against title + chunk text (0.0 when BM25 did not
  score it; bm25s can give scores for every document),
- `dense`: cosine of the question vector with the chunk vector,
- `sentence_cos`: cosines of the question vector with each of the chunk's sentence vectors
  (sentences from `rag.sentences.sentence_spans`, embedded at ingest),
- `sentence_texts`: those sentences, in reading order,
- `title`: the article's title,
- optionally `sentence_tokens` (ordered `rag.text.tokenize` output per sentence, stored at
  ingest; otherwise computed here, ~2-5 ms per query).

All constants were chosen with `bench/experiments/squad_scoring.py` on a dev split of SQuAD
v1.1 dev (questions of its first 10 titles), then checked on the other 38 titles.

Fused score (method "zscore"): each feature is standardized over the candidate set, then
    score = 1.0 z(bm25) + 2.0 z(dense) + 1.5 z(sent1) + 1.5 z(lex) - 1.5 log(1 + ordinal)
where ordinal is the chunk's position in its article (the lede prior, fitted on news:
bench/experiments/news_scoring.py; SQuAD passages are mostly one chunk and do not mind),
sent1 is the best sentence cosine and lex the best sentence's lexical evidence:
    lex(s) = share of the question terms' local idf found in s (terms in the title not counted)
             + 0.5 * share of the question's adjacent term pairs found adjacent in s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from rag.text import bigrams, tokenize


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
    ordinal:         the chunk's position in its article (0 = the lede; see `FusionWeights.lede`).
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
    ordinal: int = 0
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
LEDE_PRIOR = 1.5  # fitted on RealTimeQA 2024-01..06 + SQuAD dev titles (news_scoring.py)


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
    # News is written as an inverted pyramid: the headline and lede carry the key facts. The
    # fused score loses `lede * log(1 + ordinal)` (ordinal 0 = first chunk); SQuAD passages
    # are mostly one chunk, so it is news that decides this (bench/experiments/news_scoring.py).
    lede: float = LEDE_PRIOR

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
    feats: np.ndarray,
    weights: FusionWeights = DEFAULT_WEIGHTS,
    method: Method = "zscore",
    ordinals: np.ndarray | None = None,
) -> np.ndarray:
    """One score per row of `candidate_features` output; `ordinals` (each chunk's position in
    its article) add the lede prior."""
    if feats.shape[0] == 0:
        return np.zeros(0)
    if method == "rrf":  # the baseline: chunk-level BM25 and dense ranks only
        return 1.0 / (RRF_K + _ranks(feats[:, 0])) + 1.0 / (RRF_K + _ranks(feats[:, 1]))
    norm = zscore(feats) if method == "zscore" else minmax(feats)
    scores = norm @ weights.vector()
    if ordinals is not None and weights.lede:
        scores = scores - weights.lede * np.log1p(np.asarray(ordinals, dtype=np.float64))
    return scores


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
    ordinals = np.array([c.ordinal for c in candidates], dtype=np.float64)
    scores = fusion_scores(feats, weights, method, ordinals)
    order = np.argsort(-scores, kind="stable")
    return [(candidates[i], float(scores[i])) for i in order]
