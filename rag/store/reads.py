"""The store's reads, and the evidence cache that serves most of them from memory.

Every question needs its ~40 candidates' text, metadata and vector, and their sentences'
vectors. Fetching them from Chroma each time was the largest stage of a query (bench/query.py,
2026-12-06: 20.6 ms p50 of 48.2). They are cached here, below retrieval, keyed by chunk id:
a chunk id holds its article's version (`doc_id#<sha prefix>:<ordinal>`), so a cached record
never goes stale. A chunk deleted from the store may still be served from the cache, but
retrieval shows nothing whose version is not the committed one (`Store.committed_sha`, read
from Chroma on every question), so it cannot surface. The cache is bounded by
`Settings.evidence_cache_chunks` (least recently used first out): each chunk costs about
15-20 KB with its sentences (MiniLM's 384 float32 per vector), so the default 5,000 chunks
hold under 100 MB.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import numpy as np

from rag.records import Filters
from rag.store.chroma import ChromaCollections
from rag.store.filters import chroma_where
from rag.store.schema import PAGE, ChunkHit, SentenceRecord

Sentences = list[tuple[SentenceRecord, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class SentenceBlock:
    """A chunk's sentences as retrieval scores them: records in order, their vectors stacked,
    and each one's stored tokens split (None when a record predates stored tokens). Built once
    per chunk when it enters the cache, not on every question (3 ms a question on SQuAD)."""

    records: list[SentenceRecord]
    vectors: np.ndarray  # (len(records), dim)
    tokens: list[Sequence[str]] | None
    sets: list[frozenset[str]] | None  # each sentence's tokens as a set

    @classmethod
    def of(cls, pairs: Sentences) -> SentenceBlock:
        records = [r for r, _ in pairs]
        vectors = np.stack([v for _, v in pairs]) if pairs else np.zeros((0, 0), np.float32)
        tokens: list[Sequence[str]] | None = (
            [(r.tokens or "").split() for r in records]
            if all(r.tokens is not None for r in records)
            else None
        )
        sets = [frozenset(t) for t in tokens] if tokens is not None else None
        return cls(records, vectors, tokens, sets)

    def pairs(self) -> Sentences:
        return list(zip(self.records, self.vectors, strict=True))


class EvidenceCache:
    """A bounded LRU of chunk records (with vectors) and of their sentences."""

    def __init__(self, max_chunks: int) -> None:
        self.max_chunks = max(0, int(max_chunks))
        self._chunks: OrderedDict[str, ChunkHit] = OrderedDict()
        self._sentences: OrderedDict[str, SentenceBlock] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_chunk(self, chunk_id: str) -> ChunkHit | None:
        with self._lock:
            hit = self._chunks.get(chunk_id)
            if hit is None:
                self.misses += 1
                return None
            self._chunks.move_to_end(chunk_id)
            self.hits += 1
        return dataclasses.replace(hit, score=0.0)

    def put_chunk(self, hit: ChunkHit) -> None:
        if not self.max_chunks or hit.vector is None:
            return
        with self._lock:
            self._chunks[hit.chunk_id] = dataclasses.replace(hit, score=0.0)
            self._chunks.move_to_end(hit.chunk_id)
            while len(self._chunks) > self.max_chunks:
                self._chunks.popitem(last=False)

    def get_sentences(self, chunk_id: str) -> SentenceBlock | None:
        with self._lock:
            got = self._sentences.get(chunk_id)
            if got is not None:
                self._sentences.move_to_end(chunk_id)
            return got

    def put_sentences(self, chunk_id: str, block: SentenceBlock) -> None:
        if not self.max_chunks:
            return
        with self._lock:
            self._sentences[chunk_id] = block
            self._sentences.move_to_end(chunk_id)
            while len(self._sentences) > self.max_chunks:
                self._sentences.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._chunks.clear()
            self._sentences.clear()


class StoreReads(ChromaCollections):
    """Reads of chunks and sentences: Chroma for what is not cached."""

    @property
    def evidence(self) -> EvidenceCache:
        cache = self.__dict__.get("_evidence")
        if cache is None:
            size = self.settings.evidence_cache_chunks
            cache = self.__dict__.setdefault("_evidence", EvidenceCache(size))
        return cache

    def count(self) -> int:
        return self.chunks.count()

    def dense_search(
        self, vector: np.ndarray, n: int, filters: Filters | None = None
    ) -> list[ChunkHit]:
        # No count() first: Chroma returns fewer than n (or none) by itself, and a round trip
        # per question is worth saving under load.
        # Ids and distances only: the records come from the evidence cache (`get_chunks`),
        # and asking Chroma for documents, metadata and embeddings tripled this call (SQuAD
        # store, 2,523 chunks: 1.6 ms with ids only, 7.4 ms with everything).
        got = self.chunks.query(
            query_embeddings=[vector.tolist()],
            n_results=n,
            where=chroma_where(filters),
            include=["distances"],
        )
        ids = list(got["ids"][0])
        distance = dict(zip(ids, got["distances"][0], strict=True))
        # A chunk deleted since the query ran (an old version being replaced) is absent from
        # `get_chunks`: it was invisible anyway.
        return [
            dataclasses.replace(h, score=1.0 - float(distance[h.chunk_id]))
            for h in self.get_chunks(ids, with_vectors=True)
        ]

    def get_chunks(self, chunk_ids: list[str], *, with_vectors: bool = False) -> list[ChunkHit]:
        """Chunks by id (those that exist), in the order asked; from the cache when there."""
        if not chunk_ids:
            return []
        by_id: dict[str, ChunkHit] = {}
        for cid in chunk_ids:
            hit = self.evidence.get_chunk(cid)
            if hit is not None:
                by_id[cid] = hit
        missing = [c for c in dict.fromkeys(chunk_ids) if c not in by_id]
        if missing:
            # vectors always: the cache keeps whole records, and they cost little to send
            got = self.chunks.get(ids=missing, include=["metadatas", "documents", "embeddings"])
            for cid, m, doc, vec in zip(
                got["ids"], got["metadatas"], got["documents"], got["embeddings"], strict=True
            ):
                by_id[cid] = ChunkHit(cid, m["doc_id"], doc, m, 0.0, np.asarray(vec, np.float32))
                self.evidence.put_chunk(by_id[cid])
        out = [by_id[c] for c in chunk_ids if c in by_id]
        if not with_vectors:
            out = [dataclasses.replace(h, vector=None) for h in out]
        return out

    def sentence_records(
        self, chunk_ids: list[str], counts: dict[str, int] | None = None
    ) -> dict[str, Sentences]:
        """Sentences (with vectors) of each chunk, in order (see `sentence_blocks`)."""
        return {c: b.pairs() for c, b in self.sentence_blocks(chunk_ids, counts).items()}

    def sentence_blocks(
        self, chunk_ids: list[str], counts: dict[str, int] | None = None
    ) -> dict[str, SentenceBlock]:
        """Sentences of each chunk that has any: from the cache, else one round trip for the
        rest.

        `counts` (chunk_id -> number of sentences, the chunk's "sentences" metadata) lets the
        records be fetched by id, about 2-3x cheaper than a metadata filter; chunks written
        before that field existed fall back to the filter."""
        if not chunk_ids:
            return {}
        out: dict[str, SentenceBlock] = {}
        missing: list[str] = []
        for cid in dict.fromkeys(chunk_ids):
            cached = self.evidence.get_sentences(cid)
            if cached is None:
                missing.append(cid)
            elif cached.records:
                out[cid] = cached
        if not missing:
            return out
        if counts is not None and all(c in counts for c in missing):
            ids = [f"{c}/s{i}" for c in missing for i in range(int(counts[c]))]
            got = (
                self.sentences.get(ids=ids, include=["metadatas", "embeddings"])
                if ids
                else {"metadatas": [], "embeddings": []}
            )
        else:
            got = self.sentences.get(
                where={"chunk_id": {"$in": list(missing)}}, include=["metadatas", "embeddings"]
            )
        fetched: dict[str, Sentences] = {}
        for m, vec in zip(got["metadatas"], got["embeddings"], strict=True):
            rec = SentenceRecord(
                m["chunk_id"], int(m["index"]), int(m["start"]), int(m["end"]), m.get("tokens")
            )
            fetched.setdefault(rec.chunk_id, []).append((rec, np.asarray(vec, dtype=np.float32)))
        for cid in missing:
            block = SentenceBlock.of(sorted(fetched.get(cid, []), key=lambda r: r[0].index))
            # An empty answer is cached only when the chunk is known to have no sentences: a
            # chunk being written may not have its sentences yet.
            if block.records or (counts is not None and int(counts.get(cid, -1)) == 0):
                self.evidence.put_sentences(cid, block)
            if block.records:
                out[cid] = block
        return out

    def chunks_of(self, doc_ids: list[str]) -> list[ChunkHit]:
        """All chunk records (any version) of these articles: callers filter by sha."""
        if not doc_ids:
            return []
        got = self.chunks.get(
            where={"doc_id": {"$in": list(doc_ids)}}, include=["metadatas", "documents"]
        )
        return [
            ChunkHit(cid, m["doc_id"], doc, m)
            for cid, m, doc in zip(got["ids"], got["metadatas"], got["documents"], strict=True)
        ]

    def iter_chunks(self) -> Iterator[ChunkHit]:
        """All chunk records, visible or not: callers filter."""
        offset = 0
        while True:
            got = self.chunks.get(include=["metadatas", "documents"], limit=PAGE, offset=offset)
            if not got["ids"]:
                return
            for cid, m, doc in zip(got["ids"], got["metadatas"], got["documents"], strict=True):
                yield ChunkHit(cid, m["doc_id"], doc, m)
            if len(got["ids"]) < PAGE:
                return
            offset += PAGE
