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
from dataclasses import dataclass, field

import numpy as np

from rag import scoring, temporal
from rag.embedding import Embedder
from rag.models import Filters
from rag.rerank import Reranker, rerank_order
from rag.settings import Settings
from rag.store import Bm25Manager, ChunkHit, SentenceRecord, Store, published_number
from rag.text import question_terms, tokenize

log = logging.getLogger(__name__)


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


class HybridRetriever:
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

    def retrieve(
        self,
        query: str,
        *,
        filters: Filters | None = None,
        top_k: int | None = None,
        as_of: dt.date | str | None = None,
    ) -> Retrieval:
        """The top passages visible `as_of` (default today: nothing published later; undated
        articles stay, see rag.store.filters). Relative time in the query ("last month")
        narrows to a window unless `filters` give dates; a window that finds nothing is
        dropped again, and the retrieval says so in `notice`."""
        asked = as_of if as_of is not None else (filters.as_of if filters else None)
        day = temporal.resolve_as_of(asked)
        base = (filters or Filters()).model_copy(update={"as_of": day})
        window = None
        if self.settings.question_windows and not (base.since or base.until):
            window = temporal.question_window(query, day)
        present = temporal.is_present_question(query)
        if window is not None:
            narrowed = base.model_copy(update={"since": window.since, "until": window.until})
            found = self._search(query, narrowed, top_k, day, present)
            if found.passages:
                found.window = window
                return found
            result = self._search(query, base, top_k, day, present)
            result.notice = (
                f"Nothing was published {window.phrase!r} ({window.since}..{window.until}); "
                "answered from all dates up to " + day.isoformat() + "."
            )
            result.timings["window_fallback"] = 1.0
            return result
        return self._search(query, base, top_k, day, present)

    def _search(
        self, query: str, filters: Filters, top_k: int | None, as_of: dt.date, present: bool
    ) -> Retrieval:
        timings: dict[str, float] = {}
        k = top_k or self.settings.top_k
        n = max(self.settings.candidates, k)

        index = self.bm25.current()
        if (
            filters.as_of
            and filters.as_of >= dt.date.today()
            and index.latest_published <= published_number(filters.as_of)
        ):  # "as of today" over a store with nothing newer: a clause that admits everything
            filters = filters.model_copy(update={"as_of": None})

        t = time.perf_counter()
        qvec = self.embedder.encode([query])[0]
        timings["embed_ms"] = _ms(t)

        t = time.perf_counter()
        dense_hits = self.store.dense_search(qvec, n, filters)
        timings["dense_ms"] = _ms(t)

        t = time.perf_counter()
        q_tokens = tokenize(query)
        bm_ids, _, bm_all = index.top(q_tokens, n, index.allowed(filters))
        timings["bm25_ms"] = _ms(t)

        t = time.perf_counter()
        hits: dict[str, ChunkHit] = {h.chunk_id: h for h in dense_hits}
        missing = [cid for cid in bm_ids if cid not in hits]
        for h in self.store.get_chunks(missing, with_vectors=True):
            hits[h.chunk_id] = h
        committed = self.store.committed_sha([h.doc_id for h in hits.values()])
        visible = [h for h in hits.values() if committed.get(h.doc_id) == h.metadata.get("sha")]
        counts = {h.chunk_id: h.metadata["sentences"] for h in visible if "sentences" in h.metadata}
        sentences = self.store.sentence_records([h.chunk_id for h in visible], counts=counts)
        timings["fetch_ms"] = _ms(t)

        t = time.perf_counter()
        cands: list[scoring.Candidate] = []
        for h in visible:
            vec = h.vector
            if vec is None:
                continue
            recs = sentences.get(h.chunk_id, [])
            svecs = np.stack([v for _, v in recs]) if recs else np.zeros((0, len(qvec)), np.float32)
            pos = index.position(h.chunk_id)
            start = int(h.metadata.get("start", 0))
            texts = [h.text[r.start - start : r.end - start] for r, _ in recs]
            cands.append(
                scoring.Candidate(
                    chunk_id=h.chunk_id,
                    bm25=float(bm_all[pos]) if pos is not None and bm_all.size else 0.0,
                    dense=float(vec @ qvec),
                    sentence_cos=svecs @ qvec if len(recs) else np.zeros(0, np.float32),
                    sentence_texts=texts,
                    title=str(h.metadata.get("title", "")),
                    ordinal=int(h.metadata.get("ordinal", 0) or 0),
                    sentence_tokens=[(r.tokens or "").split() for r, _ in recs]
                    if all(r.tokens is not None for r, _ in recs)
                    else None,
                    payload=(h, [r for r, _ in recs], vec, svecs),
                )
            )
        terms = question_terms(query)
        ranked = (
            scoring.fuse(cands, terms=terms, idf=index.idf, method=self.settings.fusion)
            if cands
            else []
        )
        weight = self.settings.recency_weight_present if present else self.settings.recency_weight
        ranked = temporal.apply_recency(
            ranked, _published, as_of, weight, self.settings.recency_half_life_days
        )
        passages = [
            Passage(c.payload[0], float(s), c, c.payload[1], c.payload[2], c.payload[3])
            for c, s in ranked
        ]
        passages = collapse_near_duplicates(passages, self.settings.dedupe_threshold)
        timings["score_ms"] = _ms(t)
        if self.reranker is not None and passages:
            t = time.perf_counter()
            passages = rerank(self.reranker, query, passages, self.settings.rerank_depth)
            timings["rerank_ms"] = _ms(t)
        passages = passages[:k]
        return Retrieval(
            query,
            passages,
            terms,
            index.idf,
            timings,
            dense_ids=[h.chunk_id for h in dense_hits],
            bm25_ids=list(bm_ids),
            as_of=as_of,
        )


def _published(candidate: scoring.Candidate) -> dt.date | None:
    return published_date(candidate.payload[0])


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


def collapse_near_duplicates(passages: list[Passage], threshold: float) -> list[Passage]:
    """Keep the best-ranked of passages whose vectors are near-identical (syndicated copies,
    the same wire story under two URLs): users want distinct evidence, not the same twice."""
    kept: list[Passage] = []
    for p in passages:
        if any(float(p.vector @ q.vector) >= threshold for q in kept):
            continue
        kept.append(p)
    return kept


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)
