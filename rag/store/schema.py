"""What the store keeps: ids, the store's config record, and the records and metadata of
chunks, sentences and manifest entries (see `rag.store.store` for how they are written)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from rag import text
from rag.records import Article, Chunk, DocumentInfo

STORE_KEY = "__store__"
DOC_PREFIX = "doc:"
LEASE_PREFIX = "__lease__:"  # ingest lease records in the manifest (rag/store/lease.py)
PAGE = 2000


class StoreError(RuntimeError):
    """The store cannot be used as asked (message is meant for the user)."""


class StoreMismatchError(StoreError):
    pass


class StoreUnavailableError(StoreError):
    pass


@dataclass(frozen=True)
class StoreConfig:
    """What must match between a store and the code writing to or reading from it.

    `tokenizer` is `rag.text.TOKENIZER_VERSION`: every sentence record keeps its tokens from
    ingest, so a store written by another tokenizer would score questions against terms the
    query side no longer produces. Stores written before the field existed used version "1".

    `sentence_vectors` says how the sentence vectors were made (`rag.embedding.SEPARATE`: each
    sentence encoded alone, every store before the field existed; `POOLED`: from its chunk's
    forward pass): the two are not comparable, so a store is never written or read the other way.
    """

    model: str
    dim: int
    chunk_size: int
    chunk_overlap: int
    # read when a config is made, so the version in force is always the one recorded
    tokenizer: str = field(default_factory=lambda: text.TOKENIZER_VERSION)
    sentence_vectors: str = "separate"

    def as_metadata(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_metadata(cls, m: dict[str, Any]) -> StoreConfig:
        return cls(
            str(m["model"]),
            int(m["dim"]),
            int(m["chunk_size"]),
            int(m["chunk_overlap"]),
            str(m.get("tokenizer") or "1"),
            str(m.get("sentence_vectors") or "separate"),
        )

    def differences(self, other: StoreConfig) -> list[str]:
        """'field: store has X, settings ask Y' for each field that differs (self: the store)."""
        return [
            f"{f.name}: store has {getattr(self, f.name)!r}, settings ask "
            f"{getattr(other, f.name)!r}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]


@dataclass
class SentenceRecord:
    chunk_id: str
    index: int  # ordinal of the sentence within its chunk
    start: int  # offsets in the article text
    end: int
    tokens: str | None = None  # `rag.text.tokenize` output, space-joined (saves query time)


@dataclass
class ArticleWrite:
    """One article's new version, embedded and ready to be written."""

    article: Article
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentences: list[SentenceRecord]
    sentence_vectors: np.ndarray


@dataclass
class ChunkHit:
    chunk_id: str
    doc_id: str
    text: str
    metadata: dict[str, Any]
    score: float = 0.0
    vector: np.ndarray | None = None  # the chunk's embedding, when it was asked for


def published_number(date: dt.date | None) -> int:
    """YYYYMMDD as an int so Chroma can range-filter dates; -1 when unknown."""
    return int(date.strftime("%Y%m%d")) if date else -1


def chunk_id_for(doc_id: str, sha: str, ordinal: int) -> str:
    """doc_id + content version + ordinal: a new version never overwrites the old in place,
    which is what lets readers switch versions in one manifest write."""
    return f"{doc_id}#{sha[:12]}:{ordinal}"


def chunk_base_metadata(article: Article, sha: str) -> dict[str, Any]:
    return {
        "doc_id": article.doc_id,
        "sha": sha,
        "title": article.title,
        "source": article.source,
        "url": article.url,
        "author": article.author,
        "published": article.published.isoformat() if article.published else "",
        "published_num": published_number(article.published),
        "path": article.path,
    }


def manifest_metadata(article: Article, sha: str, n_chunks: int) -> dict[str, Any]:
    return {
        "doc_id": article.doc_id,
        "sha256": sha,
        "chunks": n_chunks,
        "title": article.title,
        "source": article.source,
        "url": article.url,
        "published": article.published.isoformat() if article.published else "",
        "path": article.path,
        "pending": "",
    }


def doc_info(rid: str, meta: dict[str, Any]) -> DocumentInfo:
    return DocumentInfo(
        doc_id=str(meta.get("doc_id") or rid[len(DOC_PREFIX) :]),
        sha256=str(meta.get("sha256", "")),
        chunks=int(meta.get("chunks", 0)),
        title=str(meta.get("title", "")),
        source=str(meta.get("source", "")),
        url=str(meta.get("url", "")),
        published=str(meta.get("published", "")),
        path=str(meta.get("path", "")),
    )


ChunkRecords = tuple[list[str], list[np.ndarray], list[str], list[dict[str, Any]]]
SentenceRecords = tuple[list[str], list[np.ndarray], list[dict[str, Any]]]


def records_of(writes: list[ArticleWrite], shas: list[str]) -> tuple[ChunkRecords, SentenceRecords]:
    """The chunk records (ids, vectors, texts, metadata) and sentence records (ids, vectors,
    metadata) of a batch of article writes, `shas` being each article's new version."""
    chunk_ids: list[str] = []
    chunk_vecs: list[np.ndarray] = []
    chunk_docs: list[str] = []
    chunk_metas: list[dict[str, Any]] = []
    sent_ids: list[str] = []
    sent_vecs: list[np.ndarray] = []
    sent_metas: list[dict[str, Any]] = []
    for w, sha in zip(writes, shas, strict=True):
        base = chunk_base_metadata(w.article, sha)
        per_chunk = Counter(s.chunk_id for s in w.sentences)
        for c, vec in zip(w.chunks, w.chunk_vectors, strict=True):
            chunk_ids.append(c.chunk_id)
            chunk_vecs.append(vec)
            chunk_docs.append(c.text)
            chunk_metas.append(
                {
                    **base,
                    "ordinal": c.ordinal,
                    "start": c.start,
                    "end": c.end,
                    "sentences": per_chunk.get(c.chunk_id, 0),
                }
            )
        for sr, vec in zip(w.sentences, w.sentence_vectors, strict=True):
            sent_ids.append(f"{sr.chunk_id}/s{sr.index}")
            sent_vecs.append(vec)
            sent_metas.append(
                {
                    "chunk_id": sr.chunk_id,
                    "doc_id": w.article.doc_id,
                    "sha": sha,
                    "index": sr.index,
                    "start": sr.start,
                    "end": sr.end,
                    "tokens": sr.tokens or "",
                }
            )
    return (chunk_ids, chunk_vecs, chunk_docs, chunk_metas), (sent_ids, sent_vecs, sent_metas)
