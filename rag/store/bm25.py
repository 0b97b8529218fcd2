"""The lexical side of retrieval: a bm25s index over title + chunk text.

The index is derived data: it is rebuilt from the Chroma collection (the source of truth) and
cached on disk under the store's generation token, so any process, including app copies
sharing a Chroma server, can tell whether its copy is current and rebuild it if not.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from rag.store.filters import FILTER_FIELDS, mask
from rag.text import bm25_text, bm25_tokenize, scaled_idf

log = logging.getLogger(__name__)


class Bm25Index:
    """An immutable BM25 index over chunk ids."""

    def __init__(
        self,
        ids: list[str],
        retriever,  # noqa: ANN001 - bm25s.BM25
        filter_meta: dict[str, list] | None = None,
        doc_freq: dict[str, int] | None = None,
    ) -> None:
        self.ids = ids
        self._retriever = retriever
        self._pos = {cid: i for i, cid in enumerate(ids)}
        self._vocab: dict = getattr(retriever, "vocab_dict", {}) or {}
        meta = filter_meta or {}
        self._doc_id = np.asarray(meta.get("doc_id", [""] * len(ids)), dtype=object)
        self._source = np.asarray(meta.get("source", [""] * len(ids)), dtype=object)
        self._published = np.asarray(meta.get("published_num", [-1] * len(ids)), dtype=np.int64)
        self.doc_freq = doc_freq or {}
        self.idf = scaled_idf(self.doc_freq, len(ids))

    @classmethod
    def build(cls, items: Iterable[tuple[str, str, dict]]) -> Bm25Index:
        """items: (chunk_id, text, metadata with doc_id, source, published_num)."""
        import bm25s

        ids: list[str] = []
        texts: list[str] = []
        meta: dict[str, list] = {k: [] for k in FILTER_FIELDS}
        for cid, text, m in items:
            ids.append(cid)
            texts.append(text)
            for key in meta:
                meta[key].append(m.get(key, -1 if key == "published_num" else ""))
        retriever = bm25s.BM25()
        doc_freq: dict[str, int] = {}
        if texts:
            tokens = bm25_tokenize(texts)
            for toks in tokens:
                for t in set(toks):
                    doc_freq[t] = doc_freq.get(t, 0) + 1
            retriever.index(tokens, show_progress=False)
        return cls(ids, retriever, meta, doc_freq)

    def allowed(self, filters) -> np.ndarray | None:  # noqa: ANN001 - rag.models.Filters
        """Mask of chunks passing the filters (None: all): `rag.store.filters`, the same rules
        as the Chroma `where` of the dense side."""
        columns = {"doc_id": self._doc_id, "source": self._source, "published_num": self._published}
        return mask(filters, columns)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def latest_published(self) -> int:
        """The newest `published_num` indexed (-1: none dated): lets a query "as of today"
        skip a date clause that would admit everything."""
        return int(self._published.max()) if self._published.size else -1

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every indexed chunk (zeros when no query term is known)."""
        if not self.ids:
            return np.zeros(0, dtype=np.float32)
        known = [t for t in query_tokens if t in self._vocab]
        if not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self._retriever.get_scores(known), dtype=np.float32)

    def top(
        self, query_tokens: list[str], n: int, allowed: np.ndarray | None = None
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(top ids, their scores, all scores) — all scores let callers score other candidates."""
        all_scores = self.scores(query_tokens)
        if all_scores.size == 0:
            return [], all_scores, all_scores
        masked = all_scores if allowed is None else np.where(allowed, all_scores, -1.0)
        n = min(n, masked.size)
        idx = np.argpartition(-masked, n - 1)[:n]
        idx = idx[np.argsort(-masked[idx])]
        idx = idx[masked[idx] > 0]
        return [self.ids[i] for i in idx], masked[idx], all_scores

    def position(self, chunk_id: str) -> int | None:
        return self._pos.get(chunk_id)

    # ----- persistence -----------------------------------------------------------------------
    def save(self, directory: Path, generation: str) -> None:
        """Write to a temp dir then rename: a reader never loads half an index."""
        directory.parent.mkdir(parents=True, exist_ok=True)
        # pid too: app copies on one machine share the cache dir and may save at once.
        tmp = directory.with_name(directory.name + f".tmp-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.ids:
            self._retriever.save(str(tmp), show_progress=False)
        meta = {
            "generation": generation,
            "ids": self.ids,
            "doc_id": self._doc_id.tolist(),
            "source": self._source.tolist(),
            "published_num": self._published.tolist(),
            "doc_freq": self.doc_freq,
        }
        (tmp / "ids.json").write_text(json.dumps(meta))
        old = directory.with_name(directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            directory.rename(old)
        tmp.rename(directory)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path, generation: str) -> Bm25Index | None:
        """The cached index if it was built for this generation, else None."""
        try:
            meta = json.loads((directory / "ids.json").read_text())
        except (OSError, ValueError):
            return None
        if meta.get("generation") != generation:
            return None
        import bm25s

        ids = list(meta["ids"])
        filter_meta = {k: meta.get(k, []) for k in ("doc_id", "source", "published_num")}
        if not ids:
            return cls([], bm25s.BM25())
        try:
            retriever = bm25s.BM25.load(str(directory), show_progress=False)
        except Exception as exc:  # noqa: BLE001 - a corrupt cache is just rebuilt
            log.warning("BM25 cache at %s unreadable (%s); rebuilding", directory, exc)
            return None
        # Another process may have swapped the directory between the two reads.
        num_docs = getattr(retriever, "scores", {}).get("num_docs", len(ids))
        if num_docs != len(ids):
            return None
        return cls(ids, retriever, filter_meta, meta.get("doc_freq", {}))


class Bm25Manager:
    """Keeps a process's BM25 index in step with the store's generation.

    Checking the generation is one small Chroma read; a rebuild happens only when another
    writer (this process, an ingest job, another app copy) changed the store, and at most once
    per `min_refresh_seconds`, since a slightly stale lexical side is harmless: every hit is
    re-checked against the manifest before it is shown.
    """

    def __init__(self, store, cache_dir: Path, min_refresh_seconds: float = 2.0) -> None:  # noqa: ANN001
        self.store = store
        self.cache_dir = cache_dir
        self.min_refresh_seconds = min_refresh_seconds
        self._index: Bm25Index | None = None
        self._generation: str | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def current(self) -> Bm25Index:
        import time

        now = time.monotonic()
        index = self._index
        if index is not None and now - self._checked_at < self.min_refresh_seconds:
            return index
        with self._lock:
            if self._index is not None and now - self._checked_at < self.min_refresh_seconds:
                return self._index
            generation = self.store.generation()
            self._checked_at = time.monotonic()
            if self._index is None or generation != self._generation:
                self._index = Bm25Index.load(self.cache_dir, generation) or self._rebuild(
                    generation
                )
                self._generation = generation
            return self._index

    def refresh(self) -> Bm25Index:
        """Rebuild now (after an ingest run) and cache for other processes."""
        with self._lock:
            generation = self.store.generation()
            self._index = self._rebuild(generation)
            self._generation = generation
            import time

            self._checked_at = time.monotonic()
            return self._index

    def _rebuild(self, generation: str) -> Bm25Index:
        import time

        t0 = time.perf_counter()
        committed = {d.doc_id: d.sha256 for d in self.store.documents().values()}
        index = Bm25Index.build(
            (hit.chunk_id, bm25_text(hit.metadata.get("title", ""), hit.text), hit.metadata)
            for hit in self.store.iter_chunks()
            if committed.get(hit.doc_id) == hit.metadata.get("sha")
        )
        try:
            index.save(self.cache_dir, generation)
        except OSError as exc:
            log.warning("cannot cache the BM25 index in %s: %s", self.cache_dir, exc)
        log.info("BM25 index rebuilt: %d chunks in %.2fs", len(index), time.perf_counter() - t0)
        return index


def bm25_manager(settings, store) -> Bm25Manager:  # noqa: ANN001 - Settings, Store
    """A BM25 manager for a store, caching its index under the store directory. One per store
    and process is enough: `rag.pipeline.shared_bm25` keeps it."""
    return Bm25Manager(store, settings.store_dir / "bm25" / settings.collection)
