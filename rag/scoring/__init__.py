"""Scoring of retrieval candidates: fusion, answer-sentence selection, abstention.

Pure functions over numbers the store already has; no I/O, no model, numpy only. Terms come
from `rag.text` (the tokenizer BM25 and ingest use too), re-exported here so `scoring.X`
reads as before.

- `fusion`: `Candidate`, `fuse` (one score per retrieved chunk);
- `selection`: `select_sentences` (the answer sentences of the top passages);
- `abstention`: `AbstainModel`, `abstain_features`, `should_abstain`.
"""

from rag.scoring.abstention import (
    ABSTAIN_FEATURES,
    DEFAULT_ABSTAIN,
    MISSING_CAP,
    AbstainModel,
    abstain_features,
    confidence,
    name_terms,
    should_abstain,
    term_weights,
    typed_evidence,
)
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
from rag.scoring.selection import (
    ANSWER_PASSAGES,
    ANSWER_TYPE_WEIGHT,
    DEFAULT_SENTENCE_WEIGHTS,
    SentenceWeights,
    answer_type_bonus,
    select_sentences,
    sentence_scores,
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
    "ABSTAIN_FEATURES",
    "ANSWER_PASSAGES",
    "ANSWER_TYPE_WEIGHT",
    "BIGRAM_WEIGHT",
    "BM25_STOPWORDS",
    "DEFAULT_ABSTAIN",
    "DEFAULT_SENTENCE_WEIGHTS",
    "DEFAULT_WEIGHTS",
    "FEATURES",
    "MISSING_CAP",
    "QUESTION_WORDS",
    "RRF_K",
    "TOKEN_PATTERN",
    "ZSCORE_STD_FLOOR",
    "AbstainModel",
    "Candidate",
    "FusionWeights",
    "Method",
    "SentenceWeights",
    "abstain_features",
    "answer_type_bonus",
    "bigrams",
    "bm25_idf",
    "candidate_features",
    "confidence",
    "doc_frequencies",
    "fuse",
    "fusion_scores",
    "idf_from_bm25s",
    "lex_scores",
    "local_idf",
    "minmax",
    "name_terms",
    "question_terms",
    "select_sentences",
    "sentence_scores",
    "should_abstain",
    "term_weights",
    "tokenize",
    "typed_evidence",
    "zscore",
]
