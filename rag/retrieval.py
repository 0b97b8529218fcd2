"""Hybrid retrieval: dense (Chroma) and BM25 candidates, scored together, filtered, deduped.

Scores beat ranks here (see bench/experiments/squad_scoring.py): instead of fusing two ranked
lists by rank, every candidate from either side gets all signals — its BM25 score, its chunk
cosine and the cosines of its sentences (vectors computed once at ingest) — and `rag.scoring`
combines them.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from rag import scoring, temporal
from rag.embedding import Embedder
from rag.records import Filters, Query
from rag.rerank import Reranker, rerank_order
from rag.settings import Settings
from rag.store import (
    Bm25Manager,
    ChunkHit,
    LexicalView,
    SentenceRecord,
    Store,
    published_number,
)
from rag.text import question_terms, tokenize

log = logging.getLogger(__name__)
T = TypeVar("T")


class _HasVector(Protocol):
    vector: np.ndarray


V = TypeVar("V", bound=_HasVector)


@dataclass
class Passage:
    """A ranked chunk with what the answerer and the citations need."""

    hit: ChunkHit
    score: float
    candidate: scoring.Candidate
    sentences: list[SentenceRecord]
    vector: np.ndarray
    sentence_vectors: np.ndarray | None = None  # one row per sentence (LLM citation checks)
    rerank_score: float | None = None  # the cross-encoder's score, when one is configured

    @property
    def chunk_start(self) -> int:
        return int(self.hit.metadata.get("start", 0))

    def sentence_text(self, i: int) -> str:
        rec = self.sentences[i]
        return self.hit.text[rec.start - self.chunk_start : rec.end - self.chunk_start]


@dataclass
class Retrieval:
    query: str
    passages: list[Passage]
    terms: list[str]
    idf: dict[str, float]
    timings: dict[str, float] = field(default_factory=dict)
    # The raw candidate lists, best first, kept for evaluation against single-side baselines.
    dense_ids: list[str] = field(default_factory=list)
    bm25_ids: list[str] = field(default_factory=list)
    # Answers as of a date (rag.temporal): the date, the window read from the question (None:
    # none, or it found nothing), and a note for the user when a window was dropped.
    as_of: dt.date | None = None
    window: temporal.Window | None = None
    notice: str = ""
    # The run observed: every candidate with every signal the scorer saw (bm25, dense, sentence
    # cosines, `sentence_lex`, ordinal) and its final score (fused + recency), best first,
    # before near duplicates collapse and the cut to top_k. Evaluation and fitting scripts read
    # this instead of re-implementing the scorer.
    scored: list[tuple[scoring.Candidate, float]] = field(default_factory=list)


@dataclass
class Evidence:
    """A retrieved chunk and what was read from the store for it: the scorer's `Candidate` is
    built from it, and the `Passage` (what the answerer and the citations get) keeps it."""

    hit: ChunkHit
    sentences: list[SentenceRecord]
    vector: np.ndarray
    sentence_vectors: np.ndarray  # one row per sentence, shape (len(sentences), dim)
    sentence_tokens: list[Sequence[str]] | None = None  # stored tokens per sentence, if all have
    sentence_sets: list[frozenset[str]] | None = None  # the same as sets (scoring's overlap)


class HybridRetriever:
    """Dense + BM25 candidates, scored together (`rag.scoring`), a recency prior, near
    duplicates collapsed, an optional rerank: each a named step, composed in `_search`."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        embedder: Embedder,
        bm25: Bm25Manager,
        reranker: Reranker | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.bm25 = bm25
        self.reranker = reranker

    def retrieve(self, query: Query) -> Retrieval:
        """The top passages for `query.question` (already standalone) visible as of its date
        (default today, or `filters.as_of`: nothing published later; undated articles stay,
        see rag.store.filters). Relative time in the question ("last month") narrows to a
        window unless the filters give dates; a window that finds nothing is dropped again,
        and the retrieval says so in `notice`."""
        text, filters = query.question, query.filters
        day = temporal.resolve_as_of(query.as_of if query.as_of is not None else filters.as_of)
        base = filters.model_copy(update={"as_of": day})
        k = query.top_k or self.settings.top_k
        window = None
        if self.settings.question_windows and not (base.since or base.until):
            window = temporal.question_window(text, day)
        present = temporal.is_present_question(text)
        if window is not None:
            narrowed = base.model_copy(update={"since": window.since, "until": window.until})
            found = self._search(text, narrowed, k, day, present)
            if found.passages:
                found.window = window
                return found
            result = self._search(text, base, k, day, present)
            result.notice = (
                f"Nothing was published {window.phrase!r} ({window.since}..{window.until}); "
                "answered from all dates up to " + day.isoformat() + "."
            )
            result.timings["window_fallback"] = 1.0
            return result
        return self._search(text, base, k, day, present)

    def _search(
        self, text: str, filters: Filters, k: int, as_of: dt.date, present: bool
    ) -> Retrieval:
        """The steps in order, each timed under the name the `timings` have always used."""
        clock = _Clock()
        n = max(self.settings.candidates, k)
        index = self.bm25.current()
        filters = _drop_no_op_as_of(filters, index)
        qvec = clock.run("embed_ms", self._embed, text)
        dense_hits = clock.run("dense_ms", self.store.dense_search, qvec, n, filters)
        bm_ids, bm_all = clock.run("bm25_ms", _lexical, index, text, n, filters)
        evidence = clock.run("fetch_ms", self._fetch, dense_hits, bm_ids)
        scored, passages = clock.run(
            "score_ms", self._score, text, qvec, evidence, index, bm_all, as_of, present
        )
        if self.reranker is not None and passages:
            passages = clock.run(
                "rerank_ms", rerank, self.reranker, text, passages, self.settings.rerank_depth
            )
        return Retrieval(
            text,
            passages[:k],
            question_terms(text),
            index.idf,
            clock.timings,
            dense_ids=[h.chunk_id for h in dense_hits],
            bm25_ids=list(bm_ids),
            as_of=as_of,
            scored=scored,
        )

    def _embed(self, text: str) -> np.ndarray:
        return self.embedder.encode([text])[0]

    def _fetch(self, dense_hits: list[ChunkHit], bm_ids: list[str]) -> dict[str, Evidence]:
        """The union of both sides' chunks that are committed (a chunk of an article being
        rewritten is not visible yet), with their vectors and sentence records."""
        hits: dict[str, ChunkHit] = {h.chunk_id: h for h in dense_hits}
        missing = [cid for cid in bm_ids if cid not in hits]
        for h in self.store.get_chunks(missing, with_vectors=True):
            hits[h.chunk_id] = h
        committed = self.store.committed_sha([h.doc_id for h in hits.values()])
        visible = [h for h in hits.values() if committed.get(h.doc_id) == h.metadata.get("sha")]
        counts = {h.chunk_id: h.metadata["sentences"] for h in visible if "sentences" in h.metadata}
        blocks = self.store.sentence_blocks([h.chunk_id for h in visible], counts=counts)
        out: dict[str, Evidence] = {}
        for h in visible:
            if h.vector is None:
                continue
            block = blocks.get(h.chunk_id)
            if block is None:
                none = np.zeros((0, len(h.vector)), np.float32)
                out[h.chunk_id] = Evidence(h, [], h.vector, none, [])
            else:
                out[h.chunk_id] = Evidence(
                    h, block.records, h.vector, block.vectors, block.tokens, block.sets
                )
        return out

    def _score(
        self,
        text: str,
        qvec: np.ndarray,
        evidence: dict[str, Evidence],
        index: LexicalView,
        bm_all: np.ndarray,
        as_of: dt.date,
        present: bool,
    ) -> tuple[list[tuple[scoring.Candidate, float]], list[Passage]]:
        """Fused score (`rag.scoring.fuse`), then the recency prior: the scored candidates;
        then near duplicates collapsed: the passages, best first."""
        cands = [_candidate(ev, qvec, index, bm_all) for ev in evidence.values()]
        ranked = (
            scoring.fuse(
                cands, terms=question_terms(text), idf=index.idf, method=self.settings.fusion
            )
            if cands
            else []
        )
        weight = self.settings.recency_weight_present if present else self.settings.recency_weight
        ranked = temporal.apply_recency(
            ranked,
            lambda c: published_date(evidence[c.chunk_id].hit),
            as_of,
            weight,
            self.settings.recency_half_life_days,
        )
        passages = [
            Passage(ev.hit, float(s), c, ev.sentences, ev.vector, ev.sentence_vectors)
            for c, s in ranked
            for ev in (evidence[c.chunk_id],)
        ]
        return ranked, collapse_near_duplicates(passages, self.settings.dedupe_threshold)


def _drop_no_op_as_of(filters: Filters, index: LexicalView) -> Filters:
    """ "As of today" over a store with nothing newer admits everything: drop the clause so
    both sides skip it."""
    if (
        filters.as_of
        and filters.as_of >= dt.date.today()
        and index.latest_published <= published_number(filters.as_of)
    ):
        return filters.model_copy(update={"as_of": None})
    return filters


def _lexical(
    index: LexicalView, text: str, n: int, filters: Filters
) -> tuple[list[str], np.ndarray]:
    """The BM25 top-n chunk ids under the filters, and the scores of every indexed chunk."""
    ids, _, scores = index.top(tokenize(text), n, index.allowed(filters))
    return list(ids), scores


def _candidate(
    ev: Evidence, qvec: np.ndarray, index: LexicalView, bm_all: np.ndarray
) -> scoring.Candidate:
    """The scorer's view of a chunk: every signal it combines."""
    h, recs = ev.hit, ev.sentences
    pos = index.position(h.chunk_id)
    start = int(h.metadata.get("start", 0))
    return scoring.Candidate(
        chunk_id=h.chunk_id,
        bm25=float(bm_all[pos]) if pos is not None and bm_all.size else 0.0,
        dense=float(ev.vector @ qvec),
        sentence_cos=ev.sentence_vectors @ qvec if recs else np.zeros(0, np.float32),
        sentence_texts=[h.text[r.start - start : r.end - start] for r in recs],
        title=str(h.metadata.get("title", "")),
        ordinal=int(h.metadata.get("ordinal", 0) or 0),
        sentence_tokens=ev.sentence_tokens,
        _sets=ev.sentence_sets,
    )


class _Clock:
    """Runs steps and keeps each one's milliseconds under its name."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def run(self, name: str, step: Callable[..., T], *args: Any) -> T:
        t = time.perf_counter()
        try:
            return step(*args)
        finally:
            self.timings[name] = _ms(t)


def published_date(hit: ChunkHit) -> dt.date | None:
    """The publication date of a retrieved chunk's article (None: undated)."""
    value = str(hit.metadata.get("published", "") or "")
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def rerank(reranker: Reranker, query: str, passages: list[Passage], depth: int) -> list[Passage]:
    """The top `depth` passages in the cross-encoder's order, the rest as they were."""
    head, tail = passages[:depth], passages[depth:]
    texts = [f"{p.hit.metadata.get('title', '')}\n{p.hit.text}".strip() for p in head]
    scores = reranker.scores(query, texts)
    for p, score in zip(head, scores, strict=True):
        p.rerank_score = float(score)
    return [head[i] for i in rerank_order(scores)] + tail


def collapse_near_duplicates(passages: list[V], threshold: float) -> list[V]:
    """Keep the best-ranked of passages whose vectors are near-identical (syndicated copies,
    the same wire story under two URLs): users want distinct evidence, not the same twice.
    Anything with a `vector` will do (bench/experiments/news_pool.py re-ranks cached rows)."""
    if len(passages) < 2:
        return list(passages)
    # One matrix product instead of a Python dot product per pair (2 ms a question at 80).
    vectors = np.stack([p.vector for p in passages])
    sims = vectors @ vectors.T
    kept: list[int] = []
    for i in range(len(passages)):
        if kept and float(sims[i, kept].max()) >= threshold:
            continue
        kept.append(i)
    return [passages[i] for i in kept]


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)
