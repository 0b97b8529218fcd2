"""The one text analysis of newsrag: tokens, stems, stop words and idf.

Ingest (the sentence tokens stored beside each sentence), the BM25 index and the scorer all
read terms through this module, so "a term" means the same thing everywhere. Two tokenizers
live here and agree by construction:

- `bm25_tokenize`: bm25s's own tokenizer (English stop words, the PyStemmer snowball
  stemmer), used to build and query the BM25 index; kept as is so BM25 results never change;
- `tokenize`: the same regex, stop words and stemmer, for one text at a time (sentence
  tokens, question terms), with a shared stem cache.

`TOKENIZER_VERSION` is recorded in the store's config (`rag.store.schema.StoreConfig`): any
change to what these functions return must bump it, so a store whose stored sentence tokens
came from another tokenizer is refused with the `--rebuild` hint instead of silently
mismatching.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

TOKENIZER_VERSION = "1"

# The same pipeline as bm25s.tokenize with stopwords="en" and a snowball stemmer.
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


# word -> stem. Stemming is deterministic, so one cache serves every thread. When it is full it
# is *replaced* by a new dict, never cleared: a thread still reading the old one finds every
# word it saw there (clearing it under a reader raised KeyError under load).
_STEMS: dict[str, str] = {}
_STEMS_MAX = 500_000


def _stem_all(words: list[str]) -> list[str]:
    global _STEMS
    cache = _STEMS
    todo = [w for w in set(words) if w not in cache]
    if not todo:
        return [cache[w] for w in words]
    fresh = dict(zip(todo, _stemmer().stemWords(todo), strict=True))
    if len(cache) > _STEMS_MAX:
        _STEMS = dict(fresh)
    else:
        cache.update(fresh)
    return [fresh[w] if w in fresh else cache[w] for w in words]


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-word-free, snowball-stemmed terms of `text`, in order."""
    words = [w for w in TOKEN_PATTERN.findall(text.lower()) if w not in BM25_STOPWORDS]
    return _stem_all(words) if words else []


@lru_cache(maxsize=1)
def _question_stems() -> frozenset[str]:
    return frozenset(_stem_all(sorted(QUESTION_WORDS))) | QUESTION_WORDS


def question_terms(question: str) -> list[str]:
    """Distinct stemmed terms of a question that matter for overlap (question words dropped),
    in question order (adjacent pairs of them are the question's bigrams)."""
    drop = _question_stems()
    return list(dict.fromkeys(t for t in tokenize(question) if t not in drop))


def bigrams(tokens: Sequence[str]) -> frozenset[tuple[str, str]]:
    return frozenset(zip(tokens, tokens[1:], strict=False))


# --------------------------------------------------------------------------------------------
# BM25's tokenizer (bm25s), unchanged


@lru_cache(maxsize=1)
def _bm25_stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def bm25_tokenize(texts: list[str]) -> list[list[str]]:
    """Stemmed, stop-word-free tokens as the BM25 index sees them: the same analysis for
    documents and questions."""
    import bm25s

    return bm25s.tokenize(
        texts, stopwords="en", stemmer=_bm25_stemmer(), return_ids=False, show_progress=False
    )


def bm25_text(title: str, text: str) -> str:
    """What BM25 indexes of a chunk: its article's title, then its text."""
    return f"{title}\n{text}" if title else text


# --------------------------------------------------------------------------------------------
# idf


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


# The abstention model was calibrated on SQuAD's 2.5k chunks, where a term seen in one chunk has
# an idf of about 7.4 and an unseen term counts as 8. Scaling so that "seen once" is always 8
# keeps its question-term coverage meaningful on a three-article corpus as on millions of chunks
# (unscaled, an unseen word would outweigh every known word of a tiny corpus twentyfold).
RARE_TERM_IDF = 8.0


def scaled_idf(doc_freq: dict[str, int], n_chunks: int) -> dict[str, float]:
    """Lucene's BM25 idf (what bm25s uses), rescaled so a term in one chunk weighs RARE_TERM_IDF."""
    n = max(n_chunks, 1)
    rare = math.log(1.0 + (n - 1 + 0.5) / 1.5)
    scale = RARE_TERM_IDF / rare if rare > 0 else 1.0
    return {t: v * scale for t, v in bm25_idf(doc_freq, n).items()}
