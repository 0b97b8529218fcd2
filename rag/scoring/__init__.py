"""Scoring of retrieval candidates: fusion (answer spans and refusal are the reader's,
`rag.reading`).

Pure functions over numbers the store already has; no I/O, no model, numpy only. Terms come
from `rag.text` (the tokenizer BM25 and ingest use too), re-exported here so `scoring.X`
reads as before.

- `fusion`: `Candidate`, `fuse` (one score per retrieved chunk);
"""

from rag.scoring.fusion import (
    BIGRAM_WEIGHT,
    DEFAULT_WEIGHTS,
    FEATURES,
    RRF_K,
    ZSCORE_STD_FLOOR,
    Candidate,
    FusionWeights,
    Method,
    candidate_features,
    fuse,
    fusion_scores,
    lex_scores,
    local_idf,
    minmax,
    zscore,
)
from rag.text import (
    BM25_STOPWORDS,
    QUESTION_WORDS,
    TOKEN_PATTERN,
    bigrams,
    bm25_idf,
    doc_frequencies,
    idf_from_bm25s,
    question_terms,
    tokenize,
)

__all__ = [
    "BIGRAM_WEIGHT",
    "BM25_STOPWORDS",
    "DEFAULT_WEIGHTS",
    "FEATURES",
    "QUESTION_WORDS",
    "RRF_K",
    "TOKEN_PATTERN",
    "ZSCORE_STD_FLOOR",
    "Candidate",
    "FusionWeights",
    "Method",
    "bigrams",
    "bm25_idf",
    "candidate_features",
    "doc_frequencies",
    "fuse",
    "fusion_scores",
    "idf_from_bm25s",
    "lex_scores",
    "local_idf",
    "minmax",
    "question_terms",
    "tokenize",
    "zscore",
]
